/**
 * The parts of a real EKS node object that the node benchmarks copy onto every Node they
 * create (so watches and lists carry real node sizes, ~7.7 KiB of JSON): instance types,
 * zones, the Karpenter/EKS labels, addresses, pressure conditions, 30 images and nodeInfo.
 * Each benchmark adds its own names, capacity, providerID and Ready condition.
 */
import type { V1Node, V1NodeCondition } from '@kubernetes/client-node';

export const eksInstanceTypes = ['m5.large', 'c6i.xlarge', 'r6g.2xlarge', 'm7i.4xlarge'];
export const eksZones = ['us-east-1a', 'us-east-1b', 'us-east-1c'];

/** A private IPv4 address unique per instance number. */
export function eksNodeIp(instance: number): string {
  return `10.${(instance >> 16) & 255}.${(instance >> 8) & 255}.${instance & 255}`;
}

/** Labels an EKS node run by Karpenter carries (the inventory reads several of them). */
export function eksNodeLabels(name: string, instance: number, zone: string): Record<string, string> {
  return {
    'kubernetes.io/hostname': name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'node.kubernetes.io/instance-type': eksInstanceTypes[instance % eksInstanceTypes.length]!,
    'topology.kubernetes.io/zone': zone,
    'topology.kubernetes.io/region': 'us-east-1',
    'karpenter.sh/capacity-type': instance % 3 === 0 ? 'spot' : 'on-demand',
    'karpenter.sh/nodepool': 'default',
    'eks.amazonaws.com/nodegroup-image': 'ami-0123456789abcdef0',
  };
}

/** Annotations a kubelet and the attach/detach controller leave on a node. */
export function eksNodeAnnotations(ip: string): Record<string, string> {
  return {
    'node.alpha.kubernetes.io/ttl': '0',
    'alpha.kubernetes.io/provided-node-ip': ip,
    'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
  };
}

/** addresses, the three pressure conditions, images and nodeInfo of a node's status. */
export function eksNodeStatusParts(
  ip: string,
  now: string,
): Required<Pick<NonNullable<V1Node['status']>, 'addresses' | 'conditions' | 'images' | 'nodeInfo'>> {
  const at = now as unknown as Date;
  const conditions: V1NodeCondition[] = ['MemoryPressure', 'DiskPressure', 'PIDPressure'].map((type) => ({
    type,
    status: 'False',
    lastHeartbeatTime: at,
    lastTransitionTime: at,
    reason: `KubeletHasNo${type}`,
    message: `kubelet has no ${type}`,
  }));
  const host = `ip-${ip.replace(/\./g, '-')}.ec2.internal`;
  return {
    addresses: [
      { type: 'InternalIP', address: ip },
      { type: 'InternalDNS', address: host },
      { type: 'Hostname', address: host },
    ],
    conditions,
    images: Array.from({ length: 30 }, (_, i) => ({
      names: [
        `123456789012.dkr.ecr.us-east-1.amazonaws.com/team/service-${i}@sha256:${'ab'.repeat(32)}`,
        `123456789012.dkr.ecr.us-east-1.amazonaws.com/team/service-${i}:v1.${i}.0`,
      ],
      sizeBytes: 100_000_000 + i,
    })),
    nodeInfo: {
      architecture: 'amd64',
      bootID: '00000000-0000-0000-0000-000000000000',
      containerRuntimeVersion: 'containerd://1.7.27',
      kernelVersion: '6.1.0',
      kubeProxyVersion: 'v1.34.4',
      kubeletVersion: 'v1.34.4',
      machineID: 'ec2'.padEnd(32, '0'),
      operatingSystem: 'linux',
      osImage: 'Amazon Linux 2023',
      systemUUID: 'ec2'.padEnd(32, '0'),
    },
  };
}
