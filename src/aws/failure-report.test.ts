import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AwsError } from './errors.ts';
import { type AwsAuditNotice, AwsFailureReport } from './failure-report.ts';

function capture() {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _enc, cb) {
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    }),
  );
  return { lines, logger };
}

describe('AwsFailureReport', () => {
  it('reports a failure once per change and the recovery once', () => {
    const { lines, logger } = capture();
    const notices: AwsAuditNotice[] = [];
    const report = new AwsFailureReport({ logger, emit: (n) => notices.push(n) });
    const denied = new AwsError('AWS_ACCESS_DENIED', 'EC2 DescribeInstances: not allowed', {
      awsCode: 'UnauthorizedOperation',
    });
    for (let i = 0; i < 50; i++) report.failed('aws:ec2:DescribeInstances', denied);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({
      event: 'inventory.aws_unavailable',
      resource: 'aws:ec2:DescribeInstances',
      details: { code: 'AWS_ACCESS_DENIED', awsCode: 'UnauthorizedOperation' },
    });
    expect(lines.filter((l) => l.level === 40)).toHaveLength(1); // one warning, 49 debug lines
    expect(report.current.get('aws:ec2:DescribeInstances')).toEqual({
      code: 'AWS_ACCESS_DENIED',
      failures: 50,
    });

    // A different failure is a change.
    report.failed('aws:ec2:DescribeInstances', new AwsError('AWS_THROTTLED', 'slow down'));
    expect(notices).toHaveLength(2);
    expect(notices[1]?.details).toMatchObject({ code: 'AWS_THROTTLED', previousCode: 'AWS_ACCESS_DENIED' });

    report.succeeded('aws:ec2:DescribeInstances');
    report.succeeded('aws:ec2:DescribeInstances');
    expect(notices).toHaveLength(3);
    expect(notices[2]).toMatchObject({
      event: 'inventory.aws_recovered',
      details: { previousCode: 'AWS_THROTTLED' },
    });
    expect(report.current.size).toBe(0);
  });

  it('tracks resources separately and survives an emit that throws', () => {
    const report = new AwsFailureReport({
      emit: () => {
        throw new Error('disk full');
      },
    });
    report.failed('aws:sts:GetCallerIdentity', new AwsError('AWS_UNAVAILABLE', 'down'));
    report.failed('aws:ec2:DescribeInstances', new AwsError('AWS_UNAVAILABLE', 'down'));
    expect([...report.current.keys()].sort()).toEqual([
      'aws:ec2:DescribeInstances',
      'aws:sts:GetCallerIdentity',
    ]);
  });
});
