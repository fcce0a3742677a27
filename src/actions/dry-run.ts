/**
 * Dry run: what an action would do, read from the cluster and never written. Each type's plan
 * comes from the same pure planning its executor uses (planCordon, planUncordon,
 * planPatchNode, decideScale, planDrain), so the plan is what execution would do at this
 * moment. The result: a human summary (one line per pod, field or workload), whether the
 * action would fail or be refused, and the same facts as data (crds/agent-action.ts ActionPlan).
 * sync_hibernation_schedule is planned with the hibernation controller's own rules
 * (controllers/hibernation/sync-plan.ts, a layer above this one).
 */

import type { Action } from '../contract/envelope.ts';
import { isDoNotDisrupt } from '../contract/marks.ts';
import type { ActionPlan } from '../crds/agent-action.ts';
import { listPodsOnNode } from '../kube/pods.ts';
import {
  readScale,
  readWorkloadMeta,
  resolveScaleTarget,
  UnsupportedKindError,
  WorkloadNotFoundError,
} from '../kube/scale.ts';
import { lookupPodOwners } from '../kube/workloads.ts';
import { planCordon } from './cordon-node.ts';
import { type DrainPlan, planDrain } from './drain-plan.ts';
import { type PatchNodePlan, planPatchNode } from './patch-node.ts';
import { decideScale, defaultScaleLimits } from './scale-workload.ts';
import { loadTargetNode } from './target-node.ts';
import type { ActionContext, ActionOf, ActionResult } from './types.ts';
import { planUncordon } from './uncordon-node.ts';

/** Pods listed one by one in the summary; the details keep them all (up to this many). */
const maxPodsInPlan = 500;

function notFound(result: ActionResult): ActionPlan {
  return { summary: `would fail: ${result.message}`, wouldFail: true, details: { error: result.message } };
}

export type DrainPodVerdict = {
  namespace: string;
  name: string;
  verdict: 'evict' | 'skip' | 'block';
  reason?: string;
};

/** Pure: a drain plan as per-pod verdicts and text. */
export function describeDrainPlan(
  node: string,
  plan: DrainPlan,
  cordon: 'would cordon' | 'already cordoned',
  then?: string,
): ActionPlan {
  const pods: DrainPodVerdict[] = [
    ...plan.evict.map((e) => ({
      namespace: e.pod.namespace,
      name: e.pod.name,
      verdict: 'evict' as const,
      ...(e.notes.length
        ? { reason: e.notes.join(', ') }
        : e.critical
          ? { reason: 'critical, evicted last' }
          : {}),
    })),
    ...plan.skipped.map((s) => ({
      namespace: s.pod.namespace,
      name: s.pod.name,
      verdict: 'skip' as const,
      reason: s.reason,
    })),
    ...plan.blocked.map((b) => ({
      namespace: b.pod.namespace,
      name: b.pod.name,
      verdict: 'block' as const,
      reason: b.message,
    })),
  ];
  const refused = plan.blocked.length > 0;
  const head = refused
    ? `the drain of node ${node} would be refused, node left untouched: ${plan.blocked.length} pod(s) block it`
    : `would ${cordon === 'would cordon' ? 'cordon and ' : ''}drain node ${node} (${cordon === 'would cordon' ? 'now schedulable' : 'already cordoned'}): evict ${plan.evict.length}, skip ${plan.skipped.length}${then ? `, then ${then}` : ''}`;
  const lines = pods
    .slice(0, maxPodsInPlan)
    .map((p) => `${p.verdict} ${p.namespace}/${p.name}${p.reason ? `: ${p.reason}` : ''}`);
  if (pods.length > maxPodsInPlan) lines.push(`… and ${pods.length - maxPodsInPlan} more pod(s)`);
  return {
    summary: [head, ...lines].join('\n'),
    wouldFail: refused,
    details: {
      node,
      cordon,
      refused,
      counts: { evict: plan.evict.length, skip: plan.skipped.length, block: plan.blocked.length },
      pods: pods.slice(0, maxPodsInPlan),
      ...(then ? { then } : {}),
    },
  };
}

/** Pure: a node patch as a diff, field by field. */
export function describePatchPlan(
  node: string,
  plan: PatchNodePlan,
  current: { labels: Record<string, string>; annotations: Record<string, string> },
): ActionPlan {
  const diff: { field: string; from: string | null; to: string | null }[] = [];
  const fromMap = (map: Record<string, string>, key: string) => (key in map ? (map[key] as string) : null);
  for (const key of plan.labelsChanged) {
    diff.push({
      field: `label ${key}`,
      from: fromMap(current.labels, key),
      to: (plan.change?.labels?.[key] ?? null) as string | null,
    });
  }
  for (const key of plan.annotationsChanged) {
    diff.push({
      field: `annotation ${key}`,
      from: fromMap(current.annotations, key),
      to: (plan.change?.annotations?.[key] ?? null) as string | null,
    });
  }
  for (const t of plan.taintsAdded) diff.push({ field: `taint ${t}`, from: null, to: 'added' });
  for (const t of plan.taintsReplaced) diff.push({ field: `taint ${t}`, from: 'present', to: 'new value' });
  for (const t of plan.taintsRemoved) diff.push({ field: `taint ${t}`, from: 'present', to: null });
  const show = (v: string | null) => (v === null ? '(none)' : JSON.stringify(v));
  const lines = diff.map((d) => `${d.field}: ${show(d.from)} -> ${show(d.to)}`);
  return {
    summary: [
      diff.length
        ? `would patch node ${node}: ${diff.length} change(s)`
        : `node ${node} already matches: no change`,
      ...lines,
    ].join('\n'),
    wouldFail: false,
    details: { node, diff },
  };
}

/** Plans `action` without writing anything. */
export async function planDryRun(
  action: Exclude<Action, { type: 'sync_hibernation_schedule' }>,
  ctx: ActionContext,
): Promise<ActionPlan> {
  switch (action.type) {
    case 'cordon_node':
    case 'uncordon_node': {
      const target = await loadTargetNode(ctx, action.payload);
      if (!target.ok) return notFound(target.result);
      const name = action.payload.nodeName;
      if (action.type === 'cordon_node') {
        const plan = planCordon(target.node, action.id, { taint: false });
        const text =
          plan.cordon === 'added'
            ? `would cordon node ${name}`
            : `node ${name} is already cordoned: no change`;
        return { summary: text, wouldFail: false, details: { node: name, cordon: plan.cordon } };
      }
      const plan = planUncordon(target.node);
      const text =
        plan.cordon === 'removed'
          ? `would uncordon node ${name}`
          : plan.cordon === 'left-other'
            ? `node ${name} was cordoned by someone else: left cordoned`
            : `node ${name} is not cordoned: no change`;
      return {
        summary: text,
        wouldFail: false,
        details: { node: name, cordon: plan.cordon, taintRemoved: plan.taintRemoved },
      };
    }
    case 'patch_node': {
      const target = await loadTargetNode(ctx, action.payload);
      if (!target.ok) return notFound(target.result);
      return describePatchPlan(action.payload.nodeName, planPatchNode(target.node, action.payload), {
        labels: target.node.metadata?.labels ?? {},
        annotations: target.node.metadata?.annotations ?? {},
      });
    }
    case 'scale_workload':
      return planScale(action, ctx);
    case 'drain_node':
    case 'delete_node': {
      const target = await loadTargetNode(ctx, action.payload);
      if (!target.ok) return notFound(target.result);
      const p = action.payload;
      const { pods } = await listPodsOnNode(ctx.kube, p.nodeName, ctx.signal);
      const owners = await lookupPodOwners(ctx.kube, pods);
      const plan = planDrain(
        pods,
        owners,
        {
          // As the executor plans it: force only where the policy allows it (drain-node.ts).
          force: p.force && (ctx.limits?.allowForce ?? false),
          noForceNamespaces: ctx.limits?.noForceNamespaces ?? [],
          deleteEmptyDirData: p.deleteEmptyDirData,
          ignoreDaemonSets: p.ignoreDaemonSets,
          skipWaitForDeleteTimeoutSeconds: p.skipWaitForDeleteTimeoutSeconds,
        },
        ctx.now(),
      );
      const cordoned = target.node.spec?.unschedulable === true ? 'already cordoned' : 'would cordon';
      return describeDrainPlan(
        p.nodeName,
        plan,
        cordoned,
        action.type === 'delete_node' ? `delete Node ${p.nodeName}` : undefined,
      );
    }
  }
}

async function planScale(action: ActionOf<'scale_workload'>, ctx: ActionContext): Promise<ActionPlan> {
  const p = action.payload;
  const what = `${p.kind} ${p.namespace}/${p.name}`;
  try {
    const target = await resolveScaleTarget(ctx.kube, p.kind, p.namespace, p.name);
    const [scale, meta] = await Promise.all([
      readScale(ctx.kube, target),
      readWorkloadMeta(ctx.kube, target),
    ]);
    const decision = decideScale(p, scale.replicas, isDoNotDisrupt(meta.annotations), {
      maxReplicas: ctx.limits?.maxReplicas ?? defaultScaleLimits.maxReplicas,
      maxScaleUpFactor: ctx.limits?.maxScaleUpFactor ?? defaultScaleLimits.maxScaleUpFactor,
    });
    const details = {
      kind: target.kind,
      namespace: p.namespace,
      name: p.name,
      from: scale.replicas,
      to: p.replicas,
    };
    switch (decision.kind) {
      case 'noop':
        return {
          summary: `${what} already has ${p.replicas} replicas: no change`,
          wouldFail: false,
          details,
        };
      case 'scale':
        return {
          summary: `would scale ${what} from ${scale.replicas} to ${p.replicas} replicas`,
          wouldFail: false,
          details,
        };
      default:
        return { summary: `would fail: ${what}: ${decision.message}`, wouldFail: true, details };
    }
  } catch (err) {
    if (err instanceof UnsupportedKindError || err instanceof WorkloadNotFoundError) {
      return {
        summary: `would fail: ${err.message}`,
        wouldFail: true,
        details: { kind: p.kind, namespace: p.namespace, name: p.name },
      };
    }
    throw err;
  }
}
