/**
 * Leader election over a coordination.k8s.io/v1 Lease, with client-go's semantics
 * (k8s.io/client-go/tools/leaderelection), since client-node has none:
 * - every replica runs the loop; the Lease's holderIdentity names the leader;
 * - writes are get + replace with the read resourceVersion, so two replicas racing for the
 *   Lease cannot both win (the loser gets 409 Conflict);
 * - another holder's Lease counts as expired `leaseDurationSeconds` after this replica last
 *   saw the record change, on this replica's own MONOTONIC clock (clock skew between nodes
 *   and wall-clock steps on this one are harmless; client-go gets the same from Go's
 *   monotonic time.Now());
 * - the leader renews every retryPeriod; when it has not renewed successfully for
 *   renewDeadline (less than leaseDuration, so it stops before anyone else may start) or sees
 *   another holder, it stops leading: the signal given to onStartedLeading aborts at that
 *   instant, even while a renew request hangs;
 * - on shutdown the leader releases the Lease (empty holder, leaseDurationSeconds 1), so a
 *   standby replica takes over within about one retryPeriod instead of a whole lease.
 * After losing the lease a replica goes back to being a candidate; onStartedLeading is then
 * called again with a fresh signal if it wins again.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  type ConfigurationOptions,
  type CoordinationV1Api,
  Observable,
  type RequestContext,
  type ResponseContext,
  type V1Lease,
  type V1LeaseSpec,
  V1MicroTime,
} from '@kubernetes/client-node';
import { apiErrorMessage, isConflict, isNotFound } from '../kube/api-errors.ts';
import { FailureStateLog } from '../observability/failure-state-log.ts';
import type { Logger } from '../observability/logger.ts';
import { sleep } from '../util/backoff.ts';

export interface LeaderElectionOptions {
  coordination: CoordinationV1Api;
  namespace: string;
  /** Lease name. */
  name: string;
  /** Default: defaultIdentity() (pod name + random suffix). */
  identity?: string;
  leaseDurationSeconds?: number;
  renewDeadlineSeconds?: number;
  retryPeriodSeconds?: number;
  /**
   * Called when this replica becomes leader. `signal` aborts the instant leadership is lost
   * or the elector stops; all leader-only work must stop then. A returned promise is awaited
   * (up to renewDeadline) before the Lease is released on shutdown.
   */
  onStartedLeading: (signal: AbortSignal) => unknown;
  /** Called once each time leadership ends (lost or released). */
  onStoppedLeading?: (reason: string) => void;
  /** Called when the observed holder changes (undefined: nobody holds the Lease). */
  onNewLeader?: (identity: string | undefined) => void;
  log?: Logger;
  /** Release the Lease on shutdown (default true). */
  releaseOnCancel?: boolean;
  /**
   * Annotations this replica writes on the Lease with each acquire and renewal while it holds
   * it (the agent's status for `kubectl clusteropt status`); they cost no extra API request.
   */
  annotations?: () => Record<string, string>;
  /**
   * Clocks, injectable for tests. `wall` (default Date.now) only fills the Lease's renewTime
   * and acquireTime, which are for humans and other tools; every expiry and deadline this
   * replica decides on is measured on `monotonic` (default performance.now), so a wall-clock
   * step (NTP) can neither expire a live leader's Lease early (two leaders) nor keep a dead
   * one's alive for the size of the step, nor cut or stretch this leader's renew deadline.
   */
  clock?: { wall?: () => number; monotonic?: () => number };
}

/** `<POD_NAME or host name>_<8 random hex>`: unique even if a pod name is reused. */
export function defaultIdentity(): string {
  return `${process.env.POD_NAME || hostname()}_${randomUUID().slice(0, 8)}`;
}

/** Per-request options that abort the request with the signal (client-node has no such option). */
function withSignal(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (context: RequestContext) => {
          context.setSignal(signal);
          return new Observable(Promise.resolve(context));
        },
        post: (response: ResponseContext) => new Observable(Promise.resolve(response)),
      },
    ],
    middlewareMergeStrategy: 'append',
  } as ConfigurationOptions;
}

/** client-node leaves MicroTime fields of responses as strings; requests take V1MicroTime. */
function toMs(value: Date | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

function sameRecord(a: V1LeaseSpec | undefined, b: V1LeaseSpec | undefined): boolean {
  return (
    a?.holderIdentity === b?.holderIdentity &&
    a?.leaseDurationSeconds === b?.leaseDurationSeconds &&
    toMs(a?.renewTime) === toMs(b?.renewTime) &&
    toMs(a?.acquireTime) === toMs(b?.acquireTime) &&
    a?.leaseTransitions === b?.leaseTransitions
  );
}

type Attempt = 'held' | 'other' | 'conflict';

/**
 * The API error with its causes: undici says only "fetch failed"; the cause says why, e.g.
 * "certificate is not yet valid" after the wall clock stepped back past the certificate's
 * notBefore (TLS needs a correct clock, leases do not).
 */
function withCause(err: unknown): string {
  let text = apiErrorMessage(err);
  let cause = err instanceof Error ? err.cause : undefined;
  for (let depth = 0; cause instanceof Error && depth < 3; depth++) {
    const code = (cause as { code?: unknown }).code;
    text += `: ${cause.message}${typeof code === 'string' && !cause.message.includes(code) ? ` (${code})` : ''}`;
    cause = cause.cause;
  }
  return text;
}

/** Waits for `promise` to settle, at most `ms`, without leaving a timer behind. */
async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

export class LeaderElector {
  readonly identity: string;
  private readonly options: LeaderElectionOptions;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  /** The Lease as last read or written by this replica. */
  private lease: V1Lease | undefined;
  private observedRecord: V1LeaseSpec | undefined;
  /** Monotonic time at which observedRecord last changed. */
  private observedAt = 0;
  private leading = false;
  private running = false;
  /** Monotonic start time of the last successful write of this replica as holder. */
  private lastWriteAt = 0;
  private readonly wall: () => number;
  private readonly mono: () => number;
  private readonly acquireFailures: FailureStateLog;

  constructor(options: LeaderElectionOptions) {
    this.options = options;
    this.identity = options.identity ?? defaultIdentity();
    this.leaseMs = (options.leaseDurationSeconds ?? 15) * 1000;
    this.renewDeadlineMs = (options.renewDeadlineSeconds ?? 10) * 1000;
    this.retryMs = (options.retryPeriodSeconds ?? 2) * 1000;
    this.wall = options.clock?.wall ?? Date.now;
    this.mono = options.clock?.monotonic ?? (() => performance.now());
    if (this.renewDeadlineMs >= this.leaseMs)
      throw new Error('renewDeadline must be less than leaseDuration');
    if (this.retryMs >= this.renewDeadlineMs) throw new Error('retryPeriod must be less than renewDeadline');
    this.acquireFailures = new FailureStateLog(this.leaseLog(), 'leader election: acquiring the Lease');
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder this replica last saw (itself when leading); undefined when none or unknown. */
  leaderIdentity(): string | undefined {
    return this.observedRecord?.holderIdentity || undefined;
  }

  /**
   * Campaigns, leads, and campaigns again after losing, until `signal` aborts; then stops
   * leading, waits for the leader work to settle (bounded) and releases the Lease.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.running) throw new Error('LeaderElector.run is already running');
    this.running = true;
    try {
      while (!signal.aborted) {
        if (await this.acquire(signal)) await this.lead(signal);
      }
    } finally {
      this.running = false;
    }
  }

  /** Tries every retryPeriod (plus up to 20% jitter, so replicas spread out) until it holds the Lease. */
  private async acquire(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      const retryInMs = this.retryMs * (1 + Math.random() * 0.2);
      try {
        const timeout = AbortSignal.any([signal, AbortSignal.timeout(this.renewDeadlineMs)]);
        const attempt = await this.tryAcquireOrRenew(timeout);
        this.acquireFailures.succeeded();
        if (attempt === 'held') return true;
      } catch (err) {
        if (signal.aborted) return false;
        // Once per outage, not once a second while the API server is down.
        this.acquireFailures.failed(withCause(err), retryInMs);
      }
      await sleep(retryInMs, signal).catch(() => undefined);
    }
    return false;
  }

  private async lead(signal: AbortSignal): Promise<void> {
    const leadership = new AbortController();
    let stopReason = '';
    const stop = (reason: string) => {
      if (leadership.signal.aborted) return;
      stopReason = reason;
      // Flip the state before anything else runs, so isLeader() is false the moment work aborts.
      this.leading = false;
      leadership.abort(new Error(`leadership lost: ${reason}`));
    };
    this.leading = true;
    const renewFailures = new FailureStateLog(this.leaseLog(), 'leader election: renewing the Lease');
    let lastRenew = this.lastWriteAt;
    let deadline = setTimeout(
      () => stop('renew deadline passed'),
      lastRenew + this.renewDeadlineMs - this.mono(),
    );
    const onShutdown = () => stop('shutting down');
    signal.addEventListener('abort', onShutdown, { once: true });
    if (signal.aborted) onShutdown();

    this.options.log?.info(
      { identity: this.identity, lease: this.leaseRef() },
      'leader election: started leading',
    );
    const work = Promise.resolve()
      .then(() => this.options.onStartedLeading(leadership.signal))
      .catch((err: unknown) => {
        if (!leadership.signal.aborted)
          this.options.log?.error({ err }, 'leader election: leader work failed');
      });

    try {
      while (!leadership.signal.aborted) {
        await sleep(this.retryMs, leadership.signal).catch(() => undefined);
        if (leadership.signal.aborted) break;
        const remaining = lastRenew + this.renewDeadlineMs - this.mono();
        try {
          const attempt = await this.tryAcquireOrRenew(
            AbortSignal.any([leadership.signal, AbortSignal.timeout(Math.max(Math.ceil(remaining), 1))]),
          );
          if (leadership.signal.aborted) break;
          renewFailures.succeeded();
          if (attempt === 'held') {
            lastRenew = this.lastWriteAt;
            clearTimeout(deadline);
            deadline = setTimeout(
              () => stop('renew deadline passed'),
              lastRenew + this.renewDeadlineMs - this.mono(),
            );
          } else if (attempt === 'other') {
            stop(`lease taken by ${this.leaderIdentity() ?? 'another replica'}`);
          }
          // 'conflict': someone wrote the Lease between our read and write; retry until the deadline.
        } catch (err) {
          if (leadership.signal.aborted) break;
          renewFailures.failed(withCause(err), this.retryMs);
        }
      }
    } finally {
      clearTimeout(deadline);
      signal.removeEventListener('abort', onShutdown);
    }

    this.options.log?.info(
      { identity: this.identity, reason: stopReason },
      'leader election: stopped leading',
    );
    try {
      this.options.onStoppedLeading?.(stopReason);
    } catch (err) {
      this.options.log?.error({ err }, 'leader election: onStoppedLeading failed');
    }
    // Never start new work (or hand over) while the old work may still be running.
    await settleWithin(work, this.renewDeadlineMs);
    if (signal.aborted && this.options.releaseOnCancel !== false) await this.release();
  }

  /** One attempt: read the Lease and create, renew or take it over if allowed. */
  private async tryAcquireOrRenew(requestSignal: AbortSignal): Promise<Attempt> {
    const api = this.options.coordination;
    const { name, namespace } = this.options;
    const wall = this.wall();
    const now = this.mono();
    const opts = withSignal(requestSignal);

    // Fast path for the leader: write on top of what it wrote last; a conflict falls back to a read.
    if (this.leading && this.lease?.spec?.holderIdentity === this.identity) {
      try {
        return this.wrote(
          await api.replaceNamespacedLease({ name, namespace, body: this.nextLease(this.lease, wall) }, opts),
          now,
        );
      } catch (err) {
        // Conflict: someone else wrote it; not found: deleted. Either way, read what is there.
        if (!isConflict(err) && !isNotFound(err)) throw err;
      }
    }

    let current: V1Lease;
    try {
      current = await api.readNamespacedLease({ name, namespace }, opts);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const body: V1Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace, ...this.holderAnnotations(undefined) },
        spec: this.record(wall, new V1MicroTime(wall), 0),
      };
      try {
        return this.wrote(await api.createNamespacedLease({ namespace, body }, opts), now);
      } catch (createErr) {
        if (isConflict(createErr)) return 'conflict';
        throw createErr;
      }
    }

    this.observe(current.spec, now);
    this.lease = current;
    const holder = current.spec?.holderIdentity;
    const durationMs = (current.spec?.leaseDurationSeconds ?? 0) * 1000;
    if (holder && holder !== this.identity && this.observedAt + durationMs > now) return 'other';
    try {
      return this.wrote(
        await api.replaceNamespacedLease({ name, namespace, body: this.nextLease(current, wall) }, opts),
        now,
      );
    } catch (err) {
      if (isConflict(err)) return 'conflict';
      throw err;
    }
  }

  /** `now` is wall-clock time: it goes into the Lease. */
  private record(now: number, acquireTime: V1MicroTime | Date | string, transitions: number): V1LeaseSpec {
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.leaseMs / 1000,
      acquireTime: acquireTime as V1MicroTime,
      renewTime: new V1MicroTime(now),
      leaseTransitions: transitions,
    };
  }

  /** The Lease with this replica as holder: a renewal keeps acquireTime, a takeover counts a transition. */
  private nextLease(current: V1Lease, now: number): V1Lease {
    const spec = current.spec ?? {};
    const renewal = spec.holderIdentity === this.identity;
    const transitions = (spec.leaseTransitions ?? 0) + (renewal ? 0 : 1);
    const acquireTime = renewal && spec.acquireTime ? spec.acquireTime : new V1MicroTime(now);
    return {
      ...current,
      metadata: { ...current.metadata, ...this.holderAnnotations(current.metadata?.annotations) },
      spec: { ...spec, ...this.record(now, acquireTime, transitions) },
    };
  }

  /** `{annotations}` with the holder's own merged in, or nothing when there are none. */
  private holderAnnotations(existing: Record<string, string> | undefined) {
    let own: Record<string, string> | undefined;
    try {
      own = this.options.annotations?.();
    } catch (err) {
      // Status for humans must never cost the Lease.
      this.options.log?.warn({ err }, 'leader election: Lease annotations failed');
    }
    return own ? { annotations: { ...existing, ...own } } : {};
  }

  /** `now` is monotonic. */
  private wrote(lease: V1Lease, now: number): Attempt {
    this.lease = lease;
    this.lastWriteAt = now;
    this.observe(lease.spec, now);
    return 'held';
  }

  private observe(record: V1LeaseSpec | undefined, now: number): void {
    if (this.observedRecord && sameRecord(record, this.observedRecord)) return;
    const before = this.leaderIdentity();
    this.observedRecord = record;
    this.observedAt = now;
    const after = this.leaderIdentity();
    if (before !== after) {
      try {
        this.options.onNewLeader?.(after);
      } catch (err) {
        this.options.log?.error({ err }, 'leader election: onNewLeader failed');
      }
    }
  }

  /** Gives the Lease up so a standby takes over at its next retry (client-go's ReleaseOnCancel). */
  private async release(): Promise<void> {
    const { name, namespace } = this.options;
    for (let attempt = 0; attempt < 2; attempt++) {
      const lease = this.lease;
      if (!lease || lease.spec?.holderIdentity !== this.identity) return;
      const now = this.wall();
      const body: V1Lease = {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          acquireTime: new V1MicroTime(now),
          renewTime: new V1MicroTime(now),
        },
      };
      const opts = withSignal(AbortSignal.timeout(this.renewDeadlineMs));
      try {
        this.lease = await this.options.coordination.replaceNamespacedLease({ name, namespace, body }, opts);
        this.observe(this.lease.spec, this.mono());
        this.options.log?.info({ lease: this.leaseRef() }, 'leader election: released the lease');
        return;
      } catch (err) {
        if (!isConflict(err)) {
          this.options.log?.warn({ err }, 'leader election: release failed');
          return;
        }
        // Someone wrote it meanwhile: re-read; release only if it is still ours.
        this.lease = await this.options.coordination
          .readNamespacedLease({ name, namespace }, opts)
          .catch(() => undefined);
      }
    }
  }

  private leaseRef(): string {
    return `${this.options.namespace}/${this.options.name}`;
  }

  private leaseLog(): Logger | undefined {
    return this.options.log?.child({ lease: this.leaseRef() });
  }
}
