/**
 * The executor interface the action controller calls: `execute(action, ctx)`.
 *
 * Contract (docs/actions.md):
 * - An executor returns an ActionResult for every outcome it can name, success or failure
 *   (identity mismatch, blocked drain, scale conflict, ...). It never retries an action by
 *   itself beyond what its own semantics say (a drain retries evictions within its budget).
 * - When `ctx.signal` aborts (shutdown, lost leadership) it stops promptly, leaves the
 *   cluster in a state a re-run continues from, and throws ActionAbortedError: there is no
 *   result to report, the action is simply not finished.
 * - Every executor is idempotent: running it again on the state it left (after a crash, or
 *   after it finished) changes nothing further and returns the same outcome.
 * Unexpected errors (API down, RBAC) are turned into a failed result by `runAction`
 * (registry.ts) with `retryable` telling the controller whether trying later may help.
 */
import type { Action, ActionType } from '../contract/envelope.ts';
import type { KubeClients } from '../kube/clients.ts';
import type { EventSink } from '../kube/events.ts';
import type { NodeLookup } from '../kube/node-cache.ts';
import type { Logger } from '../observability/logger.ts';
import { AgentError } from '../util/errors.ts';

export type ActionOf<T extends ActionType> = Extract<Action, { type: T }>;

/**
 * The policy's say over an action, resolved by the controller before execution (see
 * EffectiveLimits in controllers/policy/decide.ts). Absent fields take the narrow side, so an
 * executor called without limits never does more than the built-in defaults allow.
 */
export interface ActionLimits {
  /** kubectl's --force: pods without a controller may be evicted. Default false. */
  allowForce?: boolean;
  /** Pods a PodDisruptionBudget still protects may be deleted at budget end. Default false. */
  allowForceDeleteAtBudgetEnd?: boolean;
  /** Pods in these namespaces are never force-deleted nor evicted without a controller. */
  noForceNamespaces?: readonly string[];
  /** Upper bound for an eviction grace period the agent asks for. Default: none. */
  maxGracePeriodSeconds?: number;
  /** Lower bound for a grace period an action asks for (never above the pod's own). Default 30. */
  minGracePeriodSeconds?: number;
  /** scale_workload: never above this many replicas when scaling up. Default 100. */
  maxReplicas?: number;
  /** scale_workload: never more than this times the current replicas when scaling up. Default 2. */
  maxScaleUpFactor?: number;
}

/** Knobs with production defaults; tests and benchmarks turn them. */
export interface DrainTuning {
  /** Evictions in flight at once (default 32). */
  concurrency?: number;
  /** After a pod's deletion deadline, wait this long on a NotReady node (default 10 s). */
  notReadyMarginSeconds?: number;
  /** Backoff between retries of a PDB-refused eviction (defaults 500 ms .. 5 s). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How long to wait for force-deleted pods beyond their grace (default 5 s). */
  forcedDeleteMarginSeconds?: number;
}

export interface ActionProgress {
  phase: string;
  counts: Record<string, number>;
}

export interface ActionContext {
  kube: KubeClients;
  log: Logger;
  /** Aborts on shutdown or lost leadership. */
  signal: AbortSignal;
  /** ms since epoch; the action's budget and ages are computed with it. */
  now: () => number;
  /** Where Kubernetes Events go (EventRecorder in production). */
  events: EventSink;
  /**
   * Watch-fed copies of the Nodes (NodeCache). cordon/uncordon try a write guarded by the
   * copy's resourceVersion before reading the node; absent: they always read it.
   */
  nodes?: NodeLookup;
  limits?: ActionLimits;
  drainTuning?: DrainTuning;
  /** Called now and then during long actions (drain) for the AgentAction status. */
  onProgress?: (progress: ActionProgress) => void;
}

/**
 * Stable reason codes of a failed result (and of a few notable successes, e.g. nothing to
 * do). Never renamed once shipped: the control plane and dashboards key on them.
 */
export type ResultReason =
  | 'identity_mismatch'
  | 'node_not_found'
  | 'blocked'
  | 'eviction_failed'
  | 'conflict'
  | 'do_not_disrupt'
  | 'policy_limit'
  | 'workload_not_found'
  | 'unsupported_kind'
  | 'protected_key'
  | 'node_update_conflict'
  | 'api_error'
  | 'already_done';

export interface ActionResult {
  outcome: 'succeeded' | 'failed';
  reason?: ResultReason;
  message: string;
  /** JSON-serialisable, action-specific (see each executor's *Details type). */
  details: Record<string, unknown>;
  /** Failed only: true when running the action again later may succeed. */
  retryable?: boolean;
}

export interface ActionExecutor<T extends ActionType> {
  type: T;
  /** Safe to run again after a crash mid-way (the controller may then resume it). */
  idempotent: boolean;
  execute(action: ActionOf<T>, ctx: ActionContext): Promise<ActionResult>;
}

export class ActionAbortedError extends AgentError {
  constructor(actionId: string, reason?: unknown) {
    super(
      'ACTION_ABORTED',
      `action ${actionId} stopped before finishing${reason instanceof Error ? `: ${reason.message}` : ''}`,
      { retryable: true, cause: reason },
    );
  }
}

export function throwIfAborted(ctx: Pick<ActionContext, 'signal'>, actionId: string): void {
  if (ctx.signal.aborted) throw new ActionAbortedError(actionId, ctx.signal.reason);
}

export const succeeded = (
  message: string,
  details: Record<string, unknown>,
  reason?: ResultReason,
): ActionResult =>
  reason ? { outcome: 'succeeded', reason, message, details } : { outcome: 'succeeded', message, details };

export const failed = (
  reason: ResultReason,
  message: string,
  details: Record<string, unknown>,
  retryable = false,
): ActionResult => ({ outcome: 'failed', reason, message, details, retryable });
