import { describe, expect, it } from 'vitest';
import { InstanceReport } from '../../contract/reports.ts';
import { type RawNode, trimNode } from '../../kube/trim-node.ts';
import { lifecycleFromLabels, parseAwsProviderId, toInstance, withEc2 } from './to-instance.ts';

function node(
  over: { labels?: Record<string, string>; providerID?: string; ready?: string } & RawNode['spec'] = {},
) {
  const { labels, ready, ...spec } = over;
  return trimNode({
    metadata: { name: 'ip-10-0-1-23.ec2.internal', uid: 'uid-1', resourceVersion: '7', labels },
    spec,
    status: { conditions: ready === undefined ? [] : [{ type: 'Ready', status: ready }] },
  });
}

describe('parseAwsProviderId', () => {
  it('reads zone and instance id', () => {
    expect(parseAwsProviderId('aws:///us-east-1a/i-0abc123def4567890')).toEqual({
      zone: 'us-east-1a',
      instanceId: 'i-0abc123def4567890',
    });
    expect(parseAwsProviderId('aws:///eu-west-1b/i-12345678')).toEqual({
      zone: 'eu-west-1b',
      instanceId: 'i-12345678',
    });
  });

  it('tolerates an empty zone and rejects what is not an instance id', () => {
    expect(parseAwsProviderId('aws:////i-0abc123def4567890')).toEqual({
      zone: undefined,
      instanceId: 'i-0abc123def4567890',
    });
    // EKS Fargate: a zone, no EC2 instance.
    expect(parseAwsProviderId('aws:///us-east-1b/8a5b1e5f06/fargate-ip-192-168-1-1.ec2.internal')).toEqual({
      zone: 'us-east-1b',
      instanceId: undefined,
    });
    expect(parseAwsProviderId('aws:///us-east-1a/not-an-instance')?.instanceId).toBeUndefined();
  });

  it('ignores other providers', () => {
    expect(parseAwsProviderId('gce://project/us-central1-a/vm-1')).toBeUndefined();
    expect(parseAwsProviderId('kwok://node-1')).toBeUndefined();
    expect(parseAwsProviderId(undefined)).toBeUndefined();
  });
});

describe('lifecycleFromLabels', () => {
  it.each([
    [{ 'karpenter.sh/capacity-type': 'spot' }, 'spot'],
    [{ 'karpenter.sh/capacity-type': 'on-demand' }, 'on-demand'],
    [{ 'karpenter.sh/capacity-type': 'reserved' }, 'on-demand'],
    [{ 'eks.amazonaws.com/capacityType': 'SPOT' }, 'spot'],
    [{ 'eks.amazonaws.com/capacityType': 'ON_DEMAND' }, 'on-demand'],
    [{ 'node.kubernetes.io/lifecycle': 'spot' }, 'spot'],
    [{ 'node.kubernetes.io/lifecycle': 'normal' }, 'on-demand'],
    [{ 'node.kubernetes.io/lifecycle': 'weird' }, 'unknown'],
    [{}, 'unknown'],
    // Karpenter's label is read first; an unknown value there falls through to the next.
    [{ 'karpenter.sh/capacity-type': 'spot', 'eks.amazonaws.com/capacityType': 'ON_DEMAND' }, 'spot'],
    [{ 'karpenter.sh/capacity-type': 'future', 'eks.amazonaws.com/capacityType': 'SPOT' }, 'spot'],
  ] as const)('%o → %s', (labels, expected) => {
    expect(lifecycleFromLabels(labels)).toBe(expected);
  });
});

describe('toInstance', () => {
  it('maps an EKS node', () => {
    const report = toInstance(
      node({
        providerID: 'aws:///us-east-1a/i-0abc123def4567890',
        labels: {
          'node.kubernetes.io/instance-type': 'm5.large',
          'eks.amazonaws.com/capacityType': 'SPOT',
          'topology.kubernetes.io/zone': 'us-east-1c', // providerID wins
        },
        ready: 'True',
        taints: [
          { key: 'clusteropt.io/draining', value: 'a1', effect: 'NoSchedule' },
          { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' },
        ],
      }),
    );
    expect(report).toEqual({
      nodeName: 'ip-10-0-1-23.ec2.internal',
      nodeUid: 'uid-1',
      providerId: 'aws:///us-east-1a/i-0abc123def4567890',
      instanceId: 'i-0abc123def4567890',
      zone: 'us-east-1a',
      instanceType: 'm5.large',
      lifecycle: 'spot',
      ready: true,
      schedulable: true,
      agentTaints: ['clusteropt.io/draining=a1:NoSchedule'],
    });
    expect(InstanceReport.safeParse(report).success).toBe(true);
  });

  it('keeps another provider id without an instance id; zone and type from labels', () => {
    const report = toInstance(
      node({
        providerID: 'gce://p/us-central1-a/vm-1',
        labels: {
          'beta.kubernetes.io/instance-type': 'n2-standard-4',
          'failure-domain.beta.kubernetes.io/zone': 'us-central1-a',
        },
        unschedulable: true,
        ready: 'False',
      }),
    );
    expect(report.providerId).toBe('gce://p/us-central1-a/vm-1');
    expect(report.instanceId).toBeUndefined();
    expect(report.zone).toBe('us-central1-a');
    expect(report.instanceType).toBe('n2-standard-4');
    expect(report.lifecycle).toBe('unknown');
    expect(report.ready).toBe(false);
    expect(report.schedulable).toBe(false);
    expect(report.agentTaints).toEqual([]);
  });

  it('prefers the GA instance-type label; a node without conditions is not ready', () => {
    const report = toInstance(
      node({
        labels: {
          'node.kubernetes.io/instance-type': 'c6i.xlarge',
          'beta.kubernetes.io/instance-type': 'c5.xlarge',
        },
      }),
    );
    expect(report.instanceType).toBe('c6i.xlarge');
    expect(report.ready).toBe(false);
    expect('providerId' in report).toBe(false);
  });
});

describe('withEc2', () => {
  const base = toInstance(node({ providerID: 'aws:///us-east-1a/i-0abc123def4567890', ready: 'True' }));

  it('adds EC2 facts; EC2 decides the lifecycle and fills missing type', () => {
    const enriched = withEc2(base, {
      state: 'running',
      launchTime: '2026-01-02T03:04:05.000Z',
      lifecycle: 'spot',
      spotInstanceRequestId: 'sir-abc',
      instanceType: 'm6i.large',
      zone: 'us-east-1b',
    });
    expect(enriched.lifecycle).toBe('spot');
    expect(enriched.instanceType).toBe('m6i.large');
    expect(enriched.zone).toBe('us-east-1a'); // the providerID's zone stays
    expect(enriched.ec2).toEqual({
      state: 'running',
      launchTime: '2026-01-02T03:04:05.000Z',
      spotInstanceRequestId: 'sir-abc',
    });
    expect(InstanceReport.safeParse(enriched).success).toBe(true);
    expect(base.ec2).toBeUndefined(); // not mutated
  });

  it('returns the report unchanged without facts', () => {
    expect(withEc2(base, undefined)).toBe(base);
  });
});
