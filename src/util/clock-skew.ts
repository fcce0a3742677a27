/**
 * How far the agent's wall clock is from the control plane's, from the HTTP `Date` header of
 * the poll response that delivered a batch of actions.
 *
 * Why: an action's `createdAt`, `expiresAt` and `deadline` are instants on the control
 * plane's clock. Compared raw with an agent clock that is ahead by more than a drain's
 * `timeoutSeconds`, the drain's budget is spent before it starts — and a forced drain then
 * deletes its pods at once, past their PodDisruptionBudgets. So the instants are translated to
 * the agent's clock before they are compared (controllers/action/plan.ts).
 *
 * `Date` has a resolution of one second and is stamped when the server sends its headers:
 * local receipt − Date = skew + network latency + the second's fraction truncated, which is
 * in [skew, skew + 1 s + latency). The estimate takes the middle of that second. Anything
 * within `negligibleSkewMs` of zero is within that error and reported as 0, so a healthy
 * NTP-synced agent behaves exactly as if no correction existed.
 */

/** Estimates below this (either way) are measurement error, not skew. */
export const negligibleSkewMs = 2_000;

/**
 * Agent clock minus control-plane clock in ms (positive: the agent is ahead), or 0 when the
 * header is missing, unparseable or the difference is negligible.
 */
export function clockSkewMs(dateHeader: string | string[] | undefined, receivedAtMs: number): number {
  const value = Array.isArray(dateHeader) ? dateHeader[0] : dateHeader;
  if (value === undefined) return 0;
  const serverMs = Date.parse(value);
  if (Number.isNaN(serverMs) || !Number.isFinite(receivedAtMs)) return 0;
  const estimate = Math.round(receivedAtMs - serverMs - 500);
  return Math.abs(estimate) < negligibleSkewMs ? 0 : estimate;
}

/** A control-plane instant (ISO) on the agent's clock, as ISO again. Unparseable: unchanged. */
export function onAgentClock(iso: string, skewMs: number): string {
  if (skewMs === 0) return iso;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? iso : new Date(ms + skewMs).toISOString();
}
