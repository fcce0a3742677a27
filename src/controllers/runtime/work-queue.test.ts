import { afterEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue } from './work-queue.ts';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('processes a key queued twice while waiting once, and again if queued while active', async () => {
    const seen: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new WorkQueue({
      concurrency: 1,
      laneOf: () => undefined,
      process: async (k) => {
        seen.push(k);
        if (seen.length === 1) await gate;
      },
    });
    q.add('a');
    q.add('b');
    q.add('b');
    await tick();
    q.add('a'); // active: must run again after
    release();
    await tick(20);
    expect(seen).toEqual(['a', 'b', 'a']);
  });

  it('never runs two keys of one lane at once, keeps their order, and runs other lanes in parallel', async () => {
    let inLaneX = 0;
    let maxInLaneX = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    const order: string[] = [];
    const q = new WorkQueue({
      concurrency: 4,
      laneOf: (k) => k.split(':')[0],
      process: async (k) => {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        if (k.startsWith('x:')) {
          inLaneX++;
          maxInLaneX = Math.max(maxInLaneX, inLaneX);
          order.push(k);
        }
        await tick(10);
        if (k.startsWith('x:')) inLaneX--;
        concurrent--;
      },
    });
    for (const k of ['x:1', 'y:1', 'x:2', 'z:1', 'x:3']) q.add(k);
    await tick(100);
    expect(maxInLaneX).toBe(1);
    expect(order).toEqual(['x:1', 'x:2', 'x:3']);
    expect(maxConcurrent).toBeGreaterThanOrEqual(3);
  });

  it('requeues after a delay and stop() waits for active work', async () => {
    const seen: number[] = [];
    let release!: () => void;
    const q = new WorkQueue({
      concurrency: 2,
      laneOf: () => undefined,
      process: async (k) => {
        seen.push(Date.now());
        if (k === 'k2') await new Promise<void>((r) => (release = r));
      },
    });
    const t0 = Date.now();
    q.addAfter('k', 40);
    await tick(5);
    expect(seen).toHaveLength(0);
    await waitUntil(() => seen.length === 1);
    expect(seen[0]! - t0).toBeGreaterThanOrEqual(35);
    q.add('k2');
    await waitUntil(() => seen.length === 2);
    let stopped = false;
    const stopping = q.stop().then(() => {
      stopped = true;
    });
    await tick(20);
    expect(stopped).toBe(false); // k2 is still running
    release();
    await stopping;
    q.add('k3');
    await tick(10);
    expect(seen).toHaveLength(2);
  });

  describe('with a pending requeue (fake timers)', () => {
    afterEach(() => {
      vi.useRealTimers();
    });
    const fake = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const recorder = () => {
      const seen: string[] = [];
      const q = new WorkQueue({
        concurrency: 1,
        laneOf: () => undefined,
        process: async (k) => {
          seen.push(`${k}@${performance.now()}`);
        },
      });
      return { seen, q };
    };

    it('the requeue due soonest wins, whichever came first', async () => {
      fake();
      const { seen, q } = recorder();
      q.addAfter('a', 5_000);
      q.addAfter('a', 1_000); // sooner: replaces
      q.addAfter('a', 3_000); // later: ignored
      await vi.advanceTimersByTimeAsync(10_000);
      expect(seen).toEqual(['a@1000']);
    });

    it('forget drops a pending requeue', async () => {
      fake();
      const { seen, q } = recorder();
      q.addAfter('a', 1_000);
      q.forget('a');
      q.addAfter('a', 4_000);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(seen).toEqual(['a@4000']);
    });

    it('idle resolves once nothing waits or runs, not counting pending requeues', async () => {
      fake();
      const { seen, q } = recorder();
      await q.idle();
      q.add('a');
      q.add('b');
      q.addAfter('c', 60_000);
      await q.idle();
      expect(seen).toEqual(['a@0', 'b@0']);
    });
  });
});

async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await tick(10);
  expect(cond()).toBe(true);
}
