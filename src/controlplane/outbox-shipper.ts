import { StatusBatchEntry, type StatusBatchResult } from '../contract/reports.ts';
import { describeIssues } from '../contract/wire-envelope.ts';
import { FailureStateLog } from '../observability/failure-state-log.ts';
import type { Logger } from '../observability/logger.ts';
import type { AuditRow, InstancesRow, OutboxKind, OutboxRow, StateStore, StatusRow } from '../store/index.ts';
import { Backoff, type BackoffOptions, sleep } from '../util/backoff.ts';
import { errorCode, errorMessage } from '../util/errors.ts';
import { Wakeup } from '../util/wakeup.ts';
import { type ControlPlaneClient, isMissingRoute } from './client.ts';
import { ControlPlaneError, retryAfterOf } from './errors.ts';

export interface OutboxShipperHooks {
  shipped?(kind: OutboxKind, rows: number): void;
  /** Delivered but refused by the control plane (or invalid locally): dropped with a log line. */
  refused?(kind: OutboxKind, rows: number, code: string): void;
  failed?(code: string): void;
}

export interface OutboxShipperOptions {
  /** With `journal`, `running` reports of finished actions are skipped (see superseded()). */
  store: Pick<StateStore, 'outbox' | 'onAppend'> & Partial<Pick<StateStore, 'journal'>>;
  /** With `reportStatuses`, status rows go in batches (contract 1.1) unless the server lacks the route. */
  client: Pick<ControlPlaneClient, 'reportStatus' | 'sendInstancesJson' | 'sendEvents'> &
    Partial<Pick<ControlPlaneClient, 'reportStatuses'>>;
  /** Audit events per POST /events (the contract allows up to 1000). Default 100. */
  maxEventsPerRequest?: number;
  /**
   * Status rows per POST /api/v1/agent/actions/status (contract 1.1), in outbox order. Default
   * 200; 0 turns the batch route off (per-action route only).
   */
  maxStatusPerBatch?: number;
  /**
   * After a status batch that was not full, wait this long before the next one, so that
   * under a steady stream of results each request (and each local commit marking rows
   * shipped) carries several. A result arriving while the shipper is idle still goes at once.
   * Default 20 ms; 0: none.
   */
  statusBatchLingerMs?: number;
  /** After a 404/405 from the batch route (an older control plane), try it again after this long. Default 10 min. */
  statusBatchRetryMs?: number;
  /**
   * Per-action route (no batch route): status rows of distinct actions sent at once (see
   * statusRun). Default 8; 1: strictly one by one.
   */
  maxParallelStatus?: number;
  /** Byte budget of one audit batch. Default 1 MiB. */
  maxBatchBytes?: number;
  /** Backoff after a failed request (Retry-After is a floor). Default 500 ms … 60 s. */
  backoff?: Omit<BackoffOptions, 'random'>;
  /** Delay floor after 401/403; a key change ends it early. Default 30 s. */
  unauthorizedDelayMs?: number;
  /** Re-check the outbox this often even without an append notification. Default 30 s. */
  idleCheckMs?: number;
  /** Subscribe to something that should end a backoff early (ApiKeySource.onChange). */
  wakeOn?: (wake: () => void) => () => void;
  logger?: Logger;
  hooks?: OutboxShipperHooks;
  random?: () => number;
}

export interface OutboxShipperCounters {
  requests: number;
  /** Requests to the batch status route (included in `requests`). */
  statusBatches: number;
  shippedRows: Record<OutboxKind, number>;
  refusedRows: Record<OutboxKind, number>;
  /** `running` reports not sent because the same action's final report was queued behind them. */
  supersededRows: number;
  failures: Record<string, number>;
}

/**
 * Control-plane answers that mean "delivered, and it will never be accepted": do not retry.
 * Only when the control plane itself said so (isRefusal): the same status from something in
 * front of it is retried.
 */
const refusedCodes: Record<OutboxKind, ReadonlySet<string>> = {
  // 404 on a status: the action is unknown there (deleted, expired); 409: illegal transition.
  status: new Set(['CP_CONFLICT', 'CP_NOT_FOUND', 'CP_REJECTED', 'CP_INVALID_REQUEST']),
  // 404 on these routes means a wrong URL or an old control plane: retry, do not drop.
  instances: new Set(['CP_CONFLICT', 'CP_REJECTED', 'CP_INVALID_REQUEST']),
  audit: new Set(['CP_CONFLICT', 'CP_REJECTED', 'CP_INVALID_REQUEST']),
};

/** Per-entry answers of the batch status route that mean "never": the per-action route's codes. */
const batchRefusalCodes: Record<400 | 404 | 409, string> = {
  400: 'CP_INVALID_REQUEST',
  404: 'CP_NOT_FOUND',
  409: 'CP_CONFLICT',
};

/**
 * Whether `err` drops the rows: a refusal code AND a contract error body (the control plane
 * answered, not an ingress, proxy or WAF returning 400/413/404 of its own), or a body the
 * agent refused to send (CP_INVALID_REQUEST: it would never become valid). Anything else is
 * retried with backoff, so a misconfigured path or a body-size limit in front of the control
 * plane delays reports but never loses them.
 */
function isRefusal(kind: OutboxKind, err: unknown): boolean {
  const code = errorCode(err);
  if (!refusedCodes[kind].has(code)) return false;
  return code === 'CP_INVALID_REQUEST' || (err instanceof ControlPlaneError && err.serverCode !== undefined);
}

class RowsRefused extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Ships the outbox to the control plane in order: the head row (or run of audit rows, or of
 * status rows of distinct actions) is retried until it is delivered or refused before
 * anything behind it goes; an action's own reports always go in order. Rows
 * are marked shipped only after a 2xx, or after the control plane's own answer that means
 * "never" (409/404 on a status report, other 4xx, each with a contract error body): those are
 * logged and dropped, never retried forever. The same statuses without a contract body come
 * from something in front of the control plane and are retried (isRefusal). Wakes on every
 * append, so a result ships within milliseconds while the control plane is up.
 */
export class OutboxShipper {
  readonly counters: OutboxShipperCounters = {
    requests: 0,
    statusBatches: 0,
    shippedRows: { status: 0, instances: 0, audit: 0 },
    refusedRows: { status: 0, instances: 0, audit: 0 },
    supersededRows: 0,
    failures: {},
  };
  private readonly options: OutboxShipperOptions;
  private readonly backoff: Backoff;
  private readonly failures: FailureStateLog;
  private readonly appended = new Wakeup();
  private readonly keyChanged = new Wakeup();
  /** performance.now() before which the batch status route is not tried (it was missing). */
  private batchRouteMissingUntil = Number.NEGATIVE_INFINITY;
  /** The last shipment was a status batch with room left: linger before the next one. */
  private lingerNext = false;

  constructor(options: OutboxShipperOptions) {
    this.options = options;
    this.backoff = new Backoff({ baseMs: 500, maxMs: 60_000, ...options.backoff, random: options.random });
    this.failures = new FailureStateLog(options.logger, 'shipping the outbox to the control plane');
  }

  get failing(): string | undefined {
    return this.failures.failing;
  }

  /** Resolves when `signal` is aborted. */
  async run(signal: AbortSignal): Promise<void> {
    const offAppend = this.options.store.onAppend(() => this.appended.wake());
    const offKey = this.options.wakeOn?.(() => this.keyChanged.wake());
    try {
      while (!signal.aborted) {
        const shipped = await this.shipOnce(signal);
        const lingerMs = this.options.statusBatchLingerMs ?? 20;
        if (shipped === 'shipped' && this.lingerNext && lingerMs > 0) {
          this.lingerNext = false;
          await sleep(lingerMs, signal);
        }
        if (shipped === 'empty') await this.appended.wait(this.options.idleCheckMs ?? 30_000, signal);
        else if (shipped instanceof Error) {
          const code = errorCode(shipped);
          const delayMs =
            code === 'CP_UNAUTHORIZED'
              ? this.backoff.next(this.options.unauthorizedDelayMs ?? 30_000)
              : this.backoff.next(retryAfterOf(shipped));
          this.failures.failed(shipped, delayMs);
          // Appends do not cut a backoff short (that would defeat it); a new key does.
          await this.keyChanged.wait(delayMs, signal);
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      offAppend();
      offKey?.();
    }
  }

  /**
   * Ships the head of the outbox once: 'shipped', 'empty', or the error that stopped it.
   * Exposed for a final flush on shutdown and for tests.
   */
  async shipOnce(signal?: AbortSignal): Promise<'shipped' | 'empty' | Error> {
    const max = Math.max(this.options.maxEventsPerRequest ?? 100, this.maxStatusPerBatch);
    const rows = this.options.store.outbox.peek({
      maxRows: max,
      maxBytes: this.options.maxBatchBytes ?? 1024 * 1024,
    });
    const head = rows[0];
    if (head === undefined) return 'empty';
    try {
      if (head.kind === 'audit') {
        const run: AuditRow[] = [];
        for (const row of rows) {
          if (row.kind !== 'audit') break;
          run.push(row);
        }
        await this.shipAudit(run, signal);
      } else if (head.kind === 'status') {
        const batched = this.batchRouteUsable() && (await this.shipStatusBatch(rows, signal));
        if (!batched) await this.shipStatusRun(this.statusRun(rows), signal);
      } else {
        await this.shipInstances(head, signal);
      }
      this.backoff.reset();
      this.failures.succeeded();
      // A key change noticed while healthy must not cut the next failure's backoff short.
      this.keyChanged.clear();
      return 'shipped';
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      const code = errorCode(err);
      this.counters.failures[code] = (this.counters.failures[code] ?? 0) + 1;
      this.options.hooks?.failed?.(code);
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  private get maxStatusPerBatch(): number {
    return this.options.maxStatusPerBatch ?? 200;
  }

  private batchRouteUsable(): boolean {
    return (
      this.options.client.reportStatuses !== undefined &&
      this.maxStatusPerBatch > 0 &&
      performance.now() >= this.batchRouteMissingUntil
    );
  }

  /**
   * Ships the consecutive status rows at the head (any actions, several rows of one action
   * too: the server applies them in order) in one request to the batch route. Superseded
   * `running` rows are skipped as in shipStatusRun. Every entry's answer is final (200
   * delivered; 400/404/409 refused, as on the per-action route), so all rows are marked.
   * Returns false, marking nothing, when the control plane has no batch route (404/405:
   * an older one): the caller then uses the per-action route, and the batch route is tried
   * again after `statusBatchRetryMs`.
   */
  private async shipStatusBatch(
    rows: readonly OutboxRow[],
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const run: StatusRow[] = [];
    for (const row of rows) {
      if (row.kind !== 'status' || run.length >= this.maxStatusPerBatch) break;
      run.push(row);
    }
    const send: StatusRow[] = [];
    const entries: StatusBatchEntry[] = [];
    for (const row of this.skipSuperseded(run)) {
      const body = row.body;
      const entry = StatusBatchEntry.safeParse({ actionId: body.actionId, ...body.report });
      if (entry.success) {
        send.push(row);
        entries.push(entry.data);
        continue;
      }
      // What the per-action route's client check would refuse: refused alone, not the batch.
      const reason = `CP_INVALID_REQUEST: refusing to send an invalid status report: ${describeIssues(entry.error)}`;
      this.options.store.outbox.markShipped([row.id], 'refused', reason.slice(0, 1000));
      this.counters.refusedRows.status += 1;
      this.options.hooks?.refused?.('status', 1, 'CP_INVALID_REQUEST');
      this.options.logger?.warn({ actionId: body.actionId, rows: 1 }, reason.slice(0, 1000));
    }
    if (send.length === 0) return true;
    this.counters.requests += 1;
    this.counters.statusBatches += 1;
    let results: StatusBatchResult[];
    try {
      results = await this.options.client.reportStatuses!(entries, signal);
    } catch (err) {
      // Refused as a whole (too large, or a shape this server does not take): each row then
      // goes on its own through the per-action route, which refuses or delivers it alone.
      if (!isMissingRoute(err) && refusedCodes.status.has(errorCode(err))) return false;
      if (!isMissingRoute(err)) throw err;
      this.batchRouteMissingUntil = performance.now() + (this.options.statusBatchRetryMs ?? 600_000);
      this.options.logger?.info(
        { err },
        'control plane has no batch status route (contract < 1.1); sending one report per request',
      );
      return false;
    }
    const delivered: number[] = [];
    results.forEach((result, i) => {
      const row = send[i]!;
      if (result.status === 200) {
        delivered.push(row.id);
        return;
      }
      const code = batchRefusalCodes[result.status];
      const body = row.body;
      const message = result.error?.message ?? `HTTP ${result.status}`;
      this.options.store.outbox.markShipped([row.id], 'refused', `${code}: ${message}`.slice(0, 1000));
      this.counters.refusedRows.status += 1;
      this.options.hooks?.refused?.('status', 1, code);
      this.options.logger?.warn(
        { actionId: body.actionId, state: body.report.state, code, rows: 1 },
        `control plane refused status report; dropped: ${message}`,
      );
    });
    if (delivered.length > 0) {
      this.options.store.outbox.markShipped(delivered, 'delivered');
      this.counters.shippedRows.status += delivered.length;
      this.options.hooks?.shipped?.('status', delivered.length);
    }
    this.lingerNext = run.length < this.maxStatusPerBatch;
    return true;
  }

  /** Marks the superseded rows of `run` (see isSuperseded) and returns the others. */
  private skipSuperseded(run: StatusRow[]): StatusRow[] {
    const superseded = run.filter((r) => this.isSuperseded(r));
    if (superseded.length > 0) {
      this.options.store.outbox.markShipped(
        superseded.map((r) => r.id),
        'delivered',
        'superseded by the final report queued behind it',
      );
      this.counters.supersededRows += superseded.length;
    }
    return superseded.length === 0 ? run : run.filter((r) => !superseded.includes(r));
  }

  /**
   * The status rows at the head that may go at once: consecutive status rows of distinct
   * actions (a second row of the same action, or any other kind, ends the run), at most
   * `maxParallelStatus`. Statuses go one request each (the route is per action); sending a
   * few at once keeps a backlog replay from being one round trip per row, while an action's
   * own reports still go strictly in order.
   */
  private statusRun(rows: readonly OutboxRow[]): StatusRow[] {
    const run: StatusRow[] = [];
    const actions = new Set<string>();
    for (const row of rows) {
      if (row.kind !== 'status' || run.length >= (this.options.maxParallelStatus ?? 8)) break;
      const actionId = row.body.actionId;
      if (actions.has(actionId)) break;
      actions.add(actionId);
      run.push(row);
    }
    return run;
  }

  /**
   * A `running` report whose action has finished (the journal says so; its final report was
   * queued in the same transaction, so it is behind this row) is not sent: the control plane
   * takes leased -> final directly, and the final report carries startedAt. Halves the
   * requests of a backlog (a slow or unreachable control plane). Such rows are marked
   * delivered with the reason; the final report still goes in its turn.
   */
  private isSuperseded(row: StatusRow): boolean {
    const body = row.body;
    const journal = this.options.store.journal;
    return body.report.state === 'running' && journal?.state(body.actionId) === 'finished';
  }

  /**
   * Ships a run of status rows (see statusRun): superseded ones are skipped, the others sent
   * at once. Delivered and refused rows are marked (one transaction for the delivered); if
   * any failed in a retryable way, the first such error is thrown after marking the rest,
   * and the next attempt starts again at the oldest row still pending.
   */
  private async shipStatusRun(run: StatusRow[], signal: AbortSignal | undefined): Promise<void> {
    const send = this.skipSuperseded(run);
    if (send.length <= 1) {
      if (send[0]) await this.shipStatus(send[0], signal);
      return;
    }
    this.counters.requests += send.length;
    const settled = await Promise.allSettled(
      send.map((row) => {
        const body = row.body;
        return this.options.client.reportStatus(body.actionId, body.report, signal);
      }),
    );
    const delivered: number[] = [];
    let failure: { err: unknown } | undefined;
    settled.forEach((outcome, i) => {
      const row = send[i]!;
      if (outcome.status === 'fulfilled') {
        delivered.push(row.id);
        return;
      }
      const code = errorCode(outcome.reason);
      if (!isRefusal('status', outcome.reason)) {
        failure ??= { err: outcome.reason };
        return;
      }
      const body = row.body;
      this.options.store.outbox.markShipped(
        [row.id],
        'refused',
        `${code}: ${errorMessage(outcome.reason)}`.slice(0, 1000),
      );
      this.counters.refusedRows.status += 1;
      this.options.hooks?.refused?.('status', 1, code);
      this.options.logger?.warn(
        { actionId: body.actionId, state: body.report.state, code, rows: 1 },
        `control plane refused status report; dropped: ${errorMessage(outcome.reason)}`,
      );
    });
    if (delivered.length > 0) {
      this.options.store.outbox.markShipped(delivered, 'delivered');
      this.counters.shippedRows.status += delivered.length;
      this.options.hooks?.shipped?.('status', delivered.length);
    }
    if (failure) throw failure.err;
  }

  private async shipStatus(row: StatusRow, signal: AbortSignal | undefined): Promise<void> {
    const body = row.body;
    await this.send(
      row.kind,
      [row],
      () => this.options.client.reportStatus(body.actionId, body.report, signal),
      {
        actionId: body.actionId,
        state: body.report.state,
      },
    );
  }

  private async shipInstances(row: InstancesRow, signal: AbortSignal | undefined): Promise<void> {
    const batch = row.body;
    let resync = false;
    const delivered = await this.send(
      row.kind,
      [row],
      async () => {
        const res = await this.options.client.sendInstancesJson(batch, signal);
        resync = res.resync || !res.accepted;
      },
      { seq: batch.seq, full: batch.full },
    );
    if (!delivered || resync) {
      // The control plane lost the thread (seq gap) or refused a batch: deltas queued behind
      // it are useless now. Drop them and make the reporter send a full snapshot.
      const dropped = this.options.store.outbox.requireFullSnapshot();
      this.options.logger?.info(
        { seq: batch.seq, droppedInstanceRows: dropped },
        'control plane needs a full instance snapshot',
      );
    }
  }

  private async shipAudit(rows: AuditRow[], signal: AbortSignal | undefined): Promise<void> {
    const events = rows.map((r) => r.body);
    try {
      await this.send(
        'audit',
        rows,
        () => this.options.client.sendEvents(events, signal),
        { events: rows.length },
        rows.length === 1,
      );
    } catch (err) {
      if (!(err instanceof RowsRefused) || rows.length === 1) throw err;
      // A whole batch was refused: find the bad event(s) by sending one at a time, so one
      // invalid event does not take the good ones with it.
      for (const row of rows) {
        await this.send('audit', [row], () => this.options.client.sendEvents([row.body], signal), {
          eventId: row.body.id,
        });
      }
    }
  }

  /**
   * Sends and marks the rows. Returns true when delivered, false when refused (rows marked
   * `refused`). Throws on failures that should be retried. With `markRefused` false a
   * refusal is thrown as RowsRefused instead (the audit batch then splits).
   */
  private async send(
    kind: OutboxKind,
    rows: OutboxRow[],
    request: () => Promise<unknown>,
    logFields: Record<string, unknown>,
    markRefused = true,
  ): Promise<boolean> {
    const ids = rows.map((r) => r.id);
    this.counters.requests += 1;
    try {
      await request();
    } catch (err) {
      const code = errorCode(err);
      if (!isRefusal(kind, err)) throw err;
      if (!markRefused) throw new RowsRefused(code, errorMessage(err));
      this.options.store.outbox.markShipped(ids, 'refused', `${code}: ${errorMessage(err)}`.slice(0, 1000));
      this.counters.refusedRows[kind] += ids.length;
      this.options.hooks?.refused?.(kind, ids.length, code);
      this.options.logger?.warn(
        { ...logFields, code, rows: ids.length },
        `control plane refused ${kind} report; dropped: ${errorMessage(err)}`,
      );
      return false;
    }
    this.options.store.outbox.markShipped(ids, 'delivered');
    this.counters.shippedRows[kind] += ids.length;
    this.options.hooks?.shipped?.(kind, ids.length);
    return true;
  }
}
