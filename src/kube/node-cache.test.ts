import { ApiException, type V1Node } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { planCordon } from '../actions/cordon-node.ts';
import type { KubeClients } from './clients.ts';
import { trimNode } from './node-cache.ts';
import { patchCachedNode } from './nodes.ts';

const full = {
  metadata: {
    name: 'n1',
    uid: '7d9f5a52-0d4b-4b8e-9b8e-0c1f2a3b4c5d',
    resourceVersion: '42',
    labels: { big: 'x'.repeat(100) },
    annotations: { 'clusteropt.io/cordoned-by': 'a1', other: 'y'.repeat(100) },
    managedFields: [{ manager: 'kubectl' }],
  },
  spec: {
    unschedulable: true,
    providerID: 'aws:///eu-west-1a/i-1',
    taints: [{ key: 'k', effect: 'NoSchedule' }],
    podCIDR: '10.0.0.0/24',
  },
  status: { conditions: [{ type: 'Ready', status: 'True' }], images: [{ names: ['big'] }] },
};

describe('trimNode', () => {
  it('keeps only what the cordon/uncordon plans and the identity check read', () => {
    expect(trimNode(full)).toEqual({
      metadata: {
        name: 'n1',
        uid: full.metadata.uid,
        resourceVersion: '42',
        annotations: { 'clusteropt.io/cordoned-by': 'a1' },
      },
      spec: { unschedulable: true, providerID: 'aws:///eu-west-1a/i-1', taints: full.spec.taints },
    });
    expect(trimNode({ metadata: { name: 'bare' } })).toEqual({ metadata: { name: 'bare' }, spec: {} });
  });
});

function fakePatch(answer: 'ok' | 409 | 404 | 500) {
  const calls: { name: string; body: Record<string, unknown> }[] = [];
  const clients = {
    core: {
      patchNode: async ({ name, body }: { name: string; body: Record<string, unknown> }) => {
        calls.push({ name, body });
        if (answer !== 'ok') throw new ApiException(answer, 'x', '{}', {});
        return { metadata: { name, resourceVersion: '43' }, spec: { unschedulable: true } } as V1Node;
      },
    },
  } as unknown as KubeClients;
  return { clients, calls };
}

const schedulable: V1Node = {
  metadata: { name: 'n1', uid: 'u1', resourceVersion: '42' },
  spec: {},
};
const cordonPlan = (n: V1Node) => {
  const plan = planCordon(n, 'a2', { taint: false });
  return { change: plan.change, result: plan };
};

describe('patchCachedNode', () => {
  it("patches the copy's change guarded by the copy's resourceVersion", async () => {
    const { clients, calls } = fakePatch('ok');
    const done = await patchCachedNode(clients, schedulable, cordonPlan);
    expect(done?.changed).toBe(true);
    expect(done?.result.cordon).toBe('added');
    expect(calls).toEqual([
      {
        name: 'n1',
        body: {
          metadata: { resourceVersion: '42', annotations: { 'clusteropt.io/cordoned-by': 'a2' } },
          spec: { unschedulable: true },
        },
      },
    ]);
  });

  it('never trusts "nothing to do" from a copy: no write, the caller must read the node', async () => {
    const { clients, calls } = fakePatch('ok');
    const cordoned = { ...schedulable, spec: { unschedulable: true } };
    expect(await patchCachedNode(clients, cordoned, cordonPlan)).toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('a copy without a resourceVersion is not used', async () => {
    const { clients, calls } = fakePatch('ok');
    expect(await patchCachedNode(clients, { metadata: { name: 'n1' } }, cordonPlan)).toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('409 (the node moved on) and 404 (gone) send the caller to the fresh path; other errors throw', async () => {
    for (const code of [409, 404] as const) {
      const { clients, calls } = fakePatch(code);
      expect(await patchCachedNode(clients, schedulable, cordonPlan)).toBeUndefined();
      expect(calls).toHaveLength(1);
    }
    const { clients } = fakePatch(500);
    await expect(patchCachedNode(clients, schedulable, cordonPlan)).rejects.toBeInstanceOf(ApiException);
  });
});
