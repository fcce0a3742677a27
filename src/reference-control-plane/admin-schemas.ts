import { z } from 'zod';
import { Heartbeat, InstanceReport } from '../contract/reports.ts';
import { storedActionStates } from './actions-repo.ts';

/**
 * The admin surface of the reference control plane (`/admin/v1/...`, admin bearer token).
 * Not part of the agent contract: the platform has its own UI and API for this. These
 * schemas check requests on the server, parse answers in the admin client, and feed the
 * OpenAPI document.
 */
const Timestamp = z.iso.datetime({ offset: true });

export const StoredActionState = z.enum(storedActionStates);

export const CreateClusterRequest = z.strictObject({
  name: z.string().min(1).max(253),
  accountId: z.string().min(1).max(64).optional(),
  region: z.string().min(1).max(64).optional(),
});
export type CreateClusterRequest = z.infer<typeof CreateClusterRequest>;

export const Cluster = z.object({
  id: z.uuid(),
  accountId: z.string().nullable(),
  name: z.string(),
  region: z.string().nullable(),
  status: z.string(),
  createdAt: Timestamp,
});

export const ApiKeyCreated = z.object({
  apiKeyId: z.uuid(),
  /** `co_<prefix>_<secret>`; shown once, never stored. */
  apiKey: z.string(),
});

export const ClusterCreated = ApiKeyCreated.extend({ cluster: Cluster });
export type ClusterCreated = z.infer<typeof ClusterCreated>;

export const ApiKeyRevoked = z.object({ revoked: z.literal(true) });

export const ClusterList = z.object({ clusters: z.array(Cluster) });

/**
 * Enqueue an action. `payload` is stored as given (any JSON value, not checked against the
 * agent's schemas) so tests can send the agent bad payloads and see them rejected. `type`
 * is not checked against the known types either, for the same reason.
 */
export const EnqueueRequest = z.strictObject({
  type: z.string().min(1).max(256),
  payload: z.unknown().refine((v) => v !== undefined, 'payload is required'),
  id: z.uuid().optional(),
  expiresAt: Timestamp.optional(),
  expiresInSeconds: z.number().positive().max(31_536_000).optional(),
  deadline: Timestamp.optional(),
});
export type EnqueueRequest = z.input<typeof EnqueueRequest>;

export const AdminAction = z.object({
  id: z.uuid(),
  clusterId: z.uuid(),
  type: z.string(),
  payload: z.unknown(),
  state: StoredActionState,
  message: z.string(),
  result: z.unknown(),
  leasedUntil: Timestamp.nullable(),
  leaseCount: z.int(),
  deliveredCount: z.int(),
  createdAt: Timestamp,
  expiresAt: Timestamp.nullable(),
  deadline: Timestamp.nullable(),
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
  updatedAt: Timestamp,
});
export type AdminAction = z.infer<typeof AdminAction>;

export const AdminActionList = z.object({ actions: z.array(AdminAction) });

/** How many of the cluster's actions are in each state (states with none are 0). */
export const AdminActionCounts = z.object({ counts: z.record(StoredActionState, z.int().min(0)) });
export type AdminActionCounts = z.infer<typeof AdminActionCounts>;

export const StatusLogEntry = z.object({
  id: z.int(),
  actionId: z.uuid(),
  clusterId: z.uuid(),
  fromState: StoredActionState.nullable(),
  toState: StoredActionState,
  source: z.enum(['enqueue', 'lease', 'agent', 'expiry']),
  message: z.string(),
  at: Timestamp,
});
export type StatusLogEntry = z.infer<typeof StatusLogEntry>;
export const StatusLog = z.object({ entries: z.array(StatusLogEntry) });

export const StoredInstance = z.object({
  id: z.uuid(),
  nodeName: z.string(),
  instanceId: z.string().nullable(),
  instanceType: z.string().nullable(),
  lifecycle: z.string(),
  updatedAt: Timestamp,
  report: InstanceReport,
});
export const InstanceList = z.object({ lastSeq: z.int().nullable(), instances: z.array(StoredInstance) });
export type InstanceList = z.infer<typeof InstanceList>;

export const StoredAuditEvent = z.object({
  id: z.uuid(),
  clusterId: z.uuid(),
  timestamp: Timestamp,
  actorId: z.string(),
  event: z.string(),
  resource: z.string(),
  details: z.object({
    actionId: z.uuid().optional(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
  receivedAt: Timestamp,
});
export const AuditEventList = z.object({ events: z.array(StoredAuditEvent) });
export type AuditEventList = z.infer<typeof AuditEventList>;

export const StoredHeartbeat = z.object({ clusterId: z.uuid(), receivedAt: Timestamp, heartbeat: Heartbeat });
export type StoredHeartbeat = z.infer<typeof StoredHeartbeat>;

/** Agent routes a fault can target (all of them when `routes` is left out). */
export const AgentRouteName = z.enum(['actions', 'status', 'instances', 'events', 'heartbeat']);
export type AgentRouteName = z.infer<typeof AgentRouteName>;

/**
 * Test hook: the next `count` agent requests (to `routes`) are delayed by `delayMs`, then
 * answered with `status` (+ Retry-After when `retryAfterSeconds` is set) or cut off
 * without an answer (`reset`); with only `delayMs` they are then served normally.
 */
export const FaultRule = z
  .strictObject({
    count: z.int().min(1).max(100_000).default(1),
    routes: z.array(AgentRouteName).min(1).optional(),
    status: z.int().min(400).max(599).optional(),
    /**
     * Sent as it is (text/html) instead of the contract error body: what an ingress, a proxy or
     * a WAF in front of the control plane answers.
     */
    body: z.string().max(65_536).optional(),
    retryAfterSeconds: z.int().min(0).max(3600).optional(),
    delayMs: z.int().min(0).max(120_000).optional(),
    reset: z.boolean().optional(),
  })
  .refine((r) => r.status !== undefined || r.delayMs !== undefined || r.reset === true, {
    message: 'a fault needs status, delayMs or reset',
  })
  .refine((r) => !(r.status !== undefined && r.reset === true), {
    message: 'status and reset exclude each other',
  })
  .refine((r) => r.body === undefined || r.status !== undefined, { message: 'body needs a status' });
export type FaultRule = z.output<typeof FaultRule>;
export type FaultRuleInput = z.input<typeof FaultRule>;

export const FaultList = z.object({
  faults: z.array(
    z.object({
      remaining: z.int(),
      routes: z.array(AgentRouteName).optional(),
      status: z.int().optional(),
      body: z.string().optional(),
      retryAfterSeconds: z.int().optional(),
      delayMs: z.int().optional(),
      reset: z.boolean().optional(),
    }),
  ),
});
export type FaultList = z.infer<typeof FaultList>;

/** Enable or disable a cluster: a disabled cluster's agent gets 403 on every agent route. */
export const ClusterStatusRequest = z.strictObject({ status: z.enum(['active', 'disabled']) });

/** Hostile mode: the next `count` polls of the cluster are answered 200 with `body`, as it is. */
export const HostilePollRequest = z.strictObject({
  body: z.string().max(10 * 1024 * 1024),
  count: z.int().min(1).max(1000).default(1),
});

export const HostilePollQueued = z.object({ queued: z.int() });

/** Hostile mode: status reports received about actions the store does not know. */
export const UnknownReportList = z.object({
  reports: z.array(
    z.object({
      actionId: z.string(),
      state: z.string(),
      message: z.string(),
      receivedAt: z.string(),
    }),
  ),
});
