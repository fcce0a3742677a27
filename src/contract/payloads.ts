/**
 * The payload schema of every node and workload action type (contract/envelope.ts lists them
 * by type; the executors in src/actions/ run them). Pure zod: nothing here talks to a cluster.
 */
import { z } from 'zod';
import { agentOwnedAnnotations, agentOwnedTaintKeys } from './marks.ts';
import { NodeTarget } from './node-identity.ts';

/** cordon_node: mark the node unschedulable (spec.unschedulable=true). */
export const CordonNodePayload = NodeTarget;

/** uncordon_node: undo what the agent's cordon or drain added, nothing else. */
export const UncordonNodePayload = NodeTarget;

/** drain_node: cordon, then evict pods with kubectl drain's rules (see docs/drain.md). */
export const DrainNodePayload = NodeTarget.extend({
  timeoutSeconds: z.int().min(1).max(86_400),
  gracePeriodSeconds: z.int().min(0).max(86_400).optional(),
  /** kubectl drain's --force: pods no controller manages (and of a deleted DaemonSet) may be evicted. */
  force: z.boolean().default(false),
  /**
   * When the budget ends, delete the pods still there (a PodDisruptionBudget kept them), each
   * with its own grace period. Only where an AgentPolicy enables it by name.
   */
  forceDeleteAtBudgetEnd: z.boolean().default(false),
  deleteEmptyDirData: z.boolean().default(false),
  ignoreDaemonSets: z.boolean().default(true),
  deadline: z.iso.datetime({ offset: true }).optional(),
  /** kubectl's --skip-wait-for-delete-timeout: pods whose deletion is older than this are not waited for. */
  skipWaitForDeleteTimeoutSeconds: z.int().min(0).max(86_400).optional(),
});
export type DrainNodePayload = z.infer<typeof DrainNodePayload>;

/** delete_node: drain with the same options, then delete the Node with a UID precondition. */
export const DeleteNodePayload = DrainNodePayload;

const DnsLabel = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be an RFC 1123 label');

/**
 * scale_workload: set replicas through the scale subresource. `kind` is Deployment,
 * StatefulSet, ReplicaSet, ReplicationController, or `Kind.group` for any resource whose
 * discovery lists /scale. expectedReplicas is a precondition: if the current count differs,
 * the action fails with a conflict instead of overwriting someone else's change.
 */
export const ScaleWorkloadPayload = z.strictObject({
  namespace: DnsLabel,
  kind: z
    .string()
    .min(1)
    .max(316)
    .regex(/^[A-Z][A-Za-z0-9]*(\.[a-z0-9.-]+)?$/, 'must be a Kind, optionally Kind.group'),
  name: z.string().min(1).max(253),
  replicas: z.int().min(0).max(100_000),
  expectedReplicas: z.int().min(0).max(100_000).optional(),
});
export type ScaleWorkloadPayload = z.infer<typeof ScaleWorkloadPayload>;

/** A taint's identity: key and effect (the value does not count). */
type TaintKey = { key?: string; effect?: string };
export const sameTaint = (a: TaintKey, b: TaintKey): boolean => a.key === b.key && a.effect === b.effect;

const LabelKey = z
  .string()
  .min(1)
  .max(317)
  .regex(
    /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/,
    'must be a qualified name (optional DNS prefix and "/", then up to 63 characters)',
  );
const LabelValue = z
  .string()
  .max(63)
  .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, 'must be a valid label value');

export const Taint = z.strictObject({
  key: LabelKey,
  value: LabelValue.optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
});
export type Taint = z.infer<typeof Taint>;

const TaintRef = Taint.pick({ key: true, effect: true });

/**
 * patch_node: labels and annotations are merged (a null value removes the key); taints
 * listed are added or replaced by key+effect, and `removeTaints` removes by key+effect.
 * Nothing else on the Node can be changed by this action, and neither can the agent's own
 * marks (clusteropt.io/cordoned-by, the clusteropt.io/draining taint): those belong to
 * cordon/uncordon/drain, whose bookkeeping would otherwise lie.
 */
export const PatchNodePayload = NodeTarget.extend({
  labels: z.record(LabelKey, LabelValue.nullable()).optional(),
  annotations: z.record(LabelKey, z.string().max(262_144).nullable()).optional(),
  taints: z.array(Taint).max(64).optional(),
  removeTaints: z.array(TaintRef).max(64).optional(),
})
  .refine((p) => p.labels || p.annotations || p.taints || p.removeTaints, {
    message: 'patch_node needs at least one of labels, annotations, taints, removeTaints',
  })
  .refine((p) => !Object.keys(p.annotations ?? {}).some((k) => agentOwnedAnnotations.includes(k)), {
    message: `annotations the agent keeps for its own bookkeeping cannot be patched: ${agentOwnedAnnotations.join(', ')}`,
    path: ['annotations'],
  })
  .refine(
    (p) => ![...(p.taints ?? []), ...(p.removeTaints ?? [])].some((t) => agentOwnedTaintKeys.includes(t.key)),
    {
      message: `taints owned by the agent's drain cannot be patched: ${agentOwnedTaintKeys.join(', ')}`,
      path: ['taints'],
    },
  )
  .refine((p) => !(p.taints ?? []).some((t) => (p.removeTaints ?? []).some((r) => sameTaint(t, r))), {
    message: 'a taint cannot be both set and removed',
    path: ['removeTaints'],
  });
export type PatchNodePayload = z.infer<typeof PatchNodePayload>;
