/**
 * Counting windows of the cp-load benchmark: what the reference control plane received from
 * the agent (routes under /api/v1/agent/) in one window, per route and per minute, from two
 * snapshots of its request counter. Requests of the benchmark itself (admin routes:
 * enqueues, counts) are left out.
 */
import { performance } from 'node:perf_hooks';
import {
  countsBetween,
  type ReferenceControlPlane,
  type RequestCount,
} from '../../../src/reference-control-plane/index.ts';
import { sleep } from '../../../src/util/backoff.ts';

/** Short names of the agent-facing routes, for tables (method + template identify each). */
export const routeLabels: Record<string, string> = {
  'GET /api/v1/agent/actions': 'poll',
  'POST /api/v1/agent/actions/status': 'status batch',
  'POST /api/v1/agent/actions/{id}/status': 'status 1-by-1',
  'POST /api/v1/agent/instances': 'instances',
  'POST /api/v1/agent/events': 'events',
  'POST /api/v1/agent/heartbeat': 'heartbeat',
};

export interface Window {
  /** Wall clock bounds (ms since the epoch), to match the control plane's status log. */
  fromMs: number;
  toMs: number;
  minutes: number;
  /** Agent-facing requests received, by route label. */
  byRoute: Record<string, number>;
  total: number;
}

function agentRequests(counts: readonly RequestCount[]): Record<string, number> {
  const byRoute: Record<string, number> = {};
  for (const c of counts) {
    const key = `${c.method} ${c.route}`;
    const label =
      routeLabels[key] ?? (c.route.startsWith('/api/') || c.route === '(no route)' ? key : undefined);
    if (label !== undefined) byRoute[label] = (byRoute[label] ?? 0) + c.count;
  }
  return byRoute;
}

/** Counts `seconds` of requests, then returns the window. */
export async function countWindow(cp: ReferenceControlPlane, seconds: number): Promise<Window> {
  const fromMs = Date.now();
  const t0 = performance.now();
  const before = cp.requestCounts();
  await sleep(seconds * 1000);
  const after = cp.requestCounts();
  const minutes = (performance.now() - t0) / 60_000;
  const byRoute = agentRequests(countsBetween(before, after));
  const total = Object.values(byRoute).reduce((a, b) => a + b, 0);
  return { fromMs, toMs: Date.now(), minutes, byRoute, total };
}
