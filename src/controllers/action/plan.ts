/**
 * What the action controller does next with one AgentAction: a pure function of the object,
 * what this replica's journal says, and the clock. Level-triggered: it looks at the state,
 * never at the event that led there, so running it again on the same state is harmless.
 *
 * The journal (SQLite) and the AgentAction's status (API server) are both records of an
 * action's progress; they can disagree after a crash between the two writes, or when another
 * replica (with its own state file) ran the action before a leader change:
 * - status terminal, journal not finished  -> adopt the status and report it (the control
 *   plane takes the same report twice as one transition);
 * - journal finished, status not terminal  -> the result is already queued: repair the status;
 * - status Running or journal started, not finished, and not running here -> the run was
 *   interrupted: resume it when the executor is idempotent, otherwise fail it as unknown.
 */
import { type Action, parseEnvelope } from '../../contract/envelope.ts';
import type { ActionState } from '../../contract/reports.ts';
import type { ActionPhase, AgentAction } from '../../crds/agent-action.ts';
import { terminalPhases } from '../../crds/agent-action.ts';
import type { JournalState } from '../../store/journal.ts';
import { onAgentClock } from '../../util/clock-skew.ts';

export type Step =
  | { kind: 'none'; why: string }
  /** Status is final but this replica never recorded it: record and report it. */
  | { kind: 'adopt-final'; state: ActionState }
  /** The journal has the final state; the object's status lags behind. */
  | { kind: 'repair-status'; state: ActionState }
  | { kind: 'reject'; reason: string }
  | { kind: 'expire'; message: string }
  /** Check policy, then run (or resume) the executor. */
  | { kind: 'evaluate'; action: Action; resume: boolean }
  | { kind: 'fail-interrupted' };

export interface PlanInput {
  object: Pick<AgentAction, 'spec' | 'status'>;
  journal: JournalState;
  /** Final state in the journal, when journal === 'finished'. */
  journalFinalState?: ActionState | undefined;
  /** This process is executing the action right now. */
  runningHere: boolean;
  /** The executor for this type can be re-run safely after an interruption. */
  idempotent: boolean;
  now: number;
}

const phaseToState: Record<ActionPhase, ActionState | undefined> = {
  Pending: undefined,
  WaitingApproval: undefined,
  Running: 'running',
  Succeeded: 'succeeded',
  Failed: 'failed',
  Rejected: 'rejected',
  Expired: 'expired',
};

export const stateToPhase: Record<ActionState, ActionPhase> = {
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  rejected: 'Rejected',
  expired: 'Expired',
};

export function finalStateOf(phase: ActionPhase | undefined): ActionState | undefined {
  return phase && terminalPhases.has(phase) ? phaseToState[phase] : undefined;
}

export function planStep(input: PlanInput): Step {
  const { object, journal, now } = input;
  const phase = object.status?.phase;
  const finalInStatus = finalStateOf(phase);
  if (input.runningHere) return { kind: 'none', why: 'running in this process' };
  if (finalInStatus) {
    return journal === 'finished'
      ? { kind: 'none', why: 'finished' }
      : { kind: 'adopt-final', state: finalInStatus };
  }
  if (journal === 'finished') {
    return { kind: 'repair-status', state: input.journalFinalState ?? 'failed' };
  }

  // The action as the executor sees it: the control plane's instants translated to this
  // agent's clock (spec.clockSkewMs), so the expiry below and a drain's budget compare like
  // with like. An agent clock hours ahead would otherwise expire actions early and give
  // drains no time at all (a forced drain then deletes its pods at once).
  const skew = object.spec.clockSkewMs ?? 0;
  const parsed = parseEnvelope({
    id: object.spec.id,
    type: object.spec.type,
    payload: payloadOnAgentClock(object.spec.payload, skew),
    createdAt: onAgentClock(object.spec.createdAt, skew),
    ...(object.spec.expiresAt === undefined ? {} : { expiresAt: onAgentClock(object.spec.expiresAt, skew) }),
    ...(object.spec.deadline === undefined ? {} : { deadline: onAgentClock(object.spec.deadline, skew) }),
  });
  if (!parsed.ok) return { kind: 'reject', reason: parsed.reason };

  const interrupted = journal === 'started' || phase === 'Running';
  if (interrupted) {
    // Started before: whatever the expiry says, a half-done action must be finished or
    // reported, never silently dropped.
    return input.idempotent
      ? { kind: 'evaluate', action: parsed.action, resume: true }
      : { kind: 'fail-interrupted' };
  }
  const expiresAt = parsed.action.expiresAt ? Date.parse(parsed.action.expiresAt) : undefined;
  if (expiresAt !== undefined && expiresAt <= now) {
    return { kind: 'expire', message: `expired at ${parsed.action.expiresAt} before it could start` };
  }
  const deadline = parsed.action.deadline ? Date.parse(parsed.action.deadline) : undefined;
  if (deadline !== undefined && deadline <= now) {
    return { kind: 'expire', message: `deadline ${parsed.action.deadline} passed before it could start` };
  }
  return { kind: 'evaluate', action: parsed.action, resume: false };
}

/** A payload `deadline` (drain_node, delete_node) is a control-plane instant too. */
function payloadOnAgentClock(payload: Record<string, unknown>, skewMs: number): Record<string, unknown> {
  const deadline = payload.deadline;
  if (skewMs === 0 || typeof deadline !== 'string') return payload;
  return { ...payload, deadline: onAgentClock(deadline, skewMs) };
}

/**
 * An action that arrives after a newer action on the same target already ran (a redelivery
 * after a crash, or a control plane that queued them out of order) would undo the newer
 * intent — e.g. an old cordon applied after a newer uncordon. It is rejected as superseded
 * instead. Actions that already started are finished, never superseded.
 */
export function supersededBy(
  object: Pick<AgentAction, 'spec'>,
  others: Iterable<Pick<AgentAction, 'spec' | 'status'>>,
): Pick<AgentAction, 'spec'> | undefined {
  const target = object.spec.target;
  if (!target) return undefined;
  const createdAt = Date.parse(object.spec.createdAt);
  for (const other of others) {
    if (other.spec.id === object.spec.id || other.spec.target !== target) continue;
    const phase = other.status?.phase;
    const ran = phase === 'Running' || phase === 'Succeeded' || phase === 'Failed';
    if (ran && Date.parse(other.spec.createdAt) > createdAt) return other;
  }
  return undefined;
}
