import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Action, ActionType, parseEnvelope } from '../../contract/envelope.ts';
import type { AgentPolicySpec } from '../../crds/agent-policy.ts';
import {
  type Decision,
  decide,
  type PolicyContext,
  type PolicyInput,
  restrictiveness,
  withAgentDryRun,
} from './decide.ts';

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

/** Every field widened: a policy testing one rule sets it on top of this. */
const wide: AgentPolicySpec = {
  protectSystemNamespaces: false,
  protectControlPlaneNodes: false,
  requireApprovalFor: [],
  maxConcurrentDisruptiveActions: 10_000,
  maxUnavailableNodes: 100_000,
  drain: { minGracePeriodSeconds: 0, allowForce: true, allowForceDeleteAtBudgetEnd: true },
  scale: { maxReplicas: 100_000, maxScaleUpFactor: 10_000 },
};
const open = (name: string, spec: AgentPolicySpec = {}): PolicyInput =>
  policy(name, {
    ...wide,
    ...spec,
    drain: { ...wide.drain, ...spec.drain },
    scale: { ...wide.scale, ...spec.scale },
  });
const wideLimits = {
  drain: {
    minGracePeriodSeconds: 0,
    allowForce: true,
    allowForceDeleteAtBudgetEnd: true,
    noForceNamespaces: [],
  },
  scale: { maxReplicas: 100_000, maxScaleUpFactor: 10_000 },
};

// Monday 2026-03-02 10:00 UTC.
const baseContext: PolicyContext = {
  now: new Date('2026-03-02T10:00:00Z'),
  target: {
    nodeLabels: { 'node.kubernetes.io/instance-type': 'm5.large', pool: 'general' },
    pods: [{ namespace: 'shop', name: 'web-1', labels: { app: 'web' } }],
    workloadLabels: { app: 'web' },
    currentReplicas: 3,
  },
  runningDisruptiveActions: 0,
  unavailableNodes: 0,
  totalNodes: 10,
  approved: false,
};
const ctx = (over: Partial<PolicyContext> = {}): PolicyContext => ({ ...baseContext, ...over });

describe('decide: single rules', () => {
  it('a policy that widens every field restricts nothing', () => {
    expect(decide(forcedDrain, [open('wide')], ctx())).toEqual({ decision: 'allow', ...wideLimits });
  });

  it('allowedActionTypes: refuses other types; an empty list refuses all', () => {
    const p = open('only-cordon', { allowedActionTypes: ['cordon_node', 'uncordon_node'] });
    expect(decide(cordon, [p], ctx()).decision).toBe('allow');
    expect(decide(drain, [p], ctx())).toEqual({
      decision: 'refuse',
      policy: 'only-cordon',
      rule: 'allowedActionTypes',
      message: 'AgentPolicy only-cordon: action type drain_node is not in allowedActionTypes',
    });
    expect(decide(cordon, [open('none', { allowedActionTypes: [] })], ctx())).toMatchObject({
      decision: 'refuse',
      rule: 'allowedActionTypes',
    });
  });

  it('protectedNodeSelector: refuses every node action on a matching node, fails closed without labels', () => {
    const p = open('keep-general', { protectedNodeSelector: { matchLabels: { pool: 'general' } } });
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
    const p = open('shop', { protectedNamespaces: ['shop'] });
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
    const p = open('web', {
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
    const noForce = open('no-force', { drain: { allowForce: false, maxGracePeriodSeconds: 60 } });
    expect(decide(forcedDrain, [noForce], ctx())).toMatchObject({ decision: 'refuse', rule: 'force' });
    expect(decide(drain, [noForce], ctx())).toEqual({
      decision: 'allow',
      ...wideLimits,
      drain: { ...wideLimits.drain, allowForce: false, maxGracePeriodSeconds: 60 },
    });
    const loose = open('loose', { drain: { allowForce: true, maxGracePeriodSeconds: 30 } });
    expect(decide(forcedDrain, [loose], ctx())).toEqual({
      decision: 'allow',
      ...wideLimits,
      drain: { ...wideLimits.drain, allowForce: true, maxGracePeriodSeconds: 30 },
    });
    expect(decide(drain, [noForce, loose], ctx())).toEqual({
      decision: 'allow',
      ...wideLimits,
      drain: { ...wideLimits.drain, allowForce: false, maxGracePeriodSeconds: 30 },
    });
  });

  it('approval: waits until approved, for every action type', () => {
    const p = open('approve', { approval: 'required' });
    for (const a of [scale, cordon]) {
      expect(decide(a, [p], ctx())).toMatchObject({ decision: 'wait', rule: 'approval', policy: 'approve' });
      expect(decide(a, [p], ctx({ approved: true })).decision).toBe('allow');
    }
    expect(decide(scale, [open('n', { approval: 'none' })], ctx()).decision).toBe('allow');
  });

  it('maintenanceWindow: disruptive actions wait outside windows with retryAt the next start', () => {
    const p = open('nights', {
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
    const p = open('bad-tz', {
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
    const p = open('two', { maxConcurrentDisruptiveActions: 2 });
    expect(decide(drain, [p], ctx({ runningDisruptiveActions: 1 })).decision).toBe('allow');
    expect(decide(drain, [p], ctx({ runningDisruptiveActions: 2 }))).toMatchObject({
      decision: 'wait',
      rule: 'maxConcurrentDisruptiveActions',
    });
    expect(decide(cordon, [open('pause', { maxConcurrentDisruptiveActions: 0 })], ctx()).decision).toBe(
      'wait',
    );
    expect(decide(uncordon, [open('pause', { maxConcurrentDisruptiveActions: 0 })], ctx()).decision).toBe(
      'allow',
    );
  });

  it('maxUnavailableNodes: counts the target unless it is already unavailable', () => {
    const p = open('one', { maxUnavailableNodes: 1 });
    expect(decide(drain, [p], ctx({ unavailableNodes: 0 })).decision).toBe('allow');
    expect(decide(drain, [p], ctx({ unavailableNodes: 1 }))).toMatchObject({
      decision: 'wait',
      rule: 'maxUnavailableNodes',
    });
    // The node was cordoned first: draining it makes nothing more unavailable.
    expect(decide(drain, [p], ctx({ unavailableNodes: 1, targetNodeUnavailable: true })).decision).toBe(
      'allow',
    );
    expect(decide(cordon, [open('zero', { maxUnavailableNodes: 0 })], ctx()).decision).toBe('wait');
  });

  it('dryRun: reported with the policies that asked for it', () => {
    const d = decide(drain, [open('b', { dryRun: true }), open('a', { dryRun: true }), open('c', {})], ctx());
    expect(d).toEqual({ decision: 'dryRun', policies: ['a', 'b'], ...wideLimits });
    expect(decide(drain, [open('off', { dryRun: false })], ctx()).decision).toBe('allow');
  });

  it("the agent's --dry-run makes what the policies allow a dry run, narrowing none of their limits", () => {
    const allowed = decide(forcedDrain, [open('wide')], ctx());
    expect(withAgentDryRun(allowed)).toEqual({
      decision: 'dryRun',
      policies: ['(agent --dry-run)'],
      ...wideLimits,
    });
    const dry = decide(drain, [open('a', { dryRun: true })], ctx());
    expect(withAgentDryRun(dry)).toMatchObject({ policies: ['a', '(agent --dry-run)'] });
    const refused = decide(forcedDrain, [], ctx());
    expect(withAgentDryRun(refused)).toBe(refused);
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
  const refuseP = open('z-refuse', { allowedActionTypes: ['cordon_node'] });
  const waitP = open('y-wait', { approval: 'required' });
  const dryP = open('x-dry', { dryRun: true });

  it('refuse beats wait beats dryRun beats allow, whatever the order', () => {
    expect(decide(drain, [dryP, waitP, refuseP], ctx()).decision).toBe('refuse');
    expect(decide(drain, [refuseP, waitP, dryP], ctx()).decision).toBe('refuse');
    expect(decide(drain, [dryP, waitP], ctx()).decision).toBe('wait');
    expect(decide(drain, [dryP, open('free', {})], ctx()).decision).toBe('dryRun');
  });

  it('several refusals: the first policy by name is reported', () => {
    const a = open('a', { allowedActionTypes: [] });
    const b = open('b', { allowedActionTypes: [] });
    expect(decide(drain, [b, a], ctx())).toMatchObject({ policy: 'a' });
  });

  it('several waits: one needing a cluster change before a timed one; among timed, the latest', () => {
    const window = (name: string, from: string) =>
      open(name, { maintenanceWindows: [{ days: ['Mon'], from, to: '23:00', timezone: 'UTC' }] });
    const early = window('early', '12:00');
    const late = window('late', '18:00');
    expect(decide(drain, [early, late], ctx())).toMatchObject({ policy: 'late', rule: 'maintenanceWindow' });
    expect(decide(drain, [early, open('cap', { maxConcurrentDisruptiveActions: 0 })], ctx())).toMatchObject({
      policy: 'cap',
      rule: 'maxConcurrentDisruptiveActions',
    });
  });
});

describe('decide: defaults', () => {
  const none: PolicyInput[] = [];
  const scaleTo = (replicas: number, namespace = 'shop') =>
    action('scale_workload', { namespace, kind: 'Deployment', name: 'web', replicas });
  const patch = (payload: Record<string, unknown>) =>
    action('patch_node', { nodeName: 'node-a', ...payload });
  const deleteNode = action('delete_node', { nodeName: 'node-a', timeoutSeconds: 600 });

  it('no AgentPolicy: the built-in defaults, with their limits', () => {
    expect(decide(drain, none, ctx())).toEqual({
      decision: 'allow',
      drain: {
        minGracePeriodSeconds: 30,
        allowForce: false,
        allowForceDeleteAtBudgetEnd: false,
        noForceNamespaces: ['kube-node-lease', 'kube-public', 'kube-system'],
      },
      scale: { maxReplicas: 100, maxScaleUpFactor: 2 },
    });
    const agentNs = decide(drain, none, ctx({ agentNamespace: 'clusteropt-system' }));
    expect(agentNs.decision === 'allow' && agentNs.drain.noForceNamespaces).toContain('clusteropt-system');
  });

  it('refuses force of either kind, naming the field that widens it', () => {
    expect(decide(forcedDrain, none, ctx())).toMatchObject({
      decision: 'refuse',
      policy: '(built-in defaults)',
      rule: 'force',
      message: expect.stringMatching(
        /built-in defaults \(no AgentPolicy exists\): force is not allowed .*drain\.allowForce: true/,
      ),
    });
    const atEnd = action('drain_node', {
      nodeName: 'node-a',
      timeoutSeconds: 60,
      forceDeleteAtBudgetEnd: true,
    });
    expect(decide(atEnd, none, ctx())).toMatchObject({ decision: 'refuse', rule: 'forceDeleteAtBudgetEnd' });
    // kubectl's force alone does not allow deleting past a PDB: a separate opt-in, by name.
    expect(decide(atEnd, [policy('p', { drain: { allowForce: true } })], ctx())).toMatchObject({
      decision: 'refuse',
      rule: 'forceDeleteAtBudgetEnd',
      message: expect.stringMatching(/set drain\.allowForceDeleteAtBudgetEnd: true in every AgentPolicy/),
    });
    expect(decide(forcedDrain, [policy('p', { drain: { allowForce: true } })], ctx()).decision).toBe('allow');
  });

  it('system namespaces: never scaled (the agent namespace too), unless a policy widens by name', () => {
    for (const ns of ['kube-system', 'kube-public', 'kube-node-lease', 'clusteropt-system']) {
      expect(decide(scaleTo(0, ns), none, ctx({ agentNamespace: 'clusteropt-system' }))).toMatchObject({
        decision: 'refuse',
        rule: 'protectSystemNamespaces',
      });
    }
    const widened = policy('w', { protectSystemNamespaces: false });
    expect(decide(scaleTo(0, 'kube-system'), [widened], ctx()).decision).toBe('allow');
    // Another policy that says nothing keeps the default: the most restrictive wins.
    expect(decide(scaleTo(0, 'kube-system'), [widened, policy('other', {})], ctx()).decision).toBe('refuse');
  });

  it('control-plane nodes: no node action, failing closed without labels', () => {
    const cp = ctx({ target: { nodeLabels: { 'node-role.kubernetes.io/control-plane': '' } } });
    for (const a of [cordon, uncordon, drain, deleteNode, patch({ labels: { team: 'a' } })]) {
      expect(decide(a, none, cp)).toMatchObject({ decision: 'refuse', rule: 'protectControlPlaneNodes' });
    }
    const legacy = ctx({ target: { nodeLabels: { 'node-role.kubernetes.io/master': 'true' } } });
    expect(decide(cordon, none, legacy)).toMatchObject({ rule: 'protectControlPlaneNodes' });
    expect(decide(cordon, none, ctx({ target: {} }))).toMatchObject({
      decision: 'refuse',
      message: expect.stringMatching(/labels unknown/),
    });
    expect(decide(cordon, [policy('p', { protectControlPlaneNodes: false })], cp).decision).toBe('allow');
  });

  it('delete_node waits for approval; other types do not', () => {
    expect(decide(deleteNode, none, ctx())).toMatchObject({ decision: 'wait', rule: 'approval' });
    expect(decide(deleteNode, none, ctx({ approved: true })).decision).toBe('allow');
    expect(decide(drain, none, ctx()).decision).toBe('allow');
    expect(decide(deleteNode, [policy('p', { requireApprovalFor: [] })], ctx()).decision).toBe('allow');
    expect(decide(cordon, [policy('p', { requireApprovalFor: ['cordon_node'] })], ctx())).toMatchObject({
      rule: 'approval',
    });
  });

  it('caps disruption: 10 running at once, 10% of the nodes unavailable (rounded up, at least 1)', () => {
    expect(decide(drain, none, ctx({ runningDisruptiveActions: 9 })).decision).toBe('allow');
    expect(decide(drain, none, ctx({ runningDisruptiveActions: 10 }))).toMatchObject({
      rule: 'maxConcurrentDisruptiveActions',
    });
    expect(decide(cordon, none, ctx({ totalNodes: 30, unavailableNodes: 2 })).decision).toBe('allow');
    expect(decide(cordon, none, ctx({ totalNodes: 30, unavailableNodes: 3 }))).toMatchObject({
      rule: 'maxUnavailableNodes',
      message: expect.stringMatching(/10% \(3 of 30\)/),
    });
    expect(decide(cordon, none, ctx({ totalNodes: 3, unavailableNodes: 0 })).decision).toBe('allow');
    expect(decide(cordon, none, ctx({ totalNodes: 3, unavailableNodes: 1 })).decision).toBe('wait');
    const { totalNodes: _unknown, ...noTotal } = baseContext;
    expect(decide(cordon, none, noTotal)).toMatchObject({
      decision: 'wait',
      message: expect.stringMatching(/number of nodes is unknown/),
    });
    expect(
      decide(
        cordon,
        [policy('p', { maxUnavailableNodes: '50%' })],
        ctx({ totalNodes: 4, unavailableNodes: 1 }),
      ).decision,
    ).toBe('allow');
  });

  it('caps scale-ups: at most 100 replicas and twice the current (0 counts as 1)', () => {
    expect(decide(scaleTo(6), none, ctx()).decision).toBe('allow');
    expect(decide(scaleTo(7), none, ctx())).toMatchObject({ rule: 'maxScaleUpFactor' });
    expect(decide(scaleTo(100_000), none, ctx())).toMatchObject({
      decision: 'refuse',
      rule: 'maxReplicas',
      message: expect.stringMatching(/exceeds scale\.maxReplicas 100/),
    });
    const zero = ctx({ target: { currentReplicas: 0 } });
    expect(decide(scaleTo(2), none, zero).decision).toBe('allow');
    expect(decide(scaleTo(3), none, zero)).toMatchObject({ rule: 'maxScaleUpFactor' });
    // Scaling down is not a scale-up; an unknown current count fails closed for a scale-up.
    expect(decide(scaleTo(0), none, ctx({ target: {} })).decision).toBe('allow');
    expect(decide(scaleTo(2), none, ctx({ target: {} }))).toMatchObject({
      decision: 'refuse',
      message: expect.stringMatching(/current replicas unknown/),
    });
    // A missing workload is the executor's to report.
    expect(decide(scaleTo(50), none, ctx({ target: { currentReplicas: null } })).decision).toBe('allow');
    const wider = policy('p', { scale: { maxReplicas: 1000, maxScaleUpFactor: 100 } });
    expect(decide(scaleTo(300), [wider], ctx()).decision).toBe('allow');
  });

  it('patch_node: reserved label, annotation and taint keys are refused unless allowed by name', () => {
    for (const payload of [
      { labels: { 'node-role.kubernetes.io/control-plane': '' } },
      { labels: { 'node-restriction.kubernetes.io/pool': 'a' } },
      { labels: { 'kubernetes.io/hostname': 'x' } },
      { annotations: { 'node.alpha.kubernetes.io/ttl': '0' } },
      { labels: { 'sigs.k8s.io/x': 'y' } },
      { removeTaints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] },
    ]) {
      expect(decide(patch(payload), none, ctx()), JSON.stringify(payload)).toMatchObject({
        decision: 'refuse',
        rule: 'reservedKeys',
      });
    }
    expect(
      decide(patch({ labels: { 'example.com/kubernetes.io': 'x', team: 'a' } }), none, ctx()).decision,
    ).toBe('allow');
    const allowed = policy('p', {
      patchNode: { allowedReservedKeys: ['node.kubernetes.io/exclude-from-external-load-balancers'] },
    });
    expect(
      decide(
        patch({ labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': 'true' } }),
        [allowed],
        ctx(),
      ).decision,
    ).toBe('allow');
  });

  it('patch_node adding NoExecute is disruptive and refused when it would evict protected pods', () => {
    const noExecute = patch({ taints: [{ key: 'example.com/evict', effect: 'NoExecute' }] });
    const rs = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'u1' };
    const pods = [
      { namespace: 'shop', name: 'web-1', labels: {}, tolerations: [], controller: rs },
      { namespace: 'kube-system', name: 'proxy', labels: {}, tolerations: [{ operator: 'Exists' }] },
    ];
    // Only pods that tolerate it: nothing evicted, allowed under the defaults.
    const tolerating = pods.slice(1);
    expect(decide(noExecute, none, ctx({ target: { nodeLabels: {}, pods: tolerating } })).decision).toBe(
      'allow',
    );
    // web-1 would be evicted past its PodDisruptionBudgets: refused by default.
    expect(decide(noExecute, none, ctx({ target: { nodeLabels: {}, pods } }))).toMatchObject({
      decision: 'refuse',
      rule: 'forceDeleteAtBudgetEnd',
      message: expect.stringMatching(/shop\/web-1 without asking their PodDisruptionBudgets/),
    });
    const budgets = policy('p', { drain: { allowForceDeleteAtBudgetEnd: true } });
    expect(decide(noExecute, [budgets], ctx({ target: { nodeLabels: {}, pods } })).decision).toBe('allow');
    // A pod no controller recreates needs drain.allowForce as well.
    const bare = { namespace: 'shop', name: 'debug', labels: {}, tolerations: [] };
    expect(
      decide(noExecute, [budgets], ctx({ target: { nodeLabels: {}, pods: [...pods, bare] } })),
    ).toMatchObject({ decision: 'refuse', rule: 'force', message: expect.stringMatching(/shop\/debug/) });
    const both = policy('p', { drain: { allowForceDeleteAtBudgetEnd: true, allowForce: true } });
    expect(
      decide(noExecute, [both], ctx({ target: { nodeLabels: {}, pods: [...pods, bare] } })).decision,
    ).toBe('allow');
    // Disruptive: the concurrency cap applies.
    expect(
      decide(noExecute, [budgets], ctx({ target: { nodeLabels: {}, pods }, runningDisruptiveActions: 10 })),
    ).toMatchObject({
      rule: 'maxConcurrentDisruptiveActions',
    });
    const dns = { namespace: 'kube-system', name: 'coredns', labels: {}, tolerations: [] };
    expect(decide(noExecute, none, ctx({ target: { nodeLabels: {}, pods: [...pods, dns] } }))).toMatchObject({
      decision: 'refuse',
      rule: 'protectSystemNamespaces',
      message: expect.stringMatching(/kube-system\/coredns/),
    });
    const keep = { namespace: 'shop', name: 'db', labels: {}, tolerations: [], doNotDisrupt: true };
    expect(decide(noExecute, none, ctx({ target: { nodeLabels: {}, pods: [keep] } }))).toMatchObject({
      rule: 'doNotDisrupt',
    });
    // tolerationSeconds only delays the eviction.
    const delayed = {
      ...dns,
      tolerations: [{ operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
    };
    expect(decide(noExecute, none, ctx({ target: { nodeLabels: {}, pods: [delayed] } })).decision).toBe(
      'refuse',
    );
    expect(decide(noExecute, none, ctx({ target: { nodeLabels: {} } }))).toMatchObject({
      decision: 'refuse',
      message: expect.stringMatching(/pods on the node are unknown/),
    });
  });

  it('patch_node removing a taint is disruptive unless patch_node added it', () => {
    const remove = patch({ removeTaints: [{ key: 'dedicated', effect: 'NoSchedule' }] });
    const running = { runningDisruptiveActions: 10 };
    const ours = { 'clusteropt.io/patched-taints': '["dedicated:NoSchedule"]' };
    expect(
      decide(remove, none, ctx({ ...running, target: { nodeLabels: {}, nodeAnnotations: {} } })),
    ).toMatchObject({
      rule: 'maxConcurrentDisruptiveActions',
    });
    expect(
      decide(remove, none, ctx({ ...running, target: { nodeLabels: {}, nodeAnnotations: ours } })).decision,
    ).toBe('allow');
    // Annotations unknown: disruptive (fail closed).
    expect(decide(remove, none, ctx({ ...running, target: { nodeLabels: {} } })).decision).toBe('wait');
    // Adding a NoSchedule taint is not disruptive.
    const add = patch({ taints: [{ key: 'dedicated', effect: 'NoSchedule' }] });
    expect(decide(add, none, ctx({ ...running, target: { nodeLabels: {} } })).decision).toBe('allow');
  });

  it('drains evict system pods through the Eviction API; only force is kept from them', () => {
    const system = ctx({
      target: { nodeLabels: {}, pods: [{ namespace: 'kube-system', name: 'coredns', labels: {} }] },
    });
    expect(decide(drain, none, system).decision).toBe('allow');
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
      protectSystemNamespaces: fc.boolean(),
      protectedNodeSelector: selector,
      protectControlPlaneNodes: fc.boolean(),
      protectedWorkloadSelector: selector,
      maxConcurrentDisruptiveActions: fc.nat(3),
      maxUnavailableNodes: fc.oneof(fc.nat(3), fc.constantFrom('0%', '10%', '50%', '100%')),
      maintenanceWindows: fc.array(window, { minLength: 1, maxLength: 2 }),
      dryRun: fc.boolean(),
      approval: fc.constantFrom('none' as const, 'required' as const),
      requireApprovalFor: fc.subarray([...ActionType.options]),
      drain: fc.record(
        {
          maxGracePeriodSeconds: fc.nat(600),
          minGracePeriodSeconds: fc.nat(120),
          allowForce: fc.boolean(),
          allowForceDeleteAtBudgetEnd: fc.boolean(),
        },
        { requiredKeys: [] },
      ),
      scale: fc.record(
        { maxReplicas: fc.nat(200), maxScaleUpFactor: fc.double({ min: 1, max: 10, noNaN: true }) },
        { requiredKeys: [] },
      ),
      patchNode: fc.record({
        allowedReservedKeys: fc.subarray(['kubernetes.io/role', 'node.kubernetes.io/x']),
      }),
    },
    { requiredKeys: [] },
  );
  const policyArb = fc.tuple(names, spec).map(([name, s]) => policy(name, s));
  const actionArb = fc.constantFrom(
    drain,
    forcedDrain,
    action('drain_node', { nodeName: 'node-a', timeoutSeconds: 60, forceDeleteAtBudgetEnd: true }),
    cordon,
    uncordon,
    scale,
    action('scale_workload', { namespace: 'kube-system', kind: 'Deployment', name: 'dns', replicas: 9 }),
    action('patch_node', { nodeName: 'node-a', labels: { 'kubernetes.io/role': 'x' } }),
    action('patch_node', { nodeName: 'node-a', taints: [{ key: 'x', effect: 'NoExecute' }] }),
    action('delete_node', { nodeName: 'node-a', timeoutSeconds: 60 }),
  );
  const labels = fc.dictionary(
    fc.constantFrom('app', 'pool', 'node-role.kubernetes.io/control-plane'),
    fc.constantFrom('web', 'general', 'spot'),
  );
  const contextArb: fc.Arbitrary<PolicyContext> = fc.record(
    {
      now: fc.date({
        min: new Date('2026-01-01T00:00:00Z'),
        max: new Date('2026-12-31T00:00:00Z'),
        noInvalidDate: true,
      }),
      target: fc.record(
        {
          nodeLabels: labels,
          namespace: fc.constantFrom('shop', 'batch'),
          workloadLabels: labels,
          currentReplicas: fc.oneof(fc.nat(200), fc.constant(null)),
          pods: fc.array(
            fc.record({
              namespace: fc.constantFrom('shop', 'batch', 'kube-system'),
              name: fc.constantFrom('p1', 'p2'),
              labels: fc.dictionary(fc.constantFrom('app'), fc.constantFrom('web', 'api')),
              tolerations: fc.constantFrom([], [{ operator: 'Exists' }]),
              doNotDisrupt: fc.boolean(),
            }),
            { maxLength: 3 },
          ),
        },
        { requiredKeys: ['nodeLabels'] },
      ),
      runningDisruptiveActions: fc.nat(12),
      unavailableNodes: fc.nat(4),
      totalNodes: fc.nat(40),
      targetNodeUnavailable: fc.boolean(),
      approved: fc.boolean(),
      agentNamespace: fc.constantFrom('clusteropt-system', 'batch'),
    },
    { requiredKeys: ['now', 'target', 'runningDisruptiveActions', 'unavailableNodes', 'approved'] },
  );

  type Limits = Extract<Decision, { decision: 'allow' }>;
  const looserLimits = (before: Decision, after: Decision) => {
    if (!('drain' in before) || !('drain' in after)) return false;
    const b = before as Limits;
    const a = after as Limits;
    return (
      (a.drain.allowForce && !b.drain.allowForce) ||
      (a.drain.allowForceDeleteAtBudgetEnd && !b.drain.allowForceDeleteAtBudgetEnd) ||
      (a.drain.maxGracePeriodSeconds ?? Infinity) > (b.drain.maxGracePeriodSeconds ?? Infinity) ||
      a.drain.minGracePeriodSeconds < b.drain.minGracePeriodSeconds ||
      b.drain.noForceNamespaces.some((ns) => !a.drain.noForceNamespaces.includes(ns)) ||
      a.scale.maxReplicas > b.scale.maxReplicas ||
      a.scale.maxScaleUpFactor > b.scale.maxScaleUpFactor
    );
  };

  it('holds for random policies, actions and contexts (no policy at all counts as one of all defaults)', () => {
    fc.assert(
      fc.property(
        actionArb,
        fc.array(policyArb, { maxLength: 3 }),
        policyArb,
        contextArb,
        (a, ps, extra, c) => {
          // Policy names are unique in a cluster.
          const unique = ps.filter((p, i) => ps.findIndex((q) => q.metadata.name === p.metadata.name) === i);
          const existing = unique.length ? unique : [policy('defaults', {})];
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

  it('no policy decides exactly like one policy of all defaults', () => {
    fc.assert(
      fc.property(actionArb, contextArb, (a, c) => {
        const builtIn = decide(a, [], c);
        const empty = decide(a, [policy('(built-in defaults)', {})], c);
        expect(empty).toEqual(builtIn);
      }),
      { numRuns: 500 },
    );
  });
});
