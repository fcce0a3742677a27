/**
 * Where held long-poll requests wait for work. An enqueue in this process calls notify()
 * and the cluster's waiters wake at once (no sleeping loop). Rows inserted by another
 * process (the offline `control-plane enqueue` CLI) cannot call notify(), so while anyone
 * is waiting, and only then, a probe runs every `probeIntervalMs` and wakes the clusters it
 * reports as changed.
 */
export type WaitOutcome = 'notified' | 'timeout' | 'aborted' | 'closed';

export interface LongPollHubOptions {
  /** Returns the clusters that got new actions since the previous call. */
  probe?: () => readonly string[];
  probeIntervalMs?: number;
  /** Called with errors thrown by the probe (the timer keeps running). */
  onProbeError?: (err: unknown) => void;
}

type Waiter = (outcome: WaitOutcome) => void;

export class LongPollHub {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private waiting = 0;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly options: LongPollHubOptions;

  constructor(options: LongPollHubOptions = {}) {
    this.options = options;
  }

  /** How many requests are waiting right now. */
  get size(): number {
    return this.waiting;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolves when the cluster is notified, `timeoutMs` passes, `signal` aborts or the hub closes. */
  wait(clusterId: string, timeoutMs: number, signal?: AbortSignal): Promise<WaitOutcome> {
    if (this.closed) return Promise.resolve('closed');
    if (signal?.aborted) return Promise.resolve('aborted');
    return new Promise<WaitOutcome>((resolve) => {
      let set = this.waiters.get(clusterId);
      if (!set) {
        set = new Set();
        this.waiters.set(clusterId, set);
      }
      const waiters = set;
      const finish: Waiter = (outcome) => {
        if (!waiters.delete(finish)) return; // already finished
        if (waiters.size === 0) this.waiters.delete(clusterId);
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.waiting -= 1;
        if (this.waiting === 0) this.stopProbe();
        resolve(outcome);
      };
      const onAbort = () => finish('aborted');
      const timer = setTimeout(() => finish('timeout'), Math.max(0, timeoutMs));
      signal?.addEventListener('abort', onAbort, { once: true });
      waiters.add(finish);
      this.waiting += 1;
      if (this.waiting === 1) this.startProbe();
    });
  }

  /** Wakes every request waiting for this cluster. */
  notify(clusterId: string): void {
    const set = this.waiters.get(clusterId);
    if (!set) return;
    for (const finish of [...set]) finish('notified');
  }

  /** Wakes everyone with 'closed'; later waits resolve 'closed' at once. */
  close(): void {
    this.closed = true;
    for (const set of [...this.waiters.values()]) for (const finish of [...set]) finish('closed');
    this.stopProbe();
  }

  private startProbe(): void {
    const { probe, probeIntervalMs = 250 } = this.options;
    if (!probe || this.timer) return;
    this.timer = setInterval(() => {
      try {
        for (const clusterId of probe()) this.notify(clusterId);
      } catch (err) {
        this.options.onProbeError?.(err);
      }
    }, probeIntervalMs);
    this.timer.unref();
  }

  private stopProbe(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
