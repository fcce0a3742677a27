/**
 * Outbox benchmark: what buffering and replaying results costs.
 *
 *   node test/bench/outbox/run.ts [--append-n 3000] [--size-n 100000] [--replay-n 5000] [--wan-delay-ms 20]
 *
 * 1. Append rate: status rows appended one transaction each (what the agent does; the store
 *    runs synchronous=FULL, an fsync per commit), the same with NORMAL for comparison, one
 *    action's full journal+outbox life (received, started+running, finished+final: 3
 *    commits), and rows appended 1000 per transaction.
 * 2. Size on disk of --size-n buffered status rows (database + WAL after a checkpoint),
 *    bytes per row, and the same extrapolated to 1,000,000 rows (linear: the table and its
 *    indexes grow linearly), unless --size-n is 1,000,000 itself.
 * 3. Replay rate over real HTTP: the OutboxShipper ships final status rows through the
 *    batch status route (contract 1.1, the default) and through the per-action route (8 in
 *    flight, or one by one), 4x --replay-n audit events (batched, 100 per request), and an
 *    outage backlog of running+final pairs (the running reports of finished actions are
 *    superseded, not sent) to the reference control plane running as a child process; the
 *    final reports also over a simulated WAN round trip (--wan-delay-ms, default 20, added
 *    by a proxy).
 * Requests per minute of an idle and a busy agent: `npm run bench -- cp-load`.
 * Prints tables and one JSON line.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ApiKeySource, ControlPlaneClient, OutboxShipper } from '../../../src/controlplane/index.ts';
import { ActionsRepo } from '../../../src/reference-control-plane/actions-repo.ts';
import { openDatabase } from '../../../src/reference-control-plane/db.ts';
import { StateStore } from '../../../src/store/index.ts';
import { registerCluster, spawnControlPlane } from '../../support/processes.ts';
import { startCountingProxy } from '../common/counting-proxy.ts';
import { waitFor } from '../common/kube.ts';
import { machineNote, printJsonLine, printTable, round } from '../common/stats.ts';

const { values } = parseArgs({
  options: {
    'append-n': { type: 'string', default: '3000' },
    'size-n': { type: 'string', default: '100000' },
    'replay-n': { type: 'string', default: '5000' },
    'wan-delay-ms': { type: 'string', default: '20' },
  },
});
const appendN = Number(values['append-n']);
const sizeN = Number(values['size-n']);
const replayN = Number(values['replay-n']);
const wanDelayMs = Number(values['wan-delay-ms']);
const wanRows = Math.min(500, replayN / 2);

const dir = mkdtempSync(join(tmpdir(), 'clusteropt-bench-outbox-'));
const now = () => new Date().toISOString();
/** A realistic final report: what a cordon reports (~300 bytes of JSON). */
const finalReport = () => ({
  state: 'succeeded' as const,
  message: 'node ip-10-0-12-34.eu-west-1.compute.internal cordoned',
  result: {
    node: 'ip-10-0-12-34.eu-west-1.compute.internal',
    cordon: 'added',
    taint: 'not-requested',
    changed: true,
  },
  startedAt: now(),
  finishedAt: now(),
});

function fileBytes(path: string): number {
  let total = 0;
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      total += statSync(f).size;
    } catch {
      // absent
    }
  }
  return total;
}

function timeRate(n: number, fn: (i: number) => void): { rowsPerSecond: number; msPerRow: number } {
  const t = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  const ms = performance.now() - t;
  return { rowsPerSecond: n / (ms / 1000), msPerRow: ms / n };
}

function appendRates() {
  const out: Record<string, { rowsPerSecond: number; msPerRow: number }> = {};
  for (const synchronous of ['FULL', 'NORMAL'] as const) {
    const store = StateStore.open({ path: join(dir, `append-${synchronous}.db`), synchronous });
    out[`status row, 1 commit each, synchronous=${synchronous}`] = timeRate(appendN, () => {
      store.outbox.appendStatus(randomUUID(), finalReport());
    });
    store.close();
  }
  const store = StateStore.open({ path: join(dir, 'append-life.db') });
  const life = timeRate(Math.ceil(appendN / 3), () => {
    const id = randomUUID();
    store.transaction(() => {
      store.journal.received(id, { id });
      store.outbox.appendStatus(id, { state: 'running', message: 'accepted' });
    });
    store.startAndReport(id, { state: 'running', message: 'executing', startedAt: now() });
    store.finishAndReport(id, finalReport());
  });
  out['one action: received, started, finished (3 commits), FULL'] = {
    rowsPerSecond: life.rowsPerSecond,
    msPerRow: life.msPerRow,
  };
  const batched = timeRate(appendN / 1000 > 1 ? Math.floor(appendN / 1000) : 1, () => {
    store.transaction(() => {
      for (let j = 0; j < 1000; j++) store.outbox.appendStatus(randomUUID(), finalReport());
    });
  });
  out['status rows, 1000 per commit, FULL'] = {
    rowsPerSecond: batched.rowsPerSecond * 1000,
    msPerRow: batched.msPerRow / 1000,
  };
  store.close();
  return out;
}

function sizeOnDisk() {
  const path = join(dir, 'size.db');
  const store = StateStore.open({ path, outbox: { maxPendingRows: 10_000_000 } });
  const t = performance.now();
  for (let done = 0; done < sizeN; done += 1000) {
    store.transaction(() => {
      for (let j = 0; j < Math.min(1000, sizeN - done); j++)
        store.outbox.appendStatus(randomUUID(), finalReport());
    });
  }
  const fillMs = performance.now() - t;
  const depth = store.stats().depth;
  store.close(); // checkpoints the WAL into the file
  const bytes = fileBytes(path);
  return {
    rows: depth,
    bytes,
    bytesPerRow: bytes / depth,
    fillSeconds: fillMs / 1000,
    extrapolated1M: sizeN >= 1_000_000 ? undefined : (bytes / depth) * 1_000_000,
  };
}

async function replayRates() {
  const cp = await spawnControlPlane({ dir: join(dir), leaseSeconds: 600 });
  const keyFile = join(dir, 'api-key');
  const { clusterId } = await registerCluster(cp, 'bench-outbox', keyFile);
  // The actions the reports are about, straight into the control plane's database.
  const ids: string[] = [];
  const cpDb = openDatabase(cp.dbPath);
  try {
    const repo = new ActionsRepo(cpDb);
    cpDb.transaction(() => {
      // Final reports (replayN), the outage backlog (replayN), three WAN runs (wanRows each).
      for (let i = 0; i < replayN * 2 + 3 * wanRows; i++) {
        const r = repo.enqueue({
          clusterId,
          type: 'cordon_node',
          payload: { nodeName: `n${i}` },
        });
        if (r.ok) ids.push(r.action.id);
      }
    })();
  } finally {
    cpDb.close();
  }
  const apiKey = new ApiKeySource({ path: keyFile, watch: false });
  const client = new ControlPlaneClient({ baseUrl: cp.url, apiKey, allowInsecureHttp: true });
  const wan = await startCountingProxy(cp.url, { delayMs: wanDelayMs });
  const wanClient = new ControlPlaneClient({ baseUrl: wan.url, apiKey, allowInsecureHttp: true });
  const results: Record<string, { rows: number; requests: number; seconds: number; rowsPerSecond: number }> =
    {};
  const ship = async (
    name: string,
    fill: (store: StateStore) => void,
    options: { client?: ControlPlaneClient; maxParallelStatus?: number; maxStatusPerBatch?: number } = {},
  ) => {
    const store = StateStore.open({ path: join(dir, `replay-${name.replace(/\W+/g, '-')}.db`) });
    fill(store);
    const rows = store.stats().depth;
    if (rows === 0) throw new Error(`${name}: nothing to ship (too few actions enqueued)`);
    const shipper = new OutboxShipper({
      store,
      client: options.client ?? client,
      idleCheckMs: 100,
      ...(options.maxParallelStatus === undefined ? {} : { maxParallelStatus: options.maxParallelStatus }),
      ...(options.maxStatusPerBatch === undefined ? {} : { maxStatusPerBatch: options.maxStatusPerBatch }),
    });
    const controller = new AbortController();
    const t = performance.now();
    const running = shipper.run(controller.signal);
    await waitFor(() => store.stats().depth === 0, {
      timeoutMs: 600_000,
      intervalMs: 20,
      what: `${name} shipped`,
    });
    const seconds = (performance.now() - t) / 1000;
    controller.abort();
    await running;
    const refused = Object.values(shipper.counters.refusedRows).reduce((a, b) => a + b, 0);
    if (refused > 0) throw new Error(`${name}: ${refused} rows refused`);
    results[name] = { rows, requests: shipper.counters.requests, seconds, rowsPerSecond: rows / seconds };
    store.close();
  };
  // Final reports by route: the batch route (contract 1.1, what the agent uses when the
  // control plane has it) and the per-action route (an older control plane), 8 distinct
  // actions in flight (its default) or strictly one by one.
  const perAction = { maxStatusPerBatch: 0 };
  const finals = (from: number, to: number) => (store: StateStore) => {
    store.transaction(() => {
      for (const id of ids.slice(from, to)) store.outbox.appendStatus(id, finalReport());
    });
  };
  const q = replayN / 4;
  await ship('final reports, batch route (default)', finals(0, 2 * q));
  await ship('final reports, per-action route, 8 in flight', finals(2 * q, 3 * q), perAction);
  await ship('final reports, per-action route, one by one', finals(3 * q, 4 * q), {
    ...perAction,
    maxParallelStatus: 1,
  });
  // The same over a simulated WAN round trip, where the per-action route is bound by latency.
  const wanFrom = replayN * 2;
  await ship(`+${wanDelayMs} ms per request (WAN), batch route`, finals(wanFrom, wanFrom + wanRows), {
    client: wanClient,
  });
  await ship(
    `+${wanDelayMs} ms per request (WAN), per-action route, 8 in flight`,
    finals(wanFrom + wanRows, wanFrom + 2 * wanRows),
    { client: wanClient, ...perAction },
  );
  await ship(
    `+${wanDelayMs} ms per request (WAN), per-action route, one by one`,
    finals(wanFrom + 2 * wanRows, wanFrom + 3 * wanRows),
    { client: wanClient, ...perAction, maxParallelStatus: 1 },
  );
  await ship('audit events (100 per request)', (store) => {
    store.transaction(() => {
      for (let i = 0; i < replayN * 4; i++) {
        store.outbox.appendAudit({
          id: randomUUID(),
          timestamp: now(),
          event: 'action.succeeded',
          resource: 'agentaction/clusteropt-system/act-x',
          message: 'cordon_node succeeded: node n1 cordoned',
          details: { type: 'cordon_node', target: 'node/n1', source: 'local' },
        });
      }
    });
  });
  await ship('outage backlog: running + final per action', (store) => {
    store.transaction(() => {
      for (const id of ids.slice(replayN, replayN * 2)) {
        store.journal.received(id, { id });
        store.outbox.appendStatus(id, { state: 'running', message: 'accepted' });
      }
      for (const id of ids.slice(replayN, replayN * 2)) store.finishAndReport(id, finalReport());
    });
  });
  apiKey.close();
  await client.close();
  await wanClient.close();
  await wan.close();
  await cp.stop();
  return results;
}

async function main() {
  try {
    const append = appendRates();
    console.log(`\n1. outbox append rate (n=${appendN}; one SQLite commit = one fsync with FULL)`);
    printTable([
      ['', 'rows/s', 'ms/row'],
      ...Object.entries(append).map(([k, v]) => [k, round(v.rowsPerSecond), round(v.msPerRow)]),
    ]);
    const size = sizeOnDisk();
    console.log(`\n2. size on disk of ${size.rows} buffered status rows`);
    printTable([
      ['rows', 'MiB', 'bytes/row', 'fill s', '1,000,000 rows (MiB)'],
      [
        size.rows,
        size.bytes / 1024 / 1024,
        size.bytesPerRow,
        size.fillSeconds,
        size.extrapolated1M === undefined
          ? 'measured above'
          : `${round(size.extrapolated1M / 1024 / 1024)} (extrapolated)`,
      ],
    ]);
    const replay = await replayRates();
    console.log(`\n3. replay to the reference control plane over HTTP (OutboxShipper)`);
    printTable([
      ['', 'rows', 'requests', 'seconds', 'rows/s'],
      ...Object.entries(replay).map(([k, v]) => [k, v.rows, v.requests, v.seconds, v.rowsPerSecond]),
    ]);
    printJsonLine('outbox', {
      append: Object.fromEntries(
        Object.entries(append).map(([k, v]) => [
          k,
          { rowsPerSecond: round(v.rowsPerSecond), msPerRow: round(v.msPerRow) },
        ]),
      ),
      size: {
        ...size,
        bytes: size.bytes,
        bytesPerRow: round(size.bytesPerRow),
        fillSeconds: round(size.fillSeconds),
        extrapolated1M: size.extrapolated1M === undefined ? undefined : Math.round(size.extrapolated1M),
      },
      replay: Object.fromEntries(
        Object.entries(replay).map(([k, v]) => [
          k,
          { ...v, seconds: round(v.seconds), rowsPerSecond: round(v.rowsPerSecond) },
        ]),
      ),
      machine: await machineNote(),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
