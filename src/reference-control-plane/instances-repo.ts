import { randomUUID } from 'node:crypto';
import type { InstanceReport, InstancesBatch } from '../contract/reports.ts';
import { type Db, isoNow } from './db.ts';

export interface InstancesResult {
  accepted: boolean;
  resync: boolean;
}

export interface StoredInstance {
  id: string;
  nodeName: string;
  instanceId: string | null;
  instanceType: string | null;
  lifecycle: string;
  updatedAt: string;
  /** The InstanceReport as the agent sent it. */
  report: InstanceReport;
}

/**
 * The cluster's instances, keyed by node name (a reused name replaces the row; `removed`
 * lists node names). A full batch replaces the whole set (rows of nodes still in it keep
 * their ids) and restarts the sequence at its
 * seq; a delta must carry last_seq + 1 or it is refused with `resync` so the agent sends a
 * full snapshot. A repeated seq is accepted without being applied again (a retry whose
 * answer was lost). A full batch is always applied: applying it twice gives the same set.
 */
export class InstancesRepo {
  private readonly db: Db;
  private readonly lastSeq;
  private readonly setLastSeq;
  private readonly deleteAllBut;
  private readonly deleteOne;
  private readonly upsert;

  constructor(db: Db) {
    this.db = db;
    this.lastSeq = db.prepare('SELECT instances_last_seq AS seq FROM clusters WHERE id = ?');
    this.setLastSeq = db.prepare('UPDATE clusters SET instances_last_seq = ? WHERE id = ?');
    this.deleteAllBut = db.prepare(
      'DELETE FROM instances WHERE cluster_id = ? AND node_name NOT IN (SELECT value FROM json_each(?))',
    );
    this.deleteOne = db.prepare('DELETE FROM instances WHERE cluster_id = ? AND node_name = ?');
    this.upsert = db.prepare(
      `INSERT INTO instances (id, cluster_id, node_name, instance_id, instance_type, lifecycle, data, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (cluster_id, node_name) DO UPDATE SET instance_id = excluded.instance_id,
         instance_type = excluded.instance_type, lifecycle = excluded.lifecycle, data = excluded.data,
         updated_at = excluded.updated_at`,
    );
  }

  apply(clusterId: string, batch: InstancesBatch, now = Date.now()): InstancesResult {
    const at = isoNow(now);
    return this.db
      .transaction((): InstancesResult => {
        const row = this.lastSeq.get(clusterId) as { seq: number | null } | undefined;
        if (!row) throw new RangeError(`unknown cluster ${clusterId}`);
        if (!batch.full) {
          if (row.seq === null) return { accepted: false, resync: true };
          if (batch.seq === row.seq) return { accepted: true, resync: false };
          if (batch.seq !== row.seq + 1) return { accepted: false, resync: true };
        } else {
          // A full snapshot replaces the set, but a node still in it keeps its row (and id):
          // the platform's other tables refer to instance rows by id.
          this.deleteAllBut.run(clusterId, JSON.stringify(batch.instances.map((i) => i.nodeName)));
        }
        for (const name of batch.removed) this.deleteOne.run(clusterId, name);
        for (const i of batch.instances) {
          this.upsert.run(
            randomUUID(),
            clusterId,
            i.nodeName,
            i.instanceId ?? null,
            i.instanceType ?? null,
            i.lifecycle,
            JSON.stringify(i),
            at,
          );
        }
        this.setLastSeq.run(batch.seq, clusterId);
        return { accepted: true, resync: false };
      })
      .immediate();
  }

  list(clusterId: string): { lastSeq: number | null; instances: StoredInstance[] } {
    const seq = this.lastSeq.get(clusterId) as { seq: number | null } | undefined;
    const rows = this.db
      .prepare('SELECT * FROM instances WHERE cluster_id = ? ORDER BY node_name')
      .all(clusterId) as {
      id: string;
      node_name: string;
      instance_id: string | null;
      instance_type: string | null;
      lifecycle: string;
      data: string;
      updated_at: string;
    }[];
    return {
      lastSeq: seq?.seq ?? null,
      instances: rows.map((r) => ({
        id: r.id,
        nodeName: r.node_name,
        instanceId: r.instance_id,
        instanceType: r.instance_type,
        lifecycle: r.lifecycle,
        updatedAt: r.updated_at,
        report: JSON.parse(r.data) as InstanceReport,
      })),
    };
  }
}
