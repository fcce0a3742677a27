/**
 * AgentPolicy (clusteropt.io/v1alpha1, cluster-scoped, short name `apol`): an admin's
 * guardrails for the agent. Every field is optional and an absent field takes its narrow
 * built-in default (src/controllers/policy/defaults.ts), so widening is always a field an
 * admin wrote; no AgentPolicy at all acts as one policy of all defaults. Several policies
 * combine and the most restrictive wins (src/controllers/policy/decide.ts, docs/policy.md).
 */
import { z } from 'zod';
import { ActionType } from './agent-action.ts';
import { apiVersion, Conditions, cel, LabelSelector, ObjectMeta } from './common.ts';

export const agentPolicyKind = 'AgentPolicy';
export const agentPolicyPlural = 'agentpolicies';

export const Weekday = z.enum(['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']);
export type Weekday = z.infer<typeof Weekday>;

const fromPattern = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;
const toPattern = /^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$/;

/**
 * A window in which disruptive actions may start: on each of `days`, from `from` to `to`
 * wall-clock time in `timezone`. `to` earlier than `from` crosses midnight (the window
 * belongs to the day it starts on). The formats are checked by CEL (clear messages from
 * the API server) and by zod refinements (which do not appear in the generated schema).
 */
export const MaintenanceWindow = z
  .object({
    days: z
      .array(Weekday)
      .max(7)
      .refine((d) => d.length > 0, 'days must not be empty')
      .meta({ 'x-kubernetes-list-type': 'set' }),
    from: z
      .string()
      .max(5)
      .refine((s) => fromPattern.test(s), 'from must be HH:MM between 00:00 and 23:59'),
    to: z
      .string()
      .max(5)
      .refine((s) => toPattern.test(s), 'to must be HH:MM between 00:00 and 24:00'),
    timezone: z
      .string()
      .min(1)
      .max(64)
      .default('UTC')
      .describe('IANA time zone name, e.g. Europe/Berlin. An unknown zone keeps the window closed.'),
  })
  .refine((w) => w.from !== w.to, 'from and to must differ')
  .meta(
    cel(
      { rule: 'size(self.days) > 0', message: 'days must not be empty', fieldPath: '.days' },
      {
        rule: `self.from.matches('${fromPattern.source}')`,
        message: 'from must be HH:MM between 00:00 and 23:59',
        fieldPath: '.from',
      },
      {
        rule: `self.to.matches('${toPattern.source}')`,
        message: 'to must be HH:MM between 00:00 and 24:00',
        fieldPath: '.to',
      },
      { rule: 'self.from != self.to', message: 'from and to must differ' },
    ),
  );
export type MaintenanceWindow = z.infer<typeof MaintenanceWindow>;

export const DrainLimits = z.object({
  maxGracePeriodSeconds: z
    .int()
    .min(0)
    .max(86_400)
    .optional()
    .describe(
      'Upper bound for the grace period given to evicted pods; longer requests are clamped. Default: none.',
    ),
  minGracePeriodSeconds: z
    .int()
    .min(0)
    .max(86_400)
    .optional()
    .describe(
      'Lower bound for a grace period an action asks for (a pod whose own is shorter keeps its own; never above maxGracePeriodSeconds). Default 30.',
    ),
  allowForce: z
    .boolean()
    .optional()
    .describe(
      "kubectl drain's --force: a drain may evict pods no controller manages (and pods of a deleted DaemonSet). Default false: drains asking for force are refused, and so is a patch_node whose NoExecute taint would evict such a pod.",
    ),
  allowForceDeleteAtBudgetEnd: z
    .boolean()
    .optional()
    .describe(
      'A drain asking for forceDeleteAtBudgetEnd may delete the pods a PodDisruptionBudget still protects when its time budget ends (each with its own grace period). Default false: such drains are refused, and so is a patch_node whose NoExecute taint would evict any pod (a taint asks no PodDisruptionBudget).',
    ),
});
export type DrainLimits = z.infer<typeof DrainLimits>;

export const Approval = z.enum(['none', 'required']);

/** `N` nodes or `N%` of all nodes (rounded up, at least 1). */
export const NodeCount = z
  .union([z.int().min(0).max(100_000), z.string().regex(/^(100|[1-9]?[0-9])%$/)])
  .meta({
    'x-kubernetes-int-or-string': true,
    ...cel({
      rule: "type(self) == string ? self.matches('^(100|[1-9]?[0-9])%$') : int(self) >= 0",
      message: 'must be a number of nodes or a percentage like "10%"',
    }),
  });
export type NodeCount = z.infer<typeof NodeCount>;

export const ScaleLimits = z.object({
  maxReplicas: z
    .int()
    .min(0)
    .max(100_000)
    .optional()
    .describe('scale_workload never scales a workload up above this many replicas. Default 100.'),
  maxScaleUpFactor: z
    .number()
    .min(1)
    .max(10_000)
    .optional()
    .describe(
      'scale_workload never scales up to more than this times the current replicas (a workload at 0 counts as 1). Default 2.',
    ),
});
export type ScaleLimits = z.infer<typeof ScaleLimits>;

export const PatchNodeLimits = z.object({
  allowedReservedKeys: z
    .array(z.string().min(1).max(317))
    .max(64)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'set' })
    .describe(
      'Label, annotation and taint keys under kubernetes.io or k8s.io (and their subdomains) that patch_node may change. Default: none.',
    ),
});
export type PatchNodeLimits = z.infer<typeof PatchNodeLimits>;

export const AgentPolicySpec = z.object({
  description: z.string().max(1024).optional(),
  allowedActionTypes: z
    .array(ActionType)
    .max(32)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'set' })
    .describe('Action types the agent may run; absent: all. An empty list allows none.'),
  protectedNamespaces: z
    .array(z.string().min(1).max(63))
    .max(256)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'set' })
    .describe('Workloads in these namespaces are never scaled, nor their pods evicted by a drain.'),
  protectSystemNamespaces: z
    .boolean()
    .optional()
    .describe(
      "kube-system, kube-public, kube-node-lease and the agent's own namespace: their workloads are never scaled or put to sleep, their pods never force-deleted nor evicted by a NoExecute taint. Default true.",
    ),
  protectedNodeSelector: LabelSelector.optional().describe('Nodes matching this are never changed.'),
  protectControlPlaneNodes: z
    .boolean()
    .optional()
    .describe(
      'Nodes labelled node-role.kubernetes.io/control-plane (or /master) are never changed. Default true.',
    ),
  protectedWorkloadSelector: LabelSelector.optional().describe(
    'Workloads (and pods) with matching labels are never scaled or evicted.',
  ),
  maxConcurrentDisruptiveActions: z
    .int()
    .min(0)
    .max(10_000)
    .optional()
    .describe(
      'Disruptive actions (cordon, drain, delete node, an evicting patch_node) running at once; 0 pauses them. Default 10.',
    ),
  maxUnavailableNodes: NodeCount.optional().describe(
    'A disruptive action waits if it would make more nodes NotReady or unschedulable than this: a number, or a percentage of all nodes (rounded up, at least 1). Default "10%".',
  ),
  maintenanceWindows: z
    .array(MaintenanceWindow)
    .max(64)
    .refine((w) => w.length > 0, 'maintenanceWindows must not be empty; remove the field to allow any time')
    .optional()
    .meta(
      cel({
        rule: 'size(self) > 0',
        message: 'maintenanceWindows must not be empty; remove the field to allow any time',
      }),
    )
    .describe('Disruptive actions only start inside one of these windows; absent: any time.'),
  dryRun: z
    .boolean()
    .optional()
    .describe(
      'true: actions are planned, never executed: they end Rejected with the plan in status.plan and in the result (result.dryRun, result.plan).',
    ),
  paused: z
    .boolean()
    .optional()
    .describe(
      'true: no action starts (kubectl clusteropt pause); every action not yet running waits Pending until no policy is paused. Running actions finish.',
    ),
  approval: Approval.optional().describe(
    `required: every action waits until an admin sets the annotation clusteropt.io/approved: "true" on it.`,
  ),
  requireApprovalFor: z
    .array(ActionType)
    .max(32)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'set' })
    .describe('Action types that wait for approval (as with approval: required). Default [delete_node].'),
  drain: DrainLimits.optional(),
  scale: ScaleLimits.optional(),
  patchNode: PatchNodeLimits.optional(),
});
export type AgentPolicySpec = z.infer<typeof AgentPolicySpec>;

export const AgentPolicyStatus = z.object({
  observedGeneration: z.int().min(0).optional(),
  conditions: Conditions.optional(),
});

export const AgentPolicy = z.object({
  apiVersion: z.literal(apiVersion),
  kind: z.literal(agentPolicyKind),
  metadata: ObjectMeta.extend({ name: z.string() }),
  spec: AgentPolicySpec,
  status: AgentPolicyStatus.optional(),
});
export type AgentPolicy = z.infer<typeof AgentPolicy>;
