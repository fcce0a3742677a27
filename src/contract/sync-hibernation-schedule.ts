import { z } from 'zod';
import { LabelSelector } from '../crds/common.ts';
import { matrixToString, normalizeMatrix } from '../crds/hibernation-matrix.ts';
import {
  type HibernationScheduleSpec,
  HibernationWindows,
  hibernationTargetFields,
  MatrixString,
  requireMatrixOrWindows,
  TimeZoneName,
} from '../crds/hibernation-schedule.ts';

/**
 * sync_hibernation_schedule: create or update the HibernationSchedule `name` (cluster-scoped).
 * The fields are the CR's spec (src/crds/hibernation-schedule.ts), except that the matrix
 * may also be the control plane's 168 booleans or 0/1 integers (`hibernation_schedules.schedule_matrix`,
 * Monday 00:00 first, true = asleep), and namespaceSelector may be left out: the seed's
 * schedules have no selectors (one matrix per cluster), so absent means the whole cluster,
 * `{}`, with the controller's own limits (system namespaces, policy, do-not-disrupt). A CR
 * written by hand must say `{}` explicitly. specFromSyncPayload turns a payload into the spec.
 */
export const SyncHibernationSchedulePayload = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/),
    timezone: TimeZoneName,
    // schedule_matrix is a JSONB array: true/false, or 1/0 as some writers store it.
    matrix: z
      .union([z.array(z.union([z.boolean(), z.literal(0), z.literal(1)])).length(168), MatrixString])
      .optional(),
    windows: HibernationWindows.optional(),
    ...hibernationTargetFields,
    namespaceSelector: LabelSelector.optional(),
  })
  .superRefine(requireMatrixOrWindows);
export type SyncHibernationSchedulePayload = z.infer<typeof SyncHibernationSchedulePayload>;

/** The HibernationSchedule spec a (validated) payload asks for. */
export function specFromSyncPayload(payload: SyncHibernationSchedulePayload): HibernationScheduleSpec {
  const { name: _name, matrix, namespaceSelector, ...rest } = payload;
  const spec: HibernationScheduleSpec = { ...rest, namespaceSelector: namespaceSelector ?? {} };
  if (matrix !== undefined) spec.matrix = matrixToString(normalizeMatrix(matrix));
  return spec;
}
