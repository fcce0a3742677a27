import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileWindows, SLOTS_PER_WEEK, type SleepWindow, WEEKDAYS } from '../../crds/hibernation-matrix.ts';
import { evaluate, nextScheduleChange, type ScheduleOverride, type SleepState, slotAt } from './schedule.ts';

// Expected instants below are worked out by hand from each zone's rules (stated beside them),
// never copied from the implementation's output.

const at = (iso: string) => new Date(iso);

/** A matrix asleep exactly at `slots`. */
function asleepAt(...slots: number[]): boolean[] {
  const matrix = new Array<boolean>(SLOTS_PER_WEEK).fill(false);
  for (const slot of slots) matrix[slot] = true;
  return matrix;
}

/** The slot of a weekday and hour. */
const slot = (day: (typeof WEEKDAYS)[number], hour: number) => WEEKDAYS.indexOf(day) * 24 + hour;

const weeknights: SleepWindow[] = [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], from: '19:00', to: '07:00' }];
const weeknightsMatrix = compileWindows(weeknights);

/** Follows the schedule from `from`: the next `count` transitions as ISO strings. */
function transitions(matrix: boolean[], timeZone: string, from: string, count: number): string[] {
  const found: string[] = [];
  let instant = at(from);
  for (let i = 0; i < count; i++) {
    const next = evaluate(matrix, timeZone, instant).nextTransition;
    if (next === undefined) break;
    found.push(next.toISOString());
    instant = next;
  }
  return found;
}

describe('evaluate: examples', () => {
  it('says what the schedule says at 03:00 on a Tuesday in Tokyo', () => {
    // Tokyo is UTC+9 all year; Tuesday 2 June 2026 03:00 JST = Monday 1 June 18:00Z.
    const result = evaluate(weeknightsMatrix, 'Asia/Tokyo', at('2026-06-01T18:00:00Z'));
    expect(result.slot).toBe(slot('Tue', 3));
    expect(result.state).toBe('asleep');
    expect(result.source).toBe('schedule');
    expect(result.reason).toContain('Tue 03:00 in Asia/Tokyo');
    // Monday night's window ends Tuesday 07:00 JST = Monday 22:00Z.
    expect(result.nextTransition?.toISOString()).toBe('2026-06-01T22:00:00.000Z');
  });

  it('runs weeknights 19:00-07:00 and stays awake over the weekend (UTC)', () => {
    // Friday 5 June 2026 18:00Z: awake; Friday 19:00 -> Saturday 07:00 asleep; awake until Monday 19:00.
    expect(evaluate(weeknightsMatrix, 'UTC', at('2026-06-05T18:00:00Z')).state).toBe('awake');
    expect(transitions(weeknightsMatrix, 'UTC', '2026-06-05T18:00:00Z', 3)).toEqual([
      '2026-06-05T19:00:00.000Z',
      '2026-06-06T07:00:00.000Z',
      '2026-06-08T19:00:00.000Z',
    ]);
  });

  it('sleeps all weekend', () => {
    const weekend = compileWindows([{ days: ['Sat', 'Sun'], from: '00:00', to: '24:00' }]);
    const friday = evaluate(weekend, 'UTC', at('2026-06-05T23:59:59.999Z'));
    expect(friday.state).toBe('awake');
    expect(friday.nextTransition?.toISOString()).toBe('2026-06-06T00:00:00.000Z');
    const sunday = evaluate(weekend, 'UTC', at('2026-06-07T12:00:00Z'));
    expect(sunday.state).toBe('asleep');
    expect(sunday.nextTransition?.toISOString()).toBe('2026-06-08T00:00:00.000Z');
  });

  it('finds the next transition across a whole sleeping weekend (Europe/Berlin, summer)', () => {
    const matrix = compileWindows([
      ...weeknights.map((w) => ({ ...w, days: ['Mon', 'Tue', 'Wed', 'Thu'] as const })),
      { days: ['Fri'], from: '19:00', to: '24:00' },
      { days: ['Sat', 'Sun'], from: '00:00', to: '24:00' },
      { days: ['Mon'], from: '00:00', to: '07:00' },
    ]);
    // CEST = UTC+2: Friday 19:00 = 17:00Z; Monday 8 June 07:00 = 05:00Z.
    expect(transitions(matrix, 'Europe/Berlin', '2026-06-05T16:00:00Z', 2)).toEqual([
      '2026-06-05T17:00:00.000Z',
      '2026-06-08T05:00:00.000Z',
    ]);
  });

  describe('Europe/Berlin across daylight-saving changes (2026)', () => {
    // Spring forward Sunday 29 March 01:00Z: 02:00 CET -> 03:00 CEST (02:00-03:00 never happens).
    // Fall back Sunday 25 October 01:00Z: 03:00 CEST -> 02:00 CET (02:00-03:00 happens twice).
    const nightly = compileWindows([{ days: [...WEEKDAYS], from: '01:00', to: '04:00' }]);

    it('spring: a 01:00-04:00 night lasts two real hours', () => {
      // 01:00 CET = 00:00Z; 04:00 CEST = 02:00Z.
      expect(transitions(nightly, 'Europe/Berlin', '2026-03-28T23:30:00Z', 2)).toEqual([
        '2026-03-29T00:00:00.000Z',
        '2026-03-29T02:00:00.000Z',
      ]);
    });

    it('autumn: a 01:00-04:00 night lasts four real hours', () => {
      // 01:00 CEST = 23:00Z the day before; 04:00 CET = 03:00Z.
      expect(transitions(nightly, 'Europe/Berlin', '2026-10-24T22:00:00Z', 2)).toEqual([
        '2026-10-24T23:00:00.000Z',
        '2026-10-25T03:00:00.000Z',
      ]);
    });

    it('spring: the skipped hour is never in force, so its slot waits a week', () => {
      const sunday2am = asleepAt(slot('Sun', 2));
      // 29 March has no 02:00; the next Sunday 02:00 is 5 April, CEST: 00:00Z.
      expect(transitions(sunday2am, 'Europe/Berlin', '2026-03-28T12:00:00Z', 2)).toEqual([
        '2026-04-05T00:00:00.000Z',
        '2026-04-05T01:00:00.000Z',
      ]);
      // At the jump the wall clock reads 03:00 CEST.
      expect(evaluate(sunday2am, 'Europe/Berlin', at('2026-03-29T01:00:00Z')).slot).toBe(slot('Sun', 3));
    });

    it('autumn: the repeated hour is in force twice, two real hours in a row', () => {
      const sunday2am = asleepAt(slot('Sun', 2));
      // 02:00 CEST = 00:00Z; the second 02:00-03:00 (CET) ends at 02:00Z.
      expect(transitions(sunday2am, 'Europe/Berlin', '2026-10-24T12:00:00Z', 2)).toEqual([
        '2026-10-25T00:00:00.000Z',
        '2026-10-25T02:00:00.000Z',
      ]);
      const secondPass = evaluate(sunday2am, 'Europe/Berlin', at('2026-10-25T01:30:00Z'));
      expect(secondPass.slot).toBe(slot('Sun', 2));
      expect(secondPass.state).toBe('asleep');
    });
  });

  it('Asia/Kolkata (+05:30): transitions at half past the UTC hour', () => {
    // Monday 1 June 2026 12:00 IST = 06:30Z; 19:00 IST = 13:30Z; Tuesday 07:00 IST = 01:30Z.
    expect(evaluate(weeknightsMatrix, 'Asia/Kolkata', at('2026-06-01T06:30:00Z')).state).toBe('awake');
    expect(transitions(weeknightsMatrix, 'Asia/Kolkata', '2026-06-01T06:30:00Z', 2)).toEqual([
      '2026-06-01T13:30:00.000Z',
      '2026-06-02T01:30:00.000Z',
    ]);
  });

  it('Asia/Kathmandu (+05:45): transitions at a quarter past the UTC hour', () => {
    // 19:00 NPT = 13:15Z; Tuesday 07:00 NPT = 01:15Z.
    expect(transitions(weeknightsMatrix, 'Asia/Kathmandu', '2026-06-01T06:30:00Z', 2)).toEqual([
      '2026-06-01T13:15:00.000Z',
      '2026-06-02T01:15:00.000Z',
    ]);
    // 13:14:59Z is 18:59:59 local: still awake.
    expect(evaluate(weeknightsMatrix, 'Asia/Kathmandu', at('2026-06-01T13:14:59Z')).state).toBe('awake');
  });

  it('America/New_York: the offset changes from -5 to -4 between two nights', () => {
    // DST starts Sunday 8 March 2026 at 07:00Z. Friday 6 March 20:00 EST = 7 March 01:00Z (asleep);
    // Saturday 07:00 EST = 12:00Z; Monday 9 March 19:00 EDT = 23:00Z.
    const friday = evaluate(weeknightsMatrix, 'America/New_York', at('2026-03-07T01:00:00Z'));
    expect(friday.state).toBe('asleep');
    expect(transitions(weeknightsMatrix, 'America/New_York', '2026-03-07T01:00:00Z', 2)).toEqual([
      '2026-03-07T12:00:00.000Z',
      '2026-03-09T23:00:00.000Z',
    ]);
  });

  it('America/New_York: the repeated 01:00 hour on 1 November 2026 sleeps twice', () => {
    // 01:00 EDT = 05:00Z; 01:00 EST = 06:00Z; 02:00 EST = 07:00Z.
    expect(transitions(asleepAt(slot('Sun', 1)), 'America/New_York', '2026-10-31T12:00:00Z', 2)).toEqual([
      '2026-11-01T05:00:00.000Z',
      '2026-11-01T07:00:00.000Z',
    ]);
  });

  describe('Australia/Lord_Howe (+10:30, DST +11: a 30-minute shift)', () => {
    // DST ends Sunday 5 April 2026: 02:00 LHDT (15:00Z on the 4th) -> 01:30 LHST.
    it('fall back: the jump from 02:00 to 01:30 stays in slot 01', () => {
      // Sunday 01:00 LHDT = 14:00Z; after the jump 01:30-02:00 LHST is slot 01 again; 02:00 LHST = 15:30Z.
      expect(transitions(asleepAt(slot('Sun', 1)), 'Australia/Lord_Howe', '2026-04-04T12:00:00Z', 2)).toEqual(
        ['2026-04-04T14:00:00.000Z', '2026-04-04T15:30:00.000Z'],
      );
      // Slot 02 then runs a full hour, to 03:00 LHST = 16:30Z.
      expect(transitions(asleepAt(slot('Sun', 2)), 'Australia/Lord_Howe', '2026-04-04T12:00:00Z', 2)).toEqual(
        ['2026-04-04T15:30:00.000Z', '2026-04-04T16:30:00.000Z'],
      );
    });

    // DST starts Sunday 4 October 2026: 02:00 LHST (15:30Z on the 3rd) -> 02:30 LHDT.
    it('spring forward: slot 02 starts at the jump and lasts 30 minutes', () => {
      // 02:30 LHDT at 15:30Z; 03:00 LHDT = 16:00Z.
      expect(transitions(asleepAt(slot('Sun', 2)), 'Australia/Lord_Howe', '2026-10-03T12:00:00Z', 2)).toEqual(
        ['2026-10-03T15:30:00.000Z', '2026-10-03T16:00:00.000Z'],
      );
    });
  });

  describe('Pacific/Chatham (+12:45, DST +13:45): the clock jumps at 02:45/03:45, not on the hour', () => {
    // DST ends Sunday 5 April 2026 at 03:45 CHADT (14:00Z on the 4th) -> 02:45 CHAST.
    it('fall back re-enters slot 02 for its last quarter hour', () => {
      // 02:00 CHADT = 12:15Z, 03:00 CHADT = 13:15Z; at 14:00Z back to 02:45 until 03:00 CHAST = 14:15Z.
      expect(transitions(asleepAt(slot('Sun', 2)), 'Pacific/Chatham', '2026-04-04T12:00:00Z', 4)).toEqual([
        '2026-04-04T12:15:00.000Z',
        '2026-04-04T13:15:00.000Z',
        '2026-04-04T14:00:00.000Z',
        '2026-04-04T14:15:00.000Z',
      ]);
    });

    // DST starts Sunday 27 September 2026 at 02:45 CHAST (14:00Z on the 26th) -> 03:45 CHADT.
    it('spring forward lands in slot 03 for 15 minutes', () => {
      expect(transitions(asleepAt(slot('Sun', 3)), 'Pacific/Chatham', '2026-09-26T12:00:00Z', 2)).toEqual([
        '2026-09-26T14:00:00.000Z',
        '2026-09-26T14:15:00.000Z',
      ]);
    });
  });

  it('Pacific/Apia: a skipped calendar day (Friday 30 December 2011) delays a Friday-only schedule a week', () => {
    // Thursday 29 Dec 23:59:59 -10 was followed by Saturday 31 Dec 00:00 +14 (at 10:00Z on the 30th).
    // The next Friday is 6 January 2012 00:00 +14 = 5 January 10:00Z.
    const fridays = compileWindows([{ days: ['Fri'], from: '00:00', to: '24:00' }]);
    const thursday = evaluate(fridays, 'Pacific/Apia', at('2011-12-29T22:00:00Z'));
    expect(thursday.state).toBe('awake');
    expect(thursday.nextTransition?.toISOString()).toBe('2012-01-05T10:00:00.000Z');
    expect(slotAt(at('2011-12-30T10:00:00Z'), 'Pacific/Apia')).toBe(slot('Sat', 0));
  });

  it('a constant matrix never transitions', () => {
    for (const asleep of [true, false]) {
      const result = evaluate(
        new Array(SLOTS_PER_WEEK).fill(asleep),
        'Europe/Berlin',
        at('2026-03-29T00:30:00Z'),
      );
      expect(result.state).toBe(asleep ? 'asleep' : 'awake');
      expect(result.nextTransition).toBeUndefined();
      expect(result.reason).toContain('always');
    }
  });

  describe('override', () => {
    // Monday 1 June 2026 20:00Z: the weeknight schedule says asleep until Tuesday 07:00Z.
    const monday8pm = at('2026-06-01T20:00:00Z');

    it('holds its state before `until`; the schedule takes over at `until`', () => {
      const override: ScheduleOverride = { state: 'awake', until: at('2026-06-01T23:30:00Z') };
      const before = evaluate(weeknightsMatrix, 'UTC', monday8pm, override);
      expect(before.state).toBe('awake');
      expect(before.source).toBe('override');
      expect(before.slot).toBe(slot('Mon', 20));
      // The schedule says asleep at 23:30, so the state changes exactly at `until`.
      expect(before.nextTransition).toEqual(override.until);

      const atEnd = evaluate(weeknightsMatrix, 'UTC', override.until, override);
      expect(atEnd.state).toBe('asleep');
      expect(atEnd.source).toBe('schedule');
      expect(atEnd.reason).toContain('override awake ended');
      expect(atEnd.nextTransition?.toISOString()).toBe('2026-06-02T07:00:00.000Z');
    });

    it('when the schedule agrees at `until`, the next transition is the schedule change after it', () => {
      // Awake until Tuesday 09:00Z, when the schedule is awake too; it next sleeps Tuesday 19:00Z.
      const override: ScheduleOverride = { state: 'awake', until: at('2026-06-02T09:00:00Z') };
      const result = evaluate(weeknightsMatrix, 'UTC', monday8pm, override);
      expect(result.state).toBe('awake');
      expect(result.nextTransition?.toISOString()).toBe('2026-06-02T19:00:00.000Z');
    });

    it('on a constant matrix ends at `until` or never', () => {
      const awake = new Array<boolean>(SLOTS_PER_WEEK).fill(false);
      const until = at('2026-06-02T09:00:00Z');
      expect(evaluate(awake, 'UTC', monday8pm, { state: 'asleep', until }).nextTransition).toEqual(until);
      expect(evaluate(awake, 'UTC', monday8pm, { state: 'awake', until }).nextTransition).toBeUndefined();
    });
  });

  it('refuses a matrix of the wrong size and an unknown zone', () => {
    expect(() => evaluate(new Array(167).fill(false), 'UTC', at('2026-06-01T00:00:00Z'))).toThrow(RangeError);
    expect(() => evaluate(weeknightsMatrix, 'Mars/Olympus_Mons', at('2026-06-01T00:00:00Z'))).toThrow(
      RangeError,
    );
  });
});

// ---- properties against a brute-force oracle ----

// The oracle reads the weekday name and hour from Intl with a different locale and fields
// from the implementation, and does no date arithmetic at all.
const oracleFormatters = new Map<string, Intl.DateTimeFormat>();
function oracleSlot(ms: number, timeZone: string): number {
  let formatter = oracleFormatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      weekday: 'short',
      hour: '2-digit',
      hourCycle: 'h23',
    });
    oracleFormatters.set(timeZone, formatter);
  }
  const parts = formatter.formatToParts(ms);
  const weekday = parts.find((p) => p.type === 'weekday')?.value as (typeof WEEKDAYS)[number];
  const hour = Number(parts.find((p) => p.type === 'hour')?.value);
  return WEEKDAYS.indexOf(weekday) * 24 + hour;
}

function oracleState(
  matrix: boolean[],
  timeZone: string,
  ms: number,
  override?: ScheduleOverride,
): SleepState {
  if (override !== undefined && ms < override.until.getTime()) return override.state;
  return matrix[oracleSlot(ms, timeZone)] ? 'asleep' : 'awake';
}

const zones = [
  'UTC',
  'Asia/Tokyo',
  'Europe/Berlin',
  'Europe/London',
  'America/New_York',
  'America/St_Johns', // -03:30, DST
  'America/Sao_Paulo', // DST changed at midnight until 2019
  'America/Havana', // DST changes at midnight
  'Asia/Kolkata',
  'Asia/Kathmandu',
  'Australia/Adelaide', // +09:30, DST +10:30
  'Australia/Lord_Howe',
  'Pacific/Chatham', // +12:45, DST +13:45
  'Pacific/Apia',
  'Africa/Casablanca', // DST suspended during Ramadan: changes weeks apart
];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const arbInstant = fc.oneof(
  fc.integer({ min: Date.UTC(1995, 0, 1), max: Date.UTC(2040, 0, 1) }),
  // Months with daylight-saving changes in either hemisphere.
  fc
    .record({
      year: fc.integer({ min: 1995, max: 2039 }),
      month: fc.constantFrom(2, 3, 8, 9, 10),
      dayMs: fc.integer({ min: 0, max: 31 * DAY - 1 }),
    })
    .map(({ year, month, dayMs }) => Date.UTC(year, month, 1) + dayMs),
  // Samoa's skipped day.
  fc.integer({ min: Date.UTC(2011, 11, 20), max: Date.UTC(2012, 0, 10) }),
);
// Often exactly on a quarter hour, where off-by-one mistakes live.
const arbMs = fc
  .tuple(arbInstant, fc.boolean())
  .map(([ms, round]) => (round ? ms - (ms % (15 * 60_000)) : ms));

const arbMatrix = fc.oneof(
  fc.array(fc.boolean(), { minLength: SLOTS_PER_WEEK, maxLength: SLOTS_PER_WEEK }),
  // Sparse and dense: long stretches without a change, single slots a DST gap can swallow.
  fc.uniqueArray(fc.integer({ min: 0, max: 167 }), { minLength: 1, maxLength: 3 }).map((s) => asleepAt(...s)),
  fc
    .uniqueArray(fc.integer({ min: 0, max: 167 }), { minLength: 1, maxLength: 3 })
    .map((s) => asleepAt(...s).map((asleep) => !asleep)),
  fc.constantFrom(weeknightsMatrix, new Array<boolean>(SLOTS_PER_WEEK).fill(true)),
);

const arbCase = fc
  .record({
    matrix: arbMatrix,
    zone: fc.constantFrom(...zones),
    ms: arbMs,
    override: fc.option(
      fc.record({
        state: fc.constantFrom<SleepState>('asleep', 'awake'),
        untilDelta: fc.oneof(fc.integer({ min: -3 * DAY, max: 3 * DAY }), fc.constantFrom(0, 1, -1, HOUR)),
      }),
      { nil: undefined },
    ),
  })
  .map(({ matrix, zone, ms, override }) => ({
    matrix,
    zone,
    ms,
    override:
      override === undefined
        ? undefined
        : { state: override.state, until: new Date(ms + override.untilDelta) },
  }));

/** The first sampled instant in [from, to) whose oracle state is not `state` (plain loop: hot). */
function firstSampleDiffering(
  matrix: boolean[],
  zone: string,
  override: ScheduleOverride | undefined,
  state: SleepState,
  from: number,
  to: number,
  step: number,
): string | undefined {
  for (let t = from; t < to; t += step) {
    if (oracleState(matrix, zone, t, override) !== state) return new Date(t).toISOString();
  }
  return undefined;
}

describe('evaluate: properties', () => {
  it('the state equals the oracle', () => {
    fc.assert(
      fc.property(arbCase, ({ matrix, zone, ms, override }) => {
        const result = evaluate(matrix, zone, new Date(ms), override);
        expect(result.state).toBe(oracleState(matrix, zone, ms, override));
        expect(result.slot).toBe(oracleSlot(ms, zone));
      }),
      { numRuns: 2000 },
    );
  });

  it('nextTransition is the first instant after `instant` where the oracle state changes', () => {
    fc.assert(
      fc.property(arbCase, ({ matrix, zone, ms, override }) => {
        const result = evaluate(matrix, zone, new Date(ms), override);
        const state = result.state;
        const next = result.nextTransition?.getTime();
        if (next === undefined) {
          // Never: sampled every 7 minutes over three weeks.
          expect(
            firstSampleDiffering(matrix, zone, override, state, ms, ms + 21 * DAY, 7 * 60_000),
          ).toBeUndefined();
          return;
        }
        expect(next).toBeGreaterThan(ms);
        expect(oracleState(matrix, zone, next - 1, override)).toBe(state);
        expect(oracleState(matrix, zone, next, override)).not.toBe(state);
        // No change before it: sampled every minute (all tz offsets are whole minutes).
        expect(firstSampleDiffering(matrix, zone, override, state, ms, next, 60_000)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  }, 120_000);

  it('nextScheduleChange from a transition finds the following one (no transition is skipped or repeated)', () => {
    fc.assert(
      fc.property(arbMatrix, fc.constantFrom(...zones), arbMs, (matrix, zone, ms) => {
        const first = nextScheduleChange(matrix, zone, new Date(ms));
        if (first === undefined) return;
        const second = nextScheduleChange(matrix, zone, first);
        expect(second).toBeDefined();
        expect(second!.getTime()).toBeGreaterThan(first.getTime());
        expect(oracleState(matrix, zone, second!.getTime())).toBe(
          oracleState(matrix, zone, first.getTime() - 1),
        );
      }),
      { numRuns: 500 },
    );
  });
});
