/**
 * Maintenance windows in wall-clock time of an IANA time zone, evaluated with Intl so that
 * they follow DST: a window 01:00-05:00 Europe/Berlin is open from 01:00 to 05:00 local
 * time on every listed day, whatever the UTC offset that day (3 or 5 hours long on the
 * days the clocks change). A window whose `to` is not after `from` crosses midnight and
 * belongs to the day it starts on. An unknown time zone keeps the window closed; so does a
 * fixed UTC offset like "+05:30" (util/wall-clock.ts isIanaTimeZone: IANA names only, for
 * maintenance windows and hibernation schedules alike).
 */
import type { MaintenanceWindow, Weekday } from '../../crds/agent-policy.ts';
import { isIanaTimeZone, readWallClock } from '../../util/wall-clock.ts';

const weekdays: readonly Weekday[] = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const minuteMs = 60_000;
const dayMs = 86_400_000;

/** Local calendar date and time of an instant in a zone. */
export interface WallClock {
  year: number;
  /** 1-12 */
  month: number;
  day: number;
  weekday: Weekday;
  /** Minutes since local midnight, 0-1439. */
  minutes: number;
}

export function wallClock(instant: Date, timeZone: string): WallClock {
  const local = new Date(readWallClock(instant.getTime(), timeZone).wallMs);
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    weekday: weekdays[(local.getUTCDay() + 6) % 7] as Weekday,
    minutes: local.getUTCHours() * 60 + local.getUTCMinutes(),
  };
}

/**
 * The first instant at which the zone's wall clock reads the given local time (ms since
 * epoch of that local time taken as UTC). Ambiguous times (clocks going back) give the
 * earlier instant; times skipped by a DST gap give the instant the clocks jump.
 */
export function localToInstant(localMs: number, timeZone: string): number {
  const offsetAt = (ms: number) => readWallClock(ms, timeZone).offsetMs;
  const localAsUtcMs = (ms: number) => readWallClock(ms, timeZone).wallMs;
  // Offsets a day either side: zones change offset at most once within two days.
  const candidates = [localMs - offsetAt(localMs - dayMs), localMs - offsetAt(localMs + dayMs)];
  const exact = candidates.filter((c) => localAsUtcMs(c) === localMs);
  if (exact.length > 0) return Math.min(...exact);
  // A gap: search the jump between the two candidates, to the minute.
  let lo = Math.min(...candidates);
  let hi = Math.max(...candidates);
  while (hi - lo > minuteMs) {
    const mid = lo + Math.floor((hi - lo) / 2 / minuteMs) * minuteMs;
    if (localAsUtcMs(mid) >= localMs) hi = mid;
    else lo = mid;
  }
  return hi;
}

export function parseClock(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

function previousWeekday(day: Weekday): Weekday {
  return weekdays[(weekdays.indexOf(day) + 6) % 7] as Weekday;
}

/** True when `now` is inside the window (from inclusive, to exclusive). */
export function isInsideWindow(window: MaintenanceWindow, now: Date): boolean {
  const timeZone = window.timezone ?? 'UTC';
  if (!isIanaTimeZone(timeZone)) return false;
  const clock = wallClock(now, timeZone);
  const from = parseClock(window.from);
  const to = parseClock(window.to);
  if (from < to) return window.days.includes(clock.weekday) && clock.minutes >= from && clock.minutes < to;
  // Crosses midnight: the evening part on a listed day, the morning part the day after one.
  return (
    (window.days.includes(clock.weekday) && clock.minutes >= from) ||
    (window.days.includes(previousWeekday(clock.weekday)) && clock.minutes < to)
  );
}

/** The next instant after `now` at which the window opens, or undefined (bad zone, no days). */
export function nextWindowStart(window: MaintenanceWindow, now: Date): Date | undefined {
  const timeZone = window.timezone ?? 'UTC';
  if (!isIanaTimeZone(timeZone) || window.days.length === 0) return undefined;
  const today = wallClock(now, timeZone);
  const from = parseClock(window.from);
  const midnight = Date.UTC(today.year, today.month - 1, today.day);
  for (let offset = 0; offset <= 8; offset++) {
    const dayStart = midnight + offset * dayMs;
    const weekday = weekdays[(new Date(dayStart).getUTCDay() + 6) % 7] as Weekday;
    if (!window.days.includes(weekday)) continue;
    const start = localToInstant(dayStart + from * minuteMs, timeZone);
    if (start > now.getTime()) return new Date(start);
  }
  return undefined;
}
