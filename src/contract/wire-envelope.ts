import { z } from 'zod';

/**
 * The parts of the contract that do not depend on the action payload schemas. They live
 * apart from envelope.ts so that code which only moves envelopes (the reference control
 * plane, its CLI, reports.ts) does not load every action module and, through them, the
 * Kubernetes client (several seconds of start-up on a busy machine).
 */
export const Timestamp = z.iso.datetime({ offset: true });

/**
 * The envelope as it travels: the payload is not yet checked. The agent parses it in two
 * steps so that a bad payload can still be rejected by id (see parseEnvelope).
 */
export const WireEnvelope = z.object({
  id: z.uuid(),
  type: z.string().min(1).max(64),
  payload: z.unknown(),
  createdAt: Timestamp,
  expiresAt: Timestamp.optional(),
  deadline: Timestamp.optional(),
});
export type WireEnvelope = z.infer<typeof WireEnvelope>;

/** Formats zod issues as one line: `payload.nodeName: must be an RFC 1123 subdomain; ...`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 10)
    .map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`)
    .join('; ');
}
