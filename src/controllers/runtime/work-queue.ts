/**
 * A keyed work queue in the manner of client-go's workqueue: a key queued twice while
 * waiting is processed once; a key being processed and queued again is processed once more
 * afterwards; `addAfter` requeues at a time (the earliest pending time wins, as in client-go's
 * delaying queue) and `forget` drops a pending requeue. On top, keys that share a `lane` (the action's
 * target, e.g. node/x) never run at the same time, so two actions on one node are applied
 * one after the other, in the order they were queued.
 */
export interface WorkQueueOptions {
  concurrency: number;
  /** Which lane a key belongs to; undefined: no serialisation. */
  laneOf: (key: string) => string | undefined;
  process: (key: string) => Promise<void>;
  onError?: (key: string, err: unknown) => void;
}

export class WorkQueue {
  private readonly options: WorkQueueOptions;
  private readonly waiting: string[] = [];
  private readonly queued = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly busyLanes = new Set<string>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; dueAt: number }>();
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(options: WorkQueueOptions) {
    this.options = options;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.waiting.push(key);
    this.pump();
  }

  /** Queues `key` after `ms`; a pending requeue of the key that is due sooner wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const delay = Math.max(0, ms);
    const dueAt = performance.now() + delay;
    const existing = this.timers.get(key);
    if (existing) {
      if (existing.dueAt <= dueAt) return;
      clearTimeout(existing.timer);
    }
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delay);
    timer.unref();
    this.timers.set(key, { timer, dueAt });
  }

  /** Drops a pending requeue of `key` (the object is gone, or a fresh requeue replaces it). */
  forget(key: string): void {
    clearTimeout(this.timers.get(key)?.timer);
    this.timers.delete(key);
  }

  /** Resolves when nothing is waiting or running (pending requeues do not count). */
  idle(): Promise<void> {
    if (this.active.size === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  isActive(key: string): boolean {
    return this.active.has(key);
  }

  get size(): number {
    return this.waiting.length + this.active.size;
  }

  /** Stops taking work; resolves when what is running has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.waiting.length = 0;
    this.queued.clear();
    if (this.active.size === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (!this.stopped && this.active.size < this.options.concurrency) {
      const index = this.waiting.findIndex((k) => {
        const lane = this.options.laneOf(k);
        return lane === undefined || !this.busyLanes.has(lane);
      });
      if (index < 0) return;
      const [key] = this.waiting.splice(index, 1) as [string];
      this.queued.delete(key);
      this.run(key);
    }
  }

  private run(key: string): void {
    const lane = this.options.laneOf(key);
    this.active.add(key);
    if (lane !== undefined) this.busyLanes.add(lane);
    this.options
      .process(key)
      .catch((err: unknown) => this.options.onError?.(key, err))
      .finally(() => {
        this.active.delete(key);
        if (lane !== undefined) this.busyLanes.delete(lane);
        if (this.dirty.delete(key)) this.add(key);
        if (this.active.size === 0 && (this.stopped || this.waiting.length === 0)) {
          for (const resolve of this.idleWaiters.splice(0)) resolve();
        }
        this.pump();
      });
  }
}
