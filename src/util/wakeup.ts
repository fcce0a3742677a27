import { sleep } from './backoff.ts';

/**
 * A sleep that can be cut short from elsewhere in the process (an outbox append, an API
 * key change, a pod gone during a drain, instances to describe). A wake with nobody waiting
 * is remembered, so the next wait returns at once: an append made while the shipper was busy
 * is never missed. `pending` is true from a wake until a wait has taken it.
 */
export class Wakeup {
  private waiter: (() => void) | undefined;
  private woken = false;

  wake(): void {
    this.woken = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** A wake no wait has taken yet (work is due). */
  get pending(): boolean {
    return this.woken;
  }

  /** Forgets a remembered wake (e.g. after a failure, so backoff is not skipped). */
  clear(): void {
    this.woken = false;
  }

  /** Resolves after `ms` or on wake: 'woken' | 'timeout'. Rejects with the reason when aborted. */
  async wait(ms: number, signal?: AbortSignal): Promise<'woken' | 'timeout'> {
    if (this.woken) {
      this.woken = false;
      return 'woken';
    }
    const controller = new AbortController();
    const combined = signal === undefined ? controller.signal : AbortSignal.any([signal, controller.signal]);
    let woken = false;
    this.waiter = () => {
      woken = true;
      controller.abort();
    };
    try {
      // setTimeout fires at once beyond 2^31-1 ms; such a wait is "until woken".
      await sleep(Math.min(ms, 2 ** 31 - 1), combined);
      return 'timeout';
    } catch (err) {
      if (woken && !signal?.aborted) {
        this.woken = false;
        return 'woken';
      }
      throw err;
    } finally {
      this.waiter = undefined;
    }
  }
}
