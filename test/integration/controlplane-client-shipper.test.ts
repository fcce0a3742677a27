/**
 * OutboxShipper with a real SQLite store and a real HTTP server on 127.0.0.1 that fails in
 * several ways for a while, refuses some rows, asks for a resync, or loses a response.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, it, vi } from 'vitest';
import type { AuditEvent, InstancesBatch } from '../../src/contract/reports.ts';
import {
  ApiKeySource,
  ControlPlaneClient,
  OutboxShipper,
  type OutboxShipperOptions,
} from '../../src/controlplane/index.ts';
import { StateStore } from '../../src/store/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'cp-shipper-'));
const cleanups: Array<() => void | Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0)) await c();
  rmSync(dir, { recursive: true, force: true });
});

interface Received {
  /** Every item the server accepted, in arrival order: status:<id>:<state>, instances:<seq>, audit:<id>. */
  log: string[];
  requests: Array<{ url: string; items: string[] }>;
  /** Requests to the batch status route answered 404 (a control plane without it). */
  batchMisses: number;
}

interface ServerOptions {
  /** Serve POST /api/v1/agent/actions/status (contract 1.1). Default false: 404, like an older one. */
  batch?: boolean;
  /** Batch route: the status of one accepted entry (default 200; 200 entries are logged). */
  entryStatus?: (item: string) => 200 | 400 | 404 | 409;
}

type Verdict =
  | 'accept'
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | 'destroy'
  | 'hang';

/** A control plane that parses each request and asks `decide` what to do with it. */
async function startControlPlane(
  decide: (req: { url: string; items: string[]; n: number }) => Verdict | { acceptThenDestroy: true },
  instancesAnswer: (seq: number) => { accepted: boolean; resync: boolean } = () => ({
    accepted: true,
    resync: false,
  }),
  options: ServerOptions = {},
): Promise<{ url: string; received: Received }> {
  const received: Received = { log: [], requests: [], batchMisses: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      const url = req.url ?? '';
      const body = JSON.parse(text) as Record<string, unknown>;
      let items: string[];
      let seq = -1;
      const statusMatch = /\/actions\/([^/]+)\/status$/.exec(url);
      const batch = url.endsWith('/api/v1/agent/actions/status');
      if (batch && !options.batch) {
        received.batchMisses++;
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'ROUTE_NOT_FOUND', message: 'no such route' } }));
        return;
      }
      const reports = batch ? (body.reports as { actionId: string; state: string }[]) : [];
      if (batch) items = reports.map((r) => `status:${r.actionId}:${r.state}`);
      else if (statusMatch) items = [`status:${statusMatch[1]}:${body.state}`];
      else if (url.endsWith('/instances')) {
        seq = (body as unknown as InstancesBatch).seq;
        items = [`instances:${seq}`];
      } else items = (body.events as AuditEvent[]).map((e) => `audit:${e.id}`);
      received.requests.push({ url, items });
      const verdict = decide({ url, items, n: received.requests.length });
      if (verdict === 'hang') return;
      if (verdict === 'destroy') return void req.socket.destroy();
      if (verdict === 'accept' || 'acceptThenDestroy' in verdict) {
        const entryStatus = items.map((item) => (batch ? (options.entryStatus?.(item) ?? 200) : 200));
        received.log.push(...items.filter((_, i) => entryStatus[i] === 200));
        if (verdict !== 'accept') return void req.socket.destroy();
        const answer =
          seq >= 0
            ? instancesAnswer(seq)
            : batch
              ? {
                  results: reports.map((r, i) => ({
                    actionId: r.actionId,
                    status: entryStatus[i],
                    ...(entryStatus[i] === 200
                      ? { state: r.state, changed: true }
                      : {
                          error: { code: `e${entryStatus[i]}`, message: `entry refused (${entryStatus[i]})` },
                        }),
                  })),
                }
              : {};
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
        return;
      }
      // A string body is sent as it is (what an ingress or a WAF answers), anything else as JSON.
      const raw = typeof verdict.body === 'string';
      res.writeHead(verdict.status, {
        'content-type': raw ? 'text/html' : 'application/json',
        ...verdict.headers,
      });
      res.end(
        raw
          ? verdict.body
          : JSON.stringify(verdict.body ?? { error: { code: `e${verdict.status}`, message: 'refused' } }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, received };
}

function setup(url: string, extra: Partial<OutboxShipperOptions> = {}) {
  const d = mkdtempSync(join(dir, 'case-'));
  writeFileSync(join(d, 'key'), 'co_abcdefgh_0123456789abcdef');
  const apiKey = new ApiKeySource({ path: join(d, 'key'), watch: false });
  const client = new ControlPlaneClient({
    baseUrl: url,
    apiKey,
    allowInsecureHttp: true,
    env: {},
    requestTimeoutMs: 400,
  });
  const store = StateStore.open({ path: join(d, 'agent.db') });
  const lines: string[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _e, cb) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    }),
  );
  const shipper = new OutboxShipper({ store, client, logger, backoff: { baseMs: 50, maxMs: 200 }, ...extra });
  const controller = new AbortController();
  const done = shipper.run(controller.signal);
  cleanups.push(async () => {
    controller.abort();
    await done;
    await client.close();
    store.close();
  });
  return { store, shipper, lines, controller, done };
}

let counter = 0;
/** Appends one row of the given kind; returns the item key the server will log for it. */
function appendRow(store: StateStore, kind: 'status' | 'instances' | 'audit'): string {
  counter++;
  if (kind === 'status') {
    const id = randomUUID();
    store.journal.received(id, { id });
    store.finishAndReport(id, { state: 'succeeded', message: `row ${counter}` });
    return `status:${id}:succeeded`;
  }
  if (kind === 'instances') {
    store.outbox.appendInstances({ seq: counter, full: false, instances: [], removed: [`node-${counter}`] });
    return `instances:${counter}`;
  }
  const event: AuditEvent = {
    id: randomUUID(),
    timestamp: new Date().toISOString(),
    event: 'evicted',
    resource: `pod/p${counter}`,
    message: '',
  };
  store.outbox.appendAudit(event);
  return `audit:${event.id}`;
}

const kinds = [
  'audit',
  'audit',
  'status',
  'instances',
  'audit',
  'status',
  'audit',
  'audit',
  'audit',
] as const;

describe('OutboxShipper', () => {
  it.concurrent('ships every row exactly once, in order, across a control-plane outage', async ({
    expect,
  }) => {
    // The first ten requests fail, cycling through five failure modes (before the server
    // applies anything, so "exactly once" must hold).
    const failures: Verdict[] = [
      { status: 503 },
      'destroy',
      { status: 429, headers: { 'retry-after': '0' } },
      'hang',
      { status: 502 },
    ];
    const cp = await startControlPlane(({ n }) =>
      n <= 10 ? failures[(n - 1) % failures.length]! : 'accept',
    );
    const { store, shipper } = setup(cp.url);
    const expected: string[] = [];
    for (let i = 0; i < 40; i++) expected.push(appendRow(store, kinds[i % kinds.length]!));
    // More rows arrive during the outage and after it.
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 60));
      expected.push(appendRow(store, kinds[(i + 3) % kinds.length]!));
    }
    await expect.poll(() => cp.received.log.length, { timeout: 8000, interval: 50 }).toBe(expected.length);
    expect(cp.received.log).toEqual(expected);
    expect(store.outbox.depth).toBe(0);
    expect(shipper.counters.failures).toEqual({
      CP_SERVER_ERROR: 4,
      CP_NETWORK: 2,
      CP_RATE_LIMITED: 2,
      CP_TIMEOUT: 2,
    });
    // Audit events went in batches, statuses and instance batches one per request.
    expect(cp.received.requests.some((r) => r.items.length > 1)).toBe(true);
  });

  it.concurrent('wakes on append: a result ships within milliseconds when the control plane is up', async ({
    expect,
  }) => {
    const arrivals: number[] = [];
    const cp = await startControlPlane(() => {
      arrivals.push(performance.now());
      return 'accept';
    });
    const { store } = setup(cp.url, { idleCheckMs: 60_000 });
    await new Promise((r) => setTimeout(r, 200)); // the shipper is idle, waiting
    const t0 = performance.now();
    appendRow(store, 'status');
    await expect.poll(() => arrivals.length, { timeout: 10_000, interval: 5 }).toBe(1);
    // Typically a few ms. What is asserted is that the append woke the shipper rather than
    // its idle re-check (60 s here), so the bound is far below that and far above a loaded
    // 2-core CI machine's scheduling delays (500 ms failed once at load 8).
    expect(arrivals[0]! - t0).toBeLessThan(5_000);
  });

  it.concurrent('409 and 404 on a status are delivered-but-refused: dropped with a warning, never retried', async ({
    expect,
  }) => {
    const [conflict, unknown, fine] = [randomUUID(), randomUUID(), randomUUID()];
    const cp = await startControlPlane(({ items }) => {
      if (items[0]?.includes(conflict)) return { status: 409 };
      if (items[0]?.includes(unknown)) return { status: 404 };
      return 'accept';
    });
    const { store, shipper, lines } = setup(cp.url);
    for (const id of [conflict, unknown, fine]) {
      store.journal.received(id, {});
      store.finishAndReport(id, { state: 'failed', message: '' });
    }
    await expect.poll(() => store.outbox.depth, { timeout: 3000 }).toBe(0);
    // No batch route here (an older control plane): one request per report, after one miss.
    expect(cp.received.batchMisses).toBe(1);
    expect(cp.received.requests.map((r) => r.items[0])).toEqual([
      `status:${conflict}:failed`,
      `status:${unknown}:failed`,
      `status:${fine}:failed`,
    ]);
    expect(cp.received.log).toEqual([`status:${fine}:failed`]);
    expect(shipper.counters.refusedRows.status).toBe(2);
    const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.level === 40);
    expect(warnings.map((w) => w.code)).toEqual(['CP_CONFLICT', 'CP_NOT_FOUND']);
  });

  it.concurrent('400, 413 and 404 without a contract error body (an ingress, a WAF) are retried, never dropped', async ({
    expect,
  }) => {
    // In front of the control plane: an HTML 413, a plain-text 400, an HTML 404 (a path the
    // ingress does not route), an empty 400; then it lets requests through.
    const answers: Verdict[] = [
      { status: 413, body: '<html><body>413 Request Entity Too Large</body></html>' },
      { status: 400, body: 'Bad Request' },
      { status: 404, body: '<html>404 Not Found</html>' },
      { status: 400, body: '' },
      { status: 403, body: 'Forbidden by WAF rule 942100' },
    ];
    const cp = await startControlPlane(({ n }) => (n <= answers.length ? answers[n - 1]! : 'accept'));
    const { store, shipper } = setup(cp.url, { unauthorizedDelayMs: 50 });
    const expected = [appendRow(store, 'status'), appendRow(store, 'audit'), appendRow(store, 'instances')];
    await expect.poll(() => cp.received.log.length, { timeout: 10_000, interval: 50 }).toBe(expected.length);
    expect(cp.received.log).toEqual(expected);
    expect(shipper.counters.refusedRows).toEqual({ status: 0, instances: 0, audit: 0 });
    expect(shipper.counters.failures).toMatchObject({ CP_REJECTED: 3, CP_NOT_FOUND: 1 });
    expect(store.outbox.depth).toBe(0);
  });

  it.concurrent('a refused audit batch is split so that only the bad event is dropped', async ({
    expect,
  }) => {
    let bad = '';
    const cp = await startControlPlane(({ items }) => (items.includes(bad) ? { status: 422 } : 'accept'));
    const { store, shipper } = setup(cp.url, { maxEventsPerRequest: 10 });
    // Queue all five before the shipper sees any, so they go as one batch.
    const keys = store.transaction(() => [0, 1, 2, 3, 4].map(() => appendRow(store, 'audit')));
    bad = keys[2]!;
    await expect.poll(() => store.outbox.depth, { timeout: 3000 }).toBe(0);
    expect(cp.received.log).toEqual(keys.filter((k) => k !== bad));
    expect(cp.received.requests.map((r) => r.items.length)).toEqual([5, 1, 1, 1, 1, 1]);
    expect(shipper.counters.refusedRows.audit).toBe(1);
  });

  it.concurrent('a resync answer drops queued deltas and requires a full snapshot', async ({ expect }) => {
    let first = -1;
    const cp = await startControlPlane(
      () => 'accept',
      (seq) => {
        if (first < 0) first = seq;
        return { accepted: true, resync: seq === first };
      },
    );
    const { store } = setup(cp.url);
    const keys = store.transaction(() => [0, 1, 2].map(() => appendRow(store, 'instances')));
    await expect.poll(() => store.outbox.depth, { timeout: 3000 }).toBe(0);
    expect(cp.received.log).toEqual([keys[0]]);
    expect(store.outbox.fullSnapshotRequired).toBe(true);
  });

  it.concurrent('a response lost after the server applied it is retried (at-least-once; keys make it idempotent)', async ({
    expect,
  }) => {
    const cp = await startControlPlane(({ n }) => (n === 1 ? { acceptThenDestroy: true } : 'accept'));
    const { store } = setup(cp.url);
    const key = appendRow(store, 'audit');
    await expect.poll(() => store.outbox.depth, { timeout: 3000 }).toBe(0);
    // The same event id twice: the control plane de-duplicates by it.
    expect(cp.received.log).toEqual([key, key]);
  });
  it.concurrent("with the batch route, a backlog of status rows goes in few requests, in outbox order, an action's rows in order", async ({
    expect,
  }) => {
    const cp = await startControlPlane(() => 'accept', undefined, { batch: true });
    // The store fills before the shipper starts, as after an outage.
    const { store, shipper } = setup(cp.url, { maxStatusPerBatch: 50 });
    const expected = store.transaction(() => {
      const keys: string[] = [];
      for (let i = 0; i < 60; i++) {
        const id = randomUUID();
        store.journal.received(id, { id });
        store.outbox.appendStatus(id, { state: 'running', message: 'accepted' });
        keys.push(`status:${id}:running`);
        if (i % 2 === 0) {
          store.outbox.appendStatus(id, { state: 'succeeded', message: 'done' });
          keys.push(`status:${id}:succeeded`);
        }
      }
      return keys;
    });
    await expect.poll(() => store.outbox.depth, { timeout: 5000 }).toBe(0);
    expect(cp.received.log).toEqual(expected);
    expect(cp.received.requests.length).toBe(2);
    expect(cp.received.requests.every((r) => r.url.endsWith('/api/v1/agent/actions/status'))).toBe(true);
    expect(shipper.counters.statusBatches).toBe(2);
    expect(shipper.counters.shippedRows.status).toBe(90);
  });

  it.concurrent('batch route: refused entries (400/404/409) are dropped alone; a failed batch is retried whole, applied once', async ({
    expect,
  }) => {
    const [conflict, unknown, invalid, fine] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const cp = await startControlPlane(({ n }) => (n <= 2 ? { status: 503 } : 'accept'), undefined, {
      batch: true,
      entryStatus: (item) =>
        item.includes(conflict) ? 409 : item.includes(unknown) ? 404 : item.includes(invalid) ? 400 : 200,
    });
    const { store, shipper, lines } = setup(cp.url);
    store.transaction(() => {
      for (const id of [conflict, unknown, invalid, fine]) {
        store.journal.received(id, {});
        store.finishAndReport(id, { state: 'failed', message: '' });
      }
    });
    await expect.poll(() => store.outbox.depth, { timeout: 5000 }).toBe(0);
    // Two 503s, then the same batch of four once more, applied.
    expect(cp.received.requests.map((r) => r.items.length)).toEqual([4, 4, 4]);
    expect(cp.received.log).toEqual([`status:${fine}:failed`]);
    expect(shipper.counters.failures).toEqual({ CP_SERVER_ERROR: 2 });
    expect(shipper.counters.refusedRows.status).toBe(3);
    expect(shipper.counters.shippedRows.status).toBe(1);
    const refusals = lines
      .map((l) => JSON.parse(l))
      .filter((l) => l.level === 40 && String(l.msg).includes('refused status report'));
    expect(refusals.map((w) => w.code)).toEqual(['CP_CONFLICT', 'CP_NOT_FOUND', 'CP_INVALID_REQUEST']);
  });

  it.concurrent('an older control plane (404 on the batch route): falls back to one request per report and does not ask again for a while', async ({
    expect,
  }) => {
    const cp = await startControlPlane(() => 'accept');
    const { store, shipper, lines } = setup(cp.url, { statusBatchRetryMs: 60_000 });
    const expected: string[] = [];
    for (let i = 0; i < 5; i++) {
      expected.push(appendRow(store, 'status'));
      await expect.poll(() => cp.received.log.length, { timeout: 3000 }).toBe(expected.length);
    }
    expect(cp.received.log).toEqual(expected);
    expect(cp.received.batchMisses).toBe(1);
    expect(cp.received.requests.every((r) => /\/actions\/[^/]+\/status$/.test(r.url))).toBe(true);
    expect(shipper.counters.statusBatches).toBe(1);
    expect(lines.some((l) => l.includes('no batch status route'))).toBe(true);
  });

  it.concurrent('the batch route is tried again after statusBatchRetryMs (the control plane was upgraded)', async ({
    expect,
  }) => {
    const cp = await startControlPlane(() => 'accept');
    const { store } = setup(cp.url, { statusBatchRetryMs: 0 });
    for (let i = 0; i < 3; i++) {
      appendRow(store, 'status');
      await expect.poll(() => cp.received.log.length, { timeout: 3000 }).toBe(i + 1);
    }
    expect(cp.received.batchMisses).toBe(3);
  });
});

// Time is the subject here (linger or not), so the shipper's timers and clock are fake: the test
// decides when time passes, and no bound depends on how busy the machine is. Not concurrent:
// fake timers are the whole worker's. HTTP and SQLite stay real.
describe('OutboxShipper linger (fake timers)', () => {
  it('under a steady stream of results, status batches linger so one request carries several; an idle shipper sends at once', async ({
    expect,
  }) => {
    const arrivals: number[] = [];
    const cp = await startControlPlane(
      () => {
        arrivals.push(performance.now());
        return 'accept';
      },
      undefined,
      { batch: true },
    );
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const { store } = setup(cp.url, { statusBatchLingerMs: 600, idleCheckMs: 60_000 });
      await vi.advanceTimersByTimeAsync(100);
      const t0 = performance.now();
      const expected = [appendRow(store, 'status')];
      // No time passes until the first request is in: a shipper that lingered first never sends it.
      await expect.poll(() => arrivals.length, { timeout: 2000, interval: 5 }).toBe(1);
      expect(arrivals[0]! - t0).toBeLessThan(450); // idle: no linger (600 ms) before the first
      for (let i = 0; i < 20; i++) {
        await vi.advanceTimersByTimeAsync(5);
        expected.push(appendRow(store, 'status'));
      }
      await vi.advanceTimersByTimeAsync(600);
      await expect.poll(() => cp.received.log.length, { timeout: 5000 }).toBe(expected.length);
      expect(cp.received.log).toEqual(expected);
      // 21 rows over 100 ms: the first alone, the rest in a few lingering batches.
      expect(cp.received.requests.length).toBeLessThanOrEqual(4);
    } finally {
      vi.useRealTimers();
    }
  });
});
