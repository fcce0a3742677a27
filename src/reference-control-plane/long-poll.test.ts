import { describe, expect, it } from 'vitest';
import { LongPollHub } from './long-poll.ts';

describe('LongPollHub', () => {
  it('wakes only the notified cluster, at once', async () => {
    const hub = new LongPollHub();
    const a = hub.wait('a', 10_000);
    const b = hub.wait('b', 50);
    expect(hub.size).toBe(2);
    const started = performance.now();
    hub.notify('a');
    expect(await a).toBe('notified');
    expect(performance.now() - started).toBeLessThan(50);
    expect(await b).toBe('timeout');
    expect(hub.size).toBe(0);
  });

  it('resolves aborted waits and frees them', async () => {
    const hub = new LongPollHub();
    const ctrl = new AbortController();
    const w = hub.wait('a', 10_000, ctrl.signal);
    ctrl.abort();
    expect(await w).toBe('aborted');
    expect(hub.size).toBe(0);
    expect(await hub.wait('a', 10_000, ctrl.signal)).toBe('aborted');
  });

  it('answers everyone on close, and later waits at once', async () => {
    const hub = new LongPollHub();
    const waits = [hub.wait('a', 10_000), hub.wait('a', 10_000), hub.wait('b', 10_000)];
    hub.close();
    expect(await Promise.all(waits)).toEqual(['closed', 'closed', 'closed']);
    expect(await hub.wait('a', 10_000)).toBe('closed');
  });

  it('runs the probe only while someone waits, and wakes what it reports', async () => {
    let calls = 0;
    let changed: string[] = [];
    const hub = new LongPollHub({
      probeIntervalMs: 10,
      probe: () => {
        calls += 1;
        const out = changed;
        changed = [];
        return out;
      },
    });
    await new Promise((r) => setTimeout(r, 40));
    expect(calls).toBe(0);
    const w = hub.wait('x', 5000);
    await new Promise((r) => setTimeout(r, 35));
    expect(calls).toBeGreaterThan(0);
    changed = ['x'];
    expect(await w).toBe('notified');
    const after = calls;
    await new Promise((r) => setTimeout(r, 40));
    expect(calls).toBe(after);
  });
});
