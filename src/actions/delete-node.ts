import { nodeIdentityMismatch } from '../contract/node-identity.ts';
import { isNotFound } from '../kube/api-errors.ts';
import { readNodeOrNull } from '../kube/nodes.ts';
import { drainNodeOrAbort } from './drain-node.ts';
import { nodeSubject } from './target-node.ts';
import {
  type ActionContext,
  type ActionExecutor,
  type ActionOf,
  type ActionResult,
  failed,
  succeeded,
  throwIfAborted,
} from './types.ts';

export const deleteNodeExecutor: ActionExecutor<'delete_node'> = {
  type: 'delete_node',
  idempotent: true,
  async execute(action: ActionOf<'delete_node'>, ctx: ActionContext): Promise<ActionResult> {
    const p = action.payload;
    throwIfAborted(ctx, action.id);
    // Gone already (a replay after the delete, or someone else deleted it): the state asked
    // for holds. A node with that name but another identity is a mismatch, checked by the drain.
    const existing = await readNodeOrNull(ctx.kube, p.nodeName);
    if (!existing) {
      return succeeded(
        `node ${p.nodeName} does not exist (already deleted)`,
        { node: p.nodeName, deleted: false },
        'already_done',
      );
    }
    if (nodeIdentityMismatch(existing, p) === undefined && existing.metadata?.deletionTimestamp) {
      return succeeded(
        `node ${p.nodeName} is already being deleted`,
        { node: p.nodeName, deleted: false },
        'already_done',
      );
    }
    const { result: drained, node } = await drainNodeOrAbort(ctx, action, p);
    if (drained.outcome !== 'succeeded' || !node) {
      return {
        ...drained,
        message: `not deleted: ${drained.message}`,
        details: { ...drained.details, deleted: false },
      };
    }
    throwIfAborted(ctx, action.id);
    const uid = node.metadata?.uid;
    try {
      await ctx.kube.core.deleteNode({ name: p.nodeName, body: { preconditions: { uid } } });
    } catch (err) {
      if (isNotFound(err)) {
        return succeeded(`node ${p.nodeName} drained; it was deleted meanwhile`, {
          ...drained.details,
          deleted: false,
        });
      }
      // 409: the precondition failed, a different node now has this name: never delete it.
      if ((err as { code?: number }).code === 409) {
        return failed('identity_mismatch', `node ${p.nodeName} was replaced after the drain; not deleted`, {
          ...drained.details,
          deleted: false,
        });
      }
      throw err;
    }
    ctx.events.emit(
      nodeSubject(node),
      'Normal',
      'ClusteroptNodeDeleted',
      `Node deleted by clusteropt action ${action.id}`,
    );
    await ctx.events.flush();
    return succeeded(`node ${p.nodeName} drained and deleted (${drained.message})`, {
      ...drained.details,
      deleted: true,
    });
  },
};
