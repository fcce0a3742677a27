import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkWindows,
  compileWindows,
  describeMatrix,
  describeWindow,
  matrixToString,
  matrixToWindows,
  normalizeMatrix,
  SLOTS_PER_WEEK,
  type SleepWindow,
  slotLabel,
  WEEKDAYS,
  type Weekday,
} from './hibernation-matrix.ts';

/** The slots asleep in a matrix, ascending. */
function asleepSlots(matrix: readonly boolean[]): number[] {
  return matrix.flatMap((asleep, slot) => (asleep ? [slot] : []));
}

/** Slots of `day` (0 = Monday) from hour `from` for `count` hours, wrapping past Sunday. */
function hours(day: number, from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => (day * 24 + from + i) % SLOTS_PER_WEEK);
}

describe('normalizeMatrix', () => {
  it('reads the 0/1 string and the boolean form alike', () => {
    const booleans = Array.from({ length: SLOTS_PER_WEEK }, (_, slot) => slot % 5 === 0);
    const digits = booleans.map((b) => (b ? '1' : '0')).join('');
    expect(normalizeMatrix(digits)).toEqual(booleans);
    expect(normalizeMatrix(booleans)).toEqual(booleans);
    expect(matrixToString(normalizeMatrix(digits))).toBe(digits);
  });

  it('ignores whitespace between digits, so a spec can hold one line per day', () => {
    const day = '111111100000000000011111';
    const lines = Array.from({ length: 7 }, () => day).join('\n  ');
    expect(normalizeMatrix(`  ${lines}\n`)).toEqual(normalizeMatrix(day.repeat(7)));
  });

  it('refuses the wrong length or other characters', () => {
    expect(() => normalizeMatrix('1'.repeat(167))).toThrow(RangeError);
    expect(() => normalizeMatrix(`${'1'.repeat(167)}2`)).toThrow(RangeError);
    expect(() => normalizeMatrix(new Array(169).fill(true))).toThrow(RangeError);
  });
});

describe('compileWindows', () => {
  it('compiles weekday nights 19:00-07:00 into the next mornings, Friday into Saturday', () => {
    const matrix = compileWindows([
      { days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], from: '19:00', to: '07:00' },
    ]);
    const expected = [0, 1, 2, 3, 4].flatMap((day) => hours(day, 19, 12)).sort((a, b) => a - b);
    expect(asleepSlots(matrix)).toEqual(expected);
    expect(matrix[slotIndex('Sat', 6)]).toBe(true);
    expect(matrix[slotIndex('Sat', 7)]).toBe(false);
    expect(matrix[slotIndex('Mon', 6)]).toBe(false);
  });

  it('compiles a whole weekend with 00:00-24:00', () => {
    const matrix = compileWindows([{ days: ['Sat', 'Sun'], from: '00:00', to: '24:00' }]);
    expect(asleepSlots(matrix)).toEqual([...hours(5, 0, 24), ...hours(6, 0, 24)]);
  });

  it("wraps Sunday's overnight window into Monday morning", () => {
    const matrix = compileWindows([{ days: ['Sun'], from: '22:00', to: '02:00' }]);
    expect(asleepSlots(matrix)).toEqual([0, 1, 166, 167]);
  });

  it('treats to 00:00 after a later from as ending at midnight', () => {
    expect(compileWindows([{ days: ['Wed'], from: '20:00', to: '00:00' }])).toEqual(
      compileWindows([{ days: ['Wed'], from: '20:00', to: '24:00' }]),
    );
  });
});

function slotIndex(day: Weekday, hour: number): number {
  return WEEKDAYS.indexOf(day) * 24 + hour;
}

describe('checkWindows', () => {
  it('accepts adjacent windows (touching is not overlapping)', () => {
    const windows: SleepWindow[] = [
      { days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], from: '19:00', to: '07:00' },
      { days: ['Sat'], from: '07:00', to: '24:00' },
      { days: ['Sun'], from: '00:00', to: '24:00' },
      { days: ['Mon'], from: '00:00', to: '07:00' },
    ];
    expect(checkWindows(windows)).toEqual([]);
  });

  it('names both windows and the first shared hour of an overlap', () => {
    const problems = checkWindows([
      { days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], from: '19:00', to: '07:00' },
      { days: ['Sat', 'Sun'], from: '00:00', to: '24:00' },
    ]);
    expect(problems).toHaveLength(1);
    expect(problems[0]?.kind).toBe('overlap');
    expect(problems[0]?.path).toEqual([1]);
    expect(problems[0]?.message).toContain('windows[0] (Mon-Fri 19:00-07:00)');
    expect(problems[0]?.message).toContain('at Sat 00:00');
  });

  it("finds an overlap across the week's end", () => {
    const problems = checkWindows([
      { days: ['Sun'], from: '23:00', to: '01:00' },
      { days: ['Mon'], from: '00:00', to: '08:00' },
    ]);
    expect(problems.map((p) => p.message)).toEqual([expect.stringContaining('at Mon 00:00')]);
  });

  it('refuses empty windows, half hours, from 24:00 and repeated days', () => {
    const problems = checkWindows([
      { days: ['Mon'], from: '09:00', to: '09:00' },
      { days: ['Tue'], from: '19:30', to: '07:00' },
      { days: ['Wed'], from: '24:00', to: '07:00' },
      { days: ['Thu', 'Thu'], from: '01:00', to: '02:00' },
    ]);
    expect(problems.map((p) => [p.kind, p.path])).toEqual([
      ['empty', [0]],
      ['clock', [1, 'from']],
      ['clock', [2, 'from']],
      ['duplicate-day', [3, 'days']],
    ]);
    expect(problems[0]?.message).toContain('from equals to');
    expect(problems[1]?.message).toContain('hour granularity');
  });
});

describe('matrixToWindows', () => {
  it('joins an evening and the next morning into one overnight window', () => {
    const windows: SleepWindow[] = [{ days: ['Mon', 'Wed'], from: '19:00', to: '07:00' }];
    expect(matrixToWindows(compileWindows(windows))).toEqual(windows);
  });

  it('prefers fewer windows to overnight joins', () => {
    // Weeknights plus the weekend: joining the nights gives 4 windows (Mon 00-07, Mon-Thu
    // 19-07, Fri 19-24, Sat+Sun); splitting at midnight gives 3.
    const weeknightsAndWeekend: SleepWindow[] = [
      { days: ['Mon', 'Tue', 'Wed', 'Thu'], from: '19:00', to: '07:00' },
      { days: ['Fri'], from: '19:00', to: '24:00' },
      { days: ['Sat', 'Sun'], from: '00:00', to: '24:00' },
      { days: ['Mon'], from: '00:00', to: '07:00' },
    ];
    const weekdays: Weekday[] = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'];
    expect(matrixToWindows(compileWindows(weeknightsAndWeekend))).toEqual([
      { days: weekdays, from: '00:00', to: '07:00' },
      { days: weekdays, from: '19:00', to: '24:00' },
      { days: ['Sat', 'Sun'], from: '00:00', to: '24:00' },
    ]);
  });

  it('gives no windows for an always-awake matrix and one for an always-asleep one', () => {
    expect(matrixToWindows(new Array(SLOTS_PER_WEEK).fill(false))).toEqual([]);
    expect(matrixToWindows(new Array(SLOTS_PER_WEEK).fill(true))).toEqual([
      { days: [...WEEKDAYS], from: '00:00', to: '24:00' },
    ]);
  });

  it('keeps the Sunday-into-Monday night as one window', () => {
    const windows: SleepWindow[] = [{ days: ['Sun'], from: '22:00', to: '02:00' }];
    expect(matrixToWindows(compileWindows(windows))).toEqual(windows);
  });
});

describe('labels', () => {
  it('shows slots, windows and matrices for humans', () => {
    expect(slotLabel(27)).toBe('Tue 03:00');
    expect(slotLabel(167)).toBe('Sun 23:00');
    expect(describeWindow({ days: ['Sat', 'Mon', 'Tue', 'Wed'], from: '19:00', to: '07:00' })).toBe(
      'Mon-Wed,Sat 19:00-07:00',
    );
    expect(describeWindow({ days: ['Sat', 'Sun'], from: '00:00', to: '24:00' })).toBe('Sat,Sun 00:00-24:00');
    expect(describeMatrix(new Array(SLOTS_PER_WEEK).fill(false))).toBe('always awake');
    expect(describeMatrix(compileWindows([{ days: ['Fri'], from: '18:00', to: '20:00' }]))).toBe(
      'Fri 18:00-20:00',
    );
  });
});

const arbWindow: fc.Arbitrary<SleepWindow> = fc
  .record({
    days: fc.uniqueArray(fc.constantFrom(...WEEKDAYS), { minLength: 1, maxLength: 7 }),
    from: fc.integer({ min: 0, max: 23 }),
    to: fc.integer({ min: 0, max: 24 }),
  })
  .filter((w) => w.from !== w.to)
  .map((w) => ({
    days: w.days,
    from: `${String(w.from).padStart(2, '0')}:00`,
    to: `${String(w.to).padStart(2, '0')}:00`,
  }));

/** Valid windows lists: random windows, each kept only when it overlaps none kept before. */
const arbValidWindows = fc.array(arbWindow, { maxLength: 10 }).map((candidates) => {
  const kept: SleepWindow[] = [];
  for (const window of candidates) {
    if (checkWindows([...kept, window]).length === 0) kept.push(window);
  }
  return kept;
});

const arbMatrix = fc.oneof(
  fc.array(fc.boolean(), { minLength: SLOTS_PER_WEEK, maxLength: SLOTS_PER_WEEK }),
  // Long runs, like real schedules: a few random stretches.
  fc
    .array(fc.tuple(fc.integer({ min: 0, max: 167 }), fc.integer({ min: 1, max: 60 })), { maxLength: 5 })
    .map((runs) => {
      const matrix = new Array<boolean>(SLOTS_PER_WEEK).fill(false);
      for (const [start, length] of runs) for (const slot of hours(0, start, length)) matrix[slot] = true;
      return matrix;
    }),
);

describe('properties', () => {
  it('windows -> matrix -> windows -> matrix gives the same matrix', () => {
    fc.assert(
      fc.property(arbValidWindows, (windows) => {
        const matrix = compileWindows(windows);
        const compact = matrixToWindows(matrix);
        expect(checkWindows(compact)).toEqual([]);
        expect(compileWindows(compact)).toEqual(matrix);
      }),
      { numRuns: 500 },
    );
  });

  it('every matrix has valid windows that compile back to it, and the compact form is canonical', () => {
    fc.assert(
      fc.property(arbMatrix, (matrix) => {
        const compact = matrixToWindows(matrix);
        expect(checkWindows(compact)).toEqual([]);
        expect(compileWindows(compact)).toEqual(matrix);
        expect(matrixToWindows(compileWindows(compact))).toEqual(compact);
      }),
      { numRuns: 500 },
    );
  });

  it('a window covers from..to on each of its days and nothing else', () => {
    fc.assert(
      fc.property(arbWindow, (window) => {
        const from = Number(window.from.slice(0, 2));
        const to = Number(window.to.slice(0, 2));
        const length = to > from ? to - from : 24 - from + to;
        const expected = window.days.flatMap((day) => hours(WEEKDAYS.indexOf(day), from, length));
        expect(asleepSlots(compileWindows([window]))).toEqual([...new Set(expected)].sort((a, b) => a - b));
      }),
    );
  });
});
