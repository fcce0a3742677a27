import { describe, expect, it, vi } from 'vitest';
import { TokenBucket } from './token-bucket.ts';

describe('TokenBucket', () => {
  it('allows a burst of `capacity`, then one token per 1/rate seconds', () => {
    let now = 0;
    const bucket = new TokenBucket({ capacity: 3, refillPerSecond: 2, now: () => now });
    expect([bucket.tryTake(), bucket.tryTake(), bucket.tryTake()]).toEqual([0, 0, 0]);
    expect(bucket.tryTake()).toBe(500);
    now += 499;
    expect(bucket.tryTake()).toBeGreaterThan(0);
    now += 1;
    expect(bucket.tryTake()).toBe(0);
    now += 60_000; // never more than capacity
    expect(Math.round(bucket.available)).toBe(3);
  });

  it('a wall-clock step back does not stall it (the default clock is monotonic)', async () => {
    const realNow = Date.now.bind(Date);
    let stepMs = 0;
    const spy = vi.spyOn(Date, 'now').mockImplementation(() => realNow() + stepMs);
    try {
      const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 20 });
      expect(bucket.tryTake()).toBe(0);
      stepMs = -2 * 3_600_000;
      await new Promise((r) => setTimeout(r, 120));
      // On the wall clock 2 h went backwards: -144,000 tokens, a wait of 2 h.
      expect(bucket.tryTake()).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });

  it('take() waits its turn in arrival order and keeps the sustained rate', async () => {
    const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 50 });
    const start = Date.now();
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3, 4].map((i) => bucket.take().then(() => order.push(i))));
    const elapsed = Date.now() - start;
    expect(order).toEqual([0, 1, 2, 3, 4]);
    // 1 immediately, 4 more at 50/s: at least ~80 ms.
    expect(elapsed).toBeGreaterThanOrEqual(70);
  });

  it('an aborted waiter does not block the ones behind it', async () => {
    const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 5 });
    await bucket.take();
    const controller = new AbortController();
    const aborted = bucket.take(controller.signal);
    controller.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    const start = Date.now();
    await bucket.take();
    expect(Date.now() - start).toBeLessThan(400);
  });

  it('rejects nonsense settings', () => {
    expect(() => new TokenBucket({ capacity: 0, refillPerSecond: 1 })).toThrow(RangeError);
    expect(() => new TokenBucket({ capacity: 1, refillPerSecond: 0 })).toThrow(RangeError);
  });
});
