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
 * Monday 00:00 first, true = asleep), and that the control plane must name the namespaces:
 * its namespaceSelector is required and may not be empty, so a schedule from the control
 * plane never means "every namespace" (an admin may still write `{}` in a CR by hand). The
 * controller's own limits apply on top (system namespaces, AgentPolicy protectedNamespaces,
 * do-not-disrupt). specFromSyncPayload turns a payload into the spec.
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
    namespaceSelector: LabelSelector.refine(
      (s) => Object.keys(s.matchLabels ?? {}).length + (s.matchExpressions?.length ?? 0) > 0,
      'must name the namespaces (matchLabels or matchExpressions, e.g. kubernetes.io/metadata.name In [...]): a schedule from the control plane never selects every namespace',
    ),
  })
  .superRefine(requireMatrixOrWindows);
export type SyncHibernationSchedulePayload = z.infer<typeof SyncHibernationSchedulePayload>;

/** The HibernationSchedule spec a (validated) payload asks for. */
export function specFromSyncPayload(payload: SyncHibernationSchedulePayload): HibernationScheduleSpec {
  const { name: _name, matrix, ...rest } = payload;
  const spec: HibernationScheduleSpec = { ...rest };
  if (matrix !== undefined) spec.matrix = matrixToString(normalizeMatrix(matrix));
  return spec;
}
