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
    expect(rules.map((r) => [r.policy, r.rule, r.outcome])).toEqual([
      ['calm', 'maxConcurrentDisruptiveActions', 'pass'],
      ['calm', 'dryRun', 'pass'],
      ['guard', 'allowedActionTypes', 'pass'],
      ['guard', 'protectedNamespaces', 'refuse'],
      ['guard', 'approval', 'wait'],
      ['guard', 'maxGracePeriodSeconds', 'limit'],
    ]);
    expect(rules.find((r) => r.rule === 'approval')?.change).toBe('kubectl clusteropt approve act-1');
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
    expect(rules).toEqual([
      expect.objectContaining({ rule: 'paused', outcome: 'paused', change: 'kubectl clusteropt resume' }),
      expect.objectContaining({ rule: 'maxUnavailableNodes', outcome: 'not-applicable' }),
    ]);
  });
});
