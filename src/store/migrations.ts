import type Database from 'better-sqlite3';
import { StateVersionError } from './errors.ts';

/**
 * Schema migrations, applied in order. The file's `PRAGMA user_version` is the number of
 * steps already applied. Append new steps at the end; never edit or reorder a shipped one
 * (files in the field have already run it). Each step runs in its own transaction together
 * with the user_version bump, so a crash mid-migration leaves the previous version intact.
 */
export interface Migration {
  readonly description: string;
  readonly sql: string;
}

export const migrations: readonly Migration[] = [
  {
    description: 'outbox, outbox totals, flags, action journal',
    sql: `
      -- FIFO order is the rowid. AUTOINCREMENT so an id is never reused after a delete: the
      -- shipper marks rows by id after a request that may outlive a compaction.
      CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL CHECK (kind IN ('status', 'instances', 'audit')),
        idempotency_key TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        -- Shipped rows keep their key (dedupe of late re-appends) but not their body, and are
        -- deleted after the retention period.
        shipped_at INTEGER,
        outcome TEXT CHECK (outcome IN ('delivered', 'refused')),
        outcome_detail TEXT
      );
      CREATE INDEX outbox_pending ON outbox (id) WHERE shipped_at IS NULL;
      CREATE INDEX outbox_pending_instances ON outbox (id) WHERE shipped_at IS NULL AND kind = 'instances';
      CREATE INDEX outbox_shipped ON outbox (shipped_at) WHERE shipped_at IS NOT NULL;

      -- Exact pending totals kept by triggers, in the same transaction as the change, so the
      -- cap check and the depth metric never need a full scan.
      CREATE TABLE outbox_totals (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        pending_rows INTEGER NOT NULL,
        pending_bytes INTEGER NOT NULL
      );
      INSERT INTO outbox_totals (singleton, pending_rows, pending_bytes) VALUES (1, 0, 0);
      CREATE TRIGGER outbox_pending_insert AFTER INSERT ON outbox WHEN NEW.shipped_at IS NULL BEGIN
        UPDATE outbox_totals SET pending_rows = pending_rows + 1, pending_bytes = pending_bytes + NEW.bytes;
      END;
      CREATE TRIGGER outbox_pending_shipped AFTER UPDATE OF shipped_at ON outbox
        WHEN OLD.shipped_at IS NULL AND NEW.shipped_at IS NOT NULL BEGIN
        UPDATE outbox_totals SET pending_rows = pending_rows - 1, pending_bytes = pending_bytes - OLD.bytes;
      END;
      CREATE TRIGGER outbox_pending_delete AFTER DELETE ON outbox WHEN OLD.shipped_at IS NULL BEGIN
        UPDATE outbox_totals SET pending_rows = pending_rows - 1, pending_bytes = pending_bytes - OLD.bytes;
      END;

      CREATE TABLE flags (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );

      CREATE TABLE action_journal (
        id TEXT PRIMARY KEY,
        envelope TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('received', 'started', 'finished')),
        final_state TEXT,
        received_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER
      );
      CREATE INDEX action_journal_open ON action_journal (state) WHERE state <> 'finished';
      CREATE INDEX action_journal_finished ON action_journal (finished_at) WHERE state = 'finished';
    `,
  },
];

/** Applies the missing steps. Returns the versions before and after. */
export function migrate(
  db: Database.Database,
  path: string,
  steps: readonly Migration[] = migrations,
): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true }) as number;
  if (from > steps.length) {
    throw new StateVersionError(
      `state file ${path} has schema version ${from}, this agent knows up to ${steps.length}: ` +
        'it was written by a newer agent; upgrade the agent or move the file away',
    );
  }
  for (let version = from; version < steps.length; version++) {
    const step = steps[version]!;
    db.transaction(() => {
      db.exec(step.sql);
      // PRAGMA cannot take a bound parameter; version is a number we control.
      db.pragma(`user_version = ${version + 1}`);
    }).immediate();
  }
  return { from, to: steps.length };
}
