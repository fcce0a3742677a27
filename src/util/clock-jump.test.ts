import { describe, expect, it } from 'vitest';
import { ClockJumpDetector } from './clock-jump.ts';

function clocks() {
  const c = { wall: 1_700_000_000_000, mono: 1_000 };
  return {
    c,
    options: { wall: () => c.wall, monotonic: () => c.mono, thresholdMs: 5_000 },
    tick(ms: number) {
      c.wall += ms;
      c.mono += ms;
    },
  };
}

describe('ClockJumpDetector', () => {
  it('sees nothing while both clocks advance together, or drift by slewing', () => {
    const { c, options, tick } = clocks();
    const d = new ClockJumpDetector(options);
    for (let i = 0; i < 100; i++) {
      tick(1_000);
      c.wall += 0.5; // NTP slew: 500 ppm at most
      expect(d.check()).toBeUndefined();
    }
  });

  it('reports a forward and a backward step once each, with their size', () => {
    const { c, options, tick } = clocks();
    const d = new ClockJumpDetector(options);
    const heard: number[] = [];
    d.onJump((j) => heard.push(j.deltaMs));
    tick(1_000);
    c.wall += 2 * 3_600_000;
    expect(d.check()).toEqual({ deltaMs: 7_200_000, direction: 'forward' });
    tick(1_000);
    expect(d.check()).toBeUndefined();
    c.wall -= 4 * 3_600_000;
    expect(d.check()).toEqual({ deltaMs: -14_400_000, direction: 'backward' });
    expect(heard).toEqual([7_200_000, -14_400_000]);
  });

  it('ignores steps up to the threshold', () => {
    const { c, options } = clocks();
    const d = new ClockJumpDetector(options);
    c.wall += 4_999;
    expect(d.check()).toBeUndefined();
    c.wall += 2;
    expect(d.check()?.direction).toBe('forward');
  });

  it('a throwing listener does not keep the others from hearing', () => {
    const { c, options } = clocks();
    const d = new ClockJumpDetector(options);
    let heard = 0;
    d.onJump(() => {
      throw new Error('boom');
    });
    d.onJump(() => heard++);
    c.wall += 60_000;
    d.check();
    expect(heard).toBe(1);
  });
});
