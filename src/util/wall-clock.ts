/**
 * Reading an instant on the wall clock of an IANA time zone, through Intl: Node's full ICU
 * carries the tz database, so the agent needs no time-zone package and no network.
 */

/** What a wall clock in some zone shows at one instant. */
export interface WallClock {
  /** 0 = Monday ... 6 = Sunday (the schedule's week starts on Monday). */
  weekday: number;
  /** 0..23 */
  hour: number;
  /** 0..59 */
  minute: number;
  /** The wall-clock reading written as if it were UTC, in ms: the base of offset arithmetic. */
  wallMs: number;
  /** wallMs - instant: the zone's UTC offset at that instant, in ms (whole seconds). */
  offsetMs: number;
}

// Building a DateTimeFormat costs far more than using one; a zone's formatter is reused for
// the life of the process (there are a few hundred zones at most).
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      // h23, not hour12: false, which some ICU versions render as "24" at midnight.
      hourCycle: 'h23',
      era: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** Reads `instantMs` (ms since the epoch) on the wall clock of `timeZone`. Throws RangeError for an unknown zone. */
export function readWallClock(instantMs: number, timeZone: string): WallClock {
  if (!Number.isFinite(instantMs)) throw new RangeError(`invalid instant: ${instantMs}`);
  let year = 0;
  let month = 0;
  let day = 0;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let beforeCommonEra = false;
  for (const part of formatterFor(timeZone).formatToParts(instantMs)) {
    switch (part.type) {
      case 'era':
        beforeCommonEra = part.value === 'BC';
        break;
      case 'year':
        year = Number(part.value);
        break;
      case 'month':
        month = Number(part.value);
        break;
      case 'day':
        day = Number(part.value);
        break;
      case 'hour':
        hour = Number(part.value);
        break;
      case 'minute':
        minute = Number(part.value);
        break;
      case 'second':
        second = Number(part.value);
        break;
    }
  }
  // Era years count 1 BC, 2 BC, ...; astronomical years 0, -1, ... (Date.UTC's convention).
  const astronomicalYear = beforeCommonEra ? 1 - year : year;
  const date = new Date(0);
  date.setUTCFullYear(astronomicalYear, month - 1, day);
  date.setUTCHours(hour, minute, second, 0);
  // The formatter drops milliseconds; the instant's own are the wall clock's too, since offsets
  // are whole seconds.
  const wallMs = date.getTime() + (((instantMs % 1000) + 1000) % 1000);
  return {
    weekday: (date.getUTCDay() + 6) % 7,
    hour,
    minute,
    wallMs,
    offsetMs: wallMs - instantMs,
  };
}

// IANA names: Area/Location[/Sub] plus legacy single names (UTC, EST5EDT). Rejects the UTC
// offsets ("+05:30") that newer Intl versions also accept, so a schedule always follows a
// zone's daylight-saving rules rather than a fixed offset someone typed.
export const ianaTimeZonePattern = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;

/** True when `name` is an IANA time zone name this process's tz database knows. */
export function isIanaTimeZone(name: string): boolean {
  if (name.length > 64 || !ianaTimeZonePattern.test(name)) return false;
  try {
    formatterFor(name);
    return true;
  } catch {
    return false;
  }
}
