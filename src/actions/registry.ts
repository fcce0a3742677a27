/**
 * Action type -> executor, and `runAction`, the one entry point the action controller calls.
 */
import type { Action, ActionType } from '../contract/envelope.ts';
import { apiErrorMessage, isRetryableKubeError, statusCode } from '../kube/api-errors.ts';
import { AgentError } from '../util/errors.ts';
import { cordonNodeExecutor } from './cordon-node.ts';
import { deleteNodeExecutor } from './delete-node.ts';
import { drainNodeExecutor } from './drain-node.ts';
import { patchNodeExecutor } from './patch-node.ts';
import { scaleWorkloadExecutor } from './scale-workload.ts';
import { syncHibernationScheduleExecutor } from './sync-hibernation-schedule.ts';
import {
  ActionAbortedError,
  type ActionContext,
  type ActionExecutor,
  type ActionResult,
  failed,
  type ResultReason,
} from './types.ts';
import { uncordonNodeExecutor } from './uncordon-node.ts';

type Registry = { [T in ActionType]: ActionExecutor<T> };

export const executors: Registry = {
  cordon_node: cordonNodeExecutor,
  uncordon_node: uncordonNodeExecutor,
  drain_node: drainNodeExecutor,
  scale_workload: scaleWorkloadExecutor,
  patch_node: patchNodeExecutor,
  delete_node: deleteNodeExecutor,
  sync_hibernation_schedule: syncHibernationScheduleExecutor,
};

export function executorFor<T extends ActionType>(type: T): ActionExecutor<T> | undefined {
  return executors[type] as ActionExecutor<T> | undefined;
}

/**
 * Error codes (UPPER_SNAKE, like every AgentError code) that name a result reason the control
 * plane knows (lower_snake: the shipped result vocabulary, docs/actions.md).
 */
const reasonOfCode: Readonly<Record<string, ResultReason>> = {
  IDENTITY_MISMATCH: 'identity_mismatch',
  NODE_NOT_FOUND: 'node_not_found',
  NODE_UPDATE_CONFLICT: 'node_update_conflict',
  WORKLOAD_NOT_FOUND: 'workload_not_found',
  UNSUPPORTED_KIND: 'unsupported_kind',
};

/**
 * Runs an action's executor. Always resolves to a result, except when `ctx.signal` aborted:
 * then it rejects with ActionAbortedError (the action is unfinished, not failed).
 * Unexpected errors become `failed` with reason `api_error` (or the AgentError's own code
 * when it is a known reason); isRetryableKubeError says whether trying later may help.
 */
export async function runAction(action: Action, ctx: ActionContext): Promise<ActionResult> {
  const executor = executorFor(action.type);
  if (!executor) {
    return failed('api_error', `no executor for action type ${action.type} in this module`, {});
  }
  try {
    return await (executor as ActionExecutor<ActionType>).execute(action as never, ctx);
  } catch (err) {
    if (err instanceof ActionAbortedError) throw err;
    if (ctx.signal.aborted) throw new ActionAbortedError(action.id, ctx.signal.reason);
    const reason = err instanceof AgentError ? reasonOfCode[err.code] : undefined;
    if (err instanceof AgentError && reason !== undefined) {
      return failed(reason, err.message, {}, err.retryable);
    }
    const code = statusCode(err);
    const retryable = isRetryableKubeError(err);
    ctx.log.warn({ actionId: action.id, type: action.type, err }, 'action failed unexpectedly');
    return failed('api_error', `${action.type} failed: ${apiErrorMessage(err)}`, { status: code }, retryable);
  }
}
