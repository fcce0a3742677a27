/**
 * The I/O half of a drain: evicts the planned pods wave by wave with bounded concurrency,
 * retries what the API says to retry, and waits for pods to be gone by watching the node's
 * pods (one watch for the whole drain) and the node's readiness. Decisions stay in
 * drain-plan.ts (which pods, grace periods, budget) and drain-tracker.ts (when a pod is done).
 */

import { performance } from 'node:perf_hooks';
import {
  apiErrorMessage,
  isConflict,
  isMultiplePdbError,
  isNamespaceTerminating,
  isNotFound,
  isRetryableKubeError,
  isTooManyRequests,
  retryAfterMs,
} from '../kube/api-errors.ts';
import { isNodeReady } from '../kube/nodes.ts';
import { deletePod, evictPod, nodePodsQuery, type PodFacts, podFacts } from '../kube/pods.ts';
import { listWatch } from '../kube/watch.ts';
import { Backoff } from '../util/backoff.ts';
import { Wakeup } from '../util/wakeup.ts';
import { defaultPodGraceSeconds, evictionGraceSeconds, isMirrorPod } from './drain-plan.ts';
import { type DoneReason, DrainTracker } from './drain-tracker.ts';
import type { ActionContext } from './types.ts';

export interface EvictEntry {
  pod: PodFacts;
  critical: boolean;
  notes: string[];
}

/** One pod in a drain result. */
export interface DrainPodReport {
  namespace: string;
  name: string;
  uid: string;
  reason?: string;
  message?: string;
  critical?: boolean;
  attempts?: number;
  /** From the accepted eviction/deletion until the pod was gone. */
  waitedMs?: number;
  notes?: string[];
}

export interface DrainRunOptions {
  nodeName: string;
  actionId: string;
  /** Monotonic (performance.now()) time at which the budget ends. */
  budgetEndsAtMono: number;
  payloadGraceSeconds: number | undefined;
  /** Delete what a PDB still protects when the budget ends (asked for and allowed by policy). */
  forceDeleteAtBudgetEnd: boolean;
  /** Pods in these namespaces are never force-deleted. */
  noForceNamespaces: readonly string[];
  skipWaitForDeleteTimeoutSeconds: number | undefined;
}

/** Longest a drain waits for pods it force-deleted; still there after that: reported terminating. */
const forcedDeleteMaxWaitSeconds = 300;

export interface DrainRunOutcome {
  evicted: DrainPodReport[];
  forceDeleted: DrainPodReport[];
  /** Treated as done without being gone (NotReady node, skip-wait timeout). */
  stuck: DrainPodReport[];
  /** Not done at the end, with why. */
  remaining: DrainPodReport[];
  /** Eviction refused for good (not a PDB): the drain stopped early. */
  rejected: DrainPodReport[];
  /** Pods that appeared on the node after the plan (not evicted, like kubectl). */
  arrivedDuringDrain: DrainPodReport[];
  retries: { tooManyRequests: number; multiplePdb: number; transient: number };
  budgetExhausted: boolean;
  evictMs: number;
  forceMs: number;
}

interface QueueItem {
  entry: EvictEntry;
  notBefore: number;
  attempts: number;
  backoff: Backoff;
  lastError?: string;
  lastErrorKind?: 'pdb' | 'multiple-pdb' | 'transient';
}

const report = (
  pod: PodFacts,
  extra: Omit<DrainPodReport, 'namespace' | 'name' | 'uid'> = {},
): DrainPodReport => ({
  namespace: pod.namespace,
  name: pod.name,
  uid: pod.uid,
  ...extra,
});

export class DrainRun {
  private readonly ctx: ActionContext;
  private readonly options: DrainRunOptions;
  private readonly tracker: DrainTracker;
  private readonly internal = new AbortController();
  private readonly concurrency: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly forcedMarginMs: number;

  private readonly wakeup = new Wakeup();
  private inFlight = 0;
  private knownUids = new Set<string>();
  private planned = false;
  private readonly acceptedAt = new Map<string, number>(); // uid -> mono time eviction accepted
  private readonly doneReasons = new Map<string, DoneReason>(); // uid -> why done
  private readonly forced = new Set<string>();
  private readonly out: DrainRunOutcome = {
    evicted: [],
    forceDeleted: [],
    stuck: [],
    remaining: [],
    rejected: [],
    arrivedDuringDrain: [],
    retries: { tooManyRequests: 0, multiplePdb: 0, transient: 0 },
    budgetExhausted: false,
    evictMs: 0,
    forceMs: 0,
  };
  private watchers: Promise<void>[] = [];
  private lastProgress = 0;
  private lastAcceptedMono = 0;

  constructor(ctx: ActionContext, options: DrainRunOptions) {
    this.ctx = ctx;
    this.options = options;
    const tuning = ctx.drainTuning ?? {};
    this.concurrency = tuning.concurrency ?? 32;
    this.retryBaseMs = tuning.retryBaseMs ?? 500;
    this.retryMaxMs = tuning.retryMaxMs ?? 5_000;
    this.forcedMarginMs = (tuning.forcedDeleteMarginSeconds ?? 5) * 1000;
    this.tracker = new DrainTracker({
      notReadyMarginMs: (tuning.notReadyMarginSeconds ?? 10) * 1000,
      skipWaitForDeleteTimeoutMs: (options.skipWaitForDeleteTimeoutSeconds ?? 0) * 1000,
    });
    if (ctx.signal.aborted) this.onCallerAbort();
    else ctx.signal.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  /**
   * The caller's signal is the leadership term's, which outlives every drain of the term:
   * stop() takes this listener off again, or each finished drain (its pods, its outcome)
   * would stay reachable from the signal until leadership ends.
   */
  private readonly onCallerAbort = (): void => {
    this.internal.abort(this.ctx.signal.reason);
    this.wake();
  };

  /** The caller's signal aborted (shutdown, lost leadership). */
  get aborted(): boolean {
    return this.ctx.signal.aborted;
  }

  /** Aborted or stopped: every loop ends. */
  private get halted(): boolean {
    return this.internal.signal.aborted;
  }

  /**
   * Starts the node's pod and node watches; resolves with the pods on the node (the list the
   * watch started from, so nothing between plan and watch is missed).
   */
  async start(): Promise<PodFacts[]> {
    let initial: PodFacts[] | undefined;
    const pods = listWatch<Record<string, unknown>, PodFacts>({
      clients: this.ctx.kube,
      path: '/api/v1/pods',
      query: nodePodsQuery(this.options.nodeName),
      signal: this.internal.signal,
      log: this.ctx.log,
      // Cut to facts as each pod streams in, so a list of raw pods is never held.
      transform: podFacts,
      onList: (facts) => {
        initial ??= facts;
        this.tracker.relisted(facts, this.ctx.now());
        for (const p of facts) this.noticePod(p);
        this.wake();
      },
      onEvent: (type, pod) => {
        if (type === 'DELETED') this.tracker.deleted(pod, this.ctx.now());
        else {
          this.tracker.upsert(pod, this.ctx.now());
          this.noticePod(pod);
        }
        this.wake();
      },
    });
    const node = listWatch<Record<string, unknown>>({
      clients: this.ctx.kube,
      path: '/api/v1/nodes',
      query: { fieldSelector: `metadata.name=${this.options.nodeName}` },
      signal: this.internal.signal,
      log: this.ctx.log,
      onList: (items) => {
        this.tracker.setNodeReady(items[0] ? isNodeReady(items[0] as never) : false);
        this.wake();
      },
      onEvent: (type, obj) => {
        this.tracker.setNodeReady(type === 'DELETED' ? false : isNodeReady(obj as never));
        this.wake();
      },
    });
    this.watchers = [pods.stopped, node.stopped];
    await Promise.all([pods.ready, node.ready]);
    for (const p of initial ?? []) this.knownUids.add(p.uid);
    return initial ?? [];
  }

  /** Stops the watches (idempotent). */
  async stop(): Promise<void> {
    this.ctx.signal.removeEventListener('abort', this.onCallerAbort);
    this.internal.abort();
    await Promise.all(this.watchers);
  }

  /**
   * Evicts the waves in order; each must finish before the next starts. Stops at budget end,
   * on abort, or when an eviction was refused for good. Then, if allowed, force-deletes what
   * is left.
   */
  async run(waves: EvictEntry[][]): Promise<DrainRunOutcome> {
    this.planned = true;
    const started = performance.now();
    const total = waves.reduce((n, w) => n + w.length, 0);
    let leftover: EvictEntry[] = [];
    let stalled: QueueItem[] = [];
    for (let i = 0; i < waves.length; i++) {
      const wave = waves[i]!;
      const waveStarted = performance.now();
      const result = await this.runWave(wave, total);
      this.ctx.log.debug(
        {
          node: this.options.nodeName,
          wave: i + 1,
          pods: wave.length,
          outstanding: result.outstanding.length,
          ms: Math.round(performance.now() - waveStarted),
          lastAcceptedMs: this.lastAcceptedMono ? Math.round(this.lastAcceptedMono - waveStarted) : undefined,
        },
        'drain wave finished',
      );
      if (this.halted) return this.out;
      if (result.outstanding.length > 0 || this.out.rejected.length > 0) {
        stalled = result.outstanding;
        leftover = waves.slice(i + 1).flat();
        break;
      }
    }
    this.out.evictMs = Math.round(performance.now() - started);
    if (stalled.length === 0 && leftover.length === 0) return this.out;

    // Out of budget (or refused): force, or report what is left and why.
    const forceStarted = performance.now();
    const remainingEntries = [...stalled.map((s) => s.entry), ...leftover];
    if (this.out.budgetExhausted && this.options.forceDeleteAtBudgetEnd) {
      await this.forceDelete(remainingEntries);
      this.out.forceMs = Math.round(performance.now() - forceStarted);
      if (this.halted) return this.out;
    } else {
      for (const s of stalled) this.out.remaining.push(this.describeRemaining(s));
      for (const e of leftover) {
        this.out.remaining.push(
          report(e.pod, {
            reason: 'not-started',
            message: 'critical pod: not evicted because the non-critical pods could not all be drained',
            critical: e.critical,
          }),
        );
      }
    }
    return this.out;
  }

  private describeRemaining(item: QueueItem): DrainPodReport {
    const pod = item.entry.pod;
    const waiting = this.acceptedAt.has(pod.uid);
    const base = { critical: item.entry.critical, attempts: item.attempts };
    if (waiting) {
      const live = this.tracker.pending().find((p) => p.uid === pod.uid) ?? pod;
      return report(pod, {
        ...base,
        reason: 'terminating',
        message: `evicted but still terminating${live.deletionTimestampMs ? ` (deletion due ${new Date(live.deletionTimestampMs).toISOString()})` : ''}`,
      });
    }
    if (item.lastErrorKind === 'pdb' || item.lastErrorKind === 'multiple-pdb') {
      return report(pod, {
        ...base,
        reason: 'pdb',
        message: item.lastError ?? 'eviction refused by a PodDisruptionBudget',
      });
    }
    return report(pod, {
      ...base,
      reason: item.lastErrorKind === 'transient' ? 'api-error' : 'not-evicted',
      message: item.lastError ?? 'eviction not attempted before the budget ended',
    });
  }

  private async runWave(wave: EvictEntry[], total: number): Promise<{ outstanding: QueueItem[] }> {
    const queue: QueueItem[] = wave.map((entry) => ({
      entry,
      notBefore: 0,
      attempts: 0,
      backoff: new Backoff({ baseMs: this.retryBaseMs, maxMs: this.retryMaxMs }),
    }));
    // Everything of this wave not yet done: queued, in flight, or evicted and terminating.
    const outstanding = new Map<string, QueueItem>(queue.map((q) => [q.entry.pod.uid, q]));

    while (outstanding.size > 0 && !this.halted) {
      this.collectDone(outstanding);
      if (outstanding.size === 0) break;
      const now = performance.now();
      // Every pod gets at least one eviction attempt, even when the budget is already spent
      // (a drain resumed late): force then only deletes what did not leave gracefully.
      if (now >= this.options.budgetEndsAtMono && this.inFlight === 0 && queue.every((q) => q.attempts > 0)) {
        this.out.budgetExhausted = true;
        break;
      }
      // Stop early if a pod can never be evicted and nothing else is moving.
      if (this.out.rejected.length > 0 && this.inFlight === 0 && queue.length === 0) {
        const stillWaiting = [...outstanding.values()].filter((q) => this.acceptedAt.has(q.entry.pod.uid));
        if (stillWaiting.length === 0) break;
      }
      queue.sort((a, b) => a.notBefore - b.notBefore);
      while (this.inFlight < this.concurrency && queue.length > 0 && queue[0]!.notBefore <= now) {
        const item = queue.shift()!;
        this.launchEviction(item, queue, outstanding);
      }
      this.reportProgress(total);
      // Sleep until something happens: a request finishes, the watch reports, a retry is due,
      // a timed tracker rule may fire, or the budget ends.
      const timers = [Math.max(0, this.options.budgetEndsAtMono - now) || 50];
      if (queue.length > 0 && this.inFlight < this.concurrency) timers.push(queue[0]!.notBefore - now);
      const timed = this.tracker.nextTimedCheck();
      if (timed !== undefined) timers.push(timed - this.ctx.now());
      await this.sleepUntilWoken(Math.max(0, Math.min(...timers)));
    }
    this.collectDone(outstanding);
    // Rejected pods are reported as such, not as remaining.
    for (const r of this.out.rejected) outstanding.delete(r.uid);
    return { outstanding: [...outstanding.values()] };
  }

  private launchEviction(item: QueueItem, queue: QueueItem[], outstanding: Map<string, QueueItem>): void {
    const pod = item.entry.pod;
    if (this.tracker.isGone(pod.uid)) {
      this.markDone(pod, 'gone');
      return;
    }
    // Already terminating: it is leaving on its own. An eviction now would only cut what is
    // left of its grace period (the API server applies a shorter one), so just wait for it.
    if ((this.tracker.latestFacts(pod.uid) ?? pod).deletionTimestampMs !== undefined) {
      if (!item.entry.notes.includes('already-terminating')) item.entry.notes.push('already-terminating');
      this.accepted(item, undefined);
      return;
    }
    this.inFlight++;
    item.attempts++;
    const grace = evictionGraceSeconds(pod, this.options.payloadGraceSeconds, this.ctx.limits ?? {});
    evictPod(this.ctx.kube, pod, grace)
      .then(
        () => this.accepted(item, 'Evicted'),
        (err: unknown) => {
          if (isNotFound(err)) return this.markDone(pod, 'gone');
          // UID precondition failed: the name now belongs to a new pod; ours is gone.
          if (isConflict(err)) return this.markDone(pod, 'replaced');
          // The namespace is being deleted: its controller removes the pod; wait for it.
          if (isNamespaceTerminating(err)) return this.accepted(item, undefined);
          const message = apiErrorMessage(err);
          if (isTooManyRequests(err) || isMultiplePdbError(err) || isRetryableKubeError(err)) {
            if (isTooManyRequests(err)) this.out.retries.tooManyRequests++;
            else if (isMultiplePdbError(err)) this.out.retries.multiplePdb++;
            else this.out.retries.transient++;
            item.lastError = message;
            item.lastErrorKind = isTooManyRequests(err)
              ? 'pdb'
              : isMultiplePdbError(err)
                ? 'multiple-pdb'
                : 'transient';
            item.notBefore = performance.now() + item.backoff.next(retryAfterMs(err));
            queue.push(item);
            return;
          }
          // Anything else (403 from RBAC, a webhook's denial, 422...) will not change by retrying.
          outstanding.delete(pod.uid);
          this.out.rejected.push(
            report(pod, {
              reason: 'eviction-rejected',
              message,
              attempts: item.attempts,
              critical: item.entry.critical,
            }),
          );
        },
      )
      .catch((err: unknown) => this.ctx.log.error({ err }, 'drain bookkeeping failed'))
      .finally(() => {
        this.inFlight--;
        this.wake();
      });
  }

  private accepted(item: QueueItem, eventReason: 'Evicted' | 'ForceDeleted' | undefined): void {
    const pod = item.entry.pod;
    this.acceptedAt.set(pod.uid, performance.now());
    this.lastAcceptedMono = performance.now();
    this.tracker.wait(pod, this.ctx.now());
    if (eventReason === 'Evicted') {
      this.ctx.events.emit(
        { apiVersion: 'v1', kind: 'Pod', name: pod.name, namespace: pod.namespace, uid: pod.uid },
        'Normal',
        'ClusteroptEvicted',
        `Evicted from node ${this.options.nodeName} by clusteropt action ${this.options.actionId}`,
      );
    }
  }

  /** A pod done without an accepted eviction (404, replaced). */
  private markDone(pod: PodFacts, reason: DoneReason): void {
    if (!this.doneReasons.has(pod.uid)) this.doneReasons.set(pod.uid, reason);
  }

  /** Moves pods the tracker finished (and ones marked done directly) out of `outstanding`. */
  private collectDone(outstanding: Map<string, QueueItem>): void {
    for (const done of this.tracker.takeDone(this.ctx.now())) {
      if (!this.doneReasons.has(done.pod.uid)) this.doneReasons.set(done.pod.uid, done.reason);
    }
    for (const [uid, item] of outstanding) {
      const reason = this.doneReasons.get(uid);
      if (!reason) continue;
      outstanding.delete(uid);
      this.recordDone(item.entry, reason, item.attempts);
    }
  }

  private recordDone(entry: EvictEntry, reason: DoneReason, attempts: number): void {
    const pod = entry.pod;
    const accepted = this.acceptedAt.get(pod.uid);
    const waitedMs = accepted === undefined ? undefined : Math.round(performance.now() - accepted);
    const base = {
      ...(entry.critical ? { critical: true } : {}),
      ...(entry.notes.length ? { notes: entry.notes } : {}),
      attempts,
      ...(waitedMs !== undefined ? { waitedMs } : {}),
    };
    if (reason === 'stuck-on-not-ready-node' || reason === 'deleted-long-ago') {
      this.out.stuck.push(
        report(pod, {
          ...base,
          reason,
          message:
            reason === 'stuck-on-not-ready-node'
              ? 'still terminating on a NotReady node after its grace period; no kubelet will finish it'
              : 'deletion older than skipWaitForDeleteTimeoutSeconds',
        }),
      );
    } else if (this.forced.has(pod.uid)) {
      this.out.forceDeleted.push(report(pod, { ...base, reason }));
    } else {
      this.out.evicted.push(report(pod, { ...base, ...(reason !== 'gone' ? { reason } : {}) }));
    }
  }

  /**
   * Deletes what is left at the budget end (PDBs are bypassed: only with
   * forceDeleteAtBudgetEnd allowed by policy) and waits for it a while. Each pod keeps its own
   * grace period (no grace is sent, so the API server applies the pod's); a pod already
   * terminating is not deleted again (that could only shorten what is left of its grace), and
   * pods in protected system namespaces are never deleted this way.
   */
  private async forceDelete(entries: EvictEntry[]): Promise<void> {
    const outstanding = new Map<string, QueueItem>();
    let maxGrace = 0;
    const work = [...entries];
    const worker = async () => {
      for (let entry = work.shift(); entry && !this.halted; entry = work.shift()) {
        const pod = entry.pod;
        const item: QueueItem = {
          entry,
          notBefore: 0,
          attempts: 1,
          backoff: new Backoff({ baseMs: 1, maxMs: 1 }),
        };
        if (this.tracker.isGone(pod.uid) || this.doneReasons.has(pod.uid)) {
          outstanding.set(pod.uid, item);
          this.markDone(pod, this.doneReasons.get(pod.uid) ?? 'gone');
          continue;
        }
        const live = this.tracker.latestFacts(pod.uid) ?? pod;
        if (live.deletionTimestampMs !== undefined) {
          // Terminating already (an accepted eviction, or deleted by someone else): left to
          // finish in its own time. Followed for the margin below, not for the rest of its
          // grace (which may be an hour): still there, it is reported terminating.
          outstanding.set(pod.uid, item);
          if (!this.acceptedAt.has(pod.uid)) this.accepted(item, undefined);
          continue;
        }
        if (this.options.noForceNamespaces.includes(pod.namespace)) {
          this.out.remaining.push(
            report(pod, {
              reason: 'pdb',
              message: `not force-deleted: system namespace ${pod.namespace} is protected (protectSystemNamespaces)`,
              critical: entry.critical,
            }),
          );
          continue;
        }
        const grace = live.terminationGracePeriodSeconds ?? defaultPodGraceSeconds;
        maxGrace = Math.max(maxGrace, grace);
        try {
          await deletePod(this.ctx.kube, pod, undefined);
          this.forced.add(pod.uid);
          outstanding.set(pod.uid, item);
          if (!this.acceptedAt.has(pod.uid)) this.accepted(item, undefined);
          this.ctx.events.emit(
            { apiVersion: 'v1', kind: 'Pod', name: pod.name, namespace: pod.namespace, uid: pod.uid },
            'Warning',
            'ClusteroptForceDeleted',
            `Deleted with its own grace period (${grace}s), PodDisruptionBudgets bypassed, after the drain budget of clusteropt action ${this.options.actionId} ran out (forceDeleteAtBudgetEnd)`,
          );
        } catch (err) {
          if (isNotFound(err) || isConflict(err)) {
            outstanding.set(pod.uid, item);
            this.markDone(pod, isNotFound(err) ? 'gone' : 'replaced');
          } else {
            this.out.remaining.push(
              report(pod, {
                reason: 'delete-failed',
                message: apiErrorMessage(err),
                critical: entry.critical,
              }),
            );
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, work.length) }, worker));
    const until =
      performance.now() + Math.min(maxGrace, forcedDeleteMaxWaitSeconds) * 1000 + this.forcedMarginMs;
    while (!this.halted) {
      this.collectDone(outstanding);
      if (outstanding.size === 0) break;
      const now = performance.now();
      if (now >= until) break;
      const timers = [until - now];
      const timed = this.tracker.nextTimedCheck();
      if (timed !== undefined) timers.push(timed - this.ctx.now());
      await this.sleepUntilWoken(Math.max(0, Math.min(...timers)));
    }
    for (const item of outstanding.values()) {
      this.out.remaining.push(
        report(item.entry.pod, {
          reason: 'terminating',
          message: 'force-deleted but still terminating',
          critical: item.entry.critical,
        }),
      );
    }
  }

  /** Pods that show up after planning are reported, not chased (see docs/drain.md). */
  private noticePod(pod: PodFacts): void {
    if (!this.planned || this.knownUids.has(pod.uid) || pod.deletionTimestampMs !== undefined) return;
    this.knownUids.add(pod.uid);
    // DaemonSet and static pods come back by design; they are never drained anyway.
    if (pod.controller?.kind === 'DaemonSet' || isMirrorPod(pod)) return;
    this.out.arrivedDuringDrain.push(
      report(pod, {
        message: `${pod.controller ? `${pod.controller.kind}/${pod.controller.name}` : 'no controller'}`,
      }),
    );
  }

  private reportProgress(total: number): void {
    if (!this.ctx.onProgress) return;
    const now = performance.now();
    if (now - this.lastProgress < 1000) return;
    this.lastProgress = now;
    this.ctx.onProgress({
      phase: 'evicting',
      counts: {
        total,
        evicted: this.out.evicted.length,
        terminating: this.tracker.pendingCount,
        stuck: this.out.stuck.length,
        rejected: this.out.rejected.length,
      },
    });
  }

  private wake(): void {
    this.wakeup.wake();
  }

  private async sleepUntilWoken(ms: number): Promise<void> {
    if (this.halted) {
      this.wakeup.clear();
      return;
    }
    await this.wakeup.wait(ms);
  }
}
