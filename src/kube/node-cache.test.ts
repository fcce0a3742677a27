import { describe, expect, it } from 'vitest';
import { trimNode } from './node-cache.ts';
import { trimNode as inventoryTrim } from './trim-node.ts';

const full = {
  metadata: {
    name: 'n1',
    uid: '7d9f5a52-0d4b-4b8e-9b8e-0c1f2a3b4c5d',
    resourceVersion: '42',
    labels: { big: 'x'.repeat(100), 'node.kubernetes.io/instance-type': 'm5.large' },
    annotations: { 'clusteropt.io/cordoned-by': 'a1', other: 'y'.repeat(100) },
    managedFields: [{ manager: 'kubectl' }],
  },
  spec: {
    unschedulable: true,
    providerID: 'aws:///eu-west-1a/i-1',
    taints: [
      { key: 'k', effect: 'NoSchedule' },
      { key: 'clusteropt.io/draining', value: 'a1', effect: 'NoSchedule' },
    ],
    podCIDR: '10.0.0.0/24',
  },
  status: {
    conditions: [
      { type: 'MemoryPressure', status: 'False', lastHeartbeatTime: '2026-12-01T00:00:00Z' },
      { type: 'Ready', status: 'True', lastHeartbeatTime: '2026-12-01T00:00:00Z' },
    ],
    images: [{ names: ['big'] }],
  },
};

describe('trimNode', () => {
  it('keeps only what the cordon/uncordon plans, the identity check and the inventory read', () => {
    expect(trimNode(full)).toEqual({
      metadata: {
        name: 'n1',
        uid: full.metadata.uid,
        resourceVersion: '42',
        labels: { 'node.kubernetes.io/instance-type': 'm5.large' },
        annotations: { 'clusteropt.io/cordoned-by': 'a1' },
      },
      spec: { unschedulable: true, providerID: 'aws:///eu-west-1a/i-1', taints: full.spec.taints },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
    expect(trimNode({ metadata: { name: 'bare' } })).toEqual({ metadata: { name: 'bare' }, spec: {} });
    // Not Ready: no status at all (the inventory reads "not ready" from its absence).
    const notReady = { ...full, status: { conditions: [{ type: 'Ready', status: 'Unknown' }] } };
    expect(trimNode(notReady).status).toBeUndefined();
  });

  it("is the inventory's node as well: its trim of the copy equals its trim of the full node", () => {
    for (const raw of [full, { metadata: { name: 'bare' } }, { ...full, status: {} }]) {
      expect(inventoryTrim(trimNode(raw) as never)).toEqual(inventoryTrim(raw as never));
    }
  });
});
