import type { V1Node } from '@kubernetes/client-node';
import { cordonedByAnnotation, drainingTaintEffect, drainingTaintKey } from '../contract/marks.ts';
import { type NodeChange, patchCachedNode, updateNode } from '../kube/nodes.ts';
import { cachedTargetNode, loadTargetNode, nodeSubject } from './target-node.ts';
import {
  type ActionContext,
  type ActionExecutor,
  type ActionOf,
  succeeded,
  throwIfAborted,
} from './types.ts';

/**
 * - 'removed': the agent had cordoned it; now schedulable again;
 * - 'left-other': cordoned, but not by the agent (no cordoned-by mark): left cordoned;
 * - 'not-cordoned': nothing to undo.
 */
export type UncordonState = 'removed' | 'left-other' | 'not-cordoned';

export interface UncordonPlan {
  change: NodeChange | null;
  cordon: UncordonState;
  taintRemoved: boolean;
}

/** Pure: the change that removes the agent's cordon mark, cordon and draining taint. */
export function planUncordon(node: V1Node): UncordonPlan {
  const annotations = node.metadata?.annotations ?? {};
  const agentMark = cordonedByAnnotation in annotations;
  const change: NodeChange = {};
  let cordon: UncordonState;
  if (node.spec?.unschedulable === true) {
    cordon = agentMark ? 'removed' : 'left-other';
    if (agentMark) change.unschedulable = false;
  } else {
    cordon = 'not-cordoned';
  }
  // A stale mark (someone uncordoned by hand) is cleaned up too.
  if (agentMark) change.annotations = { [cordonedByAnnotation]: null };
  const taints = node.spec?.taints ?? [];
  const kept = taints.filter((t) => !(t.key === drainingTaintKey && t.effect === drainingTaintEffect));
  const taintRemoved = kept.length !== taints.length;
  if (taintRemoved) change.taints = kept;
  return { change: Object.keys(change).length ? change : null, cordon, taintRemoved };
}

export interface UncordonDetails {
  node: string;
  cordon: UncordonState;
  taintRemoved: boolean;
  changed: boolean;
  [key: string]: unknown;
}

/** Removes the agent's marks; shared with drain's rollback. */
export async function uncordonNode(
  ctx: ActionContext,
  node: V1Node,
  actionId: string,
): Promise<UncordonDetails> {
  const name = node.metadata?.name ?? '';
  const {
    node: after,
    changed,
    result,
  } = await updateNode(
    ctx.kube,
    name,
    (n) => {
      const plan = planUncordon(n);
      return { change: plan.change, result: plan };
    },
    { node, expectUid: node.metadata?.uid },
  );
  emitUncordonEvent(ctx, after, actionId, result);
  return { node: name, cordon: result.cordon, taintRemoved: result.taintRemoved, changed };
}

/** ClusteroptUncordon on the node, for what `plan` removed. */
function emitUncordonEvent(ctx: ActionContext, after: V1Node, actionId: string, plan: UncordonPlan): void {
  if (plan.cordon === 'removed' || plan.taintRemoved) {
    const what = [
      plan.cordon === 'removed' ? 'cordon' : undefined,
      plan.taintRemoved ? `taint ${drainingTaintKey}` : undefined,
    ]
      .filter(Boolean)
      .join(' and ');
    ctx.events.emit(
      nodeSubject(after),
      'Normal',
      'ClusteroptUncordon',
      `Removed ${what} (clusteropt action ${actionId})`,
    );
  }
}

/** The uncordon from the node cache (no GET); undefined: read the node (see patchCachedNode). */
async function uncordonFromCache(
  ctx: ActionContext,
  action: ActionOf<'uncordon_node'>,
): Promise<UncordonDetails | undefined> {
  const cached = cachedTargetNode(ctx, action.payload);
  if (!cached) return undefined;
  const done = await patchCachedNode(ctx.kube, cached, (n) => {
    const plan = planUncordon(n);
    return { change: plan.change, result: plan };
  });
  if (!done) return undefined;
  emitUncordonEvent(ctx, done.node, action.id, done.result);
  return {
    node: action.payload.nodeName,
    cordon: done.result.cordon,
    taintRemoved: done.result.taintRemoved,
    changed: true,
  };
}

export const uncordonNodeExecutor: ActionExecutor<'uncordon_node'> = {
  type: 'uncordon_node',
  idempotent: true,
  async execute(action: ActionOf<'uncordon_node'>, ctx: ActionContext) {
    throwIfAborted(ctx, action.id);
    let details = await uncordonFromCache(ctx, action);
    if (!details) {
      const target = await loadTargetNode(ctx, action.payload);
      if (!target.ok) return target.result;
      details = await uncordonNode(ctx, target.node, action.id);
    }
    await ctx.events.flush();
    const message =
      details.cordon === 'removed'
        ? `node ${details.node} uncordoned`
        : details.cordon === 'left-other'
          ? `node ${details.node} left cordoned: it was cordoned by someone else, not by the agent` +
            (details.taintRemoved ? ` (the agent's draining taint was removed)` : '')
          : `node ${details.node} was not cordoned${details.taintRemoved ? ` (the agent's draining taint was removed)` : ''}`;
    return succeeded(message, details, details.changed ? undefined : 'already_done');
  },
};
