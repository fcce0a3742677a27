/**
 * The inventory's EC2 side: keeps facts for the instance ids the nodes name, fetched with
 * DescribeInstances (batched, cached, rate-limited, adaptive SDK retries) and the account
 * from STS GetCallerIdentity. It never blocks a report: the reporter reads whatever is
 * cached and is told which ids changed. AWS failures are reported once per change
 * (AwsFailureReport) and retried with backoff; AWS is touched only when some node has an
 * `aws://` providerID, so clusters elsewhere never load the SDK nor see an error.
 */

import type { Logger } from '../observability/logger.ts';
import { Backoff, type BackoffOptions, sleep } from '../util/backoff.ts';
import { Wakeup } from '../util/wakeup.ts';
import {
  type AwsClientOptions,
  type AwsClients,
  createAwsClients,
  looksLikeAws,
  preloadAwsSdk,
} from './clients.ts';
import { Ec2InstanceCache } from './ec2-cache.ts';
import type { Ec2Facts } from './ec2-facts.ts';
import { Ec2Describer } from './ec2-instances.ts';
import { toAwsError } from './errors.ts';
import type { AwsFailureReport } from './failure-report.ts';
import { type CallerIdentity, getCallerIdentity } from './identity.ts';
import { TokenBucket } from './token-bucket.ts';

export const ec2Resource = 'aws:ec2:DescribeInstances';
export const stsResource = 'aws:sts:GetCallerIdentity';
export const configResource = 'aws:config';

export interface AwsEnrichmentOptions {
  aws: AwsClientOptions;
  failures: AwsFailureReport;
  /** Injectable for tests; default createAwsClients. */
  createClients?: (options: AwsClientOptions) => Promise<AwsClients>;
  /** DescribeInstances calls: burst and sustained rate. Default 10 and 2/s. */
  rateLimit?: { capacity: number; refillPerSecond: number };
  batchSize?: number;
  filterChunk?: number;
  ttlMs?: number;
  notFoundTtlMs?: number;
  /** How often expired entries are looked for. Default 30 s. */
  checkIntervalMs?: number;
  /** How often the account is asked again. Default 1 h. */
  identityRefreshMs?: number;
  /** Load the SDK at start rather than when the first AWS node is seen. Default: looksLikeAws(aws). */
  preload?: boolean;
  /** Delay between attempts after a failure. Default 5 s … 5 min. */
  retry?: Omit<BackoffOptions, 'random'>;
  logger?: Logger;
  now?: () => number;
}

export interface AwsEnrichmentStats {
  describeCalls: number;
  refreshes: number;
  cachedInstances: number;
  failing: string[];
}

export class AwsEnrichment {
  private readonly options: AwsEnrichmentOptions;
  private readonly cache: Ec2InstanceCache;
  private readonly limiter: TokenBucket;
  private readonly backoff: Backoff;
  private readonly now: () => number;
  private clients: AwsClients | undefined;
  private describer: Ec2Describer | undefined;
  private wanted: ReadonlySet<string> = new Set();
  private regionHint: string | undefined;
  private callerIdentity: CallerIdentity | undefined;
  private identityAt = 0;
  private readonly changeListeners = new Set<(ids: string[]) => void>();
  private idleWaiters: Array<() => void> = [];
  private readonly wakeup = new Wakeup();
  private busy = false;
  private describeCalls = 0;
  private refreshes = 0;

  constructor(options: AwsEnrichmentOptions) {
    this.options = options;
    // Intervals only: monotonic, so a wall-clock step (NTP) cannot stall or rush them.
    this.now = options.now ?? (() => performance.now());
    this.limiter = new TokenBucket({ capacity: 10, refillPerSecond: 2, ...options.rateLimit });
    this.backoff = new Backoff({ baseMs: 5_000, maxMs: 5 * 60_000, ...options.retry });
    this.cache = new Ec2InstanceCache({
      describe: (ids, signal) => {
        if (!this.describer) throw new Error('AWS clients not created');
        return this.describer.describe(ids, signal);
      },
      ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
      ...(options.notFoundTtlMs === undefined ? {} : { notFoundTtlMs: options.notFoundTtlMs }),
      now: this.now,
    });
  }

  get(instanceId: string): Ec2Facts | undefined {
    return this.cache.get(instanceId);
  }

  /** The account the instances are described in (for the heartbeat), once known. */
  get accountId(): string | undefined {
    return this.callerIdentity?.account;
  }

  get identity(): CallerIdentity | undefined {
    return this.callerIdentity;
  }

  get stats(): AwsEnrichmentStats {
    return {
      describeCalls: this.describeCalls,
      refreshes: this.refreshes,
      cachedInstances: this.cache.size,
      failing: [...this.options.failures.current.keys()],
    };
  }

  /** Subscribes to "facts of these instance ids changed". Returns the unsubscribe function. */
  onChanged(listener: (instanceIds: string[]) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /**
   * The instance ids the nodes name now; `regionHint` is a zone's region, used when no
   * region is configured. Wakes the loop when some are not cached yet.
   */
  want(ids: ReadonlySet<string>, regionHint?: string): void {
    this.wanted = ids;
    this.regionHint ??= regionHint;
    if (this.cache.due(ids).length > 0) this.wake();
  }

  /** Resolves when nothing is due or being fetched, or after `timeoutMs`. */
  settled(timeoutMs: number): Promise<void> {
    if (!this.busy && !this.wakeup.pending) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      const waiter = () => done();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.idleWaiters.push(waiter);
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    if (this.options.preload ?? looksLikeAws(this.options.aws)) void preloadAwsSdk();
    try {
      while (!signal.aborted) {
        await this.waitForWork(signal);
        this.busy = true;
        let delayMs = 0;
        try {
          delayMs = await this.refreshOnce(signal);
        } finally {
          this.busy = false;
          this.notifyIdle();
        }
        if (delayMs > 0) {
          // A failed pass is tried again after the backoff, not at the next periodic check.
          await sleep(delayMs, signal);
          this.wakeup.wake();
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      this.clients?.destroy();
      this.notifyIdle();
    }
  }

  /** One pass; returns how long to wait before the next one (0: as usual). */
  private async refreshOnce(signal: AbortSignal): Promise<number> {
    const ids = this.wanted;
    if (ids.size === 0) return 0;
    if (!this.clients) {
      try {
        this.clients = await (this.options.createClients ?? createAwsClients)({
          ...this.options.aws,
          ...(this.regionHint ? { regionHint: this.regionHint } : {}),
        });
        this.describer = new Ec2Describer({
          api: this.clients.ec2,
          limiter: this.limiter,
          ...(this.options.batchSize === undefined ? {} : { batchSize: this.options.batchSize }),
          ...(this.options.filterChunk === undefined ? {} : { filterChunk: this.options.filterChunk }),
        });
        this.options.failures.succeeded(configResource);
        this.options.logger?.info({ region: this.clients.region }, 'AWS enrichment enabled');
      } catch (err) {
        this.options.failures.failed(configResource, toAwsError(err, 'setting up AWS clients'));
        return this.backoff.next();
      }
    }
    if (
      this.callerIdentity === undefined ||
      this.now() - this.identityAt >= (this.options.identityRefreshMs ?? 3_600_000)
    ) {
      try {
        this.callerIdentity = await getCallerIdentity(this.clients.sts, signal);
        this.identityAt = this.now();
        this.options.failures.succeeded(stsResource);
      } catch (err) {
        if (signal.aborted) throw err;
        const e = toAwsError(err, 'STS GetCallerIdentity');
        this.options.failures.failed(stsResource, e);
        // Same cause would fail DescribeInstances too: report it once, under STS.
        if (e.code === 'AWS_CREDENTIALS_UNAVAILABLE' || e.code === 'AWS_REGION_UNKNOWN') {
          return this.backoff.next();
        }
      }
    }
    try {
      const { changed, calls } = await this.cache.refresh(ids, signal);
      this.describeCalls += calls;
      if (calls > 0) this.refreshes += 1;
      this.options.failures.succeeded(ec2Resource);
      this.backoff.reset();
      this.cache.retainOnly(ids);
      if (changed.length > 0) {
        for (const listener of this.changeListeners) listener(changed);
      }
      return 0;
    } catch (err) {
      if (signal.aborted) throw err;
      this.options.failures.failed(ec2Resource, toAwsError(err, 'EC2 DescribeInstances'));
      return this.backoff.next();
    }
  }

  private wake(): void {
    this.wakeup.wake();
  }

  private async waitForWork(signal: AbortSignal): Promise<void> {
    await this.wakeup.wait(this.options.checkIntervalMs ?? 30_000, signal);
  }

  private notifyIdle(): void {
    if (this.wakeup.pending) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
