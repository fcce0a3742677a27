import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrations } from './migrations.ts';
import { StateStore } from './state-store.ts';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'state-store-test-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const code = (c: string) => expect.objectContaining({ code: c });

describe('StateStore.open', () => {
  it('creates the directory and file with WAL, synchronous=FULL, a 1 MiB page cache and the latest schema', () => {
    const path = join(dir, 'nested', 'state', 'agent.db');
    StateStore.open({ path }).close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('user_version', { simple: true })).toBe(migrations.length);
    } finally {
      db.close();
    }
    // synchronous is per connection: check it on the store's own connection.
    const store = StateStore.open({ path });
    const probe = (store as unknown as { db: Database.Database }).db;
    expect(probe.pragma('synchronous', { simple: true })).toBe(2); // 2 = FULL
    expect(probe.pragma('busy_timeout', { simple: true })).toBe(5000);
    // A page cache of 1 MiB, not better-sqlite3's compiled-in 16 MB (kept malloc'ed once filled).
    expect(probe.pragma('cache_size', { simple: true })).toBe(-1024);
    store.close();
  });

  it('reopens an existing file without re-running migrations', () => {
    const path = join(dir, 'agent.db');
    const a = StateStore.open({ path });
    a.outbox.append('audit', 'k', { v: 1 });
    a.close();
    const b = StateStore.open({ path });
    expect(b.outbox.peek({ maxRows: 5 }).map((r) => r.body)).toEqual([{ v: 1 }]);
    b.close();
  });

  it('keeps its directory 0700 and its files 0600, whatever the umask, and tightens looser ones it owns', () => {
    const old = process.umask(0o022);
    try {
      const path = join(dir, 'state', 'agent.db');
      const store = StateStore.open({ path });
      store.outbox.append('audit', 'k', { v: 1 });
      const mode = (p: string) => statSync(p).mode & 0o777;
      expect(mode(join(dir, 'state'))).toBe(0o700);
      for (const f of [path, `${path}-wal`, `${path}-shm`]) expect(mode(f), f).toBe(0o600);
      store.close();
      // A kubelet with fsGroup (or an older agent) left group bits: tightened at the next open.
      chmodSync(join(dir, 'state'), 0o2770);
      chmodSync(path, 0o660);
      StateStore.open({ path }).close();
      expect(mode(join(dir, 'state'))).toBe(0o700);
      expect(mode(path)).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });

  it('moves a corrupt file aside, keeps it, and starts fresh (openRecovering)', () => {
    const path = join(dir, 'agent.db');
    let now = Date.parse('2026-03-01T00:00:00Z');
    for (let i = 0; i < 5; i++) {
      writeFileSync(path, randomBytes(64 * 1024));
      const { store, recovered } = StateStore.openRecovering({ path, now: () => now, pruneIntervalMs: 0 });
      expect(recovered?.reason).toMatch(/STATE_CORRUPT|not a valid SQLite database/);
      expect(recovered?.movedTo).toBe(`${path}.corrupt-${new Date(now).toISOString().replace(/[:.]/g, '-')}`);
      expect(statSync(recovered!.movedTo).size).toBe(64 * 1024);
      expect(store.outbox.depth).toBe(0);
      store.close();
      now += 60_000;
    }
    // The newest three copies are kept.
    expect(readdirSync(dir).filter((f) => f.includes('.corrupt-'))).toHaveLength(3);
    // A healthy file is opened as it is; other failures still stop the agent.
    const again = StateStore.openRecovering({ path });
    expect(again.recovered).toBeUndefined();
    again.store.close();
    expect(() => StateStore.openRecovering({ path: `/proc/self/clusteropt-${process.pid}.db` })).toThrow(
      code('STATE_UNWRITABLE'),
    );
  });

  it('refuses a file written by a newer agent', () => {
    const path = join(dir, 'agent.db');
    StateStore.open({ path }).close();
    const db = new Database(path);
    db.pragma(`user_version = ${migrations.length + 1}`);
    db.close();
    expect(() => StateStore.open({ path })).toThrow(code('STATE_VERSION_UNSUPPORTED'));
  });

  it('garbage bytes in the file → STATE_CORRUPT', () => {
    const path = join(dir, 'agent.db');
    writeFileSync(path, randomBytes(64 * 1024));
    expect(() => StateStore.open({ path })).toThrow(code('STATE_CORRUPT'));
  });

  it('a damaged page inside a valid database → STATE_CORRUPT (quick_check)', () => {
    const path = join(dir, 'agent.db');
    const store = StateStore.open({ path });
    for (let i = 0; i < 500; i++) store.outbox.append('audit', `k${i}`, { i, pad: 'y'.repeat(200) });
    store.close();
    const pages = statSync(path).size / 4096;
    expect(pages).toBeGreaterThan(20);
    // Overwrite a few pages in the middle (b-tree pages of the outbox) with zeros+garbage.
    const fd = openSync(path, 'r+');
    for (const page of [Math.floor(pages / 2), Math.floor(pages / 2) + 1]) {
      writeSync(fd, randomBytes(4096), 0, 4096, page * 4096);
    }
    closeSync(fd);
    expect(() => StateStore.open({ path })).toThrow(code('STATE_CORRUPT'));
  });

  // Tests run as root, for whom chmod does not block writes. These paths fail for root too.
  it('a path whose parent is a regular file → STATE_UNWRITABLE', () => {
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    expect(() => StateStore.open({ path: join(file, 'agent.db') })).toThrow(code('STATE_UNWRITABLE'));
    expect(() => StateStore.open({ path: join(file, 'sub', 'agent.db') })).toThrow(code('STATE_UNWRITABLE'));
  });

  it('a directory on a read-only file system (/proc) → STATE_UNWRITABLE', () => {
    expect(() => StateStore.open({ path: `/proc/self/clusteropt-${process.pid}.db` })).toThrow(
      code('STATE_UNWRITABLE'),
    );
  });

  it('a directory where the file should be → STATE_UNWRITABLE', () => {
    const path = join(dir, 'agent.db');
    mkdirSync(path);
    expect(() => StateStore.open({ path })).toThrow(code('STATE_UNWRITABLE'));
  });

  it('error messages name the path and the cause code', () => {
    const file = join(dir, 'plain');
    writeFileSync(file, 'x');
    try {
      StateStore.open({ path: join(file, 'agent.db') });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toContain(join(file, 'agent.db'));
      expect((err as Error).message).toMatch(/ENOTDIR|EEXIST/);
    }
  });

  it('a full disk (SQLITE_FULL, simulated with max_page_count) → STATE_DISK_FULL, earlier rows intact', () => {
    const path = join(dir, 'agent.db');
    const store = StateStore.open({ path, maxPageCount: 40 });
    let appended = 0;
    let failure: unknown;
    try {
      for (; appended < 1000; appended++)
        store.outbox.append('audit', `k${appended}`, { pad: 'z'.repeat(2000) });
    } catch (err) {
      failure = err;
    }
    expect(failure).toEqual(code('STATE_DISK_FULL'));
    expect(appended).toBeGreaterThan(5);
    expect(store.outbox.depth).toBe(appended);
    store.close();
    const reopened = StateStore.open({ path });
    expect(reopened.outbox.depth).toBe(appended);
    expect(reopened.integrityCheck()).toEqual(['ok']);
    reopened.close();
  });
});
