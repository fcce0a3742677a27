/**
 * The weekly hibernation matrix and the windows that compile to it.
 *
 * Matrix: 168 slots, one per local wall-clock hour of a week, Monday 00:00 first
 * (slot = day * 24 + hour, day 0 = Monday); true = asleep. It is the control plane's format
 * (`hibernation_schedules.schedule_matrix`).
 *
 * Windows: `{days, from, to}` in local time. `from`/`to` are whole hours (HH:00; `to` may be
 * 24:00), because the matrix has hour granularity: validation refuses 19:30 rather than
 * rounding it, so a window means exactly the slots it compiles to. A window starts on each of
 * its `days` at `from`; when `to` is earlier than `from` it runs overnight and ends at `to`
 * on the next day (Sunday's continues into Monday).
 */

export const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export const HOURS_PER_DAY = 24;
export const SLOTS_PER_WEEK = 7 * HOURS_PER_DAY;

/** A normalised weekly matrix: exactly SLOTS_PER_WEEK booleans, true = asleep. */
export type WeekMatrix = readonly boolean[];

/** A sleep window as the spec and the control-plane payload carry it. */
export interface SleepWindow {
  days: readonly Weekday[];
  /** HH:00, 00:00..23:00 */
  from: string;
  /** HH:00, 00:00..24:00 */
  to: string;
}

/** One thing wrong with a windows list, located for a zod issue path. */
export interface WindowProblem {
  /** `clock`: from/to not a whole hour (a schema pattern may already say so). */
  kind: 'clock' | 'empty' | 'duplicate-day' | 'overlap';
  path: (string | number)[];
  message: string;
}

/** A slot as the control plane's JSONB array may hold it: a boolean or the integer 0/1. */
export type MatrixSlot = boolean | 0 | 1;

/**
 * Normalises the matrix forms the control plane and the spec use: 168 slots (booleans or
 * 0/1 integers, mixed even), or a string of 168 `0`/`1` digits (whitespace between digits
 * ignored, so a spec can write one line of 24 per day). Throws RangeError for anything else.
 */
export function normalizeMatrix(input: readonly MatrixSlot[] | string): boolean[] {
  if (typeof input === 'string') {
    const digits = input.replace(/\s+/g, '');
    if (!/^[01]*$/.test(digits) || digits.length !== SLOTS_PER_WEEK) {
      throw new RangeError(`a matrix string must hold ${SLOTS_PER_WEEK} digits 0 or 1`);
    }
    return [...digits].map((digit) => digit === '1');
  }
  if (
    input.length !== SLOTS_PER_WEEK ||
    input.some((slot) => typeof slot !== 'boolean' && slot !== 0 && slot !== 1)
  ) {
    throw new RangeError(`a matrix must hold ${SLOTS_PER_WEEK} booleans or 0/1 integers`);
  }
  return input.map((slot) => slot === true || slot === 1);
}

/** The 168-digit string form of a matrix (1 = asleep). */
export function matrixToString(matrix: WeekMatrix): string {
  return matrix.map((asleep) => (asleep ? '1' : '0')).join('');
}

/** True when every slot has the same state: such a schedule never changes. */
export function isConstantMatrix(matrix: WeekMatrix): boolean {
  return matrix.every((asleep) => asleep === matrix[0]);
}

/** "Tue 03:00" for slot 27. */
export function slotLabel(slot: number): string {
  return `${WEEKDAYS[Math.floor(slot / HOURS_PER_DAY)]} ${clock(slot % HOURS_PER_DAY)}`;
}

/** "03:00" for 3, "24:00" for 24. */
function clock(hour: number): string {
  return `${String(hour).padStart(2, '0')}:00`;
}

/** The hour of a whole-hour clock string, or undefined when it is not HH:00 within 00..24. */
function parseWholeHour(value: string): number | undefined {
  const match = /^(\d\d):00$/.exec(value);
  if (match === null) return undefined;
  const hour = Number(match[1]);
  return hour <= HOURS_PER_DAY ? hour : undefined;
}

/** The slots one window covers, in time order (from the first of its days). Assumes a valid window. */
export function windowSlots(window: SleepWindow): number[] {
  const from = parseWholeHour(window.from) ?? 0;
  const to = parseWholeHour(window.to) ?? 0;
  const length = to > from ? to - from : HOURS_PER_DAY - from + to;
  const slots: number[] = [];
  for (const day of window.days) {
    const start = WEEKDAYS.indexOf(day) * HOURS_PER_DAY + from;
    for (let i = 0; i < length; i++) slots.push((start + i) % SLOTS_PER_WEEK);
  }
  return slots;
}

/**
 * Everything wrong with a windows list, for validation: clocks that are not whole hours,
 * `from` 24:00, empty windows (from == to), a day listed twice, and windows that overlap
 * (each overlap reported once, with the first hour they share).
 */
export function checkWindows(windows: readonly SleepWindow[]): WindowProblem[] {
  const problems: WindowProblem[] = [];
  const owner = new Array<number | undefined>(SLOTS_PER_WEEK).fill(undefined);
  const reportedPairs = new Set<string>();
  windows.forEach((window, index) => {
    const from = parseWholeHour(window.from);
    const to = parseWholeHour(window.to);
    let valid = true;
    if (from === undefined || from === HOURS_PER_DAY) {
      problems.push({
        kind: 'clock',
        path: [index, 'from'],
        message: `from "${window.from}" must be a whole hour from 00:00 to 23:00 (the schedule has hour granularity)`,
      });
      valid = false;
    }
    if (to === undefined) {
      problems.push({
        kind: 'clock',
        path: [index, 'to'],
        message: `to "${window.to}" must be a whole hour from 00:00 to 24:00 (the schedule has hour granularity)`,
      });
      valid = false;
    }
    if (valid && from === to) {
      problems.push({
        kind: 'empty',
        path: [index],
        message: `window ${describeWindow(window)} is empty: from equals to (a whole day is 00:00 to 24:00)`,
      });
      valid = false;
    }
    const seen = new Set<Weekday>();
    for (const day of window.days) {
      if (seen.has(day)) {
        problems.push({ kind: 'duplicate-day', path: [index, 'days'], message: `${day} is listed twice` });
        valid = false;
      }
      seen.add(day);
    }
    if (!valid) return;
    for (const slot of windowSlots(window)) {
      const other = owner[slot];
      if (other === undefined) {
        owner[slot] = index;
        continue;
      }
      const pair = `${other}/${index}`;
      if (reportedPairs.has(pair)) continue;
      reportedPairs.add(pair);
      problems.push({
        kind: 'overlap',
        path: [index],
        message:
          `window ${describeWindow(window)} overlaps windows[${other}] (${describeWindow(windows[other]!)}) ` +
          `at ${slotLabel(slot)}; windows must not overlap`,
      });
    }
  });
  return problems;
}

/** Compiles windows to the matrix: a slot is asleep when any window covers it. Assumes valid windows. */
export function compileWindows(windows: readonly SleepWindow[]): boolean[] {
  const matrix = new Array<boolean>(SLOTS_PER_WEEK).fill(false);
  for (const window of windows) {
    for (const slot of windowSlots(window)) matrix[slot] = true;
  }
  return matrix;
}

/** A maximal run of asleep hours inside one day: [from, to) in hours. */
interface DayRun {
  day: number;
  from: number;
  to: number;
}

/**
 * The reverse of compileWindows, for display: a compact, valid (non-overlapping) windows list
 * that compiles back to exactly `matrix`.
 *
 * Each day's asleep hours split into maximal runs. A run that ends at midnight may join the
 * next day's run that starts at midnight into one overnight window, if the morning ends
 * before the evening starts (an overnight window is shorter than 24 hours). Windows with the same from/to then
 * merge into one window with several days. Of all ways to choose the joins (at most 7, so at
 * most 128 ways), the one giving the fewest windows wins, ties going to more joins. That is
 * minimal for this construction, not over every possible windows list.
 */
export function matrixToWindows(matrix: WeekMatrix): SleepWindow[] {
  const runs = dayRuns(matrix);
  const joins: [DayRun, DayRun][] = [];
  for (const evening of runs) {
    if (evening.to !== HOURS_PER_DAY || evening.from === 0) continue;
    // The joined window reads from > to (overnight), so the morning must end before the
    // evening starts: a 24-hour or longer stretch stays two windows.
    const morning = runs.find((r) => r.day === (evening.day + 1) % 7 && r.from === 0 && r.to < evening.from);
    if (morning !== undefined) joins.push([evening, morning]);
  }
  let best: SleepWindow[] | undefined;
  let bestJoins = -1;
  for (let mask = 0; mask < 1 << joins.length; mask++) {
    const chosen = joins.filter((_, i) => (mask & (1 << i)) !== 0);
    const windows = groupWindows(runs, chosen);
    const better =
      best === undefined ||
      windows.length < best.length ||
      (windows.length === best.length && chosen.length > bestJoins);
    if (better) {
      best = windows;
      bestJoins = chosen.length;
    }
  }
  return best ?? [];
}

function dayRuns(matrix: WeekMatrix): DayRun[] {
  const runs: DayRun[] = [];
  for (let day = 0; day < 7; day++) {
    let start: number | undefined;
    for (let hour = 0; hour <= HOURS_PER_DAY; hour++) {
      const asleep = hour < HOURS_PER_DAY && matrix[day * HOURS_PER_DAY + hour] === true;
      if (asleep && start === undefined) start = hour;
      if (!asleep && start !== undefined) {
        runs.push({ day, from: start, to: hour });
        start = undefined;
      }
    }
  }
  return runs;
}

/** Turns runs (some joined overnight) into windows, one per distinct from/to, days in week order. */
function groupWindows(runs: readonly DayRun[], joins: readonly [DayRun, DayRun][]): SleepWindow[] {
  const joinedMornings = new Set(joins.map(([, morning]) => morning));
  const joinedEvenings = new Map(joins.map(([evening, morning]) => [evening, morning]));
  const byClock = new Map<string, { from: number; to: number; days: number[] }>();
  for (const run of runs) {
    if (joinedMornings.has(run)) continue;
    const to = joinedEvenings.get(run)?.to ?? run.to;
    const key = `${run.from}-${to}`;
    const group = byClock.get(key) ?? { from: run.from, to, days: [] };
    group.days.push(run.day);
    byClock.set(key, group);
  }
  return [...byClock.values()]
    .sort((a, b) => a.days[0]! - b.days[0]! || a.from - b.from)
    .map((group) => ({
      days: group.days.map((day) => WEEKDAYS[day]!),
      from: clock(group.from),
      to: clock(group.to),
    }));
}

/** "Mon-Fri 19:00-07:00" ("Sat,Sun 00:00-24:00"): consecutive days shown as a range. */
export function describeWindow(window: SleepWindow): string {
  const indexes = [...new Set(window.days.map((day) => WEEKDAYS.indexOf(day)))].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < indexes.length; ) {
    let j = i;
    while (j + 1 < indexes.length && indexes[j + 1] === indexes[j]! + 1) j++;
    const first = WEEKDAYS[indexes[i]!]!;
    const last = WEEKDAYS[indexes[j]!]!;
    parts.push(j - i >= 2 ? `${first}-${last}` : j > i ? `${first},${last}` : first);
    i = j + 1;
  }
  return `${parts.join(',')} ${window.from}-${window.to}`;
}

/** A one-line summary of a matrix for status: its compact windows, or "always awake"/"always asleep". */
export function describeMatrix(matrix: WeekMatrix): string {
  if (isConstantMatrix(matrix)) return matrix[0] ? 'always asleep' : 'always awake';
  return matrixToWindows(matrix).map(describeWindow).join('; ');
}
