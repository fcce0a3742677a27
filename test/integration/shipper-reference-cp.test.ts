/**
 * The agent's OutboxShipper (real SQLite store, real ControlPlaneClient) against the real
 * reference control plane over HTTP: status reports go through the batch route (contract
 * 1.1), each action's transitions arrive once and in order, and injected failures of the
 * route are retried without a transition twice.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeySource, ControlPlaneClient, OutboxShipper } from '../../src/controlplane/index.ts';
import { createLogger } from '../../src/observability/logger.ts';
import {
  type ReferenceControlPlane,
  startReferenceControlPlane,
} from '../../src/reference-control-plane/index.ts';
import { StateStore } from '../../src/store/index.ts';

const silent = createLogger({ level: 'silent' });
let dir: string;
let cp: ReferenceControlPlane;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'co-ship-rcp-'));
  cp = await startReferenceControlPlane({ dbPath: join(dir, 'cp.db'), leaseSeconds: 600, logger: silent });
});
afterAll(async () => {
  await cp?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function setup(name: string) {
  const created = await cp.admin.createCluster({ name });
  const d = mkdtempSync(join(dir, `${name}-`));
  writeFileSync(join(d, 'key'), created.apiKey);
  const client = new ControlPlaneClient({
    baseUrl: cp.url,
    apiKey: new ApiKeySource({ path: join(d, 'key'), watch: false }),
    allowInsecureHttp: true,
    env: {},
  });
  const store = StateStore.open({ path: join(d, 'agent.db') });
  return { clusterId: created.cluster.id, client, store };
}

describe('OutboxShipper with the reference control plane', () => {
  it('ships a backlog through the batch route: every transition once, in order, few requests', async () => {
    const { clusterId, client, store } = await setup('batch');
    const ids: string[] = [];
    for (let i = 0; i < 120; i++) {
      const { id } = await cp.admin.enqueue(clusterId, {
        type: 'cordon_node',
        payload: { nodeName: `n${i}` },
      });
      ids.push(id);
    }
    const leased = (await client.pollActions(0)).actions;
    expect(leased).toHaveLength(100);
    // What the agent queues: the acknowledgement, then (for most) the result behind it.
    for (const [i, id] of ids.slice(0, 100).entries()) {
      store.transaction(() => {
        store.journal.received(id, { id });
        store.outbox.appendStatus(id, { state: 'running', message: 'accepted' });
      });
      if (i % 4 !== 0) store.finishAndReport(id, { state: 'succeeded', message: 'cordoned' });
    }
    const shipper = new OutboxShipper({ store, client, logger: silent });
    const controller = new AbortController();
    const done = shipper.run(controller.signal);
    try {
      await expect.poll(() => store.outbox.depth, { timeout: 10_000 }).toBe(0);
    } finally {
      controller.abort();
      await done;
    }
    const actions = new Map((await cp.admin.listActions(clusterId)).map((a) => [a.id, a]));
    for (const [i, id] of ids.slice(0, 100).entries()) {
      expect(actions.get(id)?.state).toBe(i % 4 === 0 ? 'running' : 'succeeded');
      const log = (await cp.admin.actionStatusLog(id)).map((e) => e.toState);
      // A finished action's `running` row is superseded (skipped); leased -> succeeded directly.
      expect(log).toEqual(i % 4 === 0 ? ['queued', 'leased', 'running'] : ['queued', 'leased', 'succeeded']);
    }
    expect(shipper.counters.statusBatches).toBeGreaterThanOrEqual(1);
    expect(shipper.counters.statusBatches).toBeLessThanOrEqual(3);
    expect(shipper.counters.requests).toBe(shipper.counters.statusBatches);
    await client.close();
    store.close();
  });

  it('retries a batch the control plane failed (503, then a cut connection) and applies it once', async () => {
    const { clusterId, client, store } = await setup('faults');
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push(
        (await cp.admin.enqueue(clusterId, { type: 'cordon_node', payload: { nodeName: `f${i}` } })).id,
      );
    }
    await client.pollActions(0);
    await cp.admin.addFault({ routes: ['status'], status: 503, count: 1 });
    await cp.admin.addFault({ routes: ['status'], reset: true, count: 1 });
    store.transaction(() => {
      for (const id of ids) {
        store.journal.received(id, { id });
        store.finishAndReport(id, { state: 'succeeded', message: 'ok' });
      }
    });
    const shipper = new OutboxShipper({ store, client, logger: silent, backoff: { baseMs: 20, maxMs: 50 } });
    const controller = new AbortController();
    const done = shipper.run(controller.signal);
    try {
      await expect.poll(() => store.outbox.depth, { timeout: 10_000 }).toBe(0);
    } finally {
      controller.abort();
      await done;
    }
    expect(shipper.counters.statusBatches).toBe(3);
    expect(Object.values(shipper.counters.failures).reduce((a, b) => a + b, 0)).toBe(2);
    for (const id of ids) {
      expect((await cp.admin.actionStatusLog(id)).map((e) => e.toState)).toEqual([
        'queued',
        'leased',
        'succeeded',
      ]);
    }
    await client.close();
    store.close();
  });
});
