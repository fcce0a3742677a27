import { z } from 'zod';
import { WireEnvelope } from './wire-envelope.ts';

const Timestamp = z.iso.datetime({ offset: true });

/** GET /api/v1/agent/actions?wait=S */
export const PollResponse = z.object({ actions: z.array(z.unknown()) });
export type PollResponse = z.infer<typeof PollResponse>;
/** What the reference control plane promises to send (the agent still checks each one). */
export const PollResponseDocumented = z.object({ actions: z.array(WireEnvelope) });

export const ActionState = z.enum(['running', 'succeeded', 'failed', 'rejected', 'expired']);
export type ActionState = z.infer<typeof ActionState>;
export const terminalStates: ReadonlySet<ActionState> = new Set([
  'succeeded',
  'failed',
  'rejected',
  'expired',
]);

/** POST /api/v1/agent/actions/{id}/status — idempotent: the same body twice is one transition. */
export const StatusReport = z.object({
  state: ActionState,
  message: z.string().max(4096).default(''),
  result: z.record(z.string(), z.unknown()).optional(),
  startedAt: Timestamp.optional(),
  finishedAt: Timestamp.optional(),
});
export type StatusReport = z.infer<typeof StatusReport>;

/** Most reports in one POST /api/v1/agent/actions/status. */
export const maxStatusBatchReports = 500;

/** One entry of a status batch: a StatusReport plus the action it is about. */
export const StatusBatchEntry = StatusReport.extend({ actionId: z.uuid() });
export type StatusBatchEntry = z.infer<typeof StatusBatchEntry>;

/**
 * POST /api/v1/agent/actions/status — many status reports in one request, applied in array
 * order (one action may appear several times, e.g. running then succeeded). Each entry means
 * exactly what the same body on /actions/{id}/status means (idempotent the same way).
 */
export const StatusBatchRequest = z.object({
  reports: z.array(StatusBatchEntry).min(1).max(maxStatusBatchReports),
});
export type StatusBatchRequest = z.infer<typeof StatusBatchRequest>;

/**
 * The outcome of one entry, in the order sent. `status` is what the per-action route would
 * have answered: 200 applied (or already in that state), 400 invalid entry, 404 unknown
 * action, 409 illegal transition (`state` is then the current state).
 */
export const StatusBatchResult = z.object({
  actionId: z.string(),
  status: z.union([z.literal(200), z.literal(400), z.literal(404), z.literal(409)]),
  state: z.string().optional(),
  changed: z.boolean().optional(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});
export type StatusBatchResult = z.infer<typeof StatusBatchResult>;
export const StatusBatchResponse = z.object({ results: z.array(StatusBatchResult) });
export type StatusBatchResponse = z.infer<typeof StatusBatchResponse>;

export const Lifecycle = z.enum(['spot', 'on-demand', 'unknown']);

/** One node as an instance (the seed's `instances` row plus what the agent sees). */
export const InstanceReport = z.object({
  nodeName: z.string(),
  nodeUid: z.string(),
  providerId: z.string().optional(),
  instanceId: z.string().optional(),
  zone: z.string().optional(),
  instanceType: z.string().optional(),
  lifecycle: Lifecycle,
  ready: z.boolean(),
  schedulable: z.boolean(),
  agentTaints: z.array(z.string()).default([]),
  ec2: z
    .object({
      state: z.string().optional(),
      launchTime: Timestamp.optional(),
      spotInstanceRequestId: z.string().optional(),
    })
    .optional(),
});
export type InstanceReport = z.infer<typeof InstanceReport>;

/**
 * POST /api/v1/agent/instances — `seq` increases by one per batch; `full` replaces the whole
 * set, otherwise a delta. A gap in seq tells the control plane to answer `{resync: true}`.
 */
export const InstancesBatch = z.object({
  seq: z.int().min(0),
  full: z.boolean(),
  instances: z.array(InstanceReport),
  removed: z.array(z.string()).default([]),
});
export type InstancesBatch = z.infer<typeof InstancesBatch>;
export const InstancesResponse = z.object({ accepted: z.boolean(), resync: z.boolean().default(false) });

/** POST /api/v1/agent/events — audit events; `id` is the idempotency key. */
export const AuditEvent = z.object({
  id: z.uuid(),
  timestamp: Timestamp,
  event: z.string().min(1).max(128),
  resource: z.string().max(1024).default(''),
  actionId: z.uuid().optional(),
  message: z.string().max(4096).default(''),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type AuditEvent = z.infer<typeof AuditEvent>;
export const AuditEventsBatch = z.object({ events: z.array(AuditEvent).min(1).max(1000) });

/** POST /api/v1/agent/heartbeat */
export const Heartbeat = z.object({
  agentVersion: z.string(),
  kubernetesVersion: z.string().optional(),
  nodeCount: z.int().min(0).optional(),
  outboxDepth: z.int().min(0),
  leader: z.string().optional(),
  awsAccountId: z.string().optional(),
});
export type Heartbeat = z.infer<typeof Heartbeat>;
export const HeartbeatResponse = z.object({
  settings: z.record(z.string(), z.unknown()).optional(),
});

/** Every error body the control plane sends. */
export const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

/** Answer to a status report: the action's state now, and whether this report changed it. */
export const StatusResponse = z.object({ state: ActionState, changed: z.boolean() });
export type StatusResponse = z.infer<typeof StatusResponse>;

/** Answer to POST /api/v1/agent/events: duplicates are events whose id was already stored. */
export const EventsResponse = z.object({
  received: z.int().min(0),
  inserted: z.int().min(0),
  duplicates: z.int().min(0),
});
export type EventsResponse = z.infer<typeof EventsResponse>;
