import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { instancesBatchHead, instancesBatchJson } from './instances-batch-json.ts';
import { type InstanceReport, InstancesBatch } from './reports.ts';

const report = fc.record(
  {
    nodeName: fc.string(),
    nodeUid: fc.uuid(),
    providerId: fc.string(),
    instanceId: fc.string(),
    zone: fc.string(),
    instanceType: fc.string(),
    lifecycle: fc.constantFrom('spot', 'on-demand', 'unknown'),
    ready: fc.boolean(),
    schedulable: fc.boolean(),
    agentTaints: fc.array(fc.string(), { maxLength: 3 }),
    ec2: fc.record(
      {
        state: fc.string(),
        launchTime: fc.constant('2026-12-07T10:00:00Z'),
        spotInstanceRequestId: fc.string(),
      },
      { requiredKeys: [] },
    ),
  },
  // Optional keys absent and agentTaints left to its default, as a report may be built.
  { requiredKeys: ['nodeName', 'nodeUid', 'lifecycle', 'ready', 'schedulable'] },
) as fc.Arbitrary<InstanceReport>;

const batch = fc.record({
  seq: fc.nat(),
  full: fc.boolean(),
  instances: fc.array(report, { maxLength: 20 }),
  removed: fc.array(fc.string(), { maxLength: 5 }),
});

describe('instancesBatchJson', () => {
  it('writes exactly what parsing the whole batch and stringifying it wrote, and its head reads back', () => {
    fc.assert(
      fc.property(batch, (b) => {
        const out = instancesBatchJson(b);
        expect(out.ok).toBe(true);
        if (!out.ok) return;
        expect(out.json).toBe(JSON.stringify(InstancesBatch.parse(b)));
        expect({ seq: out.seq, full: out.full }).toEqual({ seq: b.seq, full: b.full });
        expect(instancesBatchHead(out.json)).toEqual({ seq: b.seq, full: b.full });
      }),
    );
  });

  it('drops keys the contract does not have, as the whole parse did', () => {
    const b = {
      seq: 1,
      full: true,
      instances: [
        { nodeName: 'n', nodeUid: 'u', lifecycle: 'spot', ready: true, schedulable: true, extra: 1 },
      ],
      removed: [],
      other: 'x',
    } as unknown as InstancesBatch;
    const out = instancesBatchJson(b);
    expect(out.ok && out.json).toBe(
      '{"seq":1,"full":true,"instances":[{"nodeName":"n","nodeUid":"u","lifecycle":"spot","ready":true,"schedulable":true,"agentTaints":[]}],"removed":[]}',
    );
  });

  it('names the report and the field that is wrong', () => {
    const good = { nodeName: 'a', nodeUid: 'u', lifecycle: 'spot', ready: true, schedulable: true };
    const bad = { ...good, ready: 'yes' };
    const out = instancesBatchJson({ seq: 2, full: false, instances: [good, bad], removed: [] } as never);
    expect(out).toEqual({ ok: false, reason: expect.stringMatching(/^instances\.1\.ready: /) });
    expect(instancesBatchJson({ seq: -1, full: false, instances: [], removed: [] })).toEqual({
      ok: false,
      reason: expect.stringMatching(/^seq: /),
    });
    expect(instancesBatchJson({ seq: 0, full: false, instances: 'x', removed: [] } as never)).toEqual({
      ok: false,
      reason: expect.stringMatching(/^instances: /),
    });
  });

  it('reads no head from text written some other way', () => {
    expect(instancesBatchHead('{"full":true,"seq":1,"instances":[]}')).toBeUndefined();
    expect(instancesBatchHead('{"seq":"1","full":true}')).toBeUndefined();
    expect(instancesBatchHead('{"seq":7,"full":false,"instances":[]')).toEqual({ seq: 7, full: false });
  });
});
