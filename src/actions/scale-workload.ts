import { z } from 'zod';

const DnsLabel = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be an RFC 1123 label');

/**
 * scale_workload: set replicas through the scale subresource. `kind` is Deployment,
 * StatefulSet, ReplicaSet, or `Kind.group` for any resource whose discovery lists /scale.
 * expectedReplicas is a precondition: if the current count differs, the action fails with a
 * conflict instead of overwriting someone else's change.
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
