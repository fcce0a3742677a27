import { describe, expect, it } from 'vitest';
import { isIanaTimeZone, readWallClock } from './wall-clock.ts';

describe('wall clock', () => {
  it('takes IANA names the tz database knows, and no fixed UTC offsets', () => {
    for (const name of [
      'UTC',
      'Europe/Berlin',
      'Asia/Kolkata',
      'America/Argentina/Buenos_Aires',
      'EST5EDT',
    ]) {
      expect(isIanaTimeZone(name), name).toBe(true);
    }
    // Intl in Node 24 formats "+05:30", but a schedule or a maintenance window must follow a
    // zone's rules, not an offset someone typed: refused, in both places (one validator).
    for (const name of ['+05:30', '-08:00', '+0530', 'Mars/Olympus', '', 'Europe/Berlin/']) {
      expect(isIanaTimeZone(name), name).toBe(false);
    }
  });

  it('reads an instant in a zone: Kolkata is 5:30 ahead, Monday is 0', () => {
    const clock = readWallClock(Date.parse('2026-03-02T02:00:00Z'), 'Asia/Kolkata');
    expect(clock).toMatchObject({ weekday: 0, hour: 7, minute: 30, offsetMs: 19_800_000 });
  });
});
