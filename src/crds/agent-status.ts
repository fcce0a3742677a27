/**
 * What the leader tells admins about itself without a Prometheus: a JSON annotation on its
 * leader-election Lease, rewritten on every renewal (no extra API write), read by `kubectl
 * clusteropt status`. Only the holder writes it, so it is as fresh as the Lease's renewTime.
 */
import { z } from 'zod';

export const agentStatusAnnotation = 'clusteropt.io/agent-status';

export const AgentStatusReport = z.object({
  /** Agent version (build). */
  version: z.string().max(128),
  /** /readyz of the leader, with each failing check and its message. */
  ready: z.boolean(),
  notReady: z.array(z.string().max(1024)).max(16).optional(),
  controlPlane: z.object({
    /** Outcome of the last request: `2xx` or an error code (CP_NETWORK, CP_UNAUTHORIZED, ...). */
    lastOutcome: z.string().max(64).optional(),
    lastSuccessAt: z.iso.datetime({ offset: true }).optional(),
    lastFailureAt: z.iso.datetime({ offset: true }).optional(),
  }),
  outbox: z.object({ depth: z.int().min(0), oldestAgeSeconds: z.number().min(0) }),
  /** The AgentPolicy that pauses the agent, when one does. */
  pausedBy: z.string().max(253).optional(),
  updatedAt: z.iso.datetime({ offset: true }),
});
export type AgentStatusReport = z.infer<typeof AgentStatusReport>;
