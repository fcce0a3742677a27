import { compareCodeUnits } from '../util/compare.ts';

/**
 * Requests the reference control plane received, by method and route template (the batch
 * status route and the per-action one share a route name, so the name alone would not tell
 * them apart). Counted on arrival, before authentication or fault injection, so a long poll
 * counts when it comes in, not when it is answered. Cumulative: a reader that wants a rate
 * takes two snapshots and subtracts (no reset, so two readers cannot disturb each other).
 */

/** Route template of requests that matched no route (404/405 answers). */
export const unmatchedRoute = '(no route)';

export interface RequestCount {
  method: string;
  /** The route's path template, e.g. `/api/v1/agent/actions/{id}/status`, or `(no route)`. */
  route: string;
  count: number;
}

export class RequestCounts {
  private readonly counts = new Map<string, RequestCount>();

  received(method: string, route: string | undefined): void {
    const template = route ?? unmatchedRoute;
    const key = `${method} ${template}`;
    const entry = this.counts.get(key);
    if (entry) entry.count += 1;
    else this.counts.set(key, { method, route: template, count: 1 });
  }

  /** A copy of every count so far, sorted by route then method. */
  snapshot(): RequestCount[] {
    return [...this.counts.values()]
      .map((c) => ({ ...c }))
      .sort((a, b) => compareCodeUnits(a.route, b.route) || compareCodeUnits(a.method, b.method));
  }
}

/** `later - earlier` per method and route (routes absent from `earlier` count from 0). */
export function countsBetween(
  earlier: readonly RequestCount[],
  later: readonly RequestCount[],
): RequestCount[] {
  const before = new Map(earlier.map((c) => [`${c.method} ${c.route}`, c.count]));
  return later
    .map((c) => ({ ...c, count: c.count - (before.get(`${c.method} ${c.route}`) ?? 0) }))
    .filter((c) => c.count > 0);
}
