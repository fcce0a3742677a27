/**
 * The drain progress shown in an AgentAction's status, from the drain executor's running
 * counts (while it runs) and from its result (when it finished), so the final status never
 * shows the counts of the first progress report.
 */
import type { DrainProgress } from '../../crds/agent-action.ts';

/** From the executor's onProgress counts (see src/actions/drain-run.ts reportProgress). */
export function drainProgressFromCounts(counts: Record<string, number>): DrainProgress {
  return {
    total: counts.total ?? 0,
    evicted: counts.evicted ?? 0,
    pending: counts.terminating ?? 0,
    blocked: (counts.rejected ?? 0) + (counts.stuck ?? 0),
  };
}

const listLength = (value: unknown): number => (Array.isArray(value) ? value.length : 0);

/** From a drain or delete_node result's details; undefined for other results. */
export function drainProgressFromResult(details: Record<string, unknown>): DrainProgress | undefined {
  if (!Array.isArray(details.evicted)) return undefined;
  const evicted = listLength(details.evicted) + listLength(details.forceDeleted);
  const blocked = listLength(details.blocked) + listLength(details.stuck);
  const blockedPods = (Array.isArray(details.blocked) ? details.blocked : [])
    .slice(0, 20)
    .map((p: { namespace?: string; name?: string; reason?: string; message?: string }) => ({
      namespace: String(p.namespace ?? '').slice(0, 63),
      name: String(p.name ?? '').slice(0, 253),
      reason: String(p.reason ?? p.message ?? '').slice(0, 1024),
    }));
  return {
    total: evicted + blocked,
    evicted,
    pending: 0,
    blocked,
    ...(blockedPods.length > 0 ? { blockedPods } : {}),
  };
}

/**
 * A finished drain's evictions by outcome for clusteropt_agent_evictions_total: evicted, deleted
 * (forced after the budget), blocked (429 from a PodDisruptionBudget, retried), error (transient
 * failures, retried). Empty for results that are not drains.
 */
export function evictionCounts(details: Record<string, unknown>): Record<string, number> {
  if (!Array.isArray(details.evicted)) return {};
  const retries = (details.retries ?? {}) as Record<string, number | undefined>;
  return {
    evicted: listLength(details.evicted),
    deleted: listLength(details.forceDeleted),
    blocked: (retries.tooManyRequests ?? 0) + (retries.multiplePdb ?? 0),
    error: retries.transient ?? 0,
  };
}
