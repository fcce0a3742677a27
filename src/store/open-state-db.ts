import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { guard, StateCorruptError, StateUnwritableError } from './errors.ts';
import { migrate } from './migrations.ts';

export interface OpenStateDbOptions {
  /**
   * FULL (default): every commit fsyncs the WAL, so a committed result survives power loss
   * of the node, not only a crash of the process. Measured ~1 ms per commit on a local ext4
   * disk (~800-1400 commits/s), far above what the agent writes. NORMAL survives kill -9 but
   * may lose the last commits on power loss; it exists for benchmarks.
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** How long a write waits for a lock held by another connection. */
  busyTimeoutMs?: number;
  /** Hard cap on the file size in pages (4 KiB each); exceeding it raises STATE_DISK_FULL. */
  maxPageCount?: number;
}

/** SQLite's page cache per connection, KiB (see openStateDb). */
const pageCacheKiB = 1024;

/** Modes of what the agent keeps: only its own user may read the journal and the outbox. */
export const stateDirMode = 0o700;
export const stateFileMode = 0o600;

/**
 * Tightens `path` to `mode` when this process owns it and it is looser (a volume the kubelet
 * prepared with fsGroup adds group bits; a directory someone else owns, such as a volume's
 * root, is left as it is and its files still are 0600). Missing files are fine.
 */
function tighten(path: string, mode: number): void {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    return;
  }
  if (st.uid === process.getuid?.() && (st.mode & 0o777 & ~mode) !== 0) chmodSync(path, mode);
}

/**
 * Opens (creating if needed) the state file: directory 0700 and files 0600 (SQLite gives the
 * WAL and shared-memory files the database's mode), WAL, the chosen synchronous level, busy
 * timeout, a quick_check, migrations and a test write. Throws STATE_UNWRITABLE,
 * STATE_CORRUPT, STATE_DISK_FULL, STATE_LOCKED or STATE_VERSION_UNSUPPORTED; never returns a
 * handle that cannot be written.
 */
export function openStateDb(path: string, options: OpenStateDbOptions = {}): Database.Database {
  guard(path, 'creating the state directory', () => {
    mkdirSync(dirname(path), { recursive: true, mode: stateDirMode });
    tighten(dirname(path), stateDirMode);
  });
  guard(path, 'creating the state file', () => {
    // Created here, not by SQLite, so that it never exists with the umask's mode.
    closeSync(openSync(path, 'a', stateFileMode));
    for (const suffix of ['', '-wal', '-shm']) tighten(`${path}${suffix}`, stateFileMode);
  });
  const db = guard(path, 'opening', () => new Database(path, { timeout: options.busyTimeoutMs ?? 5000 }));
  try {
    guard(path, 'configuring', () => {
      // The first statement reads the header: garbage files fail here with SQLITE_NOTADB.
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') {
        throw new StateUnwritableError(`state file ${path}: could not enable WAL (journal_mode is ${mode})`);
      }
      db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
      db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
      // Keep the WAL file from staying huge after a burst (bytes).
      db.pragma('journal_size_limit = 67108864');
      // Page cache in KiB (negative: a size, not a page count). better-sqlite3 compiles SQLite
      // with a 16 MB default; every page the agent touches (outbox rows, the quick_check below
      // reads the whole file) stays cached up to that, malloc'ed in glibc's main arena, never
      // returned. The agent's reads are the newest rows, one index lookup each: 1 MiB holds
      // them, the rest comes from the kernel's page cache (docs/benchmarks-scale.md, "Memory").
      db.pragma(`cache_size = -${pageCacheKiB}`);
      if (options.maxPageCount !== undefined) db.pragma(`max_page_count = ${options.maxPageCount}`);
    });
    guard(path, 'checking integrity', () => {
      const rows = db.pragma('quick_check(20)', { simple: false }) as Array<{ quick_check: string }>;
      const problems = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
      if (problems.length > 0) {
        throw new StateCorruptError(
          `state file ${path} failed quick_check: ${problems.slice(0, 3).join('; ')}`,
        );
      }
    });
    guard(path, 'migrating the schema', () => migrate(db, path));
    // Prove the file is writable now, not at the first result hours later.
    guard(path, 'writing', () =>
      db
        .prepare(
          `INSERT INTO flags (name, value, updated_at) VALUES ('last_opened_at', ?, ?)
           ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
        )
        .run(new Date().toISOString(), Date.now()),
    );
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
