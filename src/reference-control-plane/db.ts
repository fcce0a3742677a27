import Database from 'better-sqlite3';
import { AgentError } from '../util/errors.ts';

export type Db = Database.Database;

/**
 * Schema of the reference control plane: the seed's tables that matter to the agent, in
 * SQLite. Times are ISO 8601 UTC strings from Date#toISOString (fixed width, so they compare
 * correctly as text). JSON columns are checked with json_valid. Each entry is one migration;
 * PRAGMA user_version records how many have run. Never edit a shipped entry: append.
 */
const migrations: readonly string[] = [
  `
  CREATE TABLE clusters (
    id TEXT PRIMARY KEY,
    account_id TEXT,
    name TEXT NOT NULL,
    region TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    -- seq of the last instances batch applied; NULL until the first full snapshot
    instances_last_seq INTEGER,
    created_at TEXT NOT NULL
  );

  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters(id),
    prefix TEXT NOT NULL UNIQUE,
    key_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
  );

  CREATE TABLE agent_actions (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters(id),
    action_type TEXT NOT NULL,
    payload TEXT NOT NULL CHECK (json_valid(payload)),
    state TEXT NOT NULL CHECK (state IN
      ('queued', 'leased', 'running', 'succeeded', 'failed', 'rejected', 'expired')),
    message TEXT NOT NULL DEFAULT '',
    result TEXT CHECK (result IS NULL OR json_valid(result)),
    leased_until TEXT,
    lease_count INTEGER NOT NULL DEFAULT 0,
    delivered_count INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    deadline TEXT,
    started_at TEXT,
    finished_at TEXT,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX agent_actions_delivery ON agent_actions (cluster_id, state, created_at);

  CREATE TABLE action_status_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action_id TEXT NOT NULL REFERENCES agent_actions(id),
    cluster_id TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    -- enqueue | lease | agent | expiry
    source TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL
  );
  CREATE INDEX action_status_log_action ON action_status_log (action_id, id);
  CREATE INDEX action_status_log_cluster ON action_status_log (cluster_id, id);

  CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters(id),
    node_name TEXT NOT NULL,
    instance_id TEXT,
    instance_type TEXT,
    lifecycle TEXT NOT NULL,
    -- the whole InstanceReport as received
    data TEXT NOT NULL CHECK (json_valid(data)),
    updated_at TEXT NOT NULL,
    UNIQUE (cluster_id, node_name)
  );

  CREATE TABLE audit_logs (
    id TEXT PRIMARY KEY,
    cluster_id TEXT NOT NULL REFERENCES clusters(id),
    timestamp TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    event TEXT NOT NULL,
    resource TEXT NOT NULL,
    details TEXT NOT NULL CHECK (json_valid(details)),
    received_at TEXT NOT NULL
  );
  CREATE INDEX audit_logs_cluster ON audit_logs (cluster_id, timestamp);
  -- Immutable like the seed's audit_logs: inserts only.
  CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs
    BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only'); END;
  CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs
    BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only'); END;

  CREATE TABLE heartbeats (
    cluster_id TEXT PRIMARY KEY REFERENCES clusters(id),
    received_at TEXT NOT NULL,
    body TEXT NOT NULL CHECK (json_valid(body))
  );
  `,
];

export const schemaVersion = migrations.length;

/** The file was written by a newer build; refusing beats silently misreading it. */
export class SchemaTooNewError extends AgentError {
  constructor(found: number, known: number) {
    super(
      'CONTROL_PLANE_SCHEMA_TOO_NEW',
      `database schema version ${found} is newer than this build knows (${known})`,
    );
  }
}

/**
 * Opens (creating if needed) the control plane's database and brings its schema up to date.
 * WAL lets the offline CLI write while a server reads; busy_timeout makes a writer wait
 * for the other process's lock instead of failing at once.
 */
export function openDatabase(path: string): Db {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}

function migrate(db: Db): void {
  // IMMEDIATE: two processes opening a fresh file at once must not both run migration 1.
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > migrations.length) {
      throw new SchemaTooNewError(current, migrations.length);
    }
    for (let v = current; v < migrations.length; v++) db.exec(migrations[v]!);
    // PRAGMA does not take bound parameters; the value is our own integer.
    db.pragma(`user_version = ${migrations.length}`);
  }).immediate();
}

/** Current time as stored in the database. */
export function isoNow(now: number = Date.now()): string {
  return new Date(now).toISOString();
}
