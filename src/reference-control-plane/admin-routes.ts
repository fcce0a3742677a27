import { z } from 'zod';
import {
  ClusterStatusRequest,
  CreateClusterRequest,
  EnqueueRequest,
  FaultRule,
  HostilePollRequest,
  StoredActionState,
} from './admin-schemas.ts';
import {
  createApiKey,
  createCluster,
  getCluster,
  listClusters,
  revokeApiKey,
  setClusterStatus,
} from './clusters-repo.ts';
import { HttpError, validate } from './http-util.ts';
import { type ControlPlaneContext, ok, type Route, type RouteInput, type RouteResult } from './route.ts';

function requireCluster(ctx: ControlPlaneContext, input: RouteInput): string {
  const id = (input.params.id ?? '').toLowerCase();
  if (!z.uuid().safeParse(id).success || !getCluster(ctx.db, id)) {
    throw new HttpError(404, 'CLUSTER_NOT_FOUND', `no cluster ${id.slice(0, 64)}`);
  }
  return id;
}

function requireActionId(input: RouteInput): string {
  const id = (input.params.id ?? '').toLowerCase();
  if (!z.uuid().safeParse(id).success)
    throw new HttpError(404, 'ACTION_NOT_FOUND', `no action ${id.slice(0, 64)}`);
  return id;
}

function enqueue(ctx: ControlPlaneContext, input: RouteInput): RouteResult {
  const clusterId = requireCluster(ctx, input);
  const req = validate(EnqueueRequest, input.body);
  const expiresAt =
    req.expiresAt ??
    (req.expiresInSeconds === undefined
      ? undefined
      : new Date(Date.now() + req.expiresInSeconds * 1000).toISOString());
  const result = ctx.actions.enqueue({
    clusterId,
    type: req.type,
    payload: req.payload,
    id: req.id,
    expiresAt,
    deadline: req.deadline,
  });
  if (!result.ok) {
    throw result.reason === 'duplicate_id'
      ? new HttpError(409, 'DUPLICATE_ACTION_ID', `an action with id ${req.id} already exists`)
      : new HttpError(404, 'CLUSTER_NOT_FOUND', `no cluster ${clusterId}`);
  }
  ctx.hub.notify(clusterId);
  return ok(result.action, 201);
}

function listActions(ctx: ControlPlaneContext, input: RouteInput): RouteResult {
  const clusterId = requireCluster(ctx, input);
  const stateParam = input.query.get('state');
  const state = stateParam === null ? undefined : StoredActionState.safeParse(stateParam);
  if (state && !state.success) throw new HttpError(400, 'INVALID_QUERY', `unknown state "${stateParam}"`);
  // Listing shows expiry as the agent would see it, without waiting for the next poll.
  ctx.actions.expireDue(clusterId);
  return ok({ actions: ctx.actions.list(clusterId, state ? { state: state.data } : {}) });
}

/** Counts per state: what a dashboard (or a benchmark waiting for a backlog) polls. */
function countActions(ctx: ControlPlaneContext, input: RouteInput): RouteResult {
  const clusterId = requireCluster(ctx, input);
  ctx.actions.expireDue(clusterId);
  return ok({ counts: ctx.actions.countByState(clusterId) });
}

function getAction(ctx: ControlPlaneContext, input: RouteInput): RouteResult {
  const id = requireActionId(input);
  const action = ctx.actions.get(id);
  if (!action) throw new HttpError(404, 'ACTION_NOT_FOUND', `no action ${id}`);
  return ok(action);
}

function actionStatusLog(ctx: ControlPlaneContext, input: RouteInput): RouteResult {
  const id = requireActionId(input);
  if (!ctx.actions.get(id)) throw new HttpError(404, 'ACTION_NOT_FOUND', `no action ${id}`);
  return ok({ entries: ctx.actions.statusLog({ actionId: id }) });
}

function clusterStatus(ctx: ControlPlaneContext, input: RouteInput): RouteResult {
  const id = requireCluster(ctx, input);
  setClusterStatus(ctx.db, id, validate(ClusterStatusRequest, input.body).status);
  // Held polls answer at once: with 403 now, or again normally.
  ctx.hub.notify(id);
  return ok(getCluster(ctx.db, id));
}

/** Hostile-mode routes answer 404 on a server started without it. */
function requireHostile(ctx: ControlPlaneContext): void {
  if (!ctx.hostile.enabled) {
    throw new HttpError(404, 'HOSTILE_MODE_OFF', 'the server was not started in hostile mode (--hostile)');
  }
}

function hostilePoll(ctx: ControlPlaneContext, input: RouteInput): RouteResult {
  requireHostile(ctx);
  const id = requireCluster(ctx, input);
  const req = validate(HostilePollRequest, input.body);
  ctx.hostile.addPollAnswer(id, req.body, req.count);
  ctx.hub.notify(id);
  return ok({ queued: req.count }, 201);
}

function hostileReports(ctx: ControlPlaneContext, input: RouteInput): RouteResult {
  requireHostile(ctx);
  return ok({ reports: ctx.hostile.unknownReports(requireCluster(ctx, input)) });
}

function lastHeartbeat(ctx: ControlPlaneContext, input: RouteInput): RouteResult {
  const heartbeat = ctx.heartbeats.last(requireCluster(ctx, input));
  if (!heartbeat) throw new HttpError(404, 'HEARTBEAT_NOT_FOUND', 'no heartbeat received yet');
  return ok(heartbeat);
}

const cluster = '/admin/v1/clusters/{id}';
const action = '/admin/v1/actions/{id}';

export const adminRoutes: Route[] = [
  { method: 'GET', path: '/healthz', auth: 'none', name: 'healthz', handle: () => ok({ ok: true }) },
  {
    method: 'GET',
    path: '/admin/v1/clusters',
    auth: 'admin',
    name: 'list-clusters',
    handle: (ctx) => ok({ clusters: listClusters(ctx.db) }),
  },
  {
    method: 'POST',
    path: '/admin/v1/clusters',
    auth: 'admin',
    name: 'create-cluster',
    handle: (ctx, input) => ok(createCluster(ctx.db, validate(CreateClusterRequest, input.body)), 201),
  },
  {
    method: 'GET',
    path: cluster,
    auth: 'admin',
    name: 'get-cluster',
    handle: (ctx, input) => ok(getCluster(ctx.db, requireCluster(ctx, input))),
  },
  {
    method: 'POST',
    path: `${cluster}/api-keys`,
    auth: 'admin',
    name: 'create-api-key',
    handle: (ctx, input) => ok(createApiKey(ctx.db, requireCluster(ctx, input)), 201),
  },
  {
    method: 'POST',
    path: `${cluster}/status`,
    auth: 'admin',
    name: 'set-cluster-status',
    handle: clusterStatus,
  },
  {
    method: 'POST',
    path: `${cluster}/hostile/polls`,
    auth: 'admin',
    name: 'hostile-poll',
    handle: hostilePoll,
  },
  {
    method: 'GET',
    path: `${cluster}/hostile/reports`,
    auth: 'admin',
    name: 'hostile-reports',
    handle: hostileReports,
  },
  {
    method: 'POST',
    path: '/admin/v1/api-keys/{id}/revoke',
    auth: 'admin',
    name: 'revoke-api-key',
    handle: (ctx, input) => {
      const id = (input.params.id ?? '').toLowerCase();
      if (!revokeApiKey(ctx.db, id))
        throw new HttpError(404, 'API_KEY_NOT_FOUND', `no API key ${id.slice(0, 64)}`);
      return ok({ revoked: true });
    },
  },
  { method: 'POST', path: `${cluster}/actions`, auth: 'admin', name: 'enqueue', handle: enqueue },
  { method: 'GET', path: `${cluster}/actions`, auth: 'admin', name: 'list-actions', handle: listActions },
  {
    method: 'GET',
    path: `${cluster}/actions/counts`,
    auth: 'admin',
    name: 'count-actions',
    handle: countActions,
  },
  {
    method: 'GET',
    path: `${cluster}/status-log`,
    auth: 'admin',
    name: 'cluster-status-log',
    handle: (ctx, input) => ok({ entries: ctx.actions.statusLog({ clusterId: requireCluster(ctx, input) }) }),
  },
  {
    method: 'GET',
    path: `${cluster}/instances`,
    auth: 'admin',
    name: 'list-instances',
    handle: (ctx, input) => ok(ctx.instances.list(requireCluster(ctx, input))),
  },
  {
    method: 'GET',
    path: `${cluster}/events`,
    auth: 'admin',
    name: 'list-events',
    handle: (ctx, input) => ok({ events: ctx.audit.list(requireCluster(ctx, input)) }),
  },
  {
    method: 'GET',
    path: `${cluster}/heartbeat`,
    auth: 'admin',
    name: 'last-heartbeat',
    handle: lastHeartbeat,
  },
  { method: 'GET', path: action, auth: 'admin', name: 'get-action', handle: getAction },
  {
    method: 'GET',
    path: `${action}/status-log`,
    auth: 'admin',
    name: 'action-status-log',
    handle: actionStatusLog,
  },
  {
    method: 'GET',
    path: '/admin/v1/faults',
    auth: 'admin',
    name: 'list-faults',
    handle: (ctx) => ok(ctx.faults.list()),
  },
  {
    method: 'POST',
    path: '/admin/v1/faults',
    auth: 'admin',
    name: 'add-fault',
    handle: (ctx, input) => {
      ctx.faults.add(validate(FaultRule, input.body));
      return ok(ctx.faults.list(), 201);
    },
  },
  {
    method: 'DELETE',
    path: '/admin/v1/faults',
    auth: 'admin',
    name: 'clear-faults',
    handle: (ctx) => {
      ctx.faults.clear();
      return ok(ctx.faults.list());
    },
  },
];
