/**
 * Pure drain decisions (no I/O): which pods a drain evicts, skips or is blocked by, in which
 * order, with which grace period, and how much time it has. See docs/drain.md.
 *
 * The filters are kubectl's (k8s.io/kubectl/pkg/drain/filters.go, v1.34), applied in its
 * order, first "no" wins: deleted-long-ago, DaemonSet, mirror, local storage (emptyDir),
 * unreplicated; then the agent's own do-not-disrupt filter.
 */

import { isDoNotDisrupt } from '../contract/marks.ts';
import type { PodFacts } from '../kube/pods.ts';
import { type OwnerInfo, ownerKey } from '../kube/workloads.ts';
import { compareCodeUnits } from '../util/compare.ts';

export interface DrainFilterOptions {
  /** kubectl's --force, as allowed by policy: pods without a controller may be evicted. */
  force: boolean;
  /** Namespaces where force never applies (the system namespaces a policy protects). */
  noForceNamespaces?: readonly string[];
  deleteEmptyDirData: boolean;
  ignoreDaemonSets: boolean;
  /** kubectl's --skip-wait-for-delete-timeout: 0/undefined disables. */
  skipWaitForDeleteTimeoutSeconds?: number | undefined;
}

/** Pods left alone, as kubectl leaves them. */
export type SkipReason = 'daemonset' | 'mirror' | 'deleted-long-ago';

/** Pods that stop the drain before anything is evicted (kubectl errors + do-not-disrupt). */
export type BlockReason =
  | 'daemonset-not-ignored'
  | 'daemonset-missing'
  | 'local-storage'
  | 'unmanaged'
  | 'do-not-disrupt';

/** Why an evicted pod needed a flag (kubectl prints these as warnings). */
export type EvictNote = 'terminal' | 'emptydir-data-deleted' | 'unmanaged-forced' | 'orphaned-daemonset-pod';

export type PodDecision =
  | { action: 'evict'; notes: EvictNote[] }
  | { action: 'skip'; reason: SkipReason }
  | { action: 'block'; reason: BlockReason; message: string };

export interface PlannedPod {
  pod: PodFacts;
  decision: PodDecision;
}

export interface DrainPlan {
  /** In eviction order: non-critical pods first, then critical ones. */
  evict: { pod: PodFacts; critical: boolean; notes: EvictNote[] }[];
  skipped: { pod: PodFacts; reason: SkipReason }[];
  blocked: { pod: PodFacts; reason: BlockReason; message: string }[];
}

const blockMessages: Record<BlockReason, string> = {
  // kubectl's own wording where it has one, so admins recognise it.
  'daemonset-not-ignored': 'DaemonSet-managed pod (ignoreDaemonSets is false)',
  'daemonset-missing': 'pod of a DaemonSet that no longer exists (needs force)',
  'local-storage': 'pod with local storage (emptyDir); needs deleteEmptyDirData',
  unmanaged: 'pod declares no controller; needs force',
  'do-not-disrupt': 'annotated clusteropt.io/do-not-disrupt=true',
};

export const isTerminal = (pod: Pick<PodFacts, 'phase'>): boolean =>
  pod.phase === 'Succeeded' || pod.phase === 'Failed';

export const isMirrorPod = (pod: Pick<PodFacts, 'annotations'>): boolean =>
  'kubernetes.io/config.mirror' in pod.annotations;

const isDaemonSetController = (pod: PodFacts): boolean =>
  pod.controller?.kind === 'DaemonSet' && pod.controller.apiVersion === 'apps/v1';

/** Priority at or above this is reserved for system-cluster-critical / system-node-critical. */
export const criticalPriorityThreshold = 2_000_000_000;
const criticalClasses = new Set(['system-cluster-critical', 'system-node-critical']);

export function isCriticalPod(pod: Pick<PodFacts, 'priority' | 'priorityClassName'>): boolean {
  return (
    (pod.priorityClassName !== undefined && criticalClasses.has(pod.priorityClassName)) ||
    (pod.priority ?? 0) >= criticalPriorityThreshold
  );
}

function block(reason: BlockReason, detail?: string): PodDecision {
  return {
    action: 'block',
    reason,
    message: detail ? `${blockMessages[reason]}: ${detail}` : blockMessages[reason],
  };
}

/** One pod through the filter chain. `owners` comes from lookupPodOwners (may be partial). */
export function decidePod(
  pod: PodFacts,
  owners: ReadonlyMap<string, OwnerInfo>,
  options: DrainFilterOptions,
  nowMs: number,
): PodDecision {
  const notes: EvictNote[] = [];
  const terminal = isTerminal(pod);
  const force = options.force && !(options.noForceNamespaces ?? []).includes(pod.namespace);
  const noForceHere =
    options.force && !force ? `; force does not apply in system namespace ${pod.namespace}` : '';

  // 1. skipDeletedFilter: deletion requested longer ago than the skip-wait timeout.
  const skipWait = options.skipWaitForDeleteTimeoutSeconds ?? 0;
  if (
    skipWait > 0 &&
    pod.deletionTimestampMs !== undefined &&
    Math.trunc((nowMs - pod.deletionTimestampMs) / 1000) > skipWait
  ) {
    return { action: 'skip', reason: 'deleted-long-ago' };
  }

  // 2. daemonSetFilter: never delete a running DaemonSet pod (its controller ignores cordons).
  if (pod.controller && isDaemonSetController(pod) && !terminal) {
    const owner = owners.get(ownerKey(pod.namespace, pod.controller));
    if (owner && !owner.exists) {
      if (!force) return block('daemonset-missing', `DaemonSet ${pod.controller.name}${noForceHere}`);
      notes.push('orphaned-daemonset-pod');
    } else if (!options.ignoreDaemonSets) {
      return block('daemonset-not-ignored');
    } else {
      return { action: 'skip', reason: 'daemonset' };
    }
  }

  // 3. mirrorPodFilter: static pods cannot be deleted through the API server.
  if (isMirrorPod(pod)) return { action: 'skip', reason: 'mirror' };

  // 4. localStorageFilter: emptyDir data is lost (finished pods are fine).
  if (pod.hasEmptyDir && !terminal) {
    if (!options.deleteEmptyDirData) return block('local-storage');
    notes.push('emptydir-data-deleted');
  }

  // 5. unreplicatedFilter: nothing recreates a pod without a controller.
  if (terminal) {
    notes.push('terminal');
  } else if (!pod.controller) {
    if (!force) return block('unmanaged', noForceHere ? noForceHere.slice(2) : undefined);
    notes.push('unmanaged-forced');
  }

  // 6. The agent's own: do-not-disrupt on the pod or its owning workload. A finished or
  // already-terminating pod is not disrupted by being evicted, so it does not block.
  if (!terminal && pod.deletionTimestampMs === undefined) {
    if (isDoNotDisrupt(pod.annotations)) return block('do-not-disrupt', 'on the pod');
    const owner = pod.controller ? owners.get(ownerKey(pod.namespace, pod.controller)) : undefined;
    if (owner && isDoNotDisrupt(owner.annotations)) {
      return block('do-not-disrupt', `on ${owner.via ?? `${pod.controller!.kind}/${pod.controller!.name}`}`);
    }
  }

  return { action: 'evict', notes };
}

const byKey = (a: { pod: PodFacts }, b: { pod: PodFacts }): number =>
  a.pod.namespace === b.pod.namespace
    ? compareCodeUnits(a.pod.name, b.pod.name)
    : compareCodeUnits(a.pod.namespace, b.pod.namespace);

export function planDrain(
  pods: readonly PodFacts[],
  owners: ReadonlyMap<string, OwnerInfo>,
  options: DrainFilterOptions,
  nowMs: number,
): DrainPlan {
  const plan: DrainPlan = { evict: [], skipped: [], blocked: [] };
  for (const pod of pods) {
    const d = decidePod(pod, owners, options, nowMs);
    if (d.action === 'evict') plan.evict.push({ pod, critical: isCriticalPod(pod), notes: d.notes });
    else if (d.action === 'skip') plan.skipped.push({ pod, reason: d.reason });
    else plan.blocked.push({ pod, reason: d.reason, message: d.message });
  }
  // Non-critical first (critical pods such as DNS keep serving the others while they move),
  // then by namespace/name so runs are reproducible.
  plan.evict.sort((a, b) => Number(a.critical) - Number(b.critical) || byKey(a, b));
  plan.skipped.sort(byKey);
  plan.blocked.sort(byKey);
  return plan;
}

/** The eviction waves: every non-critical pod must be gone before critical ones are evicted. */
export function evictionWaves<T extends { critical: boolean }>(evict: readonly T[]): T[][] {
  const normal = evict.filter((e) => !e.critical);
  const critical = evict.filter((e) => e.critical);
  return [normal, critical].filter((w) => w.length > 0);
}

export interface BudgetInput {
  timeoutSeconds: number;
  /** The action's createdAt (ISO): the timeout counts from there, across restarts. */
  createdAt: string;
  /** Envelope and payload deadlines (ISO); the earliest applies. */
  deadlines: (string | undefined)[];
  nowMs: number;
}

export interface Budget {
  /** ms left from nowMs; 0 when already spent. */
  remainingMs: number;
  /** Absolute end (ms since epoch). */
  endsAtMs: number;
  limitedBy: 'timeout' | 'deadline';
}

/**
 * The drain's time: it ends at the earlier of createdAt + timeoutSeconds and the deadline.
 * So the timeout shrinks by the action's age (a drain resumed after a restart does not get a
 * fresh timeout), and a createdAt in the future (clock skew) never extends it.
 */
export function drainBudget(input: BudgetInput): Budget {
  const created = Date.parse(input.createdAt);
  const age = Number.isNaN(created) ? 0 : Math.max(0, input.nowMs - created);
  const timeoutEnd = input.nowMs + Math.max(0, input.timeoutSeconds * 1000 - age);
  let deadlineEnd = Number.POSITIVE_INFINITY;
  for (const d of input.deadlines) {
    const ms = d === undefined ? Number.NaN : Date.parse(d);
    if (!Number.isNaN(ms)) deadlineEnd = Math.min(deadlineEnd, ms);
  }
  const limitedBy = deadlineEnd < timeoutEnd ? 'deadline' : 'timeout';
  const endsAtMs = Math.min(timeoutEnd, deadlineEnd);
  return { remainingMs: Math.max(0, endsAtMs - input.nowMs), endsAtMs, limitedBy };
}

/** Default pod grace when the pod does not set one (the API server's default). */
export const defaultPodGraceSeconds = 30;
/** The policy's minGracePeriodSeconds when no policy sets one (docs/policy.md). */
export const defaultMinGracePeriodSeconds = 30;

/**
 * The gracePeriodSeconds sent with an eviction: the payload's, else the pod's own (undefined:
 * let the server use it), capped by the policy's maximum, and never below the floor: the
 * policy's minimum, or the pod's own when that is shorter (a hostile or careless grace of 0
 * does not kill pods at once). The floor never exceeds the maximum.
 */
export function evictionGraceSeconds(
  pod: Pick<PodFacts, 'terminationGracePeriodSeconds'>,
  payloadGrace: number | undefined,
  limits: { maxGracePeriodSeconds?: number | undefined; minGracePeriodSeconds?: number | undefined },
): number | undefined {
  const own = pod.terminationGracePeriodSeconds ?? defaultPodGraceSeconds;
  const max = limits.maxGracePeriodSeconds ?? Number.POSITIVE_INFINITY;
  const floor = Math.min(limits.minGracePeriodSeconds ?? defaultMinGracePeriodSeconds, own, max);
  const grace = Math.max(floor, Math.min(payloadGrace ?? own, max));
  return payloadGrace === undefined && grace === own ? undefined : grace;
}
