import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import {
  type InstancesBatchText,
  instancesBatchHead,
  instancesBatchJson,
} from '../contract/instances-batch-json.ts';
import { AuditEvent, type InstancesBatch, StatusReport } from '../contract/reports.ts';
import { describeIssues } from '../contract/wire-envelope.ts';
import type { AppendNotifier } from './append-notifier.ts';
import { guard, OutboxBodyError, StateCorruptError } from './errors.ts';
import { pruneBatch, pruneInBatches } from './prune.ts';
import type { WriteHealth } from './write-health.ts';

export type OutboxKind = 'status' | 'instances' | 'audit';

/** The body of a `status` row: the route needs the action id beside the report. */
export interface StatusRowBody {
  actionId: string;
  report: StatusReport;
}

interface OutboxRowBase {
  id: number;
  idempotencyKey: string;
  bytes: number;
  createdAt: number;
}
export type StatusRow = OutboxRowBase & { kind: 'status'; body: StatusRowBody };
/** Instance batches stay text (a full snapshot is the largest body): the client sends it as stored. */
export type InstancesRow = OutboxRowBase & { kind: 'instances'; body: InstancesBatchText };
export type AuditRow = OutboxRowBase & { kind: 'audit'; body: AuditEvent };
/** A queued row; its body is what the typed append for its kind validated and stored. */
export type OutboxRow = StatusRow | InstancesRow | AuditRow;

export interface AppendResult {
  /** Row id of the stored row (the earlier one when `duplicate`). */
  id: number;
  /** True when a row with this idempotency key already existed: nothing was written. */
  duplicate: boolean;
  /** Un-shipped instance rows deleted by this append (cap compaction or superseded). */
  droppedInstanceRows: number;
}

export interface OutboxLimits {
  /** Pending rows above which instance rows are compacted and overCapacity is reported. */
  maxPendingRows: number;
  /** Pending body bytes, same rule. */
  maxPendingBytes: number;
  /** How long shipped rows (key only, body cleared) are kept for de-duplication. */
  shippedRetentionMs: number;
  /** Most shipped rows kept; the oldest beyond it go first, whatever their age. */
  maxShippedRows: number;
}

export const defaultOutboxLimits: OutboxLimits = {
  maxPendingRows: 100_000,
  maxPendingBytes: 256 * 1024 * 1024,
  shippedRetentionMs: 24 * 60 * 60 * 1000,
  maxShippedRows: 100_000,
};

const fullSnapshotFlag = 'instances_full_snapshot_required';

interface RawRow {
  id: number;
  kind: OutboxKind;
  idempotency_key: string;
  body: string;
  bytes: number;
  created_at: number;
}

/**
 * The outbox: results, instance reports and audit events waiting to be shipped, FIFO by
 * row id. Cap policy (docs/outbox.md): instance rows may be compacted away (the next
 * instance report must then be a full snapshot); status results and audit events are never
 * dropped, the outbox reports `overCapacity` instead.
 */
export class Outbox {
  private readonly db: Database.Database;
  private readonly path: string;
  private readonly limits: OutboxLimits;
  private readonly notifier: AppendNotifier;
  private readonly now: () => number;
  private readonly health: WriteHealth | undefined;
  private droppedTotal = 0;
  private lastPruneAt = Number.NEGATIVE_INFINITY;
  private readonly statements;

  constructor(
    db: Database.Database,
    options: {
      path: string;
      limits: OutboxLimits;
      notifier: AppendNotifier;
      now: () => number;
      health?: WriteHealth;
    },
  ) {
    this.health = options.health;
    this.db = db;
    this.path = options.path;
    this.limits = options.limits;
    this.notifier = options.notifier;
    this.now = options.now;
    this.statements = {
      insert: db.prepare(
        `INSERT INTO outbox (kind, idempotency_key, body, bytes, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (idempotency_key) DO NOTHING`,
      ),
      byKey: db.prepare('SELECT id FROM outbox WHERE idempotency_key = ?').pluck(),
      totals: db.prepare('SELECT pending_rows AS rows, pending_bytes AS bytes FROM outbox_totals'),
      peek: db.prepare(
        `SELECT id, kind, idempotency_key, body, bytes, created_at FROM outbox
         WHERE shipped_at IS NULL ORDER BY id LIMIT ?`,
      ),
      oldest: db
        .prepare('SELECT created_at FROM outbox WHERE shipped_at IS NULL ORDER BY id LIMIT 1')
        .pluck(),
      ship: db.prepare(
        `UPDATE outbox SET shipped_at = ?, outcome = ?, outcome_detail = ?, body = ''
         WHERE id = ? AND shipped_at IS NULL`,
      ),
      dropInstancesBefore: db.prepare(
        `DELETE FROM outbox WHERE shipped_at IS NULL AND kind = 'instances' AND id < ?`,
      ),
      dropInstances: db.prepare(`DELETE FROM outbox WHERE shipped_at IS NULL AND kind = 'instances'`),
      prune: db.prepare(
        `DELETE FROM outbox WHERE id IN
           (SELECT id FROM outbox WHERE shipped_at IS NOT NULL AND shipped_at < ? LIMIT ${pruneBatch})`,
      ),
      shippedCount: db.prepare('SELECT count(*) FROM outbox WHERE shipped_at IS NOT NULL').pluck(),
      pruneOldest: db.prepare(
        `DELETE FROM outbox WHERE id IN
           (SELECT id FROM outbox WHERE shipped_at IS NOT NULL ORDER BY shipped_at, id LIMIT ?)`,
      ),
      getFlag: db.prepare('SELECT value FROM flags WHERE name = ?').pluck(),
      setFlag: db.prepare(
        `INSERT INTO flags (name, value, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      ),
    };
  }

  /**
   * Queues a body, as given: the storage primitive under appendStatus, appendInstances and
   * appendAudit, which validate it first (what peek's typed rows rely on); storage tests use it
   * directly. Idempotent on `idempotencyKey`: a second append with the same key (also
   * after the first was shipped, within the retention period) writes nothing.
   */
  append(kind: OutboxKind, idempotencyKey: string, body: unknown): AppendResult {
    const json = JSON.stringify(body);
    if (json === undefined) throw new OutboxBodyError(`outbox ${kind} body is not JSON-serialisable`);
    const isFullSnapshot =
      kind === 'instances' &&
      typeof body === 'object' &&
      body !== null &&
      (body as { full?: unknown }).full === true;
    return this.appendJson(kind, idempotencyKey, json, isFullSnapshot);
  }

  private appendJson(
    kind: OutboxKind,
    idempotencyKey: string,
    json: string,
    isFullSnapshot: boolean,
  ): AppendResult {
    const result = this.write('appending to the outbox', () =>
      this.db
        .transaction((): AppendResult => {
          const now = this.now();
          const info = this.statements.insert.run(kind, idempotencyKey, json, Buffer.byteLength(json), now);
          if (info.changes === 0) {
            return {
              id: this.statements.byKey.get(idempotencyKey) as number,
              duplicate: true,
              droppedInstanceRows: 0,
            };
          }
          const id = Number(info.lastInsertRowid);
          let dropped = 0;
          if (isFullSnapshot) {
            // A full snapshot supersedes every earlier un-shipped instance row.
            dropped += this.statements.dropInstancesBefore.run(id).changes;
            this.statements.setFlag.run(fullSnapshotFlag, 'false', now);
          } else if (this.isOver()) {
            // Over the cap: instance rows are the only ones that may go. Once any is gone the
            // rest are a broken delta chain, so all go, and the next report must be full.
            const n = this.statements.dropInstances.run().changes;
            if (n > 0) {
              dropped += n;
              this.statements.setFlag.run(fullSnapshotFlag, 'true', now);
            }
          }
          return { id, duplicate: false, droppedInstanceRows: dropped };
        })
        .immediate(),
    );
    this.droppedTotal += result.droppedInstanceRows;
    if (!result.duplicate) this.notifier.appended(this.db.inTransaction);
    return result;
  }

  /** Queues a status report for an action; key `status:<id>:<state>`. */
  appendStatus(actionId: string, report: StatusReport): AppendResult {
    const parsed = StatusReport.safeParse(report);
    if (!parsed.success) throw new OutboxBodyError(`invalid status report: ${describeIssues(parsed.error)}`);
    const body: StatusRowBody = { actionId, report: parsed.data };
    return this.append('status', `status:${actionId}:${parsed.data.state}`, body);
  }

  /**
   * Queues an instance batch. The inventory reporter must check `fullSnapshotRequired`
   * before building each batch. Instance batches carry no natural key (seq restarts with
   * the process), so the key is random unless given.
   */
  appendInstances(batch: InstancesBatch, idempotencyKey = `instances:${randomUUID()}`): AppendResult {
    const checked = instancesBatchJson(batch);
    if (!checked.ok) throw new OutboxBodyError(`invalid instances batch: ${checked.reason}`);
    return this.appendJson('instances', idempotencyKey, checked.json, checked.full);
  }

  /** Queues an audit event; its id is the idempotency key. */
  appendAudit(event: AuditEvent): AppendResult {
    const parsed = AuditEvent.safeParse(event);
    if (!parsed.success) throw new OutboxBodyError(`invalid audit event: ${describeIssues(parsed.error)}`);
    return this.append('audit', `audit:${parsed.data.id}`, parsed.data);
  }

  /** The oldest un-shipped rows, in order; at least one row when any is pending. */
  peek(limits: { maxRows: number; maxBytes?: number }): OutboxRow[] {
    const raw = guard(
      this.path,
      'reading the outbox',
      () => this.statements.peek.all(Math.max(1, limits.maxRows)) as RawRow[],
    );
    const rows: OutboxRow[] = [];
    let bytes = 0;
    for (const r of raw) {
      if (rows.length > 0 && limits.maxBytes !== undefined && bytes + r.bytes > limits.maxBytes) break;
      bytes += r.bytes;
      const body = r.kind === 'instances' ? this.storedBatch(r) : this.parseBody(r);
      // The one place a body is trusted: appendStatus/appendInstances/appendAudit validated it
      // before it was written, and the kind column says which it was.
      rows.push({
        id: r.id,
        kind: r.kind,
        idempotencyKey: r.idempotency_key,
        body,
        bytes: r.bytes,
        createdAt: r.created_at,
      } as OutboxRow);
    }
    return rows;
  }

  private parseBody(r: RawRow): unknown {
    try {
      return JSON.parse(r.body);
    } catch (err) {
      throw new StateCorruptError(`state file ${this.path}: outbox row ${r.id} holds invalid JSON`, {
        cause: err,
      });
    }
  }

  /** An instances row as text; a row that does not start as the writer writes is parsed and written again. */
  private storedBatch(r: RawRow): InstancesBatchText {
    const head = instancesBatchHead(r.body);
    if (head) return { ...head, json: r.body };
    const again = instancesBatchJson(this.parseBody(r) as InstancesBatch);
    if (!again.ok) {
      throw new StateCorruptError(`state file ${this.path}: outbox row ${r.id} is not an instances batch`);
    }
    return { seq: again.seq, full: again.full, json: again.json };
  }

  /**
   * Marks rows as shipped: `delivered` after a 2xx, `refused` when the control plane
   * answered that it will never accept them (409/404 on a status, 4xx validation). Their
   * bodies are cleared; keys stay for the retention period. Unknown or already shipped ids
   * are ignored (a row may have been compacted while its request was in flight).
   */
  markShipped(
    ids: readonly number[],
    outcome: 'delivered' | 'refused' = 'delivered',
    detail?: string,
  ): number {
    if (ids.length === 0) return 0;
    const changed = this.write('marking outbox rows shipped', () =>
      this.db
        .transaction(() => {
          const now = this.now();
          let n = 0;
          for (const id of ids) n += this.statements.ship.run(now, outcome, detail ?? null, id).changes;
          return n;
        })
        .immediate(),
    );
    // Opportunistic and monotonic (a wall-clock step back must not stop pruning for hours).
    // Its failure (disk full) must not make the marking, already committed, look failed.
    if (performance.now() - this.lastPruneAt > 60_000) {
      try {
        this.prune();
      } catch {
        // Tried again after the next shipment; the store's write state already says why.
      }
    }
    return changed;
  }

  /**
   * The control plane asked for a resync (or the reporter lost track): un-shipped instance
   * rows are useless now, drop them and require a full snapshot next.
   */
  requireFullSnapshot(): number {
    const dropped = this.write('requiring a full instance snapshot', () =>
      this.db
        .transaction(() => {
          const n = this.statements.dropInstances.run().changes;
          this.statements.setFlag.run(fullSnapshotFlag, 'true', this.now());
          return n;
        })
        .immediate(),
    );
    this.droppedTotal += dropped;
    return dropped;
  }

  /** True when instance rows were dropped since the last full snapshot was queued. */
  get fullSnapshotRequired(): boolean {
    return guard(this.path, 'reading flags', () => this.statements.getFlag.get(fullSnapshotFlag) === 'true');
  }

  /** Pending rows and bytes (exact, kept by triggers). */
  totals(): { rows: number; bytes: number } {
    return guard(
      this.path,
      'reading outbox totals',
      () => this.statements.totals.get() as { rows: number; bytes: number },
    );
  }

  get depth(): number {
    return this.totals().rows;
  }

  /** Age of the oldest un-shipped row in ms, 0 when empty. */
  oldestAgeMs(): number {
    const createdAt = guard(
      this.path,
      'reading the outbox',
      () => this.statements.oldest.get() as number | undefined,
    );
    return createdAt === undefined ? 0 : Math.max(0, this.now() - createdAt);
  }

  /** Over the cap with nothing left to compact: readiness and metrics should say so. */
  get overCapacity(): boolean {
    return this.isOver();
  }

  /** Instance rows dropped by compaction or resync since this process opened the store. */
  get droppedInstanceRows(): number {
    return this.droppedTotal;
  }

  /**
   * Deletes shipped rows older than the retention period, then the oldest shipped ones beyond
   * maxShippedRows, in batches. Pending rows are never deleted here (their cap is
   * maxPendingRows/Bytes, see append). Returns how many went.
   */
  prune(): number {
    this.lastPruneAt = performance.now();
    return this.write('pruning the outbox', () => {
      const { prune, shippedCount, pruneOldest } = this.statements;
      return pruneInBatches(
        { prune, finishedCount: shippedCount, pruneOldest },
        this.now() - this.limits.shippedRetentionMs,
        this.limits.maxShippedRows,
      );
    });
  }

  /** A write: file errors are typed and mark the store failing (see WriteHealth). */
  private write<T>(doing: string, fn: () => T): T {
    return this.health ? this.health.write(this.path, doing, fn) : guard(this.path, doing, fn);
  }

  private isOver(): boolean {
    const t = this.statements.totals.get() as { rows: number; bytes: number };
    return t.rows > this.limits.maxPendingRows || t.bytes > this.limits.maxPendingBytes;
  }
}
