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

  it('is pending from a wake until a wait takes it, also while a wait is being woken', async () => {
    const w = new Wakeup();
    const p = w.wait(10_000);
    expect(w.pending).toBe(false);
    w.wake();
    expect(w.pending).toBe(true); // the woken wait has not returned yet: work is due
    expect(await p).toBe('woken');
    expect(w.pending).toBe(false);
  });

  it('rejects with the abort reason', async () => {
    const w = new Wakeup();
    const controller = new AbortController();
    const p = w.wait(10_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });
});
