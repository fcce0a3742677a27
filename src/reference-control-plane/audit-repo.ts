import type { AuditEvent } from '../contract/reports.ts';
import { type Db, isoNow } from './db.ts';

export interface StoredAuditEvent {
  id: string;
  clusterId: string;
  timestamp: string;
  actorId: string;
  event: string;
  resource: string;
  details: { actionId?: string; message: string; details?: Record<string, unknown> };
  receivedAt: string;
}

export interface AuditInsertResult {
  received: number;
  inserted: number;
  duplicates: number;
}

/**
 * audit_logs: append-only (triggers refuse UPDATE and DELETE). The event id is the
 * idempotency key: a resent event is counted as a duplicate and ignored, whichever cluster
 * sends it again.
 */
export class AuditRepo {
  private readonly db: Db;
  private readonly insert;

  constructor(db: Db) {
    this.db = db;
    this.insert = db.prepare(
      `INSERT INTO audit_logs (id, cluster_id, timestamp, actor_id, event, resource, details, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    );
  }

  insertBatch(clusterId: string, events: readonly AuditEvent[], now = Date.now()): AuditInsertResult {
    const at = isoNow(now);
    return this.db
      .transaction((): AuditInsertResult => {
        let inserted = 0;
        for (const e of events) {
          const details = {
            ...(e.actionId === undefined ? {} : { actionId: e.actionId }),
            message: e.message,
            ...(e.details === undefined ? {} : { details: e.details }),
          };
          inserted += this.insert.run(
            e.id,
            clusterId,
            e.timestamp,
            `agent:${clusterId}`,
            e.event,
            e.resource,
            JSON.stringify(details),
            at,
          ).changes;
        }
        return { received: events.length, inserted, duplicates: events.length - inserted };
      })
      .immediate();
  }

  list(clusterId: string, limit = 10_000): StoredAuditEvent[] {
    const rows = this.db
      .prepare('SELECT * FROM audit_logs WHERE cluster_id = ? ORDER BY timestamp, rowid LIMIT ?')
      .all(clusterId, limit) as {
      id: string;
      cluster_id: string;
      timestamp: string;
      actor_id: string;
      event: string;
      resource: string;
      details: string;
      received_at: string;
    }[];
    return rows.map((r) => ({
      id: r.id,
      clusterId: r.cluster_id,
      timestamp: r.timestamp,
      actorId: r.actor_id,
      event: r.event,
      resource: r.resource,
      details: JSON.parse(r.details) as StoredAuditEvent['details'],
      receivedAt: r.received_at,
    }));
  }
}
