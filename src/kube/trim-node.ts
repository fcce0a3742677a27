/**
 * The inventory keeps every Node of the cluster in memory, so it keeps only what the instance
 * report needs: at 5,000 nodes a full Node object (status.images, conditions, addresses,
 * managedFields …) is 5–30 KB, the trimmed one a few hundred bytes.
 */

/** Labels the mapping reads; every other label is dropped. */
export const keptLabelKeys: readonly string[] = [
  'node.kubernetes.io/instance-type',
  'beta.kubernetes.io/instance-type',
  'karpenter.sh/capacity-type',
  'eks.amazonaws.com/capacityType',
  'node.kubernetes.io/lifecycle',
  'topology.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/zone',
];

/** Taints with keys under this prefix are the agent's own (e.g. clusteropt.io/draining). */
export const agentTaintPrefix = 'clusteropt.io/';

export interface TrimmedNode {
  name: string;
  uid: string;
  resourceVersion: string;
  /** Only the keys in keptLabelKeys. */
  labels: Readonly<Record<string, string>>;
  providerId: string | undefined;
  unschedulable: boolean;
  /** The agent's taints as `key[=value]:Effect`, in the node's order. */
  agentTaints: readonly string[];
  /** The Ready condition is True (no condition: not ready). */
  ready: boolean;
}

/** The parts of the raw API JSON the trimmer reads (everything else is ignored). */
export interface RawNode {
  metadata?: { name?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string> };
  spec?: {
    providerID?: string;
    unschedulable?: boolean;
    taints?: Array<{ key?: string; value?: string; effect?: string }>;
  };
  status?: { conditions?: Array<{ type?: string; status?: string }> };
}

export function formatTaint(taint: { key?: string; value?: string; effect?: string }): string {
  const value = taint.value ? `=${taint.value}` : '';
  return `${taint.key ?? ''}${value}:${taint.effect ?? ''}`;
}

export function trimNode(raw: RawNode): TrimmedNode {
  const labels: Record<string, string> = {};
  const rawLabels = raw.metadata?.labels;
  if (rawLabels) {
    for (const key of keptLabelKeys) {
      const value = rawLabels[key];
      if (value !== undefined) labels[key] = value;
    }
  }
  const agentTaints: string[] = [];
  for (const taint of raw.spec?.taints ?? []) {
    if (taint.key?.startsWith(agentTaintPrefix)) agentTaints.push(formatTaint(taint));
  }
  return {
    name: raw.metadata?.name ?? '',
    uid: raw.metadata?.uid ?? '',
    resourceVersion: raw.metadata?.resourceVersion ?? '',
    labels,
    providerId: raw.spec?.providerID || undefined,
    unschedulable: raw.spec?.unschedulable === true,
    agentTaints,
    ready: raw.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  };
}

/**
 * Same node content, resourceVersion aside: a status update that only moved heartbeat
 * timestamps (or touched a label the inventory ignores) compares equal and is dropped.
 */
export function sameTrimmedNode(a: TrimmedNode, b: TrimmedNode): boolean {
  if (
    a.name !== b.name ||
    a.uid !== b.uid ||
    a.providerId !== b.providerId ||
    a.unschedulable !== b.unschedulable ||
    a.ready !== b.ready ||
    !sameStrings(a.agentTaints, b.agentTaints)
  ) {
    return false;
  }
  const aKeys = Object.keys(a.labels);
  if (aKeys.length !== Object.keys(b.labels).length) return false;
  return aKeys.every((k) => a.labels[k] === b.labels[k]);
}

export function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
