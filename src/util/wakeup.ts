import { sleep } from './backoff.ts';

/**
 * A sleep that can be cut short from elsewhere in the process (an outbox append, an API
 * key change). A wake with nobody waiting is remembered, so the next wait returns at once:
 * an append made while the shipper was busy is never missed.
 */
export class Wakeup {
  private pending = false;
  private waiter: (() => void) | undefined;

  wake(): void {
    if (this.waiter === undefined) {
      this.pending = true;
      return;
    }
    const w = this.waiter;
    this.waiter = undefined;
    w();
  }

  /** Forgets a remembered wake (e.g. after a failure, so backoff is not skipped). */
  clear(): void {
    this.pending = false;
  }

  /** Resolves after `ms` or on wake: 'woken' | 'timeout'. Rejects with the reason when aborted. */
  async wait(ms: number, signal?: AbortSignal): Promise<'woken' | 'timeout'> {
    if (this.pending) {
      this.pending = false;
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
      await sleep(ms, combined);
      return 'timeout';
    } catch (err) {
      if (woken && !signal?.aborted) return 'woken';
      throw err;
    } finally {
      this.waiter = undefined;
    }
  }
}
