import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { InstancesBatch } from '../contract/reports.ts';
import { StateStore, type StateStoreOptions } from './state-store.ts';

let dir: string;
const open: StateStore[] = [];

function openStore(options: Partial<StateStoreOptions> = {}): StateStore {
  const store = StateStore.open({ path: join(dir, 'agent.db'), ...options });
  open.push(store);
  return store;
}

function batch(seq: number, full = false): InstancesBatch {
  return {
    seq,
    full,
    instances: [
      {
        nodeName: `n${seq}`,
        nodeUid: `u${seq}`,
        lifecycle: 'spot',
        ready: true,
        schedulable: true,
        agentTaints: [],
      },
    ],
    removed: [],
  };
}

function auditEvent(n: number) {
  return { id: randomUUID(), timestamp: new Date().toISOString(), event: `e${n}`, resource: '', message: '' };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'outbox-test-'));
});
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Outbox', () => {
  it('peeks in FIFO order across kinds and respects row and byte limits', () => {
    const { outbox } = openStore();
    outbox.append('audit', 'a1', { n: 1 });
    outbox.append('status', 's1', { n: 2 });
    outbox.appendInstances({ seq: 3, full: false, instances: [], removed: ['n3'] }, 'i1');
    outbox.append('audit', 'a2', { n: 4, pad: 'x'.repeat(1000) });
    expect(outbox.peek({ maxRows: 10 }).map((r) => r.body)).toEqual([
      { n: 1 },
      { n: 2 },
      // Instance batches come back as the text that was checked and stored, to be sent as it is.
      { seq: 3, full: false, json: '{"seq":3,"full":false,"instances":[],"removed":["n3"]}' },
      { n: 4, pad: 'x'.repeat(1000) },
    ]);
    expect(outbox.peek({ maxRows: 2 }).map((r) => r.idempotencyKey)).toEqual(['a1', 's1']);
    // The byte limit stops before the big row but always returns at least one row.
    expect(outbox.peek({ maxRows: 10, maxBytes: 100 }).map((r) => r.idempotencyKey)).toEqual([
      'a1',
      's1',
      'i1',
    ]);
    expect(outbox.peek({ maxRows: 10, maxBytes: 1 }).map((r) => r.idempotencyKey)).toEqual(['a1']);
  });

  it('reads instance rows written in another key order, and calls a row that is no batch corrupt', () => {
    const { outbox } = openStore();
    const node = { nodeName: 'n', nodeUid: 'u', lifecycle: 'spot', ready: true, schedulable: true };
    outbox.append('instances', 'old', { full: true, instances: [node], removed: [], seq: 4 });
    expect(outbox.peek({ maxRows: 1 })[0]!.body).toEqual({
      seq: 4,
      full: true,
      json: JSON.stringify({ seq: 4, full: true, instances: [{ ...node, agentTaints: [] }], removed: [] }),
    });
    outbox.markShipped([outbox.peek({ maxRows: 1 })[0]!.id]);
    outbox.append('instances', 'bad', { n: 3 });
    expect(() => outbox.peek({ maxRows: 1 })).toThrow(/outbox row \d+ is not an instances batch/);
  });

  it('is idempotent on the key, also after the row was shipped', () => {
    const { outbox } = openStore();
    const first = outbox.append('audit', 'k', { v: 1 });
    const second = outbox.append('audit', 'k', { v: 2 });
    expect(second).toEqual({ id: first.id, duplicate: true, droppedInstanceRows: 0 });
    expect(outbox.peek({ maxRows: 10 }).map((r) => r.body)).toEqual([{ v: 1 }]);
    outbox.markShipped([first.id]);
    expect(outbox.append('audit', 'k', { v: 3 }).duplicate).toBe(true);
    expect(outbox.depth).toBe(0);
  });

  it('markShipped removes rows from the pending set, keeps totals exact and ignores unknown ids', () => {
    const { outbox } = openStore();
    const ids = [1, 2, 3, 4].map((n) => outbox.append('audit', `k${n}`, { n }).id);
    expect(outbox.totals().rows).toBe(4);
    const bytes = outbox.totals().bytes;
    expect(bytes).toBe(4 * JSON.stringify({ n: 1 }).length);
    expect(outbox.markShipped([ids[0]!, ids[2]!, 9999])).toBe(2);
    expect(outbox.markShipped([ids[0]!])).toBe(0);
    expect(outbox.totals()).toEqual({ rows: 2, bytes: bytes / 2 });
    expect(outbox.peek({ maxRows: 10 }).map((r) => r.id)).toEqual([ids[1], ids[3]]);
  });

  it('reports the age of the oldest pending row', () => {
    let now = 1_000_000;
    const { outbox } = openStore({ now: () => now });
    expect(outbox.oldestAgeMs()).toBe(0);
    const a = outbox.append('audit', 'a', {});
    now += 500;
    outbox.append('audit', 'b', {});
    now += 250;
    expect(outbox.oldestAgeMs()).toBe(750);
    outbox.markShipped([a.id]);
    expect(outbox.oldestAgeMs()).toBe(250);
  });

  it('validates typed bodies before queueing them', () => {
    const { outbox } = openStore();
    expect(() => outbox.appendStatus('x', { state: 'bogus' } as never)).toThrow(
      expect.objectContaining({ code: 'OUTBOX_INVALID_BODY' }),
    );
    expect(() => outbox.appendAudit({ id: 'not-a-uuid' } as never)).toThrow(
      expect.objectContaining({ code: 'OUTBOX_INVALID_BODY' }),
    );
    expect(outbox.depth).toBe(0);
    const e = auditEvent(1);
    outbox.appendAudit(e);
    expect(outbox.appendAudit(e).duplicate).toBe(true);
  });

  describe('cap policy', () => {
    it('drops every pending instance row when over the cap and requires a full snapshot', () => {
      const { outbox } = openStore({ outbox: { maxPendingRows: 5 } });
      outbox.appendInstances(batch(0, true));
      outbox.appendStatus('a', { state: 'succeeded', message: '' });
      outbox.appendInstances(batch(1));
      outbox.appendInstances(batch(2));
      outbox.appendAudit(auditEvent(1));
      expect(outbox.depth).toBe(5);
      expect(outbox.fullSnapshotRequired).toBe(false);
      // Sixth row: over the cap of 5 → instance rows go (3), statuses and audits stay.
      const r = outbox.append('audit', 'a6', { n: 6 });
      expect(r.droppedInstanceRows).toBe(3);
      expect(outbox.fullSnapshotRequired).toBe(true);
      expect(outbox.peek({ maxRows: 10 }).map((row) => row.kind)).toEqual(['status', 'audit', 'audit']);
      expect(outbox.overCapacity).toBe(false);
      expect(outbox.droppedInstanceRows).toBe(3);
    });

    it('never drops statuses or audit events: append succeeds and overCapacity is reported', () => {
      const { outbox } = openStore({ outbox: { maxPendingRows: 3 } });
      for (let i = 0; i < 6; i++) outbox.appendStatus(`a${i}`, { state: 'failed', message: `m${i}` });
      expect(outbox.depth).toBe(6);
      expect(outbox.overCapacity).toBe(true);
      expect(outbox.fullSnapshotRequired).toBe(false);
      // A delta appended now is dropped at once (the chain is broken), a full snapshot is kept.
      const delta = outbox.appendInstances(batch(7));
      expect(delta.droppedInstanceRows).toBe(1);
      expect(outbox.fullSnapshotRequired).toBe(true);
      outbox.appendInstances(batch(8, true));
      expect(outbox.fullSnapshotRequired).toBe(false);
      expect(outbox.peek({ maxRows: 20 }).filter((r) => r.kind === 'instances')).toHaveLength(1);
      // Shipping brings it back under the cap.
      outbox.markShipped(outbox.peek({ maxRows: 5 }).map((r) => r.id));
      expect(outbox.overCapacity).toBe(false);
    });

    it('counts bytes as well as rows', () => {
      const { outbox } = openStore({ outbox: { maxPendingBytes: 2000 } });
      outbox.appendInstances(batch(1));
      outbox.append('audit', 'big', { pad: 'x'.repeat(3000) });
      expect(outbox.peek({ maxRows: 10 }).map((r) => r.kind)).toEqual(['audit']);
      expect(outbox.overCapacity).toBe(true);
      expect(outbox.fullSnapshotRequired).toBe(true);
    });

    it('a full snapshot supersedes earlier pending instance rows even under the cap', () => {
      const { outbox } = openStore();
      outbox.appendInstances(batch(1));
      outbox.appendStatus('a', { state: 'running', message: '' });
      outbox.appendInstances(batch(2));
      const r = outbox.appendInstances(batch(3, true));
      expect(r.droppedInstanceRows).toBe(2);
      expect(outbox.peek({ maxRows: 10 }).map((row) => row.kind)).toEqual(['status', 'instances']);
    });

    it('requireFullSnapshot drops pending instance rows and sets the flag', () => {
      const { outbox } = openStore();
      outbox.appendInstances(batch(1));
      outbox.appendAudit(auditEvent(1));
      expect(outbox.requireFullSnapshot()).toBe(1);
      expect(outbox.fullSnapshotRequired).toBe(true);
      expect(outbox.depth).toBe(1);
    });
  });

  it('prunes shipped rows after the retention period, freeing their keys', () => {
    let now = 10_000_000;
    const { outbox } = openStore({ now: () => now, outbox: { shippedRetentionMs: 1000 } });
    const a = outbox.append('audit', 'k', {});
    outbox.markShipped([a.id]);
    expect(outbox.prune()).toBe(0);
    now += 1001;
    expect(outbox.prune()).toBe(1);
    expect(outbox.append('audit', 'k', {}).duplicate).toBe(false);
  });

  it('wakes listeners on append, not on duplicates', () => {
    const store = openStore();
    let calls = 0;
    const off = store.onAppend(() => calls++);
    store.outbox.append('audit', 'a', {});
    store.outbox.append('audit', 'a', {});
    expect(calls).toBe(1);
    off();
    store.outbox.append('audit', 'b', {});
    expect(calls).toBe(1);
  });

  it('keeps everything across close and reopen', () => {
    const first = openStore({ outbox: { maxPendingRows: 1 } });
    first.outbox.appendInstances(batch(1));
    first.outbox.appendAudit(auditEvent(1));
    first.outbox.appendAudit(auditEvent(2));
    const before = first.outbox.peek({ maxRows: 10 });
    first.close();
    const second = openStore({ outbox: { maxPendingRows: 1 } });
    expect(second.outbox.peek({ maxRows: 10 })).toEqual(before);
    expect(second.outbox.fullSnapshotRequired).toBe(true);
    expect(second.outbox.overCapacity).toBe(true);
    expect(second.integrityCheck()).toEqual(['ok']);
  });
});
