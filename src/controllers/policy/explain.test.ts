import { describe, expect, it } from 'vitest';
import { type Action, parseEnvelope } from '../../contract/envelope.ts';
import type { AgentPolicySpec } from '../../crds/agent-policy.ts';
import type { PolicyContext, PolicyInput } from './decide.ts';
import { explain } from './explain.ts';

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
const policy = (name: string, spec: AgentPolicySpec): PolicyInput => ({ metadata: { name }, spec });
const context: PolicyContext = {
  now: new Date('2026-03-02T10:00:00Z'),
  target: { nodeLabels: { pool: 'general' }, pods: [{ namespace: 'shop', name: 'web-1', labels: {} }] },
  runningDisruptiveActions: 0,
  unavailableNodes: 0,
  totalNodes: 10,
  approved: false,
};
const drain = action('drain_node', { nodeName: 'node-a', timeoutSeconds: 600 });
const scale = action('scale_workload', { namespace: 'shop', kind: 'Deployment', name: 'web', replicas: 0 });

describe('explain', () => {
  it('names every rule of every policy with its verdict, and how to change the blocking ones', () => {
    const { decision, rules } = explain(
      drain,
      [
        policy('guard', {
          allowedActionTypes: ['drain_node'],
          protectedNamespaces: ['shop'],
          approval: 'required',
          drain: { maxGracePeriodSeconds: 30 },
        }),
        policy('calm', { maxConcurrentDisruptiveActions: 2, dryRun: false }),
      ],
      context,
      'act-1',
    );
    expect(decision).toMatchObject({ decision: 'refuse', policy: 'guard', rule: 'protectedNamespaces' });
    // Every policy's unset fields are its built-in defaults, so they show as rules too.
    const defaults = (policy: string) => [
      [policy, 'protectControlPlaneNodes', 'pass'],
      [policy, 'protectSystemNamespaces', 'pass'],
      [policy, 'force', 'pass'],
      [policy, 'forceDeleteAtBudgetEnd', 'pass'],
    ];
    expect(rules.map((r) => [r.policy, r.rule, r.outcome])).toEqual([
      ...defaults('calm'),
      ['calm', 'approval', 'pass'],
      ['calm', 'maxConcurrentDisruptiveActions', 'pass'],
      ['calm', 'maxUnavailableNodes', 'pass'],
      ['calm', 'dryRun', 'pass'],
      ['calm', 'minGracePeriodSeconds', 'limit'],
      ['guard', 'allowedActionTypes', 'pass'],
      ['guard', 'protectControlPlaneNodes', 'pass'],
      ['guard', 'protectedNamespaces', 'refuse'],
      ...defaults('guard').slice(1),
      ['guard', 'approval', 'wait'],
      ['guard', 'maxConcurrentDisruptiveActions', 'pass'],
      ['guard', 'maxUnavailableNodes', 'pass'],
      ['guard', 'minGracePeriodSeconds', 'limit'],
      ['guard', 'maxGracePeriodSeconds', 'limit'],
    ]);
    expect(rules.find((r) => r.policy === 'calm' && r.rule === 'force')?.message).toContain(
      'built-in default',
    );
    expect(rules.find((r) => r.policy === 'guard' && r.rule === 'approval')?.change).toBe(
      'kubectl clusteropt approve act-1',
    );
    expect(rules.find((r) => r.rule === 'protectedNamespaces')?.message).toContain('shop/web-1');
    expect(rules.find((r) => r.outcome === 'pass')?.change).toBeUndefined();
  });

  it('marks rules that do not look at the action type, and the pause with its way out', () => {
    const { decision, rules } = explain(
      scale,
      [policy('clusteropt-pause', { paused: true }), policy('w', { maxUnavailableNodes: 0 })],
      context,
      'act-2',
    );
    expect(decision).toMatchObject({ decision: 'wait', rule: 'paused' });
    // Defaults an admin did not write are left out where they do not apply; written ones say so.
    expect(rules.filter((r) => r.outcome !== 'pass')).toEqual([
      expect.objectContaining({ rule: 'paused', outcome: 'paused', change: 'kubectl clusteropt resume' }),
      expect.objectContaining({ policy: 'w', rule: 'maxUnavailableNodes', outcome: 'not-applicable' }),
    ]);
    expect(rules.some((r) => r.rule === 'maxConcurrentDisruptiveActions')).toBe(false);
  });

  it('explains the built-in defaults when no AgentPolicy exists, and how to widen them', () => {
    const forced = action('drain_node', { nodeName: 'node-a', timeoutSeconds: 600, force: true });
    const { decision, rules } = explain(forced, [], context, 'act-3');
    expect(decision).toMatchObject({ decision: 'refuse', policy: '(built-in defaults)', rule: 'force' });
    const force = rules.find((r) => r.rule === 'force');
    expect(force).toMatchObject({ policy: '(built-in defaults)', outcome: 'refuse' });
    expect(force?.change).toBe(
      'an AgentPolicy with spec.drain.allowForce: true (none exists, so the built-in defaults apply)',
    );
    const controlPlane = explain(
      drain,
      [],
      {
        ...context,
        target: { ...context.target, nodeLabels: { 'node-role.kubernetes.io/control-plane': '' } },
      },
      'act-4',
    );
    expect(controlPlane.rules.find((r) => r.rule === 'protectControlPlaneNodes')).toMatchObject({
      outcome: 'refuse',
      change:
        'an AgentPolicy with spec.protectControlPlaneNodes: false (none exists, so the built-in defaults apply)',
    });
  });

  it('shows the force rules that refuse a NoExecute taint, and how to widen them', () => {
    const taint = action('patch_node', {
      nodeName: 'node-a',
      taints: [{ key: 'example.com/evict', effect: 'NoExecute' }],
    });
    const rs = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'u1' };
    const pods = [
      { namespace: 'shop', name: 'web-1', labels: {}, tolerations: [], controller: rs },
      { namespace: 'shop', name: 'debug', labels: {}, tolerations: [] },
    ];
    const { decision, rules } = explain(taint, [], { ...context, target: { nodeLabels: {}, pods } }, 'act-5');
    expect(decision).toMatchObject({ decision: 'refuse', rule: 'forceDeleteAtBudgetEnd' });
    expect(rules.find((r) => r.rule === 'forceDeleteAtBudgetEnd')).toMatchObject({
      outcome: 'refuse',
      message: expect.stringMatching(/shop\/web-1 and 1 more without asking their PodDisruptionBudgets/),
      change:
        'an AgentPolicy with spec.drain.allowForceDeleteAtBudgetEnd: true (none exists, so the built-in defaults apply)',
    });
    expect(rules.find((r) => r.rule === 'force')).toMatchObject({
      outcome: 'refuse',
      message: expect.stringMatching(/shop\/debug, which no controller recreates/),
    });
    // Only pods that tolerate it: both rules pass, saying so for the taint.
    const tolerated = explain(
      taint,
      [],
      {
        ...context,
        target: { nodeLabels: {}, pods: [{ ...pods[0]!, tolerations: [{ operator: 'Exists' }] }] },
      },
      'act-6',
    );
    expect(tolerated.rules.find((r) => r.rule === 'forceDeleteAtBudgetEnd')).toMatchObject({
      outcome: 'pass',
      message: expect.stringMatching(/the NoExecute taint evicts no pod/),
    });
  });
});
