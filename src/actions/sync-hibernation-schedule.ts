import { z } from 'zod';

const Weekday = z.enum(['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']);
const Clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$|^24:00$/, 'must be HH:MM');

/** One hibernation window: asleep on `days` from `from` to `to` (local time). */
export const HibernationWindow = z.strictObject({
  days: z.array(Weekday).min(1).max(7),
  from: Clock,
  to: Clock,
});

const LabelSelector = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z
    .array(
      z.strictObject({
        key: z.string(),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});

/**
 * sync_hibernation_schedule: create or update the HibernationSchedule `name`. The matrix is
 * the control plane's 168 slots (7 days x 24 hours, Monday 00:00 first; true = asleep),
 * as booleans or a string of 0/1.
 */
export const SyncHibernationSchedulePayload = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/),
    timezone: z.string().min(1).max(64),
    matrix: z.union([z.array(z.boolean()).length(168), z.string().regex(/^[01]{168}$/)]).optional(),
    windows: z.array(HibernationWindow).min(1).max(64).optional(),
    namespaceSelector: LabelSelector.optional(),
    workloadSelector: LabelSelector.optional(),
    exclude: z
      .array(
        z.strictObject({ namespace: z.string(), kind: z.string().optional(), name: z.string().optional() }),
      )
      .optional(),
    suspended: z.boolean().optional(),
  })
  .refine((p) => (p.matrix === undefined) !== (p.windows === undefined), {
    message: 'exactly one of matrix or windows is required',
  });
export type SyncHibernationSchedulePayload = z.infer<typeof SyncHibernationSchedulePayload>;
