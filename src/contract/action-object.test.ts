import { describe, expect, it } from 'vitest';
import { AgentAction } from '../crds/agent-action.ts';
import { agentActionFor, describeActionTarget } from './action-object.ts';
import { type Action, parseEnvelope } from './envelope.ts';

const id = '0b7e3f5c-1d2a-4e6b-8c9d-0e1f2a3b4c5d';
function action(type: string, payload: unknown, extra: Record<string, string> = {}): Action {
  const parsed = parseEnvelope({ id, type, payload, createdAt: '2026-03-02T10:00:00Z', ...extra });
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.action;
}

describe('AgentAction helpers', () => {
  it('describes the target for every action type', () => {
    expect(describeActionTarget(action('drain_node', { nodeName: 'n1', timeoutSeconds: 60 }))).toBe(
      'node/n1',
    );
    expect(describeActionTarget(action('uncordon_node', { nodeName: 'n2' }))).toBe('node/n2');
    expect(
      describeActionTarget(
        action('scale_workload', { namespace: 'shop', kind: 'StatefulSet', name: 'db', replicas: 1 }),
      ),
    ).toBe('statefulset/shop/db');
    expect(
      describeActionTarget(
        action('sync_hibernation_schedule', {
          name: 'nights',
          timezone: 'UTC',
          windows: [{ days: ['Mon'], from: '20:00', to: '24:00' }],
          namespaceSelector: { matchLabels: { env: 'dev' } },
        }),
      ),
    ).toBe('hibernationschedule/nights');
  });

  it('builds an AgentAction that its own schema accepts, keeping optional envelope fields', () => {
    const a = action('cordon_node', { nodeName: 'n1' }, { expiresAt: '2026-03-02T11:00:00Z' });
    const cr = agentActionFor(a, 'clusteropt-system', 'control-plane');
    expect(cr).toEqual({
      apiVersion: 'clusteropt.io/v1alpha1',
      kind: 'AgentAction',
      metadata: { name: `act-${id}`, namespace: 'clusteropt-system' },
      spec: {
        id,
        type: 'cordon_node',
        payload: { nodeName: 'n1' },
        createdAt: '2026-03-02T10:00:00Z',
        expiresAt: '2026-03-02T11:00:00Z',
        source: 'control-plane',
        target: 'node/n1',
      },
    });
    expect(AgentAction.parse(cr)).toEqual(cr);
    expect('deadline' in cr.spec).toBe(false);
  });
});
