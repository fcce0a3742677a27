/**
 * Loads the node an action targets and checks its identity before anything touches it.
 */
import type { V1Node } from '@kubernetes/client-node';
import { type NodeTarget, nodeIdentityMismatch } from '../contract/node-identity.ts';
import { readNodeOrNull } from '../kube/nodes.ts';
import { type ActionContext, type ActionResult, failed } from './types.ts';

export type TargetNode = { ok: true; node: V1Node } | { ok: false; result: ActionResult };

export async function loadTargetNode(ctx: ActionContext, target: NodeTarget): Promise<TargetNode> {
  const node = await readNodeOrNull(ctx.kube, target.nodeName);
  if (!node) {
    return {
      ok: false,
      result: failed('node_not_found', `node ${target.nodeName} not found`, { node: target.nodeName }),
    };
  }
  const mismatch = nodeIdentityMismatch(node, target);
  if (mismatch) {
    return {
      ok: false,
      result: failed('identity_mismatch', mismatch, {
        node: target.nodeName,
        liveUid: node.metadata?.uid,
        liveProviderId: node.spec?.providerID,
      }),
    };
  }
  return { ok: true, node };
}

/**
 * The node cache's copy of the target, when there is one whose identity matches the action.
 * Only a starting point for a guarded write (patchCachedNode); a copy that does not match
 * (or none) sends the executor to the fresh read, which decides on identity, absence and
 * "nothing to do".
 */
export function cachedTargetNode(ctx: ActionContext, target: NodeTarget): V1Node | undefined {
  const cached = ctx.nodes?.get(target.nodeName);
  if (!cached || cached.metadata?.name !== target.nodeName) return undefined;
  return nodeIdentityMismatch(cached, target) ? undefined : cached;
}

export function nodeSubject(node: V1Node): { apiVersion: string; kind: string; name: string; uid?: string } {
  return { apiVersion: 'v1', kind: 'Node', name: node.metadata?.name ?? '', uid: node.metadata?.uid };
}
