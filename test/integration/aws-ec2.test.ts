/**
 * The real @aws-sdk/client-ec2 and client-sts against a local Query-API server that answers
 * with real-format XML (test/integration/aws-query-server.ts): DescribeInstances batching,
 * pagination, unknown ids, throttling and the SDK's retries, STS identity and AssumeRole,
 * the default credential chain, and the enrichment loop's report-once behaviour.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAwsClients } from '../../src/aws/clients.ts';
import { Ec2Describer } from '../../src/aws/ec2-instances.ts';
import { AwsEnrichment, ec2Resource, stsResource } from '../../src/aws/enrichment.ts';
import { AwsError } from '../../src/aws/errors.ts';
import { type AwsAuditNotice, AwsFailureReport } from '../../src/aws/failure-report.ts';
import { getCallerIdentity } from '../../src/aws/identity.ts';
import { TokenBucket } from '../../src/aws/token-bucket.ts';
import { AwsQueryServer, instanceIdFor, makeInstances } from './aws-query-server.ts';

const credentials = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const roleArn = 'arn:aws:iam::210987654321:role/clusteropt-agent';
const servers: AwsQueryServer[] = [];
const cleanups: Array<() => void> = [];

async function server(
  options: ConstructorParameters<typeof AwsQueryServer>[0] = {},
): Promise<AwsQueryServer> {
  const s = await new AwsQueryServer(options).start();
  servers.push(s);
  return s;
}

async function clientsFor(s: AwsQueryServer, over: Parameters<typeof createAwsClients>[0] = {}) {
  const c = await createAwsClients({
    region: 'us-east-1',
    credentials,
    ec2Endpoint: s.url,
    stsEndpoint: s.url,
    maxAttempts: 4,
    ...over,
  });
  cleanups.push(() => c.destroy());
  return c;
}

const unlimited = () => new TokenBucket({ capacity: 1000, refillPerSecond: 1000 });

afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

describe('DescribeInstances through the real SDK', () => {
  it('reads state, launch time, lifecycle and spot request of every instance, in batches', async () => {
    const s = await server();
    s.add(...makeInstances(7, { spotEvery: 3 }));
    const { ec2 } = await clientsFor(s);
    const describer = new Ec2Describer({ api: ec2, limiter: unlimited(), batchSize: 3 });
    const ids = makeInstances(7).map((i) => i.id);

    const result = await describer.describe(ids);

    expect(result.missing).toEqual([]);
    expect([...result.found.keys()].sort()).toEqual([...ids].sort());
    expect(result.found.get(instanceIdFor(0))).toEqual({
      state: 'running',
      launchTime: '2026-01-01T00:00:00.000Z',
      lifecycle: 'spot',
      spotInstanceRequestId: 'sir-00000000',
      instanceType: 'm5.large',
      zone: 'us-east-1a',
    });
    expect(result.found.get(instanceIdFor(1))).toEqual({
      state: 'running',
      launchTime: '2026-01-01T00:00:01.000Z',
      lifecycle: 'on-demand',
      instanceType: 'c6i.xlarge',
      zone: 'us-east-1b',
    });
    // 7 ids in batches of 3: three calls by id, each signed for ec2 in the region.
    const calls = s.calls('DescribeInstances');
    expect(calls.map((c) => c.params.getAll('InstanceId.1').length)).toEqual([1, 1, 1]);
    expect(calls.map((c) => [...c.params.keys()].filter((k) => k.startsWith('InstanceId.')).length)).toEqual([
      3, 3, 1,
    ]);
    expect(
      calls.every((c) => c.service === 'ec2' && c.region === 'us-east-1' && c.accessKeyId === 'AKIDEXAMPLE'),
    ).toBe(true);
    expect(calls[0]?.params.get('Version')).toBe('2016-11-15');
  });

  it('sets aside the ids a NotFound names and asks again for the rest', async () => {
    const s = await server();
    s.add(...makeInstances(4));
    const { ec2 } = await clientsFor(s);
    const ghost1 = 'i-0deadbeefdeadbeef';
    const ghost2 = 'i-0feedfacefeedface';
    const ids = [...makeInstances(4).map((i) => i.id), ghost1, ghost2];

    const result = await new Ec2Describer({ api: ec2, limiter: unlimited() }).describe(ids);

    expect(result.found.size).toBe(4);
    expect(result.missing.sort()).toEqual([ghost1, ghost2].sort());
    const statuses = s.calls('DescribeInstances').map((c) => c.status);
    expect(statuses).toEqual([400, 200]);
  });

  it('falls back to the instance-id filter, paginated, when the error names no id', async () => {
    const s = await server({ vagueNotFound: true, pageCap: 2 });
    s.add(...makeInstances(5));
    const { ec2 } = await clientsFor(s);
    const ids = [...makeInstances(5).map((i) => i.id), 'i-0deadbeefdeadbeef'];

    const result = await new Ec2Describer({ api: ec2, limiter: unlimited(), filterChunk: 4 }).describe(ids);

    expect(result.found.size).toBe(5);
    expect(result.missing).toEqual(['i-0deadbeefdeadbeef']);
    const calls = s.calls('DescribeInstances');
    // 1 by-id (NotFound), then chunk [4 ids]: pages of 2,2; chunk [2 ids]: one page of 1.
    expect(calls.map((c) => c.status)).toEqual([400, 200, 200, 200]);
    expect(calls.slice(1).map((c) => c.params.get('Filter.1.Name'))).toEqual([
      'instance-id',
      'instance-id',
      'instance-id',
    ]);
    expect(calls[2]?.params.get('NextToken')).toBeTruthy();
    expect(calls[1]?.params.get('MaxResults')).toBe('1000');
    expect(result.calls).toBe(4);
  });

  it('a malformed id does not lose the others', async () => {
    const s = await server();
    s.add(...makeInstances(2));
    const { ec2 } = await clientsFor(s);
    const result = await new Ec2Describer({ api: ec2, limiter: unlimited() }).describe([
      instanceIdFor(0),
      'i-NOTHEX',
      instanceIdFor(1),
    ]);
    expect(result.found.size).toBe(2);
    expect(result.missing).toEqual(['i-NOTHEX']);
  });

  it('the SDK retries RequestLimitExceeded (503) with backoff, then succeeds', async () => {
    const s = await server();
    s.add(...makeInstances(2));
    s.fail({
      action: 'DescribeInstances',
      status: 503,
      code: 'RequestLimitExceeded',
      message: 'Request limit exceeded.',
      times: 2,
    });
    const { ec2 } = await clientsFor(s, { maxAttempts: 4 });
    const started = Date.now();
    const result = await new Ec2Describer({ api: ec2, limiter: unlimited() }).describe(
      makeInstances(2).map((i) => i.id),
    );
    expect(result.found.size).toBe(2);
    expect(s.calls('DescribeInstances').map((c) => c.status)).toEqual([503, 503, 200]);
    // Throttling errors back off (base 500 ms for throttles in the SDK's standard/adaptive strategy, jittered).
    expect(Date.now() - started).toBeGreaterThan(10);
    expect(result.calls).toBe(1); // our call count: the retries are the SDK's
  });

  it('gives up after maxAttempts with AWS_THROTTLED', async () => {
    const s = await server();
    s.add(...makeInstances(1));
    s.fail({
      action: 'DescribeInstances',
      status: 503,
      code: 'RequestLimitExceeded',
      message: 'Request limit exceeded.',
      times: 10,
    });
    const { ec2 } = await clientsFor(s, { maxAttempts: 2 });
    const err = await new Ec2Describer({ api: ec2, limiter: unlimited() })
      .describe([instanceIdFor(0)])
      .catch((e) => e);
    expect(err).toBeInstanceOf(AwsError);
    expect(err.code).toBe('AWS_THROTTLED');
    expect(err.awsCode).toBe('RequestLimitExceeded');
    expect(s.calls('DescribeInstances')).toHaveLength(2);
  });

  it('UnauthorizedOperation is AWS_ACCESS_DENIED and not retried', async () => {
    const s = await server();
    s.fail({
      action: 'DescribeInstances',
      status: 403,
      code: 'UnauthorizedOperation',
      message: 'You are not authorized to perform this operation.',
    });
    const { ec2 } = await clientsFor(s);
    const err = await new Ec2Describer({ api: ec2, limiter: unlimited() })
      .describe([instanceIdFor(0)])
      .catch((e) => e);
    expect(err.code).toBe('AWS_ACCESS_DENIED');
    expect(s.calls('DescribeInstances')).toHaveLength(1);
  });

  it('the token bucket paces calls', async () => {
    const s = await server();
    s.add(...makeInstances(6));
    const { ec2 } = await clientsFor(s);
    const started = Date.now();
    // 6 calls (batch 1) with a burst of 2 and 10/s: the last 4 wait ~100 ms each.
    await new Ec2Describer({
      api: ec2,
      limiter: new TokenBucket({ capacity: 2, refillPerSecond: 10 }),
      batchSize: 1,
    }).describe(makeInstances(6).map((i) => i.id));
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
    expect(s.calls('DescribeInstances')).toHaveLength(6);
  });
});

describe('STS', () => {
  it('GetCallerIdentity gives the account', async () => {
    const s = await server({ accountId: '111122223333' });
    const { sts } = await clientsFor(s);
    const identity = await getCallerIdentity(sts);
    expect(identity).toEqual({
      account: '111122223333',
      arn: 'arn:aws:iam::111122223333:user/agent',
      userId: 'AIDAEXAMPLE',
    });
    expect(s.calls('GetCallerIdentity')[0]?.service).toBe('sts');
  });

  it("AssumeRole with an external id: EC2 and STS then use the role's temporary credentials", async () => {
    const s = await server({ roles: [{ arn: roleArn, externalId: 'ext-42' }] });
    s.add(...makeInstances(1));
    const { ec2, sts } = await clientsFor(s, {
      roleArn,
      externalId: 'ext-42',
      sessionName: 'clusteropt-test',
    });

    const identity = await getCallerIdentity(sts);
    expect(identity.account).toBe('210987654321');
    expect(identity.arn).toBe('arn:aws:sts::210987654321:assumed-role/clusteropt-agent/clusteropt-test');
    const result = await new Ec2Describer({ api: ec2, limiter: unlimited() }).describe([instanceIdFor(0)]);
    expect(result.found.size).toBe(1);

    const assume = s.calls('AssumeRole');
    expect(assume).toHaveLength(1); // one cache for the EC2 and the STS client
    expect(assume[0]?.accessKeyId).toBe('AKIDEXAMPLE');
    expect(assume[0]?.params.get('RoleArn')).toBe(roleArn);
    expect(assume[0]?.params.get('ExternalId')).toBe('ext-42');
    expect(assume[0]?.params.get('RoleSessionName')).toBe('clusteropt-test');
    const describe = s.calls('DescribeInstances')[0];
    expect(describe?.accessKeyId).toMatch(/^ASIA/);
    expect(describe?.sessionToken).toBe(s.issued.get(describe!.accessKeyId!)?.token);
  });

  it('credentials about to expire are fetched again; fresh ones are reused', async () => {
    // The SDK refreshes credentials expiring within 5 minutes.
    const s = await server({ roles: [{ arn: roleArn, durationMs: 60_000 }] });
    s.add(...makeInstances(1));
    const { ec2 } = await clientsFor(s, { roleArn });
    const describer = new Ec2Describer({ api: ec2, limiter: unlimited() });
    await describer.describe([instanceIdFor(0)]);
    const afterFirst = s.calls('AssumeRole').length;
    await describer.describe([instanceIdFor(0)]);
    expect(afterFirst).toBeGreaterThanOrEqual(1);
    expect(s.calls('AssumeRole').length).toBeGreaterThan(afterFirst);

    const s2 = await server({ roles: [{ arn: roleArn, durationMs: 3_600_000 }] });
    s2.add(...makeInstances(1));
    const c2 = await clientsFor(s2, { roleArn });
    const d2 = new Ec2Describer({ api: c2.ec2, limiter: unlimited() });
    await d2.describe([instanceIdFor(0)]);
    await d2.describe([instanceIdFor(0)]);
    expect(s2.calls('AssumeRole')).toHaveLength(1);
  });

  it('a wrong external id is AWS_ACCESS_DENIED, and EC2 is never called', async () => {
    const s = await server({ roles: [{ arn: roleArn, externalId: 'ext-42' }] });
    const { ec2 } = await clientsFor(s, { roleArn, externalId: 'wrong', maxAttempts: 1 });
    const err = await new Ec2Describer({ api: ec2, limiter: unlimited() })
      .describe([instanceIdFor(0)])
      .catch((e) => e);
    expect(err).toBeInstanceOf(AwsError);
    expect(err.message).toContain('sts:AssumeRole');
    expect(s.calls('DescribeInstances')).toHaveLength(0);
  });
});

describe('default credential chain', () => {
  const saved = { ...process.env };
  const isolate = (env: Record<string, string | undefined>) => {
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    // Never reach for the instance metadata service or a developer's ~/.aws from a test.
    process.env.AWS_EC2_METADATA_DISABLED = 'true';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/credentials';
    process.env.AWS_CONFIG_FILE = '/nonexistent/config';
    Object.assign(process.env, env);
  };
  beforeAll(() => undefined);
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  });

  it('takes keys and region from the environment', async () => {
    isolate({
      AWS_ACCESS_KEY_ID: 'AKIDENVIRONMENT',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_REGION: 'eu-west-1',
    });
    const s = await server({ accessKeys: ['AKIDENVIRONMENT'] });
    const c = await createAwsClients({ ec2Endpoint: s.url, stsEndpoint: s.url });
    cleanups.push(() => c.destroy());
    expect(c.region).toBe('eu-west-1');
    await getCallerIdentity(c.sts);
    expect(s.calls('GetCallerIdentity')[0]).toMatchObject({
      accessKeyId: 'AKIDENVIRONMENT',
      region: 'eu-west-1',
    });
  });

  it('no credentials anywhere is AWS_CREDENTIALS_UNAVAILABLE, without a request', async () => {
    isolate({});
    const s = await server();
    const c = await createAwsClients({ ec2Endpoint: s.url, stsEndpoint: s.url, regionHint: 'us-east-2' });
    cleanups.push(() => c.destroy());
    expect(c.region).toBe('us-east-2');
    const err = await getCallerIdentity(c.sts).catch((e) => e);
    expect(err.code).toBe('AWS_CREDENTIALS_UNAVAILABLE');
    expect(s.requests).toHaveLength(0);
  });
});

describe('AwsEnrichment', () => {
  it('reports an AWS failure once, keeps retrying, reports the recovery once, then serves facts', async () => {
    const s = await server({ accountId: '444455556666' });
    s.add(...makeInstances(3, { spotEvery: 2 }));
    s.fail({
      action: 'DescribeInstances',
      status: 403,
      code: 'UnauthorizedOperation',
      message: 'You are not authorized to perform this operation.',
      times: 5,
    });
    const notices: AwsAuditNotice[] = [];
    const enrichment = new AwsEnrichment({
      aws: { region: 'us-east-1', credentials, ec2Endpoint: s.url, stsEndpoint: s.url, maxAttempts: 1 },
      failures: new AwsFailureReport({ emit: (n) => notices.push(n) }),
      retry: { baseMs: 20, maxMs: 40 },
      checkIntervalMs: 50,
    });
    const changed: string[][] = [];
    enrichment.onChanged((ids) => changed.push(ids));
    const controller = new AbortController();
    const running = enrichment.run(controller.signal);
    const ids = new Set(makeInstances(3).map((i) => i.id));
    enrichment.want(ids);

    await expect.poll(() => enrichment.get(instanceIdFor(0)), { timeout: 20_000 }).toBeDefined();
    controller.abort();
    await running;

    expect(s.calls('DescribeInstances').filter((c) => c.status === 403)).toHaveLength(5);
    expect(notices.map((n) => [n.event, n.resource, n.details.code ?? n.details.previousCode])).toEqual([
      ['inventory.aws_unavailable', ec2Resource, 'AWS_ACCESS_DENIED'],
      ['inventory.aws_recovered', ec2Resource, 'AWS_ACCESS_DENIED'],
    ]);
    expect(enrichment.accountId).toBe('444455556666');
    expect(enrichment.get(instanceIdFor(0))?.lifecycle).toBe('spot');
    expect(enrichment.get(instanceIdFor(1))?.lifecycle).toBe('on-demand');
    expect(changed.flat().sort()).toEqual([...ids].sort());
  });

  it('a key AWS refuses: one notice per call kind, not per attempt', async () => {
    const s = await server({ accessKeys: [] });
    const notices: AwsAuditNotice[] = [];
    const enrichment = new AwsEnrichment({
      aws: {
        region: 'us-east-1',
        credentials: { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: 'x' },
        ec2Endpoint: s.url,
        stsEndpoint: s.url,
        maxAttempts: 1,
      },
      failures: new AwsFailureReport({ emit: (n) => notices.push(n) }),
      retry: { baseMs: 10, maxMs: 20 },
    });
    const controller = new AbortController();
    const running = enrichment.run(controller.signal);
    enrichment.want(new Set([instanceIdFor(0)]));
    await enrichment.settled(30_000);
    // More failed attempts (retries are slow on a loaded machine), still two notices.
    await expect.poll(() => s.calls('GetCallerIdentity').length, { timeout: 40_000 }).toBeGreaterThan(1);
    controller.abort();
    await running;
    // An unknown key is not "no credentials": STS says InvalidClientTokenId, so EC2 is tried too.
    expect(new Set(notices.map((n) => `${n.event} ${n.resource} ${n.details.code}`))).toEqual(
      new Set([
        `inventory.aws_unavailable ${stsResource} AWS_ACCESS_DENIED`,
        `inventory.aws_unavailable ${ec2Resource} AWS_ACCESS_DENIED`,
      ]),
    );
    expect(notices).toHaveLength(2);
    expect(enrichment.get(instanceIdFor(0))).toBeUndefined();
  });

  it('settled() answers after a failed pass, without waiting out the backoff', async () => {
    const s = await server();
    s.fail({
      action: 'DescribeInstances',
      status: 500,
      code: 'InternalError',
      message: 'An internal error has occurred',
      times: 100,
    });
    const enrichment = new AwsEnrichment({
      aws: { region: 'us-east-1', credentials, ec2Endpoint: s.url, stsEndpoint: s.url, maxAttempts: 1 },
      failures: new AwsFailureReport({}),
      retry: { baseMs: 120_000, maxMs: 120_000 },
    });
    const controller = new AbortController();
    const running = enrichment.run(controller.signal);
    enrichment.want(new Set([instanceIdFor(0)]));
    const started = Date.now();
    await enrichment.settled(60_000);
    const waited = Date.now() - started;
    controller.abort();
    await running;
    expect(waited).toBeLessThan(55_000);
    expect(s.calls('DescribeInstances')).toHaveLength(1);
    expect(enrichment.stats.failing).toEqual([ec2Resource]);
  });
});
