import { describe, expect, it } from 'vitest';
import { clockSkewMs, negligibleSkewMs, onAgentClock } from './clock-skew.ts';

const server = Date.parse('2026-12-01T10:00:00.000Z');
const header = new Date(server).toUTCString(); // "Tue, 01 Dec 2026 10:00:00 GMT"

describe('clockSkewMs', () => {
  it('is 0 for a synced clock, whatever the fraction of the second and a small latency', () => {
    for (const lag of [0, 1, 499, 999, 1_200]) expect(clockSkewMs(header, server + lag)).toBe(0);
  });

  it("measures an agent ahead or behind, to within the header's second", () => {
    const ahead = clockSkewMs(header, server + 3 * 3_600_000 + 300);
    expect(Math.abs(ahead - 3 * 3_600_000)).toBeLessThanOrEqual(1_000);
    const behind = clockSkewMs(header, server - 10 * 60_000 + 700);
    expect(Math.abs(behind + 10 * 60_000)).toBeLessThanOrEqual(1_000);
  });

  it('reports just over the threshold and ignores just under it', () => {
    expect(clockSkewMs(header, server + 500 + negligibleSkewMs)).toBe(negligibleSkewMs);
    expect(clockSkewMs(header, server + 499 + negligibleSkewMs)).toBe(0);
  });

  it('is 0 without a usable header', () => {
    expect(clockSkewMs(undefined, server + 3_600_000)).toBe(0);
    expect(clockSkewMs('yesterday-ish', server + 3_600_000)).toBe(0);
    expect(clockSkewMs([header], server + 3_600_000)).not.toBe(0);
  });
});

describe('onAgentClock', () => {
  it('shifts an instant by the skew and leaves it alone at 0 or when unparseable', () => {
    expect(onAgentClock('2026-12-01T10:00:00.000Z', 3_600_000)).toBe('2026-12-01T11:00:00.000Z');
    expect(onAgentClock('2026-12-01T10:00:00+09:00', 0)).toBe('2026-12-01T10:00:00+09:00');
    expect(onAgentClock('not a time', 5_000)).toBe('not a time');
  });
});
