import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StatusRowBody } from './outbox.ts';
import { interruptedMessage, StateStore } from './state-store.ts';

let dir: string;
let store: StateStore;
const path = () => join(dir, 'agent.db');

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'journal-test-'));
  store = StateStore.open({ path: path() });
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const envelope = (id: string) => ({
  id,
  type: 'cordon_node',
  payload: { nodeName: 'n1' },
  createdAt: '2026-01-01T00:00:00Z',
});

describe('ActionJournal', () => {
  it('walks new → received → started → finished and recognises redeliveries', () => {
    const { journal } = store;
    expect(journal.state('a')).toBe('new');
    expect(journal.received('a', envelope('a'))).toBe('new');
    expect(journal.received('a', envelope('a'))).toBe('received');
    expect(journal.state('a')).toBe('received');
    journal.started('a');
    expect(journal.state('a')).toBe('started');
    expect(journal.received('a', envelope('a'))).toBe('started');
    expect(journal.finished('a', 'succeeded')).toBe(true);
    expect(journal.finished('a', 'succeeded')).toBe(false);
    expect(journal.state('a')).toBe('finished');
    const entry = journal.entry('a')!;
    expect(entry.finalState).toBe('succeeded');
    expect(entry.envelope).toEqual(envelope('a'));
    expect(entry.startedAt).toBeTypeOf('number');
    expect(entry.finishedAt! >= entry.startedAt!).toBe(true);
  });

  it('refuses illegal transitions with a typed error', () => {
    const { journal } = store;
    const illegal = expect.objectContaining({ code: 'JOURNAL_ILLEGAL_TRANSITION' });
    expect(() => journal.started('x')).toThrow(illegal);
    expect(() => journal.finished('x', 'failed')).toThrow(illegal);
    journal.received('x', {});
    journal.started('x');
    expect(() => journal.started('x')).toThrow(illegal);
    expect(() => journal.finished('x', 'running')).toThrow(illegal);
    journal.finished('x', 'failed');
    expect(() => journal.finished('x', 'succeeded')).toThrow(illegal);
    expect(() => journal.started('x')).toThrow(illegal);
  });

  it('lets a received action finish without starting (rejected before execution)', () => {
    store.journal.received('r', { garbage: true });
    store.finishAndReport('r', { state: 'rejected', message: 'unknown action type' });
    expect(store.journal.state('r')).toBe('finished');
  });
});

describe('StateStore journal + outbox', () => {
  it('finishAndReport finishes and queues the result together, idempotently', () => {
    store.journal.received('a', envelope('a'));
    store.startAndReport('a', { state: 'running', message: '' });
    store.finishAndReport('a', { state: 'succeeded', message: 'done' });
    store.finishAndReport('a', { state: 'succeeded', message: 'done' });
    const rows = store.outbox.peek({ maxRows: 10 });
    expect(rows.map((r) => [r.kind, r.idempotencyKey])).toEqual([
      ['status', 'status:a:running'],
      ['status', 'status:a:succeeded'],
    ]);
    expect((rows[1]!.body as StatusRowBody).report.message).toBe('done');
  });

  it('finishAndReport is atomic: a failed append leaves the action unfinished', () => {
    store.journal.received('a', envelope('a'));
    store.journal.started('a');
    // An invalid report fails validation inside the transaction, after the journal update.
    const bad = { state: 'failed', message: 'x'.repeat(5000) } as const;
    expect(() => store.finishAndReport('a', bad)).toThrow(
      expect.objectContaining({ code: 'OUTBOX_INVALID_BODY' }),
    );
    expect(store.journal.state('a')).toBe('started');
    expect(store.outbox.depth).toBe(0);
  });

  it('finishAndReport is atomic: a refused transition queues no result', () => {
    store.journal.received('a', envelope('a'));
    store.finishAndReport('a', { state: 'failed', message: 'first' });
    expect(() => store.finishAndReport('a', { state: 'succeeded', message: 'second' })).toThrow(
      expect.objectContaining({ code: 'JOURNAL_ILLEGAL_TRANSITION' }),
    );
    expect(store.outbox.peek({ maxRows: 10 }).map((r) => r.idempotencyKey)).toEqual(['status:a:failed']);
  });

  it('notifies append listeners only after the transaction commits', () => {
    store.journal.received('a', envelope('a'));
    let seen = -1;
    store.onAppend(() => {
      seen = store.outbox.depth;
    });
    store.finishAndReport('a', { state: 'succeeded', message: '' });
    expect(seen).toBe(1);
    seen = -1;
    expect(() => store.finishAndReport('a', { state: 'failed', message: '' })).toThrow();
    expect(seen).toBe(-1);
  });

  it('after a restart, started-but-unfinished actions are reported failed, not re-run', () => {
    store.journal.received('done', envelope('done'));
    store.journal.started('done');
    store.finishAndReport('done', { state: 'succeeded', message: '' });
    store.journal.received('mid', envelope('mid'));
    store.startAndReport('mid', { state: 'running', message: '' });
    store.journal.received('waiting', envelope('waiting'));
    store.close();

    store = StateStore.open({ path: path() });
    const interrupted = store.journal.interruptedActions();
    expect(interrupted.map((e) => e.id)).toEqual(['mid']);
    expect(interrupted[0]!.envelope).toEqual(envelope('mid'));
    expect(store.journal.receivedActions().map((e) => e.id)).toEqual(['waiting']);

    store.reportInterrupted('mid');
    expect(store.journal.interruptedActions()).toEqual([]);
    const last = store.outbox.peek({ maxRows: 10 }).at(-1)!;
    expect(last.idempotencyKey).toBe('status:mid:failed');
    const report = (last.body as StatusRowBody).report;
    expect(report.message).toBe(interruptedMessage);
    expect(report.startedAt).toBeDefined();
  });

  it('prunes finished journal entries after the retention period only', () => {
    store.close();
    let now = 5_000_000;
    store = StateStore.open({ path: path(), now: () => now, journalRetentionMs: 1000 });
    store.journal.received('old', {});
    store.finishAndReport('old', { state: 'expired', message: '' });
    store.journal.received('open', {});
    now += 2000;
    expect(store.prune().journalEntries).toBe(1);
    expect(store.journal.state('old')).toBe('new');
    expect(store.journal.state('open')).toBe('received');
  });
});
