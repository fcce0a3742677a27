import { describe, expect, it } from 'vitest';
import type { MaintenanceWindow } from '../../crds/agent-policy.ts';
import { isInsideWindow, localToInstant, nextWindowStart, wallClock } from './maintenance-window.ts';

const at = (iso: string) => new Date(iso);
const win = (w: Partial<MaintenanceWindow>): MaintenanceWindow => ({
  days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'],
  from: '01:00',
  to: '05:00',
  timezone: 'UTC',
  ...w,
});

describe('wallClock', () => {
  it('gives local date, weekday and minutes in the zone', () => {
    // 2026-03-02 is a Monday. 23:30 UTC is already Tuesday 00:30 in Berlin (UTC+1 in winter).
    expect(wallClock(at('2026-03-02T23:30:00Z'), 'Europe/Berlin')).toEqual({
      year: 2026,
      month: 3,
      day: 3,
      weekday: 'Tue',
      minutes: 30,
    });
    expect(wallClock(at('2026-03-02T00:00:00Z'), 'UTC').weekday).toBe('Mon');
  });
});

describe('isInsideWindow', () => {
  it('from inclusive, to exclusive, on listed days only', () => {
    const w = win({ days: ['Mon'] });
    expect(isInsideWindow(w, at('2026-03-02T00:59:59Z'))).toBe(false);
    expect(isInsideWindow(w, at('2026-03-02T01:00:00Z'))).toBe(true);
    expect(isInsideWindow(w, at('2026-03-02T04:59:00Z'))).toBe(true);
    expect(isInsideWindow(w, at('2026-03-02T05:00:00Z'))).toBe(false);
    expect(isInsideWindow(w, at('2026-03-03T02:00:00Z'))).toBe(false); // Tuesday
  });

  it('evaluates in the window time zone', () => {
    const w = win({ days: ['Mon'], from: '09:00', to: '10:00', timezone: 'America/New_York' });
    // 14:30 UTC on Monday 2026-03-02 is 09:30 EST.
    expect(isInsideWindow(w, at('2026-03-02T14:30:00Z'))).toBe(true);
    expect(isInsideWindow(w, at('2026-03-02T09:30:00Z'))).toBe(false);
  });

  it('follows DST: same local hours before and after the change', () => {
    const w = win({ from: '01:00', to: '05:00', timezone: 'Europe/Berlin' });
    // Winter (UTC+1): 01:00-05:00 local = 00:00-04:00 UTC.
    expect(isInsideWindow(w, at('2026-03-20T00:30:00Z'))).toBe(true);
    expect(isInsideWindow(w, at('2026-03-20T04:30:00Z'))).toBe(false);
    // Summer (UTC+2): 01:00-05:00 local = 23:00-03:00 UTC.
    expect(isInsideWindow(w, at('2026-04-10T23:30:00Z'))).toBe(true);
    expect(isInsideWindow(w, at('2026-04-10T03:30:00Z'))).toBe(false);
    // Change day (29 March 2026, 02:00 -> 03:00): open 00:00Z-03:00Z, three real hours.
    expect(isInsideWindow(w, at('2026-03-28T23:59:00Z'))).toBe(false);
    expect(isInsideWindow(w, at('2026-03-29T00:00:00Z'))).toBe(true);
    expect(isInsideWindow(w, at('2026-03-29T02:59:00Z'))).toBe(true);
    expect(isInsideWindow(w, at('2026-03-29T03:00:00Z'))).toBe(false);
  });

  it('a window crossing midnight belongs to the day it starts on', () => {
    const w = win({ days: ['Fri'], from: '22:00', to: '04:00' });
    expect(isInsideWindow(w, at('2026-03-06T22:30:00Z'))).toBe(true); // Friday evening
    expect(isInsideWindow(w, at('2026-03-07T03:59:00Z'))).toBe(true); // Saturday morning
    expect(isInsideWindow(w, at('2026-03-07T22:30:00Z'))).toBe(false); // Saturday evening
    expect(isInsideWindow(w, at('2026-03-06T03:00:00Z'))).toBe(false); // Friday morning
  });

  it('24:00 is the end of the day', () => {
    const w = win({ days: ['Mon'], from: '20:00', to: '24:00' });
    expect(isInsideWindow(w, at('2026-03-02T23:59:59Z'))).toBe(true);
    expect(isInsideWindow(w, at('2026-03-03T00:00:00Z'))).toBe(false);
  });

  it('a fixed UTC offset is not a time zone: "+05:30" keeps the window closed, like for schedules', () => {
    // 02:00 UTC is 07:30 at +05:30, inside 07:00-08:00 if offsets were taken.
    const offset = win({ from: '07:00', to: '08:00', timezone: '+05:30' });
    expect(isInsideWindow(offset, at('2026-03-02T02:00:00Z'))).toBe(false);
    expect(nextWindowStart(offset, at('2026-03-02T02:00:00Z'))).toBeUndefined();
    expect(isInsideWindow({ ...offset, timezone: 'Asia/Kolkata' }, at('2026-03-02T02:00:00Z'))).toBe(true);
  });

  it('an unknown time zone keeps the window closed', () => {
    expect(isInsideWindow(win({ timezone: 'Mars/Olympus' }), at('2026-03-02T02:00:00Z'))).toBe(false);
    expect(nextWindowStart(win({ timezone: 'Mars/Olympus' }), at('2026-03-02T02:00:00Z'))).toBeUndefined();
  });
});

describe('localToInstant', () => {
  const local = (iso: string) => Date.parse(`${iso}Z`);
  it('maps ordinary local times', () => {
    expect(new Date(localToInstant(local('2026-07-01T12:00:00'), 'Europe/Berlin')).toISOString()).toBe(
      '2026-07-01T10:00:00.000Z',
    );
  });
  it('takes the earlier instant of a repeated hour (clocks back)', () => {
    // Berlin 25 Oct 2026: 02:30 happens at 00:30Z (CEST) and 01:30Z (CET).
    expect(new Date(localToInstant(local('2026-10-25T02:30:00'), 'Europe/Berlin')).toISOString()).toBe(
      '2026-10-25T00:30:00.000Z',
    );
  });
  it('gives the jump instant for a skipped time (clocks forward)', () => {
    // New York 8 Mar 2026: 02:00 EST jumps to 03:00 EDT at 07:00Z; 02:30 never happens.
    expect(new Date(localToInstant(local('2026-03-08T02:30:00'), 'America/New_York')).toISOString()).toBe(
      '2026-03-08T07:00:00.000Z',
    );
  });
});

describe('nextWindowStart', () => {
  it('later today, or on the next listed day', () => {
    const w = win({ days: ['Wed'], from: '01:00', to: '05:00' });
    expect(nextWindowStart(w, at('2026-03-04T00:10:00Z'))?.toISOString()).toBe('2026-03-04T01:00:00.000Z');
    expect(nextWindowStart(w, at('2026-03-04T02:00:00Z'))?.toISOString()).toBe('2026-03-11T01:00:00.000Z');
  });

  it('in the zone, across a DST change', () => {
    // Saturday 28 March 2026 10:00 UTC; next Sunday 01:00 Berlin is still CET (00:00Z),
    // the Sunday after is CEST (23:00Z Saturday).
    const w = win({ days: ['Sun'], from: '01:00', to: '05:00', timezone: 'Europe/Berlin' });
    expect(nextWindowStart(w, at('2026-03-28T10:00:00Z'))?.toISOString()).toBe('2026-03-29T00:00:00.000Z');
    expect(nextWindowStart(w, at('2026-03-29T10:00:00Z'))?.toISOString()).toBe('2026-04-04T23:00:00.000Z');
  });

  it('a window that opens inside a DST gap opens when the clocks jump', () => {
    const w = win({ days: ['Sun'], from: '02:30', to: '04:00', timezone: 'America/New_York' });
    const start = nextWindowStart(w, at('2026-03-07T12:00:00Z'));
    expect(start?.toISOString()).toBe('2026-03-08T07:00:00.000Z');
    expect(isInsideWindow(w, start as Date)).toBe(true);
  });
});
