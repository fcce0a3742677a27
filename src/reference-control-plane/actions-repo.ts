import { randomUUID } from 'node:crypto';
import type { StatusReport } from '../contract/reports.ts';
import type { WireEnvelope } from '../contract/wire-envelope.ts';
import { type Db, isoNow } from './db.ts';

/**
 * Life of an action in the control plane:
 *   queued ─lease─▶ leased ─(lease runs out)─▶ leased again (redelivery)
 *   queued|leased ─agent─▶ running | succeeded | failed | rejected | expired
 *   running ─agent─▶ succeeded | failed | rejected | expired
 *   queued|leased past expires_at (and not under a live lease) ─▶ expired
 * Terminal states are final. Reporting the state an action is already in is a no-op.
 */
export const storedActionStates = [
  'queued',
  'leased',
  'running',
  'succeeded',
  'failed',
  'rejected',
  'expired',
] as const;
export type StoredActionState = (typeof storedActionStates)[number];

const terminal: ReadonlySet<StoredActionState> = new Set(['succeeded', 'failed', 'rejected', 'expired']);

export function isTerminal(state: StoredActionState): boolean {
  return terminal.has(state);
}

export interface ActionRecord {
  id: string;
  clusterId: string;
  type: string;
  payload: unknown;
  state: StoredActionState;
  message: string;
  result: unknown;
  leasedUntil: string | null;
  leaseCount: number;
  deliveredCount: number;
  createdAt: string;
  expiresAt: string | null;
  deadline: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  updatedAt: string;
}

export interface StatusLogEntry {
  id: number;
  actionId: string;
  clusterId: string;
  fromState: StoredActionState | null;
  toState: StoredActionState;
  source: 'enqueue' | 'lease' | 'agent' | 'expiry';
  message: string;
  at: string;
}

export interface EnqueueInput {
  clusterId: string;
  type: string;
  /** Stored as given (any JSON value): checking it is the agent's job. */
  payload: unknown;
  id?: string | undefined;
  expiresAt?: string | undefined;
  deadline?: string | undefined;
}

export type EnqueueResult =
  | { ok: true; action: ActionRecord }
  | { ok: false; reason: 'cluster_not_found' | 'duplicate_id' };

export type StatusResult =
  | { ok: true; state: StoredActionState; changed: boolean }
  | { ok: false; reason: 'not_found' }
  | { ok: false; reason: 'conflict'; state: StoredActionState; message: string };

interface ActionRow {
  id: string;
  cluster_id: string;
  action_type: string;
  payload: string;
  state: StoredActionState;
  message: string;
  result: string | null;
  leased_until: string | null;
  lease_count: number;
  delivered_count: number;
  created_at: string;
  expires_at: string | null;
  deadline: string | null;
  started_at: string | null;
  finished_at: string | null;
  updated_at: string;
}

function toRecord(row: ActionRow): ActionRecord {
  return {
    id: row.id,
    clusterId: row.cluster_id,
    type: row.action_type,
    payload: JSON.parse(row.payload),
    state: row.state,
    message: row.message,
    result: row.result === null ? null : JSON.parse(row.result),
    leasedUntil: row.leased_until,
    leaseCount: row.lease_count,
    deliveredCount: row.delivered_count,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    deadline: row.deadline,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    updatedAt: row.updated_at,
  };
}

function toEnvelope(row: ActionRow): WireEnvelope {
  return {
    id: row.id,
    type: row.action_type,
    payload: JSON.parse(row.payload),
    createdAt: row.created_at,
    ...(row.expires_at === null ? {} : { expiresAt: row.expires_at }),
    ...(row.deadline === null ? {} : { deadline: row.deadline }),
  };
}

/** Normalises any parseable timestamp to the stored form; undefined stays undefined. */
export function normaliseTimestamp(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new RangeError(`not a timestamp: ${value}`);
  return isoNow(ms);
}

function prepareStatements(db: Db) {
  return {
    clusterExists: db.prepare('SELECT 1 FROM clusters WHERE id = ?'),
    insert: db.prepare(
      `INSERT INTO agent_actions (id, cluster_id, action_type, payload, state, created_at, expires_at,
         deadline, updated_at)
       VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    ),
    get: db.prepare('SELECT * FROM agent_actions WHERE id = ?'),
    log: db.prepare(
      `INSERT INTO action_status_log (action_id, cluster_id, from_state, to_state, source, message, at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    dueToExpire: db.prepare(
      `SELECT id, state FROM agent_actions
       WHERE cluster_id = ? AND expires_at IS NOT NULL AND expires_at <= ?
         AND (state = 'queued' OR (state = 'leased' AND leased_until <= ?))`,
    ),
    expire: db.prepare(
      `UPDATE agent_actions SET state = 'expired', message = ?, leased_until = NULL, finished_at = ?,
         updated_at = ? WHERE id = ?`,
    ),
    deliverable: db.prepare(
      `SELECT * FROM agent_actions
       WHERE cluster_id = ? AND (state = 'queued' OR (state = 'leased' AND leased_until <= ?))
       ORDER BY created_at, rowid LIMIT ?`,
    ),
    lease: db.prepare(
      `UPDATE agent_actions SET state = 'leased', leased_until = ?, lease_count = lease_count + 1,
         delivered_count = delivered_count + 1, updated_at = ? WHERE id = ?`,
    ),
    nextLeaseExpiry: db.prepare(
      `SELECT min(leased_until) AS t FROM agent_actions WHERE cluster_id = ? AND state = 'leased'`,
    ),
    toRunning: db.prepare(
      `UPDATE agent_actions SET state = 'running', message = ?, leased_until = NULL,
         started_at = coalesce(?, started_at, ?), updated_at = ? WHERE id = ?`,
    ),
    toTerminal: db.prepare(
      `UPDATE agent_actions SET state = ?, message = ?, result = ?, leased_until = NULL,
         started_at = coalesce(started_at, ?), finished_at = ?, updated_at = ? WHERE id = ?`,
    ),
    maxRowid: db.prepare('SELECT coalesce(max(rowid), 0) AS r FROM agent_actions'),
    countByState: db.prepare(
      'SELECT state, count(*) AS n FROM agent_actions WHERE cluster_id = ? GROUP BY state',
    ),
    clustersAfter: db.prepare('SELECT DISTINCT cluster_id FROM agent_actions WHERE rowid > ?'),
    logOfAction: db.prepare('SELECT * FROM action_status_log WHERE action_id = ? ORDER BY id'),
    logOfCluster: db.prepare('SELECT * FROM action_status_log WHERE cluster_id = ? ORDER BY id'),
  };
}

/** agent_actions and action_status_log. All statements are prepared once per database. */
export class ActionsRepo {
  private readonly db: Db;
  private readonly stmt: ReturnType<typeof prepareStatements>;

  constructor(db: Db) {
    this.db = db;
    this.stmt = prepareStatements(db);
  }

  enqueue(input: EnqueueInput, now = Date.now()): EnqueueResult {
    const payload = JSON.stringify(input.payload);
    if (payload === undefined) throw new TypeError('payload must be a JSON value');
    return this.db
      .transaction((): EnqueueResult => {
        if (!this.stmt.clusterExists.get(input.clusterId)) return { ok: false, reason: 'cluster_not_found' };
        const id = (input.id ?? randomUUID()).toLowerCase();
        const at = isoNow(now);
        const inserted = this.stmt.insert.run(
          id,
          input.clusterId,
          input.type,
          payload,
          at,
          normaliseTimestamp(input.expiresAt) ?? null,
          normaliseTimestamp(input.deadline) ?? null,
          at,
        );
        if (inserted.changes === 0) return { ok: false, reason: 'duplicate_id' };
        this.stmt.log.run(id, input.clusterId, null, 'queued', 'enqueue', '', at);
        return { ok: true, action: this.get(id)! };
      })
      .immediate();
  }

  get(id: string): ActionRecord | undefined {
    const row = this.stmt.get.get(id) as ActionRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  list(clusterId: string, options: { state?: StoredActionState; limit?: number } = {}): ActionRecord[] {
    const rows = this.db
      .prepare(
        `SELECT * FROM agent_actions WHERE cluster_id = ? ${options.state ? 'AND state = ?' : ''}
         ORDER BY created_at, rowid LIMIT ?`,
      )
      .all(clusterId, ...(options.state ? [options.state] : []), options.limit ?? 10_000) as ActionRow[];
    return rows.map(toRecord);
  }

  /** Actions of the cluster per state (every state present, 0 when none). */
  countByState(clusterId: string): Record<StoredActionState, number> {
    const counts = Object.fromEntries(storedActionStates.map((s) => [s, 0])) as Record<
      StoredActionState,
      number
    >;
    for (const row of this.stmt.countByState.all(clusterId) as { state: StoredActionState; n: number }[]) {
      counts[row.state] = row.n;
    }
    return counts;
  }

  /** Marks undelivered (or no longer leased) actions past expires_at as expired. */
  expireDue(clusterId: string, now = Date.now()): number {
    const at = isoNow(now);
    return this.db
      .transaction(() => {
        const due = this.stmt.dueToExpire.all(clusterId, at, at) as {
          id: string;
          state: StoredActionState;
        }[];
        for (const row of due) {
          const message = 'expired before the agent took it (expiresAt passed)';
          this.stmt.expire.run(message, at, at, row.id);
          this.stmt.log.run(row.id, clusterId, row.state, 'expired', 'expiry', message, at);
        }
        return due.length;
      })
      .immediate();
  }

  /**
   * Hands out up to `limit` actions, oldest first: queued ones and leased ones whose lease
   * ran out (redelivery). Each is leased until now + leaseMs.
   */
  lease(clusterId: string, limit: number, leaseMs: number, now = Date.now()): WireEnvelope[] {
    const at = isoNow(now);
    const until = isoNow(now + leaseMs);
    return this.db
      .transaction(() => {
        this.expireDue(clusterId, now);
        const rows = this.stmt.deliverable.all(clusterId, at, limit) as ActionRow[];
        for (const row of rows) {
          this.stmt.lease.run(until, at, row.id);
          this.stmt.log.run(row.id, clusterId, row.state, 'leased', 'lease', '', at);
        }
        return rows.map(toEnvelope);
      })
      .immediate();
  }

  /** When the earliest live lease of the cluster runs out (ms since epoch), if any. */
  nextLeaseExpiry(clusterId: string): number | undefined {
    const row = this.stmt.nextLeaseExpiry.get(clusterId) as { t: string | null };
    return row.t === null ? undefined : Date.parse(row.t);
  }

  /** Applies an agent's status report (see the state diagram at the top of this file). */
  report(clusterId: string, actionId: string, report: StatusReport, now = Date.now()): StatusResult {
    return this.db.transaction(() => this.apply(clusterId, actionId, report, isoNow(now))).immediate();
  }

  /**
   * Applies many reports in ONE transaction, in order (the batch status route): each one
   * exactly as `report` would, and one that is refused does not affect the others.
   */
  reportMany(
    clusterId: string,
    reports: readonly { actionId: string; report: StatusReport }[],
    now = Date.now(),
  ): StatusResult[] {
    const at = isoNow(now);
    return this.db
      .transaction(() => reports.map((r) => this.apply(clusterId, r.actionId, r.report, at)))
      .immediate();
  }

  private apply(clusterId: string, actionId: string, report: StatusReport, at: string): StatusResult {
    const row = this.stmt.get.get(actionId) as ActionRow | undefined;
    // Another cluster's action is reported as absent: ids do not leak across clusters.
    if (!row || row.cluster_id !== clusterId) return { ok: false, reason: 'not_found' };
    const from = row.state;
    const to = report.state;
    if (from === to) return { ok: true, state: from, changed: false };
    if (isTerminal(from)) {
      return {
        ok: false,
        reason: 'conflict',
        state: from,
        message: `action is already ${from}; cannot become ${to}`,
      };
    }
    // from is queued, leased or running here; `running -> running` was handled above.
    if (to === 'running') {
      this.stmt.toRunning.run(report.message, normaliseTimestamp(report.startedAt) ?? null, at, at, actionId);
    } else {
      this.stmt.toTerminal.run(
        to,
        report.message,
        report.result === undefined ? null : JSON.stringify(report.result),
        normaliseTimestamp(report.startedAt) ?? null,
        normaliseTimestamp(report.finishedAt) ?? at,
        at,
        actionId,
      );
    }
    this.stmt.log.run(actionId, clusterId, from, to, 'agent', report.message, at);
    return { ok: true, state: to, changed: true };
  }

  statusLog(filter: { actionId: string } | { clusterId: string }): StatusLogEntry[] {
    const rows = (
      'actionId' in filter
        ? this.stmt.logOfAction.all(filter.actionId)
        : this.stmt.logOfCluster.all(filter.clusterId)
    ) as {
      id: number;
      action_id: string;
      cluster_id: string;
      from_state: StoredActionState | null;
      to_state: StoredActionState;
      source: StatusLogEntry['source'];
      message: string;
      at: string;
    }[];
    return rows.map((r) => ({
      id: r.id,
      actionId: r.action_id,
      clusterId: r.cluster_id,
      fromState: r.from_state,
      toState: r.to_state,
      source: r.source,
      message: r.message,
      at: r.at,
    }));
  }

  /** Highest rowid of agent_actions: a cheap "did anyone insert?" probe for other processes. */
  maxRowid(): number {
    return (this.stmt.maxRowid.get() as { r: number }).r;
  }

  /** Clusters that got actions with a rowid above `rowid`. */
  clustersWithActionsAfter(rowid: number): string[] {
    return (this.stmt.clustersAfter.all(rowid) as { cluster_id: string }[]).map((r) => r.cluster_id);
  }
}
