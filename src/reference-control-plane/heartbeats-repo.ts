import type { Heartbeat } from '../contract/reports.ts';
import { type Db, isoNow } from './db.ts';

export interface StoredHeartbeat {
  clusterId: string;
  receivedAt: string;
  heartbeat: Heartbeat;
}

/** The last heartbeat of each cluster (older ones are not kept). */
export class HeartbeatsRepo {
  private readonly upsert;
  private readonly get;

  constructor(db: Db) {
    this.upsert = db.prepare(
      `INSERT INTO heartbeats (cluster_id, received_at, body) VALUES (?, ?, ?)
       ON CONFLICT (cluster_id) DO UPDATE SET received_at = excluded.received_at, body = excluded.body`,
    );
    this.get = db.prepare('SELECT * FROM heartbeats WHERE cluster_id = ?');
  }

  record(clusterId: string, heartbeat: Heartbeat, now = Date.now()): void {
    this.upsert.run(clusterId, isoNow(now), JSON.stringify(heartbeat));
  }

  last(clusterId: string): StoredHeartbeat | undefined {
    const row = this.get.get(clusterId) as
      | { cluster_id: string; received_at: string; body: string }
      | undefined;
    return row
      ? {
          clusterId: row.cluster_id,
          receivedAt: row.received_at,
          heartbeat: JSON.parse(row.body) as Heartbeat,
        }
      : undefined;
  }
}
