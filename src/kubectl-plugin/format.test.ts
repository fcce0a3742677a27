import { describe, expect, it } from 'vitest';
import { age, clip, table } from './format.ts';

describe('plugin output', () => {
  it('formats ages like kubectl', () => {
    expect(age(0, 45_000)).toBe('45s');
    expect(age(0, 192_000)).toBe('3m12s');
    expect(age(0, 180_000)).toBe('3m');
    expect(age(0, (5 * 60 + 4) * 60_000)).toBe('5h4m');
    expect(age(0, 51 * 3_600_000)).toBe('2d3h');
    expect(age(10_000, 0)).toBe('0s');
  });

  it('pads columns to the widest cell', () => {
    expect(
      table(
        ['NAME', 'PHASE'],
        [
          ['act-1', 'Running'],
          ['a', 'Pending'],
        ],
      ),
    ).toBe('NAME    PHASE\nact-1   Running\na       Pending\n');
    expect(clip('abcdef', 4)).toBe('abc…');
    expect(clip('abc', 4)).toBe('abc');
  });
});
