import { performance } from 'node:perf_hooks';
import type { V1Node } from '@kubernetes/client-node';
import { cordonedByAnnotation, drainingTaintEffect, drainingTaintKey } from '../contract/marks.ts';
import type { DrainNodePayload } from '../contract/payloads.ts';
import { type NodeChange, updateNode } from '../kube/nodes.ts';
import { listPodsOnNode, type PodFacts } from '../kube/pods.ts';
import { lookupPodOwners, type OwnerInfo, ownerKey } from '../kube/workloads.ts';
import { type CordonDetails, cordonNode } from './cordon-node.ts';
import {
  type DrainFilterOptions,
  type DrainPlan,
  drainBudget,
  evictionWaves,
  planDrain,
} from './drain-plan.ts';
import { type DrainPodReport, DrainRun, type DrainRunOutcome } from './drain-run.ts';
import { loadTargetNode, nodeSubject } from './target-node.ts';
import {
  ActionAbortedError,
  type ActionContext,
  type ActionExecutor,
  type ActionOf,
  type ActionResult,
  failed,
  succeeded,
  throwIfAborted,
} from './types.ts';

/** The envelope fields a drain needs (delete_node passes its own). */
export interface DrainActionRef {
  id: string;
  createdAt: string;
  deadline?: string | undefined;
}

export interface DrainDetails {
  node: string;
  cordon?: CordonDetails['cordon'];
  taint?: CordonDetails['taint'];
  budget: { ms: number; limitedBy: 'timeout' | 'deadline'; endsAt: string };
  force: boolean;
  forceAllowed: boolean;
  forceDeleteAtBudgetEnd: boolean;
  forceDeleteAtBudgetEndAllowed: boolean;
  evicted: DrainPodReport[];
  forceDeleted: DrainPodReport[];
  stuck: DrainPodReport[];
  skipped: DrainPodReport[];
  blocked: DrainPodReport[];
  arrivedDuringDrain: DrainPodReport[];
  retries: DrainRunOutcome['retries'];
  /** true when a drain refused after cordoning undid its own cordon/taint. */
  rolledBack?: boolean;
  durationsMs: { total: number; prepare: number; evict: number; force: number };
  [key: string]: unknown;
}

const reportPod = (
  pod: PodFacts,
  extra: Omit<DrainPodReport, 'namespace' | 'name' | 'uid'>,
): DrainPodReport => ({
  namespace: pod.namespace,
  name: pod.name,
  uid: pod.uid,
  ...extra,
});

function planReports(plan: DrainPlan): Pick<DrainDetails, 'skipped' | 'blocked'> {
  return {
    skipped: plan.skipped.map((s) => reportPod(s.pod, { reason: s.reason })),
    blocked: plan.blocked.map((b) => reportPod(b.pod, { reason: b.reason, message: b.message })),
  };
}

function summarizeBlocked(blocked: DrainPodReport[]): string {
  const shown = blocked
    .slice(0, 5)
    .map((b) => `${b.namespace}/${b.name} (${b.message ?? b.reason})`)
    .join(', ');
  return blocked.length > 5 ? `${shown} and ${blocked.length - 5} more` : shown;
}

/** Lookups only for controllers not seen yet (the second plan after cordoning). */
async function ownersFor(
  ctx: ActionContext,
  pods: PodFacts[],
  known: Map<string, OwnerInfo>,
): Promise<Map<string, OwnerInfo>> {
  const fresh = await lookupPodOwners(
    ctx.kube,
    pods.filter((p) => p.controller && !known.has(ownerKey(p.namespace, p.controller))),
  );
  return new Map([...known, ...fresh]);
}

/** Undo exactly the cordon/taint this action added a moment ago (the drain refused to proceed). */
async function rollbackCordon(ctx: ActionContext, node: V1Node, actionId: string, cordon: CordonDetails) {
  if (cordon.cordon !== 'added' && cordon.taint !== 'added') return false;
  await updateNode(
    ctx.kube,
    node.metadata?.name ?? '',
    (n) => {
      const change: NodeChange = {};
      if (cordon.cordon === 'added' && n.metadata?.annotations?.[cordonedByAnnotation] === actionId) {
        change.unschedulable = false;
        change.annotations = { [cordonedByAnnotation]: null };
      }
      const taints = n.spec?.taints ?? [];
      const kept = taints.filter(
        (t) => !(t.key === drainingTaintKey && t.effect === drainingTaintEffect && t.value === actionId),
      );
      if (cordon.taint === 'added' && kept.length !== taints.length) change.taints = kept;
      return { change, result: undefined };
    },
    { expectUid: node.metadata?.uid },
  );
  return true;
}

/**
 * The whole drain, shared by drain_node and delete_node. Returns the result and the node as
 * last seen (delete_node needs its uid).
 */
export async function drainNode(
  ctx: ActionContext,
  action: DrainActionRef,
  payload: DrainNodePayload,
): Promise<{ result: ActionResult; node?: V1Node }> {
  const started = performance.now();
  throwIfAborted(ctx, action.id);
  const target = await loadTargetNode(ctx, payload);
  if (!target.ok) return { result: target.result };
  let node = target.node;
  const nodeName = payload.nodeName;

  const budget = drainBudget({
    timeoutSeconds: payload.timeoutSeconds,
    createdAt: action.createdAt,
    deadlines: [action.deadline, payload.deadline],
    nowMs: ctx.now(),
  });
  const budgetEndsAtMono = performance.now() + budget.remainingMs;
  // Without limits (an executor called directly) the narrow side: neither kind of force.
  const forceAllowed = ctx.limits?.allowForce ?? false;
  const forceDeleteAllowed = ctx.limits?.allowForceDeleteAtBudgetEnd ?? false;
  const noForceNamespaces = ctx.limits?.noForceNamespaces ?? [];
  const filters: DrainFilterOptions = {
    force: payload.force && forceAllowed,
    noForceNamespaces,
    deleteEmptyDirData: payload.deleteEmptyDirData,
    ignoreDaemonSets: payload.ignoreDaemonSets,
    skipWaitForDeleteTimeoutSeconds: payload.skipWaitForDeleteTimeoutSeconds,
  };
  const details: DrainDetails = {
    node: nodeName,
    budget: {
      ms: budget.remainingMs,
      limitedBy: budget.limitedBy,
      endsAt: new Date(budget.endsAtMs).toISOString(),
    },
    force: payload.force,
    forceAllowed,
    forceDeleteAtBudgetEnd: payload.forceDeleteAtBudgetEnd,
    forceDeleteAtBudgetEndAllowed: forceDeleteAllowed,
    evicted: [],
    forceDeleted: [],
    stuck: [],
    skipped: [],
    blocked: [],
    arrivedDuringDrain: [],
    retries: { tooManyRequests: 0, multiplePdb: 0, transient: 0 },
    durationsMs: { total: 0, prepare: 0, evict: 0, force: 0 },
  };
  const finish = async (result: ActionResult): Promise<{ result: ActionResult; node: V1Node }> => {
    details.durationsMs.total = Math.round(performance.now() - started);
    await ctx.events.flush(2_000);
    return { result, node };
  };
  const forceRefused = payload.force && !forceAllowed ? ' (force is not allowed by policy)' : '';
  const blockedResult = (why: string) =>
    failed(
      'blocked',
      `drain of ${nodeName} refused: ${details.blocked.length} pod(s) block it: ${summarizeBlocked(details.blocked)}${forceRefused}${why}`,
      details,
    );

  // 1. Preflight, before touching anything: a drain that cannot finish is refused untouched
  //    (kubectl refuses the same pods, though only after cordoning).
  const preflight = await listPodsOnNode(ctx.kube, nodeName, ctx.signal);
  let owners = await lookupPodOwners(ctx.kube, preflight.pods);
  const firstPlan = planDrain(preflight.pods, owners, filters, ctx.now());
  if (firstPlan.blocked.length > 0) {
    Object.assign(details, planReports(firstPlan));
    ctx.events.emit(
      nodeSubject(node),
      'Warning',
      'ClusteroptDrainBlocked',
      `Drain refused, node left untouched: ${summarizeBlocked(details.blocked)} (clusteropt action ${action.id})`,
    );
    return finish(blockedResult('; node left untouched'));
  }
  throwIfAborted(ctx, action.id);

  // 2. Cordon and taint, so nothing new lands here.
  const cordoned = await cordonNode(ctx, node, action.id, { taint: true });
  node = cordoned.node;
  details.cordon = cordoned.details.cordon;
  details.taint = cordoned.details.taint;

  // 3. Watch the node's pods from here on; plan again on the list the watch starts from.
  const run = new DrainRun(ctx, {
    nodeName,
    actionId: action.id,
    budgetEndsAtMono,
    payloadGraceSeconds: payload.gracePeriodSeconds,
    forceDeleteAtBudgetEnd: payload.forceDeleteAtBudgetEnd && forceDeleteAllowed,
    noForceNamespaces,
    skipWaitForDeleteTimeoutSeconds: payload.skipWaitForDeleteTimeoutSeconds,
  });
  let outcome: DrainRunOutcome;
  try {
    const pods = await run.start();
    owners = await ownersFor(ctx, pods, owners);
    const plan = planDrain(pods, owners, filters, ctx.now());
    Object.assign(details, planReports(plan));
    if (plan.blocked.length > 0) {
      // A pod arrived between preflight and cordon: undo our cordon, leave as found.
      await run.stop();
      details.rolledBack = await rollbackCordon(ctx, node, action.id, cordoned.details);
      return finish(blockedResult(details.rolledBack ? '; cordon undone' : ''));
    }
    details.durationsMs.prepare = Math.round(performance.now() - started);
    if (plan.evict.length > 0) {
      ctx.events.emit(
        nodeSubject(node),
        'Normal',
        'ClusteroptDrainStarted',
        `Draining ${plan.evict.length} pod(s), budget ${Math.round(budget.remainingMs / 1000)}s (clusteropt action ${action.id})`,
      );
    }
    outcome = await run.run(evictionWaves(plan.evict));
  } finally {
    await run.stop();
  }
  if (run.aborted || ctx.signal.aborted) throw new ActionAbortedError(action.id, ctx.signal.reason);

  details.evicted = outcome.evicted;
  details.forceDeleted = outcome.forceDeleted;
  details.stuck = outcome.stuck;
  details.arrivedDuringDrain = outcome.arrivedDuringDrain;
  details.retries = outcome.retries;
  details.durationsMs.evict = outcome.evictMs;
  details.durationsMs.force = outcome.forceMs;
  // evicted/forceDeleted hold only pods that are gone; a pod whose eviction or deletion was
  // accepted but that no kubelet has finished yet is in `remaining` (reason terminating), and
  // must be counted too, or the summary says "0 evicted" about pods the drain did delete.
  const terminating = outcome.remaining.filter((r) => r.reason === 'terminating').length;
  const counts =
    `${outcome.evicted.length} evicted, ${outcome.forceDeleted.length} force-deleted, ` +
    (terminating > 0 ? `${terminating} deleted but still terminating, ` : '') +
    `${outcome.stuck.length} stuck on a NotReady node, ${details.skipped.length} skipped`;

  if (outcome.rejected.length > 0 || outcome.remaining.length > 0) {
    details.blocked = [...outcome.rejected, ...outcome.remaining];
    const rejected = outcome.rejected.length > 0;
    const why = rejected
      ? `eviction refused for ${summarizeBlocked(outcome.rejected)}`
      : `${outcome.remaining.length} pod(s) not drained when the budget ended: ${summarizeBlocked(outcome.remaining)}` +
        (payload.forceDeleteAtBudgetEnd && !forceDeleteAllowed
          ? ' (forceDeleteAtBudgetEnd is not allowed by policy)'
          : '');
    ctx.events.emit(
      nodeSubject(node),
      'Warning',
      'ClusteroptDrainBlocked',
      `Drain incomplete: ${why} (clusteropt action ${action.id})`,
    );
    return finish(
      failed(
        rejected ? 'eviction_failed' : 'blocked',
        `drain of ${nodeName} incomplete (${counts}): ${why}`,
        details,
      ),
    );
  }

  const changed = cordoned.details.changed || outcome.evicted.length + outcome.forceDeleted.length > 0;
  if (changed) {
    ctx.events.emit(
      nodeSubject(node),
      'Normal',
      'ClusteroptDrainSucceeded',
      `Drained: ${counts} (clusteropt action ${action.id})`,
    );
  }
  return finish(
    succeeded(`node ${nodeName} drained: ${counts}`, details, changed ? undefined : 'already_done'),
  );
}

export const drainNodeExecutor: ActionExecutor<'drain_node'> = {
  type: 'drain_node',
  idempotent: true,
  async execute(action: ActionOf<'drain_node'>, ctx: ActionContext) {
    return (await drainNodeOrAbort(ctx, action, action.payload)).result;
  },
};

/** drainNode, with any failure caused by the abort (a cancelled request) reported as the abort. */
export async function drainNodeOrAbort(
  ctx: ActionContext,
  action: DrainActionRef,
  payload: DrainNodePayload,
): Promise<{ result: ActionResult; node?: V1Node }> {
  try {
    return await drainNode(ctx, action, payload);
  } catch (err) {
    if (ctx.signal.aborted && !(err instanceof ActionAbortedError))
      throw new ActionAbortedError(action.id, err);
    throw err;
  }
}
