/**
 * A month of actions through a real state file, on a fake clock: the store's own prune timer
 * (not a prune call from the test) keeps the journal and the outbox bounded, so the file stops
 * growing once the retention periods are full.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StateStore } from './state-store.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'retention-test-'));
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

const hourMs = 3_600_000;
const fileBytes = (path: string) =>
  ['', '-wal'].reduce((sum, s) => sum + (existsSync(path + s) ? statSync(path + s).size : 0), 0);

describe('state file over a month of actions', () => {
  it('stays bounded: journal and outbox pruned by the timer', () => {
    const path = join(dir, 'agent.db');
    let now = Date.parse('2026-03-01T00:00:00Z');
    const store = StateStore.open({ path, now: () => now, synchronous: 'NORMAL' });
    const actionsPerHour = 100;
    const daily: { day: number; bytes: number; journal: number; outbox: number }[] = [];
    const count = (sql: string) =>
      (store as unknown as { db: { prepare(s: string): { pluck(): { get(): number } } } }).db
        .prepare(sql)
        .pluck()
        .get();
    try {
      for (let hour = 1; hour <= 30 * 24; hour++) {
        store.transaction(() => {
          for (let i = 0; i < actionsPerHour; i++) {
            const id = randomUUID();
            store.journal.received(id, {
              id,
              type: 'cordon_node',
              payload: { nodeName: `ip-10-0-${i % 250}-${hour % 250}.ec2.internal` },
              createdAt: new Date(now).toISOString(),
            });
            store.startAndReport(id, { state: 'running', message: 'accepted' });
            store.finishAndReport(id, {
              state: 'succeeded',
              message: `node cordoned (${'details '.repeat(20)})`,
              finishedAt: new Date(now).toISOString(),
            });
          }
          store.outbox.appendAudit({
            id: randomUUID(),
            timestamp: new Date(now).toISOString(),
            event: 'hibernation.sleep',
            resource: 'HibernationSchedule/nightly',
            message: 'put 3 workloads to sleep',
          });
        });
        // The shipper delivered everything queued this hour.
        for (
          let rows = store.outbox.peek({ maxRows: 1000 });
          rows.length;
          rows = store.outbox.peek({ maxRows: 1000 })
        ) {
          store.outbox.markShipped(rows.map((r) => r.id));
        }
        now += hourMs;
        vi.advanceTimersByTime(hourMs);
        if (hour % 24 === 0) {
          daily.push({
            day: hour / 24,
            bytes: fileBytes(path),
            journal: count('SELECT count(*) FROM action_journal'),
            outbox: count('SELECT count(*) FROM outbox'),
          });
        }
      }
    } finally {
      store.close();
    }
    console.log(
      `retention: ${daily
        .filter((d) => [1, 7, 8, 14, 30].includes(d.day))
        .map(
          (d) =>
            `day ${d.day}: ${(d.bytes / 1048576).toFixed(1)} MiB, journal ${d.journal}, outbox ${d.outbox}`,
        )
        .join('; ')}`,
    );
    const day = (n: number) => daily.find((d) => d.day === n)!;
    // The journal keeps 7 days of finished actions (plus up to one pruning interval), the
    // outbox one day of shipped rows.
    const perDay = actionsPerHour * 24;
    for (const d of daily.filter((x) => x.day >= 8)) {
      expect(d.journal).toBeLessThanOrEqual(7 * perDay + actionsPerHour);
      expect(d.outbox).toBeLessThanOrEqual(2 * perDay + 2 * actionsPerHour + 24);
    }
    expect(store.pruned.journalEntries).toBeGreaterThan(20 * perDay);
    // The file stops growing once the retention periods are full: freed pages are reused.
    expect(day(30).bytes).toBeLessThanOrEqual(day(10).bytes * 1.1);
    expect(day(30).bytes).toBeLessThan(day(30).journal * 2_000 + 16 * 1048576);
  }, 300_000);

  it('bounds the journal by count too, oldest finished first, never an unfinished entry', () => {
    const now = Date.now();
    const store = StateStore.open({
      path: join(dir, 'agent.db'),
      now: () => now,
      journalMaxFinishedEntries: 50,
      pruneIntervalMs: 1_000,
    });
    try {
      const open = randomUUID();
      store.journal.received(open, { id: open });
      for (let i = 0; i < 120; i++) {
        const id = randomUUID();
        store.journal.received(id, { id });
        store.journal.finished(id, 'rejected');
      }
      vi.advanceTimersByTime(1_000);
      expect(store.pruned.journalEntries).toBe(70);
      expect(store.journal.state(open)).toBe('received');
      // A huge or deep envelope is kept as a stub: entries stay small.
      const big = randomUUID();
      store.journal.received(big, { id: big, blob: 'x'.repeat(1_000_000) });
      expect(JSON.stringify(store.journal.entry(big)?.envelope)).toMatch(/stub/);
    } finally {
      store.close();
    }
  });
});
