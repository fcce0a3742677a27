/**
 * The poller's refusals with a real state file: bounds, many envelopes at once, and ids the
 * journal already knows. No envelope here is valid, so no Kubernetes call is made (the
 * clients are absent); valid ones next to hostile ones run against the real cluster in
 * test/k8s/poller-hostile.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { maxEnvelopeDepth } from '../../contract/bounds.ts';
import type { KubeClients } from '../../kube/clients.ts';
import { createLogger } from '../../observability/logger.ts';
import { StateStore, type StatusRowBody } from '../../store/index.ts';
import { acceptEnvelopes } from './poller.ts';

let dir: string;
let store: StateStore;
const log = createLogger({ level: 'silent' });
/** Never called: every envelope in these tests is refused before Kubernetes is asked. */
const clients = new Proxy({} as KubeClients, {
  get: () => {
    throw new Error('no Kubernetes call expected');
  },
});
const options = () => ({ clients, namespace: 'clusteropt', store, log });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'poller-test-'));
  store = StateStore.open({ path: join(dir, 'agent.db') });
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const rejected = () =>
  store.outbox
    .peek({ maxRows: 100_000 })
    .filter((r) => r.kind === 'status')
    .map((r) => r.body as StatusRowBody);
const audits = () =>
  store.outbox
    .peek({ maxRows: 100_000 })
    .filter((r) => r.kind === 'audit')
    .map((r) => r.body as { message: string; details?: { count?: number } });

const envelope = (over: Record<string, unknown> = {}) => ({
  id: randomUUID(),
  type: 'cordon_node',
  payload: { nodeName: 'n1' },
  createdAt: new Date().toISOString(),
  ...over,
});

describe('acceptEnvelopes refusals', () => {
  it('2,000 nulls: one audit event with the count, in one transaction', async () => {
    const started = performance.now();
    const counts = await acceptEnvelopes(Array(2_000).fill(null), { ...options(), maxActions: 5_000 });
    const ms = performance.now() - started;
    expect(counts).toEqual({ accepted: 0, rejected: 0, duplicates: 0, unanswerable: 2_000 });
    expect(audits()).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/^received 2000 action\(s\) that cannot be answered/),
      }),
    ]);
    expect(audits()[0]?.details?.count).toBe(2_000);
    // One fsync'd commit, not 2,000 (1.3 s measured before on this machine).
    expect(ms).toBeLessThan(1_000);
  });

  it('a poison pill nested beyond the depth bound is rejected by id; the batch goes on', async () => {
    const deep = JSON.parse(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`) as unknown;
    const pill = envelope({ payload: deep });
    const bad = envelope({ type: 'no_such_type' });
    const counts = await acceptEnvelopes([pill, bad], options());
    expect(counts).toEqual({ accepted: 0, rejected: 2, duplicates: 0, unanswerable: 0 });
    const reports = rejected();
    expect(reports.find((r) => r.actionId === pill.id)?.report.message).toMatch(
      new RegExp(`nested too deeply: more than ${maxEnvelopeDepth} levels`),
    );
    // What the journal keeps can be read back (not the pill itself).
    expect(store.journal.entry(pill.id)).toMatchObject({ state: 'finished', finalState: 'rejected' });
    expect(JSON.stringify(store.journal.entry(pill.id)?.envelope)).toMatch(/refused/);
    // Redelivered: a duplicate, nothing thrown.
    expect(await acceptEnvelopes([pill], options())).toMatchObject({ duplicates: 1, rejected: 0 });
  });

  it('an oversized envelope is rejected by id and not stored', async () => {
    const big = envelope({ payload: { nodeName: 'n1', blob: 'x'.repeat(2 * 1024 * 1024) } });
    expect(await acceptEnvelopes([big], options())).toMatchObject({ rejected: 1 });
    expect(rejected()[0]?.report.message).toMatch(/too large: \d+ bytes/);
    expect(JSON.stringify(store.journal.entry(big.id)?.envelope).length).toBeLessThan(1_000);
  });

  it('refuses what is past maxActions, each with the reason', async () => {
    const batch = Array.from({ length: 7 }, () => envelope({ type: 'nope' }));
    const counts = await acceptEnvelopes(batch, { ...options(), maxActions: 5 });
    expect(counts.rejected).toBe(7);
    const byId = new Map(rejected().map((r) => [r.actionId, r.report.message]));
    for (const e of batch.slice(0, 5)) expect(byId.get(e.id)).toMatch(/unknown action type/);
    for (const e of batch.slice(5))
      expect(byId.get(e.id)).toMatch(/too many actions in one poll response \(7\)/);
  });

  it('an invalid envelope under the id of a known action never finishes it', async () => {
    const id = randomUUID();
    store.transaction(() => {
      store.journal.received(id, envelope({ id }));
      store.journal.started(id);
    });
    const counts = await acceptEnvelopes([{ id, type: 'drain_node', payload: 'garbage' }], options());
    expect(counts).toMatchObject({ duplicates: 1, rejected: 0 });
    expect(store.journal.state(id)).toBe('started');
    expect(rejected()).toEqual([]);
  });
});
