/**
 * Pieces shared by the clusteropt.io CRDs: the API group, Kubernetes' standard shapes
 * (metav1.Condition, metav1.LabelSelector) and helpers to attach Kubernetes-only schema
 * keywords (CEL rules, list types) to zod schemas through `.meta()`, which z.toJSONSchema
 * copies into the generated schema.
 */
import { z } from 'zod';

export const apiGroup = 'clusteropt.io';
export const apiVersionName = 'v1alpha1';
export const apiVersion = `${apiGroup}/${apiVersionName}`;

/** One CEL rule as `x-kubernetes-validations` wants it. */
export interface CelRule {
  rule: string;
  message: string;
  /** Field path the error is reported on, relative to the schema node (e.g. `.days`). */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** Metadata for `.meta()` that adds CEL validation rules to a schema node. */
export function cel(...rules: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': rules };
}

/** RFC 3339 timestamp; `format: date-time`, which CEL sees as a timestamp. */
export const Timestamp = z.iso.datetime({ offset: true });

/** A label key or value list entry; bounded so CEL cost estimates stay small. */
const LabelKey = z.string().min(1).max(317);
const LabelValue = z.string().max(63);

export const LabelSelectorRequirement = z
  .object({
    key: LabelKey,
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
    values: z.array(LabelValue).max(64).optional(),
  })
  // The agent checks what the CEL rule below makes the API server check.
  .refine((r) => (r.operator === 'In' || r.operator === 'NotIn') === (r.values?.length ?? 0) > 0, {
    message: 'operators In and NotIn need at least one value; Exists and DoesNotExist take none',
  })
  .meta(
    cel({
      rule: "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) : (!has(self.values) || size(self.values) == 0)",
      message: 'operators In and NotIn need at least one value; Exists and DoesNotExist take none',
    }),
  );
export type LabelSelectorRequirement = z.infer<typeof LabelSelectorRequirement>;

/** metav1.LabelSelector: both parts are ANDed; an empty selector matches everything. */
export const LabelSelector = z.object({
  matchLabels: z.record(LabelKey, LabelValue).optional(),
  matchExpressions: z.array(LabelSelectorRequirement).max(32).optional(),
});
export type LabelSelector = z.infer<typeof LabelSelector>;

/** metav1.Condition, with the bounds and patterns Kubernetes' own types declare. */
export const Condition = z.object({
  type: z
    .string()
    .min(1)
    .max(316)
    .regex(
      /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/,
    ),
  status: z.enum(['True', 'False', 'Unknown']),
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: Timestamp,
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/),
  message: z.string().max(32_768),
});
export type Condition = z.infer<typeof Condition>;

/** `conditions` as a map-list keyed by type, like every built-in API. */
export const Conditions = z
  .array(Condition)
  .max(16)
  .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });

/**
 * Object metadata as CRD schemas declare it: only `type: object`; the API server owns the
 * rest. For parsing, the fields the agent reads.
 */
export const ObjectMeta = z.looseObject({
  name: z.string().optional(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.int().optional(),
  creationTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
