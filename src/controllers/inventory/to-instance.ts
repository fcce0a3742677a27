/**
 * Node → InstanceReport, pure. Sources, most specific first:
 * - instance id and zone: spec.providerID `aws:///<az>/<instance-id>` (other providers: the
 *   providerId is kept, there is no instance id; the zone then comes from the zone labels);
 * - type: `node.kubernetes.io/instance-type`, fallback `beta.kubernetes.io/instance-type`;
 * - lifecycle: `karpenter.sh/capacity-type`, `eks.amazonaws.com/capacityType`,
 *   `node.kubernetes.io/lifecycle`; EC2's own answer wins when enrichment has one.
 */
import type { Ec2Facts } from '../../aws/ec2-facts.ts';
import type { InstanceReport } from '../../contract/reports.ts';
import type { TrimmedNode } from '../../kube/trim-node.ts';

export type Lifecycle = InstanceReport['lifecycle'];

export interface AwsProviderId {
  /** Empty segment in `aws:////i-…` (seen on some self-managed clusters): undefined. */
  zone: string | undefined;
  /** Undefined when the last segment is not an EC2 instance id (e.g. EKS Fargate). */
  instanceId: string | undefined;
}

const awsProviderIdPattern = /^aws:\/\/[^/]*\/([^/]*)\/(.+)$/;
const instanceIdPattern = /^i-[0-9a-f]{8,17}$/;

export function parseAwsProviderId(providerId: string | undefined): AwsProviderId | undefined {
  if (providerId === undefined) return undefined;
  const m = awsProviderIdPattern.exec(providerId);
  if (!m) return undefined;
  const tail = m[2] ?? '';
  return {
    zone: m[1] || undefined,
    instanceId: instanceIdPattern.test(tail) ? tail : undefined,
  };
}

/** One label's value mapped to a lifecycle, or undefined for values it does not know. */
const lifecycleLabels: ReadonlyArray<[string, (value: string) => Lifecycle | undefined]> = [
  // Karpenter: spot | on-demand | reserved (capacity reservations are billed as on-demand).
  [
    'karpenter.sh/capacity-type',
    (v) => (v === 'spot' ? 'spot' : v === 'on-demand' || v === 'reserved' ? 'on-demand' : undefined),
  ],
  // EKS managed node groups: SPOT | ON_DEMAND (| CAPACITY_BLOCK, not interruptible like spot).
  [
    'eks.amazonaws.com/capacityType',
    (v) => (v === 'SPOT' ? 'spot' : v === 'ON_DEMAND' || v === 'CAPACITY_BLOCK' ? 'on-demand' : undefined),
  ],
  // Older self-managed groups (kops, eksctl): spot | normal.
  [
    'node.kubernetes.io/lifecycle',
    (v) => (v === 'spot' ? 'spot' : v === 'normal' || v === 'on-demand' ? 'on-demand' : undefined),
  ],
];

export function lifecycleFromLabels(labels: Readonly<Record<string, string>>): Lifecycle {
  for (const [key, map] of lifecycleLabels) {
    const value = labels[key];
    if (value === undefined) continue;
    const lifecycle = map(value);
    if (lifecycle) return lifecycle;
  }
  return 'unknown';
}

export function toInstance(node: TrimmedNode): InstanceReport {
  const aws = parseAwsProviderId(node.providerId);
  const zone =
    aws?.zone ??
    node.labels['topology.kubernetes.io/zone'] ??
    node.labels['failure-domain.beta.kubernetes.io/zone'];
  const instanceType =
    node.labels['node.kubernetes.io/instance-type'] ?? node.labels['beta.kubernetes.io/instance-type'];
  const report: InstanceReport = {
    nodeName: node.name,
    nodeUid: node.uid,
    lifecycle: lifecycleFromLabels(node.labels),
    ready: node.ready,
    schedulable: !node.unschedulable,
    agentTaints: [...node.agentTaints],
  };
  if (node.providerId !== undefined) report.providerId = node.providerId;
  if (aws?.instanceId !== undefined) report.instanceId = aws.instanceId;
  if (zone !== undefined) report.zone = zone;
  if (instanceType !== undefined) report.instanceType = instanceType;
  return report;
}

/**
 * Adds EC2's answer to a node's report. EC2 is the authority on spot vs on-demand; labels
 * win for type and zone (they are what the scheduler sees), EC2 fills them when missing.
 */
export function withEc2(report: InstanceReport, facts: Ec2Facts | undefined): InstanceReport {
  if (facts === undefined) return report;
  const ec2: NonNullable<InstanceReport['ec2']> = {};
  if (facts.state !== undefined) ec2.state = facts.state;
  if (facts.launchTime !== undefined) ec2.launchTime = facts.launchTime;
  if (facts.spotInstanceRequestId !== undefined) ec2.spotInstanceRequestId = facts.spotInstanceRequestId;
  const enriched: InstanceReport = { ...report, ec2 };
  if (facts.lifecycle !== undefined) enriched.lifecycle = facts.lifecycle;
  if (enriched.instanceType === undefined && facts.instanceType !== undefined) {
    enriched.instanceType = facts.instanceType;
  }
  if (enriched.zone === undefined && facts.zone !== undefined) enriched.zone = facts.zone;
  return enriched;
}
