import { z } from 'zod';
import {
  AuditEventsBatch,
  Heartbeat,
  InstancesBatch,
  maxStatusBatchReports,
  StatusBatchEntry,
  type StatusBatchResult,
  StatusReport,
  type StatusResponse,
} from '../contract/reports.ts';
import { describeIssues } from '../contract/wire-envelope.ts';
import { getCluster } from './clusters-repo.ts';
import { HttpError, validate } from './http-util.ts';
import { type ControlPlaneContext, ok, type Route, type RouteInput, type RouteResult } from './route.ts';

/** Longest a poll may be held, whatever the agent asks for. */
export const maxWaitSeconds = 60;
export const defaultPollLimit = 100;
const maxPollLimit = 1000;

function numberParam(query: URLSearchParams, name: string): number | undefined {
  const raw = query.get(name);
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new HttpError(400, 'INVALID_QUERY', `${name} must be a number`);
  return n;
}

/**
 * GET /api/v1/agent/actions?wait=S&limit=N — lease up to N actions; when there are none,
 * hold the request until one is enqueued, a lease runs out (redelivery) or S seconds pass.
 */
async function poll(ctx: ControlPlaneContext, input: RouteInput): Promise<RouteResult> {
  const waitSeconds = Math.min(maxWaitSeconds, Math.max(0, numberParam(input.query, 'wait') ?? 0));
  const limit = Math.min(
    maxPollLimit,
    Math.max(1, Math.floor(numberParam(input.query, 'limit') ?? defaultPollLimit)),
  );
  const deadline = Date.now() + waitSeconds * 1000;
  for (;;) {
    const raw = ctx.hostile.takePollAnswer(input.clusterId);
    if (raw !== undefined) return { status: 200, raw, contentType: 'application/json' };
    const actions = ctx.actions.lease(input.clusterId, limit, ctx.leaseMs);
    if (actions.length > 0) return ok({ actions });
    const now = Date.now();
    const remaining = deadline - now;
    if (remaining <= 0) return ok({ actions: [] });
    // A lease running out makes its action deliverable again: wake up for that too.
    const nextExpiry = ctx.actions.nextLeaseExpiry(input.clusterId);
    const timeout =
      nextExpiry === undefined ? remaining : Math.min(remaining, Math.max(1, nextExpiry - now + 1));
    const outcome = await ctx.hub.wait(input.clusterId, timeout, input.signal);
    if (outcome === 'aborted') return 'no-response';
    if (outcome === 'closed') return ok({ actions: [] });
    // Disabled while this poll was held: it must not lease anything now.
    if (getCluster(ctx.db, input.clusterId)?.status !== 'active') {
      throw new HttpError(403, 'CLUSTER_DISABLED', 'the cluster is disabled: the agent must not act for it');
    }
  }
}

/** POST /api/v1/agent/actions/{id}/status */
function reportStatus(ctx: ControlPlaneContext, input: RouteInput): RouteResult {
  const report = validate(StatusReport, input.body);
  const id = input.params.id ?? '';
  const notFound = new HttpError(404, 'ACTION_NOT_FOUND', `no action ${id.slice(0, 64)} for this cluster`);
  if (!z.uuid().safeParse(id).success) throw notFound;
  const result = ctx.actions.report(input.clusterId, id.toLowerCase(), report);
  if (result.ok) return ok({ state: result.state, changed: result.changed } as StatusResponse);
  if (result.reason === 'not_found') {
    if (ctx.hostile.recordUnknown(input.clusterId, id.toLowerCase(), report)) {
      return ok({ state: report.state, changed: true } as StatusResponse);
    }
    throw notFound;
  }
  throw new HttpError(409, 'ILLEGAL_TRANSITION', result.message, { extra: { state: result.state } });
}

/** The batch body as far as it must be valid as a whole; each entry is checked on its own. */
const StatusBatchBody = z.object({ reports: z.array(z.unknown()).min(1).max(maxStatusBatchReports) });

/**
 * POST /api/v1/agent/actions/status — many reports, applied in order in one transaction;
 * one result per entry with the status the per-action route would have answered.
 */
function reportStatuses(ctx: ControlPlaneContext, input: RouteInput): RouteResult {
  const { reports } = validate(StatusBatchBody, input.body);
  const results: (StatusBatchResult | undefined)[] = [];
  const valid: { index: number; actionId: string; report: StatusReport }[] = [];
  reports.forEach((raw, index) => {
    const parsed = StatusBatchEntry.safeParse(raw);
    const rawId = (raw as { actionId?: unknown } | null)?.actionId;
    const actionId = typeof rawId === 'string' ? rawId.slice(0, 64) : '';
    if (!parsed.success) {
      results[index] = {
        actionId,
        status: 400,
        error: { code: 'INVALID_BODY', message: describeIssues(parsed.error) },
      };
      return;
    }
    const { actionId: id, ...report } = parsed.data;
    valid.push({ index, actionId: id.toLowerCase(), report });
    results[index] = undefined;
  });
  const applied = ctx.actions.reportMany(input.clusterId, valid);
  applied.forEach((result, i) => {
    const { index, actionId } = valid[i]!;
    if (result.ok) results[index] = { actionId, status: 200, state: result.state, changed: result.changed };
    else if (
      result.reason === 'not_found' &&
      ctx.hostile.recordUnknown(input.clusterId, actionId, valid[i]!.report)
    )
      results[index] = { actionId, status: 200, state: valid[i]!.report.state, changed: true };
    else if (result.reason === 'not_found')
      results[index] = {
        actionId,
        status: 404,
        error: { code: 'ACTION_NOT_FOUND', message: `no action ${actionId} for this cluster` },
      };
    else
      results[index] = {
        actionId,
        status: 409,
        state: result.state,
        error: { code: 'ILLEGAL_TRANSITION', message: result.message },
      };
  });
  return ok({ results });
}

/** POST /api/v1/agent/instances */
function reportInstances(ctx: ControlPlaneContext, input: RouteInput): RouteResult {
  const batch = validate(InstancesBatch, input.body);
  return ok(ctx.instances.apply(input.clusterId, batch));
}

/** POST /api/v1/agent/events */
function reportEvents(ctx: ControlPlaneContext, input: RouteInput): RouteResult {
  const batch = validate(AuditEventsBatch, input.body);
  return ok(ctx.audit.insertBatch(input.clusterId, batch.events));
}

/** POST /api/v1/agent/heartbeat */
function heartbeat(ctx: ControlPlaneContext, input: RouteInput): RouteResult {
  ctx.heartbeats.record(input.clusterId, validate(Heartbeat, input.body));
  return ok({ settings: {} });
}

export const agentRoutes: Route[] = [
  { method: 'GET', path: '/api/v1/agent/actions', auth: 'agent', name: 'actions', handle: poll },
  // Named 'status' like the per-action route: fault rules for status reports cover both.
  {
    method: 'POST',
    path: '/api/v1/agent/actions/status',
    auth: 'agent',
    name: 'status',
    handle: reportStatuses,
  },
  {
    method: 'POST',
    path: '/api/v1/agent/actions/{id}/status',
    auth: 'agent',
    name: 'status',
    handle: reportStatus,
  },
  {
    method: 'POST',
    path: '/api/v1/agent/instances',
    auth: 'agent',
    name: 'instances',
    handle: reportInstances,
  },
  { method: 'POST', path: '/api/v1/agent/events', auth: 'agent', name: 'events', handle: reportEvents },
  { method: 'POST', path: '/api/v1/agent/heartbeat', auth: 'agent', name: 'heartbeat', handle: heartbeat },
];
