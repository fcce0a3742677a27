/**
 * Lease leader election against the real API server: two electors on one Lease, with short
 * timings (lease 4 s, renew deadline 3 s, retry 1 s) so the hand-overs are quick to observe.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { CoordinationV1Api, KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LeaderElectionOptions, LeaderElector } from '../../src/operator/leader-election.ts';
import {
  createNamespace,
  deleteNamespace,
  loadTestKubeConfig,
  uniqueName,
  waitFor,
} from '../support/kube.ts';

const kc = loadTestKubeConfig();
const coordination = kc.makeApiClient(CoordinationV1Api);
const timings = { leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 };

/** One elector with its run loop, and what happened to it, with timestamps. */
interface Candidate {
  elector: LeaderElector;
  controller: AbortController;
  done: Promise<void>;
  startedAt: number[];
  stoppedAt: number[];
  stopReasons: string[];
  /** Holders reported by onNewLeader, in order. */
  newLeaders: (string | undefined)[];
  /** The signal handed to the latest onStartedLeading, and when it aborted. */
  workSignal?: AbortSignal;
  workAbortedAt?: number;
}

const candidates: Candidate[] = [];

function start(
  namespace: string,
  lease: string,
  identity: string,
  extra: Partial<LeaderElectionOptions> = {},
): Candidate {
  const controller = new AbortController();
  const c = {
    controller,
    startedAt: [],
    stoppedAt: [],
    stopReasons: [],
    newLeaders: [],
  } as unknown as Candidate;
  c.elector = new LeaderElector({
    coordination,
    namespace,
    name: lease,
    identity,
    ...timings,
    onStartedLeading: (signal) => {
      c.startedAt.push(Date.now());
      c.workSignal = signal;
      signal.addEventListener('abort', () => (c.workAbortedAt = Date.now()), { once: true });
    },
    onNewLeader: (holder) => c.newLeaders.push(holder),
    onStoppedLeading: (reason) => {
      c.stoppedAt.push(Date.now());
      c.stopReasons.push(reason);
    },
    ...extra,
  });
  c.done = c.elector.run(controller.signal);
  candidates.push(c);
  return c;
}

async function readLease(namespace: string, name: string): Promise<V1Lease> {
  return coordination.readNamespacedLease({ name, namespace });
}

/** Fails the test if both candidates ever lead at the same time while `ms` pass. */
async function neverBothLead(a: Candidate, b: Candidate, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    expect(a.elector.isLeader() && b.elector.isLeader()).toBe(false);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A copy of the test KubeConfig whose API server is `server`. */
function kubeConfigWithServer(server: string): KubeConfig {
  const copy = new KubeConfig();
  copy.loadFromOptions({
    clusters: kc.getClusters().map((c) => ({ ...c, server })),
    users: kc.getUsers(),
    contexts: kc.getContexts(),
    currentContext: kc.getCurrentContext(),
  });
  return copy;
}

/** Accepts connections and never answers: a hung API server (or a network black hole). */
async function blackHole(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

describe('Lease leader election', () => {
  let ns = '';

  beforeAll(async () => {
    ns = await createNamespace(kc, 'leader');
  });

  afterEach(async () => {
    // Stop every elector of the test (releasing what they hold) before the next one.
    for (const c of candidates.splice(0)) {
      c.controller.abort();
      await c.done;
    }
  });

  afterAll(async () => {
    await deleteNamespace(kc, ns);
  });

  it('exactly one of two electors leads; both agree who', async () => {
    const lease = uniqueName('lease');
    const a = start(ns, lease, 'replica-a');
    const b = start(ns, lease, 'replica-b');
    const leader = await waitFor(() => (a.elector.isLeader() ? a : b.elector.isLeader() ? b : undefined), {
      timeoutMs: 10_000,
      what: 'a leader',
    });
    const follower = leader === a ? b : a;
    await neverBothLead(a, b, 3_000);
    expect(leader.elector.isLeader()).toBe(true);
    expect(leader.startedAt).toHaveLength(1);
    expect(follower.startedAt).toHaveLength(0);
    expect(follower.elector.leaderIdentity()).toBe(leader.elector.identity);
    expect(leader.elector.leaderIdentity()).toBe(leader.elector.identity);
    expect(follower.newLeaders).toEqual([leader.elector.identity]);

    const record = await readLease(ns, lease);
    expect(record.spec?.holderIdentity).toBe(leader.elector.identity);
    expect(record.spec?.leaseDurationSeconds).toBe(4);
    // MicroTime on the wire: RFC 3339 with exactly six fractional digits.
    expect(String(record.spec?.renewTime)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(String(record.spec?.acquireTime)).toMatch(/\.\d{6}Z$/);
    // The leader keeps renewing.
    const renewed = Date.parse(String(record.spec?.renewTime));
    await waitFor(async () => Date.parse(String((await readLease(ns, lease)).spec?.renewTime)) > renewed, {
      timeoutMs: 3_000,
      what: 'a renewal',
    });
  });

  it('a leader that dies without releasing is replaced within leaseDuration plus retry periods', async () => {
    const lease = uniqueName('lease');
    const a = start(ns, lease, 'replica-a', { releaseOnCancel: false });
    await waitFor(() => a.elector.isLeader(), { timeoutMs: 10_000, what: 'a leads' });
    const b = start(ns, lease, 'replica-b');
    await waitFor(() => b.elector.leaderIdentity() === 'replica-a', { timeoutMs: 5_000, what: 'b sees a' });
    const transitionsBefore = (await readLease(ns, lease)).spec?.leaseTransitions ?? 0;

    // kill -9: renewals stop at once, nothing is released.
    const killedAt = Date.now();
    a.controller.abort();
    await a.done;
    expect((await readLease(ns, lease)).spec?.holderIdentity).toBe('replica-a');

    await waitFor(() => b.elector.isLeader(), { timeoutMs: 15_000, what: 'b takes over' });
    const tookOver = (b.startedAt[0] as number) - killedAt;
    // Not before the Lease expired (the last renewal was at most one retry period before the
    // kill), and no later than a lease plus two retry periods: client-go's rule counts the
    // lease from when the follower *saw* the last renewal, up to one retry after it happened.
    expect(tookOver).toBeGreaterThanOrEqual((4 - 1) * 1000 - 200);
    expect(tookOver).toBeLessThanOrEqual((4 + 2 * 1.2) * 1000 + 1000);
    const record = await readLease(ns, lease);
    expect(record.spec?.holderIdentity).toBe('replica-b');
    expect(record.spec?.leaseTransitions).toBe(transitionsBefore + 1);
  });

  it('a leader whose event loop was blocked past the lease steps down, then leads again at once on its own Lease', async () => {
    // What a synchronous child process (execFileSync) does to an agent running in-process:
    // no renewal can run, so on waking the leader must stop (it cannot know whether another
    // replica took over) and then campaign again. Its previous term's work takes longer than
    // the renew deadline to finish, as an agent's may.
    const lease = uniqueName('lease');
    const starts: number[] = [];
    const a = start(ns, lease, 'replica-a', {
      onStartedLeading: (signal) => {
        starts.push(Date.now());
        return new Promise((resolve) =>
          signal.addEventListener('abort', () => setTimeout(resolve, 10_000), { once: true }),
        );
      },
    });
    await waitFor(() => a.elector.isLeader(), { timeoutMs: 10_000, what: 'a leads' });
    const before = await readLease(ns, lease);

    execFileSync('sleep', ['5']); // longer than the lease (4 s)
    const wokeAt = Date.now();
    await waitFor(() => a.stopReasons.length > 0, { timeoutMs: 2_000, what: 'a steps down' });
    expect(a.stopReasons).toEqual(['renew deadline passed']);
    await waitFor(() => a.elector.isLeader(), { timeoutMs: 10_000, what: 'a leads again' });
    expect(starts).toHaveLength(2);
    // The old term's work is waited for up to the renew deadline (3 s), then one retry.
    expect((starts[1] as number) - wokeAt).toBeLessThanOrEqual((3 + 1.2) * 1000 + 1000);
    // Nobody else held it: a renewal of its own Lease, not a takeover.
    const after = await readLease(ns, lease);
    expect(after.spec?.holderIdentity).toBe('replica-a');
    expect(after.spec?.leaseTransitions).toBe(before.spec?.leaseTransitions);
    expect(String(after.spec?.acquireTime)).toBe(String(before.spec?.acquireTime));
  });

  it('a graceful shutdown releases the Lease and the standby takes over within about one retry period', async () => {
    const lease = uniqueName('lease');
    const a = start(ns, lease, 'replica-a');
    await waitFor(() => a.elector.isLeader(), { timeoutMs: 10_000, what: 'a leads' });
    const b = start(ns, lease, 'replica-b');
    await waitFor(() => b.elector.leaderIdentity() === 'replica-a', { timeoutMs: 5_000, what: 'b sees a' });

    const stoppedAt = Date.now();
    a.controller.abort();
    await a.done;
    expect(a.stopReasons).toEqual(['shutting down']);
    expect(a.workSignal?.aborted).toBe(true);
    const released = await readLease(ns, lease);
    // Either still released, or b already took it.
    expect(['', 'replica-b']).toContain(released.spec?.holderIdentity ?? '');

    await waitFor(() => b.elector.isLeader(), { timeoutMs: 5_000, what: 'b takes over' });
    expect((b.startedAt[0] as number) - stoppedAt).toBeLessThanOrEqual(1.2 * 1000 + 1000);
  });

  it.each([
    ['refuses connections', 'closed'],
    ['hangs', 'black-hole'],
  ] as const)(
    'a leader whose API server %s steps down at the renew deadline, before anyone takes over',
    async (_what, kind) => {
      const lease = uniqueName('lease');
      let target = coordination;
      // Delegates to whichever client is current, so the test can cut the leader off the API.
      const switchable = {
        readNamespacedLease: (...args: Parameters<CoordinationV1Api['readNamespacedLease']>) =>
          target.readNamespacedLease(...args),
        createNamespacedLease: (...args: Parameters<CoordinationV1Api['createNamespacedLease']>) =>
          target.createNamespacedLease(...args),
        replaceNamespacedLease: (...args: Parameters<CoordinationV1Api['replaceNamespacedLease']>) =>
          target.replaceNamespacedLease(...args),
      } as unknown as CoordinationV1Api;
      const a = start(ns, lease, 'replica-a', { coordination: switchable });
      await waitFor(() => a.elector.isLeader(), { timeoutMs: 10_000, what: 'a leads' });
      const b = start(ns, lease, 'replica-b');
      await waitFor(() => b.elector.leaderIdentity() === 'replica-a', { timeoutMs: 5_000, what: 'b sees a' });

      const hole = await blackHole();
      // 'closed': a port nobody listens on any more (connection refused at once).
      if (kind === 'closed') await hole.close();
      try {
        const lastRenew = Date.parse(String((await readLease(ns, lease)).spec?.renewTime));
        target = kubeConfigWithServer(`https://127.0.0.1:${hole.port}`).makeApiClient(CoordinationV1Api);
        await waitFor(() => !a.elector.isLeader(), { timeoutMs: 10_000, what: 'a steps down' });
        expect(a.stopReasons).toEqual(['renew deadline passed']);
        expect(a.workSignal?.aborted).toBe(true);
        // Within the renew deadline of its last successful renewal (plus the retry it was written in).
        expect((a.workAbortedAt as number) - lastRenew).toBeLessThanOrEqual((3 + 1) * 1000 + 500);

        await waitFor(() => b.elector.isLeader(), { timeoutMs: 15_000, what: 'b takes over' });
        // The old leader had stopped before the new one started.
        expect(a.workAbortedAt as number).toBeLessThan(b.startedAt[0] as number);
        expect(a.elector.isLeader()).toBe(false);
      } finally {
        if (kind === 'black-hole') await hole.close();
      }
    },
  );
});
