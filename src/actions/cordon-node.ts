import type { V1Node, V1Taint } from '@kubernetes/client-node';
import { cordonedByAnnotation, drainingTaintEffect, drainingTaintKey } from '../contract/marks.ts';
import type { NodeChange } from '../kube/nodes.ts';
import { patchCachedNode, updateNode } from '../kube/nodes.ts';
import { cachedTargetNode, loadTargetNode, nodeSubject } from './target-node.ts';
import {
  type ActionContext,
  type ActionExecutor,
  type ActionOf,
  succeeded,
  throwIfAborted,
} from './types.ts';

/**
 * What a cordon found and did:
 * - 'added': the agent set unschedulable and recorded itself in clusteropt.io/cordoned-by;
 * - 'kept-agent': already cordoned by the agent (an earlier action or this one replayed);
 * - 'kept-other': already cordoned by someone else; left as is and NOT recorded as the
 *   agent's, so an uncordon by the agent will leave it cordoned.
 */
export type CordonState = 'added' | 'kept-agent' | 'kept-other';
export type TaintState = 'added' | 'present' | 'not-requested';

export interface CordonPlan {
  change: NodeChange | null;
  cordon: CordonState;
  taint: TaintState;
}

/** Pure: the change that cordons `node` for `actionId` (and taints it for a drain). */
export function planCordon(node: V1Node, actionId: string, options: { taint: boolean }): CordonPlan {
  const annotations = node.metadata?.annotations ?? {};
  const change: NodeChange = {};
  let cordon: CordonState;
  if (node.spec?.unschedulable === true) {
    cordon = cordonedByAnnotation in annotations ? 'kept-agent' : 'kept-other';
  } else {
    cordon = 'added';
    change.unschedulable = true;
    change.annotations = { [cordonedByAnnotation]: actionId };
  }
  let taint: TaintState = 'not-requested';
  if (options.taint) {
    const taints = node.spec?.taints ?? [];
    if (taints.some((t) => t.key === drainingTaintKey && t.effect === drainingTaintEffect)) {
      taint = 'present';
    } else {
      taint = 'added';
      const added: V1Taint = { key: drainingTaintKey, value: actionId, effect: drainingTaintEffect };
      change.taints = [...taints, added];
    }
  }
  return { change: Object.keys(change).length ? change : null, cordon, taint };
}

export interface CordonDetails {
  node: string;
  cordon: CordonState;
  taint: TaintState;
  changed: boolean;
  [key: string]: unknown;
}

/**
 * Cordons (and for drains taints) the node, emitting ClusteroptCordon / ClusteroptTainted on
 * it when something changed. Shared by cordon_node, drain_node and delete_node.
 */
export async function cordonNode(
  ctx: ActionContext,
  node: V1Node,
  actionId: string,
  options: { taint: boolean },
): Promise<{ node: V1Node; details: CordonDetails }> {
  const name = node.metadata?.name ?? '';
  const {
    node: after,
    changed,
    result,
  } = await updateNode(
    ctx.kube,
    name,
    (n) => {
      const plan = planCordon(n, actionId, options);
      return { change: plan.change, result: plan };
    },
    { node, expectUid: node.metadata?.uid },
  );
  emitCordonEvents(ctx, after, actionId, result);
  return { node: after, details: { node: name, cordon: result.cordon, taint: result.taint, changed } };
}

/** ClusteroptCordon / ClusteroptTainted on the node, for what `plan` added. */
function emitCordonEvents(ctx: ActionContext, after: V1Node, actionId: string, plan: CordonPlan): void {
  if (plan.cordon === 'added') {
    ctx.events.emit(
      nodeSubject(after),
      'Normal',
      'ClusteroptCordon',
      `Node cordoned by clusteropt action ${actionId}`,
    );
  }
  if (plan.taint === 'added') {
    ctx.events.emit(
      nodeSubject(after),
      'Normal',
      'ClusteroptTainted',
      `Taint ${drainingTaintKey}:${drainingTaintEffect} added by clusteropt action ${actionId}`,
    );
  }
}

/**
 * The cordon from the node cache (no GET): lands only if the cached copy is still the node's
 * current version, else undefined and the caller reads the node (see patchCachedNode).
 */
async function cordonFromCache(
  ctx: ActionContext,
  action: ActionOf<'cordon_node'>,
): Promise<CordonDetails | undefined> {
  const cached = cachedTargetNode(ctx, action.payload);
  if (!cached) return undefined;
  const done = await patchCachedNode(ctx.kube, cached, (n) => {
    const plan = planCordon(n, action.id, { taint: false });
    return { change: plan.change, result: plan };
  });
  if (!done) return undefined;
  emitCordonEvents(ctx, done.node, action.id, done.result);
  return {
    node: action.payload.nodeName,
    cordon: done.result.cordon,
    taint: done.result.taint,
    changed: true,
  };
}

export const cordonNodeExecutor: ActionExecutor<'cordon_node'> = {
  type: 'cordon_node',
  idempotent: true,
  async execute(action: ActionOf<'cordon_node'>, ctx: ActionContext) {
    throwIfAborted(ctx, action.id);
    let details = await cordonFromCache(ctx, action);
    if (!details) {
      const target = await loadTargetNode(ctx, action.payload);
      if (!target.ok) return target.result;
      ({ details } = await cordonNode(ctx, target.node, action.id, { taint: false }));
    }
    await ctx.events.flush();
    const message =
      details.cordon === 'added'
        ? `node ${details.node} cordoned`
        : details.cordon === 'kept-agent'
          ? `node ${details.node} was already cordoned by the agent`
          : `node ${details.node} was already cordoned by someone else; left as is (an agent uncordon will not undo it)`;
    return succeeded(message, details, details.changed ? undefined : 'already_done');
  },
};
