/**
 * How far running drains are past their time budget, for
 * clusteropt_agent_drain_budget_overrun_seconds and the ClusteroptAgentDrainPastBudget alert.
 * A drain ought to end by its budget (it force-deletes or fails); one still running past it
 * waits on something that does not answer. Budgets are taken on the monotonic clock when the
 * drain starts, as the executor takes them.
 */
import { drainBudget } from '../../actions/drain-plan.ts';
import type { Action } from '../../contract/envelope.ts';

export class DrainOverrun {
  private readonly endsAtMono = new Map<string, number>();

  /** Starts tracking `action` when it is a drain; returns the call that stops it. */
  track(action: Action, nowMs: number, mono: number = performance.now()): () => void {
    if (action.type !== 'drain_node' && action.type !== 'delete_node') return () => undefined;
    const budget = drainBudget({
      timeoutSeconds: action.payload.timeoutSeconds,
      createdAt: action.createdAt,
      deadlines: [action.deadline, action.payload.deadline],
      nowMs,
    });
    this.endsAtMono.set(action.id, mono + budget.remainingMs);
    return () => this.endsAtMono.delete(action.id);
  }

  /** Seconds the drain furthest past its budget has spent past it; 0 when none is. */
  overrunSeconds(mono: number = performance.now()): number {
    let worst = 0;
    for (const end of this.endsAtMono.values()) worst = Math.max(worst, mono - end);
    return worst / 1000;
  }
}
