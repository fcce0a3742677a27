/**
 * AgentAction (clusteropt.io/v1alpha1, namespaced, short name `aact`): one per action, from
 * the control plane or applied by an admin. `spec` is the action envelope and never changes
 * after creation; `status` is written by the action controller through the status
 * subresource. The CRD's OpenAPI schema is generated from these zod schemas (generate.ts).
 */
import { z } from 'zod';
import { apiVersion, Conditions, cel, ObjectMeta, Timestamp } from './common.ts';

/**
 * Every action type the agent knows. contract/envelope.ts gives each its payload schema (the
 * compiler checks that the two lists match); here because AgentAction and AgentPolicy name
 * the types in their schemas, and the CRDs sit below the contract's payloads.
 */
export const ActionType = z.enum([
  'cordon_node',
  'uncordon_node',
  'drain_node',
  'scale_workload',
  'patch_node',
  'delete_node',
  'sync_hibernation_schedule',
]);
export type ActionType = z.infer<typeof ActionType>;

export const agentActionKind = 'AgentAction';
export const agentActionPlural = 'agentactions';

/** Annotation an admin sets to approve an action that an `approval: required` policy holds. */
export const approvedAnnotation = 'clusteropt.io/approved';

/** Where an action came from. Both go through the same controller and policy check. */
export const ActionSource = z.enum(['control-plane', 'local']);
export type ActionSource = z.infer<typeof ActionSource>;

export const AgentActionSpec = z
  .object({
    id: z.uuid().describe('Action id (uuid) from the envelope; the object is named act-<id>.'),
    type: ActionType.describe('Action type; the payload is validated against it by the agent.'),
    payload: z
      .record(z.string(), z.unknown())
      .describe('Type-specific parameters, validated by the agent (invalid ones end Rejected).'),
    createdAt: Timestamp.describe('When the action was created (envelope createdAt).'),
    expiresAt: Timestamp.optional().describe('After this the action is not started; it ends Expired.'),
    deadline: Timestamp.optional().describe('Hard end of the whole action, including retries and waits.'),
    source: ActionSource.describe('control-plane: received by the poller; local: applied in the cluster.'),
    clockSkewMs: z
      .int()
      .optional()
      .describe(
        "Agent clock minus the control plane's when the action was received (HTTP Date header; absent when under 2 s). createdAt, expiresAt and deadline are shifted by it before they are compared with the agent's clock.",
      ),
    target: z
      .string()
      .max(512)
      .optional()
      .describe('Short human description of what the action touches, e.g. node/ip-10-0-0-1 (display only).'),
  })
  .meta(cel({ rule: 'self == oldSelf', message: 'spec is immutable; create a new AgentAction instead' }));
export type AgentActionSpec = z.infer<typeof AgentActionSpec>;

export const ActionPhase = z.enum([
  'Pending',
  'WaitingApproval',
  'Running',
  'Succeeded',
  'Failed',
  'Rejected',
  'Expired',
]);
export type ActionPhase = z.infer<typeof ActionPhase>;
export const terminalPhases: ReadonlySet<ActionPhase> = new Set([
  'Succeeded',
  'Failed',
  'Rejected',
  'Expired',
]);

const Count = z.int().min(0).max(1_000_000);

/** Drain progress: counts of the pods the drain has to evict (DaemonSet and mirror pods excluded). */
export const DrainProgress = z.object({
  total: Count,
  evicted: Count,
  pending: Count,
  blocked: Count.describe('Pods whose eviction a PodDisruptionBudget or a policy currently refuses.'),
  blockedPods: z
    .array(
      z.object({
        namespace: z.string().max(63),
        name: z.string().max(253),
        reason: z.string().max(1024),
      }),
    )
    .max(20)
    .optional()
    .describe('Up to 20 blocked pods with the reason, for kubectl describe.'),
});
export type DrainProgress = z.infer<typeof DrainProgress>;

/**
 * What a dry run would have done (docs/policy.md "Dry run"): a human summary, one line per
 * pod, field or workload, whether the action as a whole would be refused or fail, and the
 * same facts as data (per type: drain pods with verdicts, scale from/to, patch diff,
 * hibernation workloads and replicas). The same object goes to the control plane as
 * result.plan.
 */
export const ActionPlan = z.object({
  summary: z.string().max(16_384),
  wouldFail: z
    .boolean()
    .describe('true: executing it would end Failed or Rejected (e.g. a drain blocked by a pod).'),
  details: z
    .record(z.string(), z.unknown())
    .describe('Type-specific plan, as reported upstream in result.plan.'),
});
export type ActionPlan = z.infer<typeof ActionPlan>;

export const AgentActionStatus = z.object({
  phase: ActionPhase.optional(),
  observedGeneration: z.int().min(0).optional(),
  conditions: Conditions.optional(),
  message: z.string().max(32_768).optional(),
  reason: z
    .string()
    .max(1024)
    .optional()
    .describe('Machine-readable cause, e.g. AgentPolicy/<name>:<rule> for a policy refusal or wait.'),
  startedAt: Timestamp.optional(),
  finishedAt: Timestamp.optional(),
  progress: z.object({ drain: DrainProgress.optional() }).optional(),
  plan: ActionPlan.optional().describe('Dry run only: what the action would have done.'),
  result: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('Type-specific result, as reported upstream.'),
});
export type AgentActionStatus = z.infer<typeof AgentActionStatus>;

/** An AgentAction as read from the API server. */
export const AgentAction = z.object({
  apiVersion: z.literal(apiVersion),
  kind: z.literal(agentActionKind),
  metadata: ObjectMeta,
  spec: AgentActionSpec,
  status: AgentActionStatus.optional(),
});
export type AgentAction = z.infer<typeof AgentAction>;

/** The object name for an action id: `act-<uuid>`, lower-cased (a valid DNS subdomain). */
export function agentActionName(actionId: string): string {
  return `act-${actionId.toLowerCase()}`;
}
