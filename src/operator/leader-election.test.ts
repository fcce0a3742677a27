/**
 * Leader election under wall-clock steps (NTP), without a cluster: two electors share an
 * in-memory Lease API (compare-and-swap on resourceVersion, like the API server), and
 * Date.now() is stepped ±2 h while they run. Expiry and deadlines must follow the monotonic
 * clock: a step must not make two leaders, drop leadership, or keep a dead leader's Lease
 * alive for the size of the step.
 */
import { Writable } from 'node:stream';
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeaderElector } from './leader-election.ts';

class FakeLeases {
  private lease: V1Lease | undefined;
  private version = 0;
  /** Identities whose requests fail (their API server connection is gone). */
  readonly cutOff = new Set<string>();

  api(who: string): CoordinationV1Api {
    const check = () => {
      if (this.cutOff.has(who))
        throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    };
    const copy = (l: V1Lease): V1Lease => structuredClone(l);
    return {
      readNamespacedLease: async () => {
        check();
        if (!this.lease) throw Object.assign(new Error('not found'), { code: 404 });
        return copy(this.lease);
      },
      createNamespacedLease: async ({ body }: { body: V1Lease }) => {
        check();
        if (this.lease) throw Object.assign(new Error('conflict'), { code: 409 });
        this.lease = {
          ...copy(body),
          metadata: { ...body.metadata, resourceVersion: String(++this.version) },
        };
        return copy(this.lease);
      },
      replaceNamespacedLease: async ({ body }: { body: V1Lease }) => {
        check();
        if (!this.lease) throw Object.assign(new Error('not found'), { code: 404 });
        if (body.metadata?.resourceVersion !== this.lease.metadata?.resourceVersion)
          throw Object.assign(new Error('conflict'), { code: 409 });
        this.lease = {
          ...copy(body),
          metadata: { ...body.metadata, resourceVersion: String(++this.version) },
        };
        return copy(this.lease);
      },
    } as unknown as CoordinationV1Api;
  }

  get holder(): string | undefined {
    return this.lease?.spec?.holderIdentity ?? undefined;
  }
}

// Time is the subject: fake timers, so the test runs in no real time and its bounds are exact.
// Date (the wall clock) is stepped with setSystemTime; performance.now (the monotonic clock
// the elector must use) is not moved by that, only by advancing the timers.
const startWall = Date.parse('2026-03-02T10:00:00Z');
beforeEach(() => {
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'],
    now: startWall,
  });
});
afterEach(() => {
  vi.useRealTimers();
});

const sleep = (ms: number) => vi.advanceTimersByTimeAsync(ms);
/** Steps the wall clock to `offsetMs` away from the true time (start + monotonic time passed). */
const stepWallClock = (offsetMs: number) => vi.setSystemTime(startWall + performance.now() + offsetMs);

describe('LeaderElector and wall-clock steps', () => {
  it('keeps one leader through ±2 h steps, and a standby still takes over a dead leader on time', async () => {
    const leases = new FakeLeases();
    const stops: Record<string, string[]> = { a: [], b: [] };
    const make = (who: 'a' | 'b') =>
      new LeaderElector({
        coordination: leases.api(who),
        namespace: 'ns',
        name: 'lease',
        identity: who,
        leaseDurationSeconds: 1.2,
        renewDeadlineSeconds: 0.8,
        // Different periods: with fake timers the two would otherwise run in lockstep, and B
        // would see a fresh renew at every poll, never judging A's Lease by elapsed time.
        retryPeriodSeconds: who === 'a' ? 0.2 : 0.13,
        onStartedLeading: () => undefined,
        onStoppedLeading: (reason) => stops[who]!.push(reason),
        releaseOnCancel: false,
      });
    const a = make('a');
    const root = new AbortController();
    const runA = a.run(root.signal);
    while (!a.isLeader()) await sleep(10);
    const b = make('b');
    const runB = b.run(root.signal);

    let both = 0;
    let aLeadingSamples = 0;
    let samples = 0;
    const watch = setInterval(() => {
      samples++;
      if (a.isLeader() && b.isLeader()) both++;
      if (a.isLeader()) aLeadingSamples++;
    }, 5);
    try {
      // Steps while A leads and B waits: forward (B must not see A's Lease as expired; A must
      // not see its renew deadline as passed), back, forward by a day, back to normal.
      for (const step of [2 * 3_600_000, -2 * 3_600_000, 24 * 3_600_000, 0]) {
        stepWallClock(step);
        await sleep(1_500); // longer than the lease: any wrong expiry would show
      }
      expect(both, 'samples with two leaders').toBe(0);
      expect(stops.a, 'A never stopped leading').toEqual([]);
      expect(aLeadingSamples).toBe(samples);
      expect(leases.holder).toBe('a');

      // A's API connection dies while the clock is 2 h behind: A must step down within its
      // renew deadline and B take over within about a lease — not 2 h later.
      stepWallClock(-2 * 3_600_000);
      const cut = performance.now();
      leases.cutOff.add('a');
      while (a.isLeader()) await sleep(5);
      const aStoppedAfter = performance.now() - cut;
      while (!b.isLeader()) {
        if (performance.now() - cut > 5_000) throw new Error('B did not take over within 5 s');
        await sleep(5);
      }
      const bLeadsAfter = performance.now() - cut;
      expect(aStoppedAfter).toBeLessThan(1_200);
      expect(bLeadsAfter).toBeLessThan(3_500);
      expect(both, 'samples with two leaders').toBe(0);
      expect(stops.a).toEqual(['renew deadline passed']);
    } finally {
      clearInterval(watch);
      root.abort();
      await Promise.allSettled([runA, runB]);
    }
  }, 20_000);
});

describe('LeaderElector logging', () => {
  it('logs an unreachable API server once per outage while campaigning, not once per retry', async () => {
    const leases = new FakeLeases();
    const lines: { level: number; msg: string }[] = [];
    const log = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _enc, done) {
          lines.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    );
    leases.cutOff.add('a');
    const a = new LeaderElector({
      coordination: leases.api('a'),
      namespace: 'ns',
      name: 'lease',
      identity: 'a',
      leaseDurationSeconds: 1.2,
      renewDeadlineSeconds: 0.8,
      retryPeriodSeconds: 0.05,
      onStartedLeading: () => undefined,
      onStoppedLeading: () => undefined,
      releaseOnCancel: false,
      log,
    });
    const root = new AbortController();
    const run = a.run(root.signal);
    try {
      await sleep(600); // ~10 failed attempts
      leases.cutOff.delete('a');
      while (!a.isLeader()) await sleep(10);
    } finally {
      root.abort();
      await run;
    }
    const failing = lines.filter((l) => l.msg.startsWith('leader election: acquiring the Lease failing'));
    expect(failing, 'one warning for the whole outage').toHaveLength(1);
    expect(failing[0]!.msg).toMatch(/connection refused/);
    expect(lines.filter((l) => l.msg === 'leader election: acquiring the Lease recovered')).toHaveLength(1);
  });
});
