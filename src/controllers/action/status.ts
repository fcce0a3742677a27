/**
 * The AgentAction status the controller writes, composed from what happened: pure, so what a
 * user sees with kubectl is unit-tested without an API server (records.ts writes it).
 */

import type { ActionState } from '../../contract/reports.ts';
import type { ActionPhase, ActionPlan, AgentActionStatus } from '../../crds/agent-action.ts';
import { stateToPhase } from './plan.ts';
import { drainProgressFromResult } from './progress.ts';

/** How an action ended, as the journal, the report and the status record it. */
export interface FinalRecord {
  state: Exclude<ActionState, 'running'>;
  message: string;
  /** Machine-readable cause, e.g. `AgentPolicy/strict:protectedNamespaces`. */
  reason?: string;
  result?: Record<string, unknown>;
  startedAt?: string;
  /**
   * A quick action that succeeded without ever showing status Running: no `Succeeded` Event
   * on the AgentAction (its Finished condition and the Event the executor put on the target
   * record it; failures and refusals always get their Warning Event).
   */
  quiet?: boolean;
  /** A dry run's plan, shown in status.plan (and sent upstream inside result). */
  plan?: ActionPlan;
}

/** Results larger than this are cut in the AgentAction status (the control plane gets all). */
const maxStatusResultBytes = 16_384;

/** Status Running, written when an action starts executing (or a moment later, see records.ts). */
export function runningStatus(type: string, startedAt: string, now: number): AgentActionStatus {
  return {
    phase: 'Running',
    message: `executing ${type}`,
    startedAt,
    conditions: [condition('Started', 'True', 'Executing', `executing ${type}`, now)],
  };
}

/** The final status of a finished action. */
export function finalStatus(
  record: FinalRecord,
  finishedAt: string,
  now: number,
): AgentActionStatus & { phase: ActionPhase } {
  const phase = stateToPhase[record.state];
  const status: AgentActionStatus & { phase: ActionPhase } = {
    phase,
    message: record.message.slice(0, 32_768),
    finishedAt,
    conditions: [condition('Finished', 'True', phase, record.message.slice(0, 32_768), now)],
  };
  if (record.reason) status.reason = record.reason.slice(0, 1024);
  if (record.startedAt) status.startedAt = record.startedAt;
  if (record.result) {
    status.result = fitResult(record.result);
    const drain = drainProgressFromResult(record.result);
    if (drain) status.progress = { drain };
  }
  if (record.plan) status.plan = record.plan;
  return status;
}

function condition(type: string, status: 'True' | 'False', reason: string, message: string, now: number) {
  return {
    type,
    status,
    reason: reason.replace(/[^A-Za-z0-9_,:]/g, '') || 'Unknown',
    message,
    lastTransitionTime: new Date(Math.floor(now / 1000) * 1000).toISOString().replace('.000Z', 'Z'),
  };
}

function fitResult(result: Record<string, unknown>): Record<string, unknown> {
  const text = JSON.stringify(result);
  if (text.length <= maxStatusResultBytes) return result;
  return { truncated: true, bytes: text.length, summary: text.slice(0, 1024) };
}
