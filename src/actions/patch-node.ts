import { z } from 'zod';
import { NodeTarget } from './node-identity.ts';

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

/**
 * patch_node: labels and annotations are merged (a null value removes the key); taints
 * listed are added or replaced by key+effect, and `removeTaints` removes by key+effect.
 * Nothing else on the Node can be changed by this action.
 */
export const PatchNodePayload = NodeTarget.extend({
  labels: z.record(LabelKey, LabelValue.nullable()).optional(),
  annotations: z.record(LabelKey, z.string().max(262_144).nullable()).optional(),
  taints: z.array(Taint).max(64).optional(),
  removeTaints: z
    .array(Taint.pick({ key: true, effect: true }))
    .max(64)
    .optional(),
}).refine((p) => p.labels || p.annotations || p.taints || p.removeTaints, {
  message: 'patch_node needs at least one of labels, annotations, taints, removeTaints',
});
export type PatchNodePayload = z.infer<typeof PatchNodePayload>;
