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

/**
 * Why the live node is not the one the action means, or undefined when it is. A missing
 * providerID on the node does not match a given providerId: an action that names a machine
 * never touches a node that cannot prove it is that machine.
 */
export function nodeIdentityMismatch(
  node: { metadata?: { uid?: string }; spec?: { providerID?: string } },
  target: NodeTarget,
): string | undefined {
  const problems: string[] = [];
  if (target.nodeUid !== undefined && node.metadata?.uid !== target.nodeUid) {
    problems.push(`uid is ${node.metadata?.uid ?? 'unset'}, action expects ${target.nodeUid}`);
  }
  if (target.providerId !== undefined && node.spec?.providerID !== target.providerId) {
    problems.push(`providerID is ${node.spec?.providerID ?? 'unset'}, action expects ${target.providerId}`);
  }
  return problems.length
    ? `node ${target.nodeName} is not the node this action targets: ${problems.join('; ')}`
    : undefined;
}
