import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Action, ActionType, parseEnvelope } from '../../contract/envelope.ts';
import type { AgentPolicySpec } from '../../crds/agent-policy.ts';
import { type Decision, decide, type PolicyContext, type PolicyInput, restrictiveness } from './decide.ts';

function action(type: Action['type'], payload: Record<string, unknown>): Action {
  const parsed = parseEnvelope({
    id: '7d3c7f0e-8a5b-4c1e-9f2a-0b1c2d3e4f50',
    type,
    payload,
    createdAt: '2026-03-02T10:00:00Z',
  });
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.action;
}

const drain = action('drain_node', { nodeName: 'node-a', timeoutSeconds: 600 });
const forcedDrain = action('drain_node', { nodeName: 'node-a', timeoutSeconds: 600, force: true });
const cordon = action('cordon_node', { nodeName: 'node-a' });
const uncordon = action('uncordon_node', { nodeName: 'node-a' });
const scale = action('scale_workload', { namespace: 'shop', kind: 'Deployment', name: 'web', replicas: 0 });

const policy = (name: string, spec: AgentPolicySpec): PolicyInput => ({ metadata: { name }, spec });

// Monday 2026-03-02 10:00 UTC.
const baseContext: PolicyContext = {
  now: new Date('2026-03-02T10:00:00Z'),
  target: {
    nodeLabels: { 'node.kubernetes.io/instance-type': 'm5.large', pool: 'general' },
    pods: [{ namespace: 'shop', name: 'web-1', labels: { app: 'web' } }],
    workloadLabels: { app: 'web' },
  },
  runningDisruptiveActions: 0,
  unavailableNodes: 0,
  approved: false,
};
const ctx = (over: Partial<PolicyContext> = {}): PolicyContext => ({ ...baseContext, ...over });

describe('decide: single rules', () => {
  it('no policies: allow with no limits and force allowed', () => {
    expect(decide(forcedDrain, [], ctx())).toEqual({ decision: 'allow', drain: { allowForce: true } });
  });

  it('an empty policy restricts nothing', () => {
    expect(decide(drain, [policy('empty', {})], ctx())).toEqual({
      decision: 'allow',
      drain: { allowForce: true },
    });
  });

  it('allowedActionTypes: refuses other types; an empty list refuses all', () => {
    const p = policy('only-cordon', { allowedActionTypes: ['cordon_node', 'uncordon_node'] });
    expect(decide(cordon, [p], ctx()).decision).toBe('allow');
    expect(decide(drain, [p], ctx())).toEqual({
      decision: 'refuse',
      policy: 'only-cordon',
      rule: 'allowedActionTypes',
      message: 'AgentPolicy only-cordon: action type drain_node is not in allowedActionTypes',
    });
    expect(decide(cordon, [policy('none', { allowedActionTypes: [] })], ctx())).toMatchObject({
      decision: 'refuse',
      rule: 'allowedActionTypes',
    });
  });

  it('protectedNodeSelector: refuses every node action on a matching node, fails closed without labels', () => {
    const p = policy('keep-general', { protectedNodeSelector: { matchLabels: { pool: 'general' } } });
    for (const a of [cordon, uncordon, drain]) {
      expect(decide(a, [p], ctx())).toMatchObject({ decision: 'refuse', rule: 'protectedNodeSelector' });
    }
    const other = ctx({ target: { ...baseContext.target, nodeLabels: { pool: 'spot' } } });
    expect(decide(cordon, [p], other).decision).toBe('allow');
    const unknown = ctx({ target: {} });
    expect(decide(cordon, [p], unknown)).toMatchObject({
      decision: 'refuse',
      rule: 'protectedNodeSelector',
      message: expect.stringMatching(/labels unknown/),
    });
    // Not a node action: the node selector does not apply.
    expect(decide(scale, [p], ctx()).decision).toBe('allow');
  });

  it('protectedNamespaces: scaling a workload there, or draining a node running its pods', () => {
    const p = policy('shop', { protectedNamespaces: ['shop'] });
    expect(decide(scale, [p], ctx())).toMatchObject({ decision: 'refuse', rule: 'protectedNamespaces' });
    expect(decide(drain, [p], ctx())).toMatchObject({
      decision: 'refuse',
      rule: 'protectedNamespaces',
      message: expect.stringMatching(/shop\/web-1/),
    });
    // Cordon evicts nothing.
    expect(decide(cordon, [p], ctx()).decision).toBe('allow');
    const elsewhere = ctx({
      target: { ...baseContext.target, pods: [{ namespace: 'batch', name: 'x', labels: {} }] },
    });
    expect(decide(drain, [p], elsewhere).decision).toBe('allow');
    expect(decide(drain, [p], ctx({ target: { nodeLabels: {} } }))).toMatchObject({
      decision: 'refuse',
      message: expect.stringMatching(/pods on the node are unknown/),
    });
  });

  it('protectedWorkloadSelector: scaling a matching workload or evicting a matching pod', () => {
    const p = policy('web', {
      protectedWorkloadSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] },
    });
    expect(decide(scale, [p], ctx())).toMatchObject({
      decision: 'refuse',
      rule: 'protectedWorkloadSelector',
    });
    expect(decide(drain, [p], ctx())).toMatchObject({
      decision: 'refuse',
      rule: 'protectedWorkloadSelector',
    });
    const other = ctx({ target: { workloadLabels: { app: 'api' }, pods: [] } });
    expect(decide(scale, [p], other).decision).toBe('allow');
    expect(decide(drain, [p], other).decision).toBe('allow');
    expect(decide(scale, [p], ctx({ target: {} }))).toMatchObject({ decision: 'refuse' });
  });

  it('force: refused when a policy sets drain.allowForce false; limits combine to the tightest', () => {
    const noForce = policy('no-force', { drain: { allowForce: false, maxGracePeriodSeconds: 60 } });
    expect(decide(forcedDrain, [noForce], ctx())).toMatchObject({ decision: 'refuse', rule: 'force' });
    expect(decide(drain, [noForce], ctx())).toEqual({
      decision: 'allow',
      drain: { allowForce: false, maxGracePeriodSeconds: 60 },
    });
    const loose = policy('loose', { drain: { allowForce: true, maxGracePeriodSeconds: 30 } });
    expect(decide(forcedDrain, [loose], ctx())).toEqual({
      decision: 'allow',
      drain: { allowForce: true, maxGracePeriodSeconds: 30 },
    });
    expect(decide(drain, [noForce, loose], ctx())).toEqual({
      decision: 'allow',
      drain: { allowForce: false, maxGracePeriodSeconds: 30 },
    });
  });

  it('approval: waits until approved, for every action type', () => {
    const p = policy('approve', { approval: 'required' });
    for (const a of [scale, cordon]) {
      expect(decide(a, [p], ctx())).toMatchObject({ decision: 'wait', rule: 'approval', policy: 'approve' });
      expect(decide(a, [p], ctx({ approved: true })).decision).toBe('allow');
    }
    expect(decide(scale, [policy('n', { approval: 'none' })], ctx()).decision).toBe('allow');
  });

  it('maintenanceWindow: disruptive actions wait outside windows with retryAt the next start', () => {
    const p = policy('nights', {
      maintenanceWindows: [
        { days: ['Mon', 'Tue'], from: '22:00', to: '04:00', timezone: 'UTC' },
        { days: ['Sat'], from: '08:00', to: '12:00', timezone: 'UTC' },
      ],
    });
    const d = decide(drain, [p], ctx());
    expect(d).toMatchObject({ decision: 'wait', rule: 'maintenanceWindow' });
    expect(d.decision === 'wait' && d.retryAt?.toISOString()).toBe('2026-03-02T22:00:00.000Z');
    expect(decide(drain, [p], ctx({ now: new Date('2026-03-03T03:00:00Z') })).decision).toBe('allow');
    expect(decide(drain, [p], ctx({ now: new Date('2026-03-07T09:00:00Z') })).decision).toBe('allow');
    // Not disruptive: windows do not apply.
    expect(decide(uncordon, [p], ctx()).decision).toBe('allow');
    expect(decide(scale, [p], ctx()).decision).toBe('allow');
  });

  it('maintenanceWindow with an unknown zone stays closed and says why', () => {
    const p = policy('bad-tz', {
      maintenanceWindows: [{ days: ['Mon'], from: '00:00', to: '24:00', timezone: 'X/Y' }],
    });
    const d = decide(cordon, [p], ctx());
    expect(d).toMatchObject({
      decision: 'wait',
      rule: 'maintenanceWindow',
      message: expect.stringMatching(/X\/Y/),
    });
    expect(d.decision === 'wait' && d.retryAt).toBeUndefined();
  });

  it('maxConcurrentDisruptiveActions: waits at the limit; 0 pauses disruptive actions', () => {
    const p = policy('two', { maxConcurrentDisruptiveActions: 2 });
    expect(decide(drain, [p], ctx({ runningDisruptiveActions: 1 })).decision).toBe('allow');
    expect(decide(drain, [p], ctx({ runningDisruptiveActions: 2 }))).toMatchObject({
      decision: 'wait',
      rule: 'maxConcurrentDisruptiveActions',
    });
    expect(decide(cordon, [policy('pause', { maxConcurrentDisruptiveActions: 0 })], ctx()).decision).toBe(
      'wait',
    );
    expect(decide(uncordon, [policy('pause', { maxConcurrentDisruptiveActions: 0 })], ctx()).decision).toBe(
      'allow',
    );
  });

  it('maxUnavailableNodes: counts the target unless it is already unavailable', () => {
    const p = policy('one', { maxUnavailableNodes: 1 });
    expect(decide(drain, [p], ctx({ unavailableNodes: 0 })).decision).toBe('allow');
    expect(decide(drain, [p], ctx({ unavailableNodes: 1 }))).toMatchObject({
      decision: 'wait',
      rule: 'maxUnavailableNodes',
    });
    // The node was cordoned first: draining it makes nothing more unavailable.
    expect(decide(drain, [p], ctx({ unavailableNodes: 1, targetNodeUnavailable: true })).decision).toBe(
      'allow',
    );
    expect(decide(cordon, [policy('zero', { maxUnavailableNodes: 0 })], ctx()).decision).toBe('wait');
  });

  it('dryRun: reported with the policies that asked for it', () => {
    const d = decide(
      drain,
      [policy('b', { dryRun: true }), policy('a', { dryRun: true }), policy('c', {})],
      ctx(),
    );
    expect(d).toEqual({ decision: 'dryRun', policies: ['a', 'b'], drain: { allowForce: true } });
    expect(decide(drain, [policy('off', { dryRun: false })], ctx()).decision).toBe('allow');
  });
});

describe('decide: pause', () => {
  const pause = policy('clusteropt-pause', { paused: true });

  it('holds every action type, disruptive or not, approved or not', () => {
    for (const a of [drain, cordon, uncordon, scale]) {
      expect(decide(a, [pause], ctx({ approved: true }))).toMatchObject({
        decision: 'wait',
        policy: 'clusteropt-pause',
        rule: 'paused',
      });
    }
  });

  it('comes before refusals and dry run (nothing is decided while paused), and paused: false is no pause', () => {
    const refuse = policy('a-refuse', { allowedActionTypes: [] });
    expect(decide(drain, [refuse, policy('b-dry', { dryRun: true }), pause], ctx())).toMatchObject({
      rule: 'paused',
    });
    expect(decide(drain, [refuse, policy('off', { paused: false })], ctx()).decision).toBe('refuse');
    expect(decide(cordon, [policy('off', { paused: false })], ctx()).decision).toBe('allow');
  });
});

describe('decide: combinations', () => {
  const refuseP = policy('z-refuse', { allowedActionTypes: ['cordon_node'] });
  const waitP = policy('y-wait', { approval: 'required' });
  const dryP = policy('x-dry', { dryRun: true });

  it('refuse beats wait beats dryRun beats allow, whatever the order', () => {
    expect(decide(drain, [dryP, waitP, refuseP], ctx()).decision).toBe('refuse');
    expect(decide(drain, [refuseP, waitP, dryP], ctx()).decision).toBe('refuse');
    expect(decide(drain, [dryP, waitP], ctx()).decision).toBe('wait');
    expect(decide(drain, [dryP, policy('free', {})], ctx()).decision).toBe('dryRun');
  });

  it('several refusals: the first policy by name is reported', () => {
    const a = policy('a', { allowedActionTypes: [] });
    const b = policy('b', { allowedActionTypes: [] });
    expect(decide(drain, [b, a], ctx())).toMatchObject({ policy: 'a' });
  });

  it('several waits: one needing a cluster change before a timed one; among timed, the latest', () => {
    const window = (name: string, from: string) =>
      policy(name, { maintenanceWindows: [{ days: ['Mon'], from, to: '23:00', timezone: 'UTC' }] });
    const early = window('early', '12:00');
    const late = window('late', '18:00');
    expect(decide(drain, [early, late], ctx())).toMatchObject({ policy: 'late', rule: 'maintenanceWindow' });
    expect(decide(drain, [early, policy('cap', { maxConcurrentDisruptiveActions: 0 })], ctx())).toMatchObject(
      {
        policy: 'cap',
        rule: 'maxConcurrentDisruptiveActions',
      },
    );
  });
});

describe('decide: adding a policy never makes the decision less restrictive (property)', () => {
  const names = fc.constantFrom('a', 'b', 'c', 'd', 'e');
  const selector = fc.record(
    { matchLabels: fc.dictionary(fc.constantFrom('app', 'pool'), fc.constantFrom('web', 'general', 'spot')) },
    { requiredKeys: [] },
  );
  const window = fc.record({
    days: fc.subarray(['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const, { minLength: 1 }),
    from: fc.constantFrom('00:00', '06:00', '12:00', '22:00'),
    to: fc.constantFrom('04:00', '09:00', '18:00', '24:00'),
    timezone: fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York'),
  });
  const spec: fc.Arbitrary<AgentPolicySpec> = fc.record(
    {
      allowedActionTypes: fc.subarray([...ActionType.options]),
      protectedNamespaces: fc.subarray(['shop', 'batch', 'kube-system']),
      protectedNodeSelector: selector,
      protectedWorkloadSelector: selector,
      maxConcurrentDisruptiveActions: fc.nat(3),
      maxUnavailableNodes: fc.nat(3),
      maintenanceWindows: fc.array(window, { minLength: 1, maxLength: 2 }),
      dryRun: fc.boolean(),
      approval: fc.constantFrom('none' as const, 'required' as const),
      drain: fc.record(
        { maxGracePeriodSeconds: fc.nat(600), allowForce: fc.boolean() },
        { requiredKeys: [] },
      ),
    },
    { requiredKeys: [] },
  );
  const policyArb = fc.tuple(names, spec).map(([name, s]) => policy(name, s));
  const actionArb = fc.constantFrom(drain, forcedDrain, cordon, uncordon, scale);
  const contextArb: fc.Arbitrary<PolicyContext> = fc.record({
    now: fc.date({
      min: new Date('2026-01-01T00:00:00Z'),
      max: new Date('2026-12-31T00:00:00Z'),
      noInvalidDate: true,
    }),
    target: fc.record({
      nodeLabels: fc.dictionary(fc.constantFrom('app', 'pool'), fc.constantFrom('web', 'general', 'spot')),
      namespace: fc.constantFrom('shop', 'batch'),
      workloadLabels: fc.dictionary(
        fc.constantFrom('app', 'pool'),
        fc.constantFrom('web', 'general', 'spot'),
      ),
      pods: fc.array(
        fc.record({
          namespace: fc.constantFrom('shop', 'batch', 'kube-system'),
          name: fc.constantFrom('p1', 'p2'),
          labels: fc.dictionary(fc.constantFrom('app'), fc.constantFrom('web', 'api')),
        }),
        { maxLength: 3 },
      ),
    }),
    runningDisruptiveActions: fc.nat(4),
    unavailableNodes: fc.nat(4),
    targetNodeUnavailable: fc.boolean(),
    approved: fc.boolean(),
  });

  const looserLimits = (before: Decision, after: Decision) =>
    'drain' in before &&
    'drain' in after &&
    ((after.drain.allowForce && !before.drain.allowForce) ||
      (after.drain.maxGracePeriodSeconds ?? Infinity) > (before.drain.maxGracePeriodSeconds ?? Infinity));

  it('holds for random policies, actions and contexts', () => {
    fc.assert(
      fc.property(
        actionArb,
        fc.array(policyArb, { maxLength: 3 }),
        policyArb,
        contextArb,
        (a, ps, extra, c) => {
          // Policy names are unique in a cluster.
          const existing = ps.filter(
            (p, i) => ps.findIndex((q) => q.metadata.name === p.metadata.name) === i,
          );
          const added = { metadata: { name: `new-${extra.metadata.name}` }, spec: extra.spec };
          const before = decide(a, existing, c);
          const after = decide(a, [...existing, added], c);
          expect(restrictiveness[after.decision]).toBeGreaterThanOrEqual(restrictiveness[before.decision]);
          expect(looserLimits(before, after)).toBe(false);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
