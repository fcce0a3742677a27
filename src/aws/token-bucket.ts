import { sleep } from '../util/backoff.ts';

export interface TokenBucketOptions {
  /** Largest burst. */
  capacity: number;
  /** Tokens added per second (sustained rate). */
  refillPerSecond: number;
  now?: () => number;
}

/**
 * Client-side rate limit for our own AWS calls. EC2 throttles per account and per API
 * action, shared with every other tool in the account; the agent must not eat that budget
 * (the SDK's adaptive retry only backs off after being throttled, this keeps us from
 * getting there). Waiters are served in arrival order.
 */
export class TokenBucket {
  private readonly capacity: number;
  private readonly refillPerMs: number;
  private readonly now: () => number;
  private tokens: number;
  private updatedAt: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(options: TokenBucketOptions) {
    if (!(options.capacity >= 1) || !(options.refillPerSecond > 0)) {
      throw new RangeError('token bucket needs capacity >= 1 and refillPerSecond > 0');
    }
    this.capacity = options.capacity;
    this.refillPerMs = options.refillPerSecond / 1000;
    // Intervals only: monotonic, so a wall-clock step (NTP) cannot stall or rush them.
    this.now = options.now ?? (() => performance.now());
    this.tokens = options.capacity;
    this.updatedAt = this.now();
  }

  /** Takes a token if one is there: 0. Otherwise how many ms until one will be. */
  tryTake(): number {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.tokens) / this.refillPerMs);
  }

  /** Resolves once a token was taken; rejects when `signal` aborts first. */
  take(signal?: AbortSignal): Promise<void> {
    const turn = this.queue.then(async () => {
      for (let wait = this.tryTake(); wait > 0; wait = this.tryTake()) await sleep(wait, signal);
    });
    // The next waiter queues behind this one whether it succeeded or was aborted.
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  get available(): number {
    this.refill();
    return this.tokens;
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.updatedAt) * this.refillPerMs);
    this.updatedAt = now;
  }
}
