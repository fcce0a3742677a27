import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Db, openDatabase } from './db.ts';

/** A real SQLite file in a fresh temp dir (unit tests); `cleanup` closes and deletes it. */
export function tempDatabase(): { db: Db; path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'co-cp-'));
  const path = join(dir, 'control-plane.db');
  const db = openDatabase(path);
  return {
    db,
    path,
    cleanup: () => {
      if (db.open) db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
