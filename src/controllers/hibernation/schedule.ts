/**
 * The schedule function: what a weekly matrix says at an instant, and when that changes next.
 *
 * Rule: slot = weekday * 24 + hour of the local wall clock in the schedule's time zone
 * (Monday 00:00 local = slot 0). A slot is in force exactly while the wall clock shows its
 * hour. So across daylight-saving changes:
 * - spring forward (Europe/Berlin 02:00 -> 03:00): the skipped hour's slot is never in force
 *   that day; the clock goes from slot ...01 straight to ...03.
 * - fall back (Berlin 03:00 -> 02:00): the repeated hour's slot is in force twice, two real
 *   hours in a row.
 * - zones whose offset or shift is not a whole hour (Asia/Kolkata +05:30, Asia/Kathmandu
 *   +05:45, Australia/Lord_Howe's 30-minute shift) need nothing special: a slot begins when
 *   the wall clock reaches its hour, which is :30 or :15 past a UTC hour there, and a
 *   30-minute shift can start or end a slot at the shift itself.
 */

import {
  HOURS_PER_DAY,
  isConstantMatrix,
  SLOTS_PER_WEEK,
  slotLabel,
  type WeekMatrix,
} from '../../crds/hibernation-matrix.ts';
import { readWallClock, type WallClock } from '../../util/wall-clock.ts';

export type SleepState = 'asleep' | 'awake';

/** Holds a state regardless of the schedule until `until` (exclusive). */
export interface ScheduleOverride {
  state: SleepState;
  until: Date;
}

export interface Evaluation {
  state: SleepState;
  /** The schedule's slot at the instant (also while an override holds the state). */
  slot: number;
  /** The first instant after the evaluated one at which `state` differs; undefined: never. */
  nextTransition: Date | undefined;
  /** Whether the schedule or an override decided `state`. */
  source: 'schedule' | 'override';
  /** One line for status, events and logs. */
  reason: string;
}

const HOUR_MS = 3_600_000;
// A state change is at most about two weeks away for a non-constant matrix: every local hour
// occurs in any week, except one that a daylight-saving gap (or a skipped day, like
// Pacific/Apia's 30 December 2011) removes, and that one comes back the week after.
const SEARCH_LIMIT_MS = 22 * 24 * HOUR_MS;

/** The slot of a wall-clock reading. */
function slotOf(clock: WallClock): number {
  return clock.weekday * HOURS_PER_DAY + clock.hour;
}

/** The schedule's slot at an instant. */
export function slotAt(instant: Date, timeZone: string): number {
  return slotOf(readWallClock(instant.getTime(), timeZone));
}

/**
 * The next instant after `fromMs` at which the wall-clock hour may change, with the reading
 * there: the next HH:00 on the wall clock if the offset stays, or else the instant the offset
 * changes (where the wall clock jumps). Assumes a zone's offset does not change twice within
 * one hour, which holds for the whole tz database.
 */
function nextHourBoundary(fromMs: number, at: WallClock, timeZone: string): { ms: number; clock: WallClock } {
  const nextWallHour = (Math.floor(at.wallMs / HOUR_MS) + 1) * HOUR_MS;
  const candidateMs = nextWallHour - at.offsetMs;
  const candidate = readWallClock(candidateMs, timeZone);
  if (candidate.offsetMs === at.offsetMs) return { ms: candidateMs, clock: candidate };
  // The offset changes in (fromMs, candidateMs]: binary search for the first millisecond with
  // the new offset (about 22 steps for an hour).
  let before = fromMs;
  let after = candidateMs;
  let afterClock = candidate;
  while (after - before > 1) {
    const middle = before + Math.floor((after - before) / 2);
    const clock = readWallClock(middle, timeZone);
    if (clock.offsetMs === at.offsetMs) {
      before = middle;
    } else {
      after = middle;
      afterClock = clock;
    }
  }
  return { ms: after, clock: afterClock };
}

/**
 * The first instant after `after` at which the matrix's state differs from its state at
 * `after`; undefined for a constant matrix. Walks the local hour boundaries (converted to
 * instants, gaps and repeats included), not minutes.
 */
export function nextScheduleChange(matrix: WeekMatrix, timeZone: string, after: Date): Date | undefined {
  assertMatrix(matrix);
  if (isConstantMatrix(matrix)) return undefined;
  const startMs = after.getTime();
  let ms = startMs;
  let clock = readWallClock(ms, timeZone);
  const asleep = matrix[slotOf(clock)];
  while (ms - startMs <= SEARCH_LIMIT_MS) {
    ({ ms, clock } = nextHourBoundary(ms, clock, timeZone));
    if (matrix[slotOf(clock)] !== asleep) return new Date(ms);
  }
  // Unreachable for a non-constant matrix (see SEARCH_LIMIT_MS); fail loudly rather than
  // report "never".
  throw new Error(`no schedule change within ${SEARCH_LIMIT_MS / HOUR_MS} hours of ${after.toISOString()}`);
}

function assertMatrix(matrix: WeekMatrix): void {
  if (matrix.length !== SLOTS_PER_WEEK) {
    throw new RangeError(`a matrix has ${SLOTS_PER_WEEK} slots, got ${matrix.length}`);
  }
}

function stateOf(asleep: boolean | undefined): SleepState {
  return asleep === true ? 'asleep' : 'awake';
}

/**
 * What the schedule says at `instant`: the state, the slot, and when the state changes next.
 * An override holds its state while instant < override.until; at `until` the schedule decides
 * again (so the next transition is `until` when the schedule then says otherwise, or the
 * schedule's first change after `until`). An override whose `until` has passed is ignored.
 * Throws RangeError for an invalid instant, matrix or time zone.
 */
export function evaluate(
  matrix: WeekMatrix,
  timeZone: string,
  instant: Date,
  override?: ScheduleOverride,
): Evaluation {
  assertMatrix(matrix);
  const slot = slotAt(instant, timeZone);
  const scheduled = stateOf(matrix[slot]);
  const where = `${slotLabel(slot)} in ${timeZone}`;
  if (override !== undefined && instant.getTime() < override.until.getTime()) {
    const scheduledAtEnd = stateOf(matrix[slotAt(override.until, timeZone)]);
    const nextTransition =
      scheduledAtEnd !== override.state
        ? override.until
        : nextScheduleChange(matrix, timeZone, override.until);
    return {
      state: override.state,
      slot,
      nextTransition,
      source: 'override',
      reason: `overridden ${override.state} until ${override.until.toISOString()} (the schedule says ${scheduled} at ${where})`,
    };
  }
  const always = isConstantMatrix(matrix) ? `; the schedule is always ${scheduled}` : '';
  const expired =
    override !== undefined ? ` (override ${override.state} ended ${override.until.toISOString()})` : '';
  return {
    state: scheduled,
    slot,
    nextTransition: nextScheduleChange(matrix, timeZone, instant),
    source: 'schedule',
    reason: `${where} is ${scheduled === 'asleep' ? 'a sleep' : 'an awake'} hour${always}${expired}`,
  };
}
