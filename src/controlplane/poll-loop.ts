import { FailureStateLog } from '../observability/failure-state-log.ts';
import type { Logger } from '../observability/logger.ts';
import { Backoff, type BackoffOptions, sleep } from '../util/backoff.ts';
import { AgentError, errorCode, errorMessage } from '../util/errors.ts';
import { Wakeup } from '../util/wakeup.ts';
import type { ControlPlaneAccess } from './access.ts';
import type { ControlPlaneClient } from './client.ts';
import { ControlPlaneError, retryAfterOf } from './errors.ts';

export interface PollLoopOptions {
  client: Pick<ControlPlaneClient, 'pollActions'>;
  /**
   * Gets every non-empty batch of raw envelopes, with the clock skew measured on the response
   * that delivered them; awaited before the next poll.
   */
  onActions: (actions: unknown[], meta: { clockSkewMs: number }) => void | Promise<void>;
  /** Long-poll wait sent to the server. Default 20 s. */
  waitSeconds?: number;
  /** Most actions asked for per poll (`limit`); absent: the server's default. */
  maxActions?: number;
  /**
   * Told of every poll's answer (controlplane/access.ts): allowed, denied (401/403) or no
   * answer. The loop's first poll then asks for no wait, so access is known in a round trip.
   */
  access?: ControlPlaneAccess;
  /**
   * Why no new action should be taken now (e.g. the outbox is over capacity: the results of
   * earlier ones cannot be delivered); checked before each poll, which waits `pausedRecheckMs`
   * (default 5 s) while it gives a reason. Logged once per pause.
   */
  pausedBecause?: () => string | undefined;
  pausedRecheckMs?: number;
  /**
   * Minimum time between the starts of two polls, whatever the server does (one that
   * ignores `wait` and answers at once must not make the agent hot-loop). Default 1 s.
   */
  minIntervalMs?: number;
  /**
   * The minimum after a poll that returned actions (handled before the next poll starts):
   * more are likely queued, and the full minimum would add up to a second to the latency of
   * an action enqueued just after a batch. Still a floor, so a server replaying the same
   * actions at once cannot make the loop spin. Default 50 ms.
   */
  minIntervalAfterActionsMs?: number;
  /** Backoff for ordinary failures (Retry-After is a floor). Default 1 s … 60 s. */
  backoff?: Omit<BackoffOptions, 'random'>;
  /**
   * 401/403: the key is wrong; hammering will not fix it. Delay floor and ceiling.
   * Default 30 s … 5 min. A change of the key file wakes the loop at once.
   */
  unauthorizedBackoff?: { minMs: number; maxMs: number };
  /**
   * Called with the first clock skew measured and whenever a response measures a different
   * one (agent clock minus the control plane's, ms; 0 when negligible): metrics and a log.
   */
  onClockSkew?: (skewMs: number) => void;
  /** Subscribe to something that should end a backoff early (e.g. ApiKeySource.onChange). */
  wakeOn?: (wake: () => void) => () => void;
  logger?: Logger;
  random?: () => number;
}

export interface PollLoopCounters {
  requests: number;
  successes: number;
  actionsReceived: number;
  /** Failures by error code (CP_* codes, CALLBACK_FAILED, UNKNOWN). */
  errors: Record<string, number>;
}

/**
 * Long-polls the control plane for actions while the signal is not aborted. Run it only on
 * the Lease holder; abort the signal the moment leadership is lost.
 */
export class PollLoop {
  readonly counters: PollLoopCounters = { requests: 0, successes: 0, actionsReceived: 0, errors: {} };
  private readonly options: PollLoopOptions;
  private readonly backoff: Backoff;
  private readonly unauthorizedBackoff: Backoff;
  private readonly failures: FailureStateLog;
  private readonly wakeup = new Wakeup();
  /** Last measured; undefined until the first response, so the first one is always reported. */
  private clockSkewMs: number | undefined;

  constructor(options: PollLoopOptions) {
    this.options = options;
    const random = options.random ?? Math.random;
    this.backoff = new Backoff({ baseMs: 1000, maxMs: 60_000, ...options.backoff, random });
    const unauthorized = options.unauthorizedBackoff ?? { minMs: 30_000, maxMs: 300_000 };
    this.unauthorizedBackoff = new Backoff({
      baseMs: unauthorized.minMs * 2,
      maxMs: unauthorized.maxMs,
      random,
    });
    this.failures = new FailureStateLog(options.logger, 'polling the control plane for actions');
  }

  /** The error code the loop is failing with, or undefined when healthy. */
  get failing(): string | undefined {
    return this.failures.failing;
  }

  /** Resolves when `signal` is aborted (never rejects for that reason). */
  async run(signal: AbortSignal): Promise<void> {
    const waitSeconds = this.options.waitSeconds ?? 20;
    const minIntervalMs = this.options.minIntervalMs ?? 1000;
    const minIntervalAfterActionsMs = Math.min(minIntervalMs, this.options.minIntervalAfterActionsMs ?? 50);
    const unsubscribe = this.options.wakeOn?.(() => this.wakeup.wake());
    let lastStart = Number.NEGATIVE_INFINITY;
    let floorMs = minIntervalMs;
    let first = true;
    try {
      let paused: string | undefined;
      while (!signal.aborted) {
        const reason = this.options.pausedBecause?.();
        if (reason !== paused) {
          if (reason) this.options.logger?.warn({ reason }, 'not taking new actions from the control plane');
          else this.options.logger?.info('taking new actions from the control plane again');
          paused = reason;
        }
        if (reason) {
          await sleep(this.options.pausedRecheckMs ?? 5_000, signal);
          continue;
        }
        const sinceLast = performance.now() - lastStart;
        if (sinceLast < floorMs) await sleep(floorMs - sinceLast, signal);
        lastStart = performance.now();
        floorMs = minIntervalMs;
        this.counters.requests += 1;
        let delayMs: number;
        try {
          const { actions, clockSkewMs } = await this.options.client.pollActions(
            first && this.options.access ? 0 : waitSeconds,
            signal,
            this.options.maxActions,
          );
          first = false;
          this.options.access?.allowed();
          this.counters.successes += 1;
          if (clockSkewMs !== this.clockSkewMs) {
            this.clockSkewMs = clockSkewMs;
            this.options.onClockSkew?.(clockSkewMs);
          }
          if (actions.length > 0) {
            this.counters.actionsReceived += actions.length;
            try {
              await this.options.onActions(actions, { clockSkewMs });
            } catch (err) {
              if (signal.aborted) break;
              // Leased actions not acknowledged are redelivered by the control plane.
              throw new AgentError(
                'CALLBACK_FAILED',
                `handling polled actions failed: ${errorMessage(err)}`,
                {
                  cause: err,
                },
              );
            }
          }
          // Healthy only once the batch was also handled: a callback failing on every batch
          // must keep backing off and stay one logged state, not flap failing/recovered.
          this.backoff.reset();
          this.unauthorizedBackoff.reset();
          this.failures.succeeded();
          if (actions.length > 0) floorMs = minIntervalAfterActionsMs;
          // A key change noticed while healthy must not cut the next failure's backoff short.
          this.wakeup.clear();
          continue;
        } catch (err) {
          if (signal.aborted) break;
          const code = errorCode(err);
          this.counters.errors[code] = (this.counters.errors[code] ?? 0) + 1;
          const status = err instanceof ControlPlaneError ? err.status : undefined;
          if (code === 'CP_UNAUTHORIZED' && (status === 401 || status === 403)) {
            this.options.access?.denied(status, errorMessage(err));
          } else if (code !== 'CALLBACK_FAILED') {
            this.options.access?.unanswered();
          }
          delayMs =
            code === 'CP_UNAUTHORIZED'
              ? this.unauthorizedBackoff.next(this.options.unauthorizedBackoff?.minMs ?? 30_000)
              : this.backoff.next(retryAfterOf(err));
          this.failures.failed(err, delayMs);
        }
        // A wake (the key file changed, possibly during the failed request) ends the backoff
        // early; the min interval still holds.
        await this.wakeup.wait(delayMs, signal);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      unsubscribe?.();
    }
  }
}

/** Convenience: runs a PollLoop until `signal` aborts; returns the loop for its counters. */
export function runPollLoop(
  options: PollLoopOptions,
  signal: AbortSignal,
): { loop: PollLoop; done: Promise<void> } {
  const loop = new PollLoop(options);
  return { loop, done: loop.run(signal) };
}
