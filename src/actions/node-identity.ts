import { z } from 'zod';

/** A Kubernetes object name (RFC 1123 subdomain, as Node names are). */
export const NodeName = z
  .string()
  .min(1)
  .max(253)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    'must be an RFC 1123 subdomain',
  );

/**
 * Which node an action means. providerId and nodeUid, when given, are checked against the
 * live Node before anything is changed, so a node name reused by a new machine is never
 * touched by an action meant for the old one.
 */
export const NodeTarget = z.strictObject({
  nodeName: NodeName,
  providerId: z.string().min(1).max(1024).optional(),
  nodeUid: z.uuid().optional(),
});
export type NodeTarget = z.infer<typeof NodeTarget>;
