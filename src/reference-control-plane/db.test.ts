import { describe, expect, it } from 'vitest';
import { openDatabase, SchemaTooNewError, schemaVersion } from './db.ts';
import { tempDatabase } from './test-db.ts';

describe('openDatabase', () => {
  it('creates the schema once, in WAL mode, and reopens without re-running migrations', () => {
    const { db, path, cleanup } = tempDatabase();
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(schemaVersion);
      db.prepare("INSERT INTO clusters (id, name, created_at) VALUES ('x', 'n', 't')").run();
      db.close();
      const again = openDatabase(path);
      expect(again.prepare('SELECT count(*) AS n FROM clusters').get()).toEqual({ n: 1 });
      again.pragma(`user_version = ${schemaVersion + 1}`);
      again.close();
      expect(() => openDatabase(path)).toThrow(SchemaTooNewError);
    } finally {
      cleanup();
    }
  });

  it('refuses payloads that are not JSON at the database level', () => {
    const { db, cleanup } = tempDatabase();
    try {
      db.prepare("INSERT INTO clusters (id, name, created_at) VALUES ('c', 'n', 't')").run();
      expect(() =>
        db
          .prepare(
            "INSERT INTO agent_actions (id, cluster_id, action_type, payload, state, created_at, updated_at) VALUES ('a', 'c', 't', '{oops', 'queued', 't', 't')",
          )
          .run(),
      ).toThrow(/CHECK/);
    } finally {
      cleanup();
    }
  });
});
