import { describe, expect, it } from 'vitest';
import { Wakeup } from './wakeup.ts';

describe('Wakeup', () => {
  it('times out when nobody wakes it', async () => {
    expect(await new Wakeup().wait(10)).toBe('timeout');
  });

  it('is cut short by wake()', async () => {
    const w = new Wakeup();
    const t0 = performance.now();
    const p = w.wait(10_000);
    setTimeout(() => w.wake(), 10);
    expect(await p).toBe('woken');
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('remembers a wake that came while nobody waited, once', async () => {
    const w = new Wakeup();
    w.wake();
    expect(await w.wait(10_000)).toBe('woken');
    expect(await w.wait(10)).toBe('timeout');
    w.wake();
    w.clear();
    expect(await w.wait(10)).toBe('timeout');
  });

  it('rejects with the abort reason', async () => {
    const w = new Wakeup();
    const controller = new AbortController();
    const p = w.wait(10_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });
});
