import { describe, expect, it } from 'vitest';
import { sameTrimmedNode, trimNode } from './trim-node.ts';

/** A Node as the API server sends it for a real EKS worker (abridged, but every part kind is there). */
function eksNode(over: { heartbeat?: string; rv?: string; labels?: Record<string, string> } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: 'ip-10-0-1-23.ec2.internal',
      uid: '5c0e4d0e-8a43-4d4c-9a0c-1f1d6a2f7b11',
      resourceVersion: over.rv ?? '1001',
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: {
        'kubernetes.io/hostname': 'ip-10-0-1-23.ec2.internal',
        'kubernetes.io/os': 'linux',
        'node.kubernetes.io/instance-type': 'm5.large',
        'eks.amazonaws.com/capacityType': 'ON_DEMAND',
        'eks.amazonaws.com/nodegroup': 'ng-1',
        'topology.kubernetes.io/zone': 'us-east-1a',
        ...over.labels,
      },
      annotations: {
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
      },
      managedFields: [{ manager: 'kubelet', operation: 'Update', fieldsV1: { 'f:status': {} } }],
    },
    spec: {
      providerID: 'aws:///us-east-1a/i-0abc123def4567890',
      podCIDR: '10.0.1.0/24',
      taints: [
        { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
        { key: 'clusteropt.io/draining', value: 'act-1', effect: 'NoSchedule' },
        { key: 'clusteropt.io/quarantine', effect: 'NoExecute' },
      ],
    },
    status: {
      capacity: { cpu: '2', memory: '8Gi', pods: '29' },
      conditions: [
        {
          type: 'MemoryPressure',
          status: 'False',
          lastHeartbeatTime: over.heartbeat ?? '2026-01-01T00:00:00Z',
        },
        { type: 'Ready', status: 'True', lastHeartbeatTime: over.heartbeat ?? '2026-01-01T00:00:00Z' },
      ],
      images: Array.from({ length: 30 }, (_, i) => ({
        names: [`registry.example/image-${i}:v1`],
        sizeBytes: 1e8,
      })),
      nodeInfo: { kubeletVersion: 'v1.34.4', osImage: 'Amazon Linux 2023' },
    },
  };
}

describe('trimNode', () => {
  it('keeps only what the report needs', () => {
    const trimmed = trimNode(eksNode());
    expect(trimmed).toEqual({
      name: 'ip-10-0-1-23.ec2.internal',
      uid: '5c0e4d0e-8a43-4d4c-9a0c-1f1d6a2f7b11',
      resourceVersion: '1001',
      labels: {
        'node.kubernetes.io/instance-type': 'm5.large',
        'eks.amazonaws.com/capacityType': 'ON_DEMAND',
        'topology.kubernetes.io/zone': 'us-east-1a',
      },
      providerId: 'aws:///us-east-1a/i-0abc123def4567890',
      unschedulable: false,
      agentTaints: ['clusteropt.io/draining=act-1:NoSchedule', 'clusteropt.io/quarantine:NoExecute'],
      ready: true,
    });
    // The point of trimming: a small fraction of the object.
    expect(JSON.stringify(trimmed).length * 5).toBeLessThan(JSON.stringify(eksNode()).length);
  });

  it('copes with a bare object', () => {
    expect(trimNode({})).toEqual({
      name: '',
      uid: '',
      resourceVersion: '',
      labels: {},
      providerId: undefined,
      unschedulable: false,
      agentTaints: [],
      ready: false,
    });
  });
});

describe('sameTrimmedNode', () => {
  it('a heartbeat-only update is the same node', () => {
    const a = trimNode(eksNode());
    const b = trimNode(eksNode({ heartbeat: '2026-01-01T00:05:00Z', rv: '1077' }));
    expect(sameTrimmedNode(a, b)).toBe(true);
  });

  it('an ignored label changing is the same node; a kept one is not', () => {
    const a = trimNode(eksNode());
    expect(sameTrimmedNode(a, trimNode(eksNode({ labels: { team: 'x' } })))).toBe(true);
    expect(
      sameTrimmedNode(a, trimNode(eksNode({ labels: { 'node.kubernetes.io/instance-type': 'm5.xlarge' } }))),
    ).toBe(false);
    expect(sameTrimmedNode(a, { ...a, labels: { ...a.labels, 'karpenter.sh/capacity-type': 'spot' } })).toBe(
      false,
    );
  });

  it('readiness, schedulability, taints and identity matter', () => {
    const a = trimNode(eksNode());
    expect(sameTrimmedNode(a, { ...a, ready: false })).toBe(false);
    expect(sameTrimmedNode(a, { ...a, unschedulable: true })).toBe(false);
    expect(sameTrimmedNode(a, { ...a, agentTaints: [] })).toBe(false);
    expect(sameTrimmedNode(a, { ...a, uid: 'other' })).toBe(false);
    expect(sameTrimmedNode(a, { ...a, providerId: undefined })).toBe(false);
  });
});
