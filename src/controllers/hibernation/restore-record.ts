/**
 * What a sleeping workload carries so it can be woken exactly, by any agent replica, after
 * any restart: the annotation `clusteropt.io/hibernation-restore` holds this record as JSON.
 * The cluster is the only memory (docs/hibernation.md, "Sleep and wake").
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const hibernationRestoreAnnotation = 'clusteropt.io/hibernation-restore';
/** Label on a sleeping workload naming its schedule, so a wake pass can list them (see hibernatedByValue). */
export const hibernatedByLabel = 'clusteropt.io/hibernated-by';

export const RestoreRecord = z
  .object({
    /** The HibernationSchedule that put the workload to sleep; only it wakes the workload. */
    schedule: z.string().min(1).max(253),
    /** Deployment/StatefulSet: spec.replicas before sleeping. */
    replicas: z.int().min(0).max(1_000_000).optional(),
    /** CronJob: spec.suspend before sleeping. */
    suspend: z.boolean().optional(),
    /** When it was put to sleep (RFC 3339). */
    at: z.iso.datetime({ offset: true }),
    /** The HPA that targeted the workload then, for humans and events; the HPA is not changed. */
    hpa: z.object({ name: z.string().min(1).max(253), minReplicas: z.int().min(0) }).optional(),
  })
  .refine((r) => (r.replicas === undefined) !== (r.suspend === undefined), {
    message: 'a restore record holds replicas (Deployment, StatefulSet) or suspend (CronJob)',
  });
export type RestoreRecord = z.infer<typeof RestoreRecord>;

/** The annotation value for a record. */
export function encodeRestoreRecord(record: RestoreRecord): string {
  return JSON.stringify(RestoreRecord.parse(record));
}

/**
 * Reads an annotation value. A value that is not a valid record (edited by hand, truncated)
 * comes back as a reason: the controller then leaves the workload alone and reports it, since
 * guessing replicas could scale a production workload wrongly.
 */
export function parseRestoreRecord(
  value: string,
): { ok: true; record: RestoreRecord } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return { ok: false, reason: 'the restore annotation is not JSON' };
  }
  const parsed = RestoreRecord.safeParse(json);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || 'record'}: ${i.message}`).join('; ');
    return { ok: false, reason: `the restore annotation is not a valid record: ${detail}` };
  }
  return { ok: true, record: parsed.data };
}

/**
 * The hibernated-by label value for a schedule name. Label values stop at 63 characters while
 * object names go to 253, so a longer name becomes its first 46 characters and a hash.
 */
export function hibernatedByValue(scheduleName: string): string {
  if (scheduleName.length <= 63) return scheduleName;
  const hash = createHash('sha256').update(scheduleName).digest('hex').slice(0, 16);
  return `${scheduleName.slice(0, 46).replace(/[^a-z0-9]+$/, '')}-${hash}`;
}
