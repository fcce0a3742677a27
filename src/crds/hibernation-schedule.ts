/**
 * HibernationSchedule (clusteropt.io/v1alpha1, cluster-scoped, short name `hsched`): when the workloads a schedule
 * selects sleep (scaled to zero, CronJobs suspended) and wake (restored). These zod schemas are
 * the source of the CRD's OpenAPI schema (z.toJSONSchema): no transforms, Kubernetes-only
 * keywords (CEL rules, list types) attached with `.meta()`. Checks CEL cannot express cheaply
 * (overlapping windows, the time zone database) run in the agent, which reports a spec it
 * refuses as status.state Error.
 *
 * Objects use z.object (unknown keys stripped), not strictObject: the API server prunes unknown
 * fields anyway, and a controller reading a CR written for a newer CRD should not fail on them.
 */
import { z } from 'zod';
import { ianaTimeZonePattern, isIanaTimeZone } from '../util/wall-clock.ts';
import { apiVersion, Conditions, cel, LabelSelector, ObjectMeta, Timestamp } from './common.ts';
import { checkWindows, SLOTS_PER_WEEK, WEEKDAYS } from './hibernation-matrix.ts';

export const hibernationScheduleKind = 'HibernationSchedule';
export const hibernationSchedulePlural = 'hibernationschedules';

export const TimeZoneName = z
  .string()
  .min(1)
  .max(64)
  // The shape is checked by the API server too (a fixed offset like +05:30 is refused there);
  // whether the tz database knows the zone only the agent can say (status condition InvalidSpec).
  .regex(ianaTimeZonePattern, 'must be an IANA time zone name like Europe/Berlin, not an offset')
  .refine(isIanaTimeZone, {
    message: 'must be an IANA time zone name known to the agent, like Europe/Berlin',
  })
  .describe('IANA time zone whose local wall clock the schedule follows, e.g. Europe/Berlin.');

export const Weekday = z.enum(WEEKDAYS);

const wholeHourMessage = 'must be a whole hour HH:00: the schedule has hour granularity';
export const HibernationWindow = z
  .object({
    days: z
      .array(Weekday)
      .min(1)
      .max(7)
      .meta({ 'x-kubernetes-list-type': 'set' })
      .describe('Days on which the window starts.'),
    from: z
      .string()
      .max(5)
      .regex(/^([01]\d|2[0-3]):00$/, `${wholeHourMessage} (00:00 to 23:00)`)
      .describe('Local start, HH:00.'),
    to: z
      .string()
      .max(5)
      .regex(/^([01]\d|2[0-3]):00$|^24:00$/, `${wholeHourMessage} (00:00 to 24:00)`)
      .describe('Local end, HH:00 or 24:00; earlier than from means overnight, ending the next day.'),
  })
  .meta(
    cel({
      rule: 'self.from != self.to',
      message: 'an empty window: from equals to (a whole day is 00:00 to 24:00)',
    }),
  )
  .describe('Asleep on each of days from `from` to `to`, local time.');
export type HibernationWindow = z.infer<typeof HibernationWindow>;

/**
 * CEL for "windows must not overlap", so the API server refuses what the agent would: every
 * window-day is an interval on the 168-hour week ring (start = day * 24 + from, length
 * to - from, or 24 - from + to overnight), and two intervals on a ring overlap exactly when
 * one's start lies inside the other. So each start must lie inside exactly one interval, its
 * own. (Two days of one window never overlap: a window is at most 24 hours long.) Guarded by
 * the clock patterns so a malformed clock reports its pattern error, not a CEL one. The
 * agent's own check (checkWindows) names the windows and the hour; this one cannot.
 */
const dayIndex = `{${WEEKDAYS.map((day, i) => `'${day}': ${i}`).join(', ')}}`;
const hourOf = (clock: string) => `int(${clock}.substring(0, 2))`;
const windowLength = (w: string) =>
  `(${hourOf(`${w}.to`)} > ${hourOf(`${w}.from`)} ? ${hourOf(`${w}.to`)} - ${hourOf(`${w}.from`)} : 24 - ${hourOf(`${w}.from`)} + ${hourOf(`${w}.to`)})`;
const windowStart = (w: string, day: string) => `(${dayIndex}[${day}] * 24 + ${hourOf(`${w}.from`)})`;
const clocksWellFormed =
  "self.all(w, w.from.matches('^([01][0-9]|2[0-3]):00$') && w.to.matches('^([01][0-9]|2[0-3]|24):00$') && w.from != w.to)";
export const windowsOverlapRule =
  `!(${clocksWellFormed}) || self.all(a, a.days.all(x, self.filter(b, b.days.exists(y, ` +
  `(${windowStart('a', 'x')} - ${windowStart('b', 'y')} + 168) % 168 < ${windowLength('b')})).size() == 1))`;

export const HibernationWindows = z
  .array(HibernationWindow)
  .min(1)
  // 32, not more: the API server's cost estimate of the overlap rule below is quadratic in it
  // (64 exceeds the budget 2.2 times). Anything finer-grained fits the matrix form.
  .max(32)
  .superRefine((windows, ctx) => {
    for (const problem of checkWindows(windows)) {
      // The from/to patterns above already report clocks that are not whole hours.
      if (problem.kind === 'clock') continue;
      ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
    }
  })
  .meta(
    cel({
      rule: windowsOverlapRule,
      message: 'windows must not overlap (windows that only touch, 07:00 and 07:00, are fine)',
    }),
  );

/**
 * The spec's matrix: 168 digits 0/1, Monday 00:00 local first, 1 = asleep. Whitespace between
 * digits is allowed, so YAML can hold one line of 24 per day (a folded `>-` block). One type
 * only, because a CRD schema cannot be "array or string" (structural schemas forbid types
 * inside anyOf); the control plane's boolean arrays are converted when the CR is written.
 */
export const MatrixString = z
  .string()
  .max(1024)
  .regex(
    /^\s*(?:[01]\s*){168}$/,
    `must be ${SLOTS_PER_WEEK} digits 0 (awake) or 1 (asleep), Monday 00:00 first`,
  );

export const HibernationKind = z.enum(['Deployment', 'StatefulSet', 'CronJob']);
export type HibernationKind = z.infer<typeof HibernationKind>;

/** Matches a workload when every field it sets matches (namespace, kind, name: exact). */
export const HibernationExclusion = z
  .object({
    namespace: z.string().min(1).max(63).optional(),
    kind: HibernationKind.optional(),
    name: z.string().min(1).max(253).optional(),
  })
  .refine((e) => e.namespace !== undefined || e.kind !== undefined || e.name !== undefined, {
    message: 'an exclusion needs at least one of namespace, kind, name',
  })
  .meta(
    cel({
      rule: 'has(self.__namespace__) || has(self.kind) || has(self.name)',
      message: 'an exclusion needs at least one of namespace, kind, name',
    }),
  );
export type HibernationExclusion = z.infer<typeof HibernationExclusion>;

export const HibernationOverride = z
  .object({
    state: z.enum(['awake', 'asleep']).describe('State to hold regardless of the schedule.'),
    until: Timestamp.describe('When the override ends and the schedule decides again (exclusive).'),
    reason: z.string().max(256).optional().describe('Why, for humans (shown in events).'),
  })
  .describe('Forces a state until a time, e.g. awake for a night release; ignored once `until` has passed.');
export type HibernationOverride = z.infer<typeof HibernationOverride>;

export const defaultHibernationKinds: HibernationKind[] = ['Deployment', 'StatefulSet'];

/** The fields the spec and the control plane's sync payload share, before the matrix. */
export const hibernationTargetFields = {
  namespaceSelector: LabelSelector.describe(
    'Namespaces the schedule covers; required, `{}` selects all (system namespaces are never touched).',
  ),
  workloadSelector: LabelSelector.optional().describe('Workloads covered in those namespaces; absent: all.'),
  exclude: z.array(HibernationExclusion).max(256).optional().describe('Workloads never touched.'),
  kinds: z
    .array(HibernationKind)
    .min(1)
    .max(3)
    .meta({ 'x-kubernetes-list-type': 'set' })
    .default(defaultHibernationKinds)
    .describe('Kinds covered; default Deployment and StatefulSet.'),
  override: HibernationOverride.optional(),
  suspended: z
    .boolean()
    .default(false)
    .describe('When true the schedule does nothing and every workload it put to sleep is woken.'),
};

/** "Exactly one of matrix and windows", for the spec and the payload alike. */
export function requireMatrixOrWindows(
  value: { matrix?: unknown; windows?: unknown },
  ctx: { addIssue: (issue: { code: 'custom'; message: string; path: string[] }) => void },
): void {
  if ((value.matrix === undefined) === (value.windows === undefined)) {
    ctx.addIssue({ code: 'custom', path: [], message: 'exactly one of matrix or windows is required' });
  }
}

export const HibernationScheduleSpec = z
  .object({
    timezone: TimeZoneName,
    matrix: MatrixString.optional().describe(
      '168 digits, one per local hour of the week, Monday 00:00 first; 1 = asleep. Exclusive with windows.',
    ),
    windows: HibernationWindows.optional().describe(
      'Sleep windows that compile to the matrix; must not overlap. Exclusive with matrix.',
    ),
    ...hibernationTargetFields,
  })
  .superRefine(requireMatrixOrWindows)
  .meta(
    cel({
      rule: 'has(self.matrix) != has(self.windows)',
      message: 'exactly one of matrix or windows is required',
    }),
  );
export type HibernationScheduleSpec = z.infer<typeof HibernationScheduleSpec>;

/** Awake/Asleep as applied; Suspended: spec.suspended; Error: the spec or the last pass failed. */
export const HibernationPhase = z.enum(['Awake', 'Asleep', 'Suspended', 'Error']);
export type HibernationPhase = z.infer<typeof HibernationPhase>;

const Count = z.int().min(0).max(1_000_000);

export const HibernationScheduleStatus = z.object({
  state: HibernationPhase.optional().describe('The state last applied to the workloads.'),
  observedGeneration: z.int().min(0).optional(),
  nextTransition: Timestamp.optional().describe('When the state changes next; absent: never (or suspended).'),
  nextState: z.enum(['Awake', 'Asleep']).optional().describe('The state at nextTransition.'),
  lastTransition: Timestamp.optional().describe('When the current state was applied.'),
  summary: z.string().max(2048).optional().describe('The schedule as windows, e.g. "Mon-Fri 19:00-07:00".'),
  counts: z
    .object({
      scaled: Count.describe('Workloads put to sleep by the last sleep pass.'),
      restored: Count.describe('Workloads restored by the last wake pass.'),
      skipped: Count.describe('Workloads covered but left alone by the last pass (see events for why).'),
    })
    .optional(),
  lastError: z.string().max(32_768).optional(),
  conditions: Conditions.optional(),
});
export type HibernationScheduleStatus = z.infer<typeof HibernationScheduleStatus>;

/** A HibernationSchedule as read from the API server. */
export const HibernationSchedule = z.object({
  apiVersion: z.literal(apiVersion),
  kind: z.literal(hibernationScheduleKind),
  metadata: ObjectMeta,
  spec: HibernationScheduleSpec,
  status: HibernationScheduleStatus.optional(),
});
export type HibernationSchedule = z.infer<typeof HibernationSchedule>;

export const hibernationScheduleSingular = 'hibernationschedule';
export const hibernationScheduleShortName = 'hsched';
