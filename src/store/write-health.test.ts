import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StatusReport } from '../contract/reports.ts';
import { StateStore } from './state-store.ts';
import type { WriteState } from './write-health.ts';

// "Disk full" here is SQLite's max_page_count (SQLITE_FULL, exactly what a full file system
// gives); the real full file system is test/k8s/faults-disk-full.test.ts.
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'write-health-test-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const dbOf = (store: StateStore) => (store as unknown as { db: Database.Database }).db;
const running = (i: number): StatusReport => ({ state: 'running', message: `${'x'.repeat(2000)} ${i}` });
const id = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

function fillUntilFull(store: StateStore, from: number): { next: number; error: unknown } {
  for (let i = from; i < from + 100_000; i++) {
    try {
      store.journal.received(id(i), { i });
      store.startAndReport(id(i), running(i));
    } catch (error) {
      return { next: i, error };
    }
  }
  throw new Error('never filled up');
}

describe('StateStore write state (disk full)', () => {
  it('flips to failing once with STATE_DISK_FULL, keeps every write atomic, and recovers by itself', async () => {
    const store = StateStore.open({
      path: join(dir, 'agent.db'),
      maxPageCount: 60,
      writeProbeIntervalMs: 50,
      writeProbeHeadroomBytes: 64 * 1024,
    });
    const changes: Array<[WriteState['kind'], WriteState['kind']]> = [];
    store.onWriteStateChange((s, prev) => changes.push([prev.kind, s.kind]));
    try {
      expect(store.writeState).toEqual({ kind: 'ok' });
      const { next, error } = fillUntilFull(store, 0);
      expect(error).toMatchObject({ code: 'STATE_DISK_FULL', retryable: true });
      expect((error as Error).message).toContain(join(dir, 'agent.db'));
      // Many more failed writes: still one state change.
      for (let k = 0; k < 20; k++) expect(() => fillUntilFull(store, next)).not.toThrow();
      expect(changes).toEqual([['ok', 'failing']]);
      const failing = store.writeState;
      expect(failing).toMatchObject({ kind: 'failing', code: 'STATE_DISK_FULL' });
      expect(failing.kind === 'failing' && failing.failures).toBeGreaterThan(20);
      expect(store.writeFailures.STATE_DISK_FULL).toBeGreaterThan(20);

      // Atomic: an action whose startAndReport failed is still 'received' (or unknown) and has
      // no running report; every action that reached 'started' has its report.
      const started = store.journal.interruptedActions().map((e) => e.id);
      expect(started).not.toContain(id(next));
      expect(store.stats().depth).toBe(started.length);

      // Reads still work while full.
      expect(store.journal.state(id(0))).toBe('started');

      // Space returns: the probe notices without any caller writing.
      dbOf(store).pragma('max_page_count = 100000');
      const deadline = performance.now() + 2_000;
      while (store.writeState.kind !== 'ok' && performance.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      expect(store.writeState).toEqual({ kind: 'ok' });
      expect(changes).toEqual([
        ['ok', 'failing'],
        ['failing', 'ok'],
      ]);
      store.journal.received(id(next), {});
      store.startAndReport(id(next), running(next));
      expect(store.journal.state(id(next))).toBe('started');
      expect(store.integrityCheck()).toEqual(['ok']);
    } finally {
      store.close();
    }
  });

  it('a failed finishAndReport leaves the action started with no final report; retrying later finishes it once', () => {
    const store = StateStore.open({
      path: join(dir, 'agent.db'),
      maxPageCount: 60,
      writeProbeIntervalMs: 60_000,
    });
    try {
      store.journal.received(id(1), {});
      store.startAndReport(id(1), running(1));
      fillUntilFull(store, 100);
      const final: StatusReport = {
        state: 'succeeded',
        message: 'y'.repeat(4096),
        finishedAt: new Date().toISOString(),
      };
      expect(() => store.finishAndReport(id(1), final)).toThrow(
        expect.objectContaining({ code: 'STATE_DISK_FULL' }),
      );
      expect(store.journal.state(id(1))).toBe('started');
      dbOf(store).pragma('max_page_count = 100000');
      expect(store.finishAndReport(id(1), final).duplicate).toBe(false);
      expect(store.finishAndReport(id(1), final).duplicate).toBe(true);
      expect(store.journal.entry(id(1))?.finalState).toBe('succeeded');
      // Writes that fit do not end the episode; the probe (headroom) does.
      expect(store.writeState.kind).toBe('failing');
      expect(store.probeWritable()).toBe(true);
      expect(store.writeState.kind).toBe('ok');
    } finally {
      store.close();
    }
  });

  it('ignores errors that are not about the file (a caller bug does not fail readiness)', () => {
    const store = StateStore.open({ path: join(dir, 'agent.db') });
    try {
      expect(() => store.journal.started(id(9))).toThrow(
        expect.objectContaining({ code: 'JOURNAL_ILLEGAL_TRANSITION' }),
      );
      expect(store.writeState).toEqual({ kind: 'ok' });
    } finally {
      store.close();
    }
  });
});
