/**
 * The inventory side of the agent as its own process, for the benchmark to measure: the
 * reporter (list+watch, EC2 enrichment through the real SDK), the real SQLite outbox and
 * the real outbox shipper to a control plane. Settings come as JSON in BENCH_CHILD; it
 * reports to the parent over IPC: `first-full` once, `sample` every second.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { createInventory } from '../../../src/controllers/inventory/index.ts';
import { ControlPlaneClient, OutboxShipper } from '../../../src/controlplane/index.ts';
import { createKubeClients } from '../../../src/kube/clients.ts';
import { StateStore } from '../../../src/store/index.ts';

export interface ChildSettings {
  kubeconfig: string;
  labelSelector: string;
  stateDir: string;
  controlPlaneUrl: string;
  apiKey: string;
  awsEndpoint?: string;
  coalesceMs: number;
  fullSnapshotIntervalMs: number;
}

export interface ChildSample {
  type: 'sample';
  at: number;
  rssBytes: number;
  heapUsedBytes: number;
  nodes: number;
  seq: number;
  fullSnapshots: number;
  deltas: number;
  ignoredEvents: number;
  outboxDepth: number;
  describeCalls: number;
  cachedInstances: number;
  failing: string[];
}

const settings = JSON.parse(process.env.BENCH_CHILD ?? '{}') as ChildSettings;
const send = (msg: unknown) => process.send?.(msg);

const kc = new KubeConfig();
kc.loadFromFile(settings.kubeconfig);
mkdirSync(settings.stateDir, { recursive: true });
const store = StateStore.open({ path: join(settings.stateDir, 'agent.db') });
const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
let firstSent = false;
const inventory = createInventory({
  clients: createKubeClients(kc),
  outbox: store.outbox,
  logger,
  labelSelector: settings.labelSelector,
  coalesceMs: settings.coalesceMs,
  fullSnapshotIntervalMs: settings.fullSnapshotIntervalMs,
  hooks: {
    batch: (b) => {
      if (b.full && !firstSent) {
        firstSent = true;
        // performance.now() counts from process start: module loading is included.
        const stats = inventory.reporter.stats;
        send({
          type: 'first-full',
          sinceStartMs: performance.now(),
          instances: b.instances,
          // Milestones since process start: modules loaded, node list done, snapshot built.
          modulesLoadedMs: runStartedAt,
          listDoneMs: runStartedAt + (stats.firstListMs ?? 0),
          ec2Calls: inventory.enrichment?.stats.describeCalls ?? 0,
          rssBeforeNodes,
        });
      }
    },
  },
  aws: settings.awsEndpoint
    ? {
        region: 'us-east-1',
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
        ec2Endpoint: settings.awsEndpoint,
        stsEndpoint: settings.awsEndpoint,
      }
    : false,
});
const shipper = new OutboxShipper({
  store,
  client: new ControlPlaneClient({
    baseUrl: settings.controlPlaneUrl,
    apiKey: { current: () => settings.apiKey },
    allowInsecureHttp: true,
    env: {},
  }),
  logger,
});
const controller = new AbortController();
const runStartedAt = performance.now();
// RSS with every module loaded and no node yet: the floor the nodes add to.
const rssBeforeNodes = process.memoryUsage().rss;
const running = Promise.all([inventory.run(controller.signal), shipper.run(controller.signal)]);

const sampler = setInterval(() => {
  const mem = process.memoryUsage();
  const s = inventory.reporter.stats;
  const e = inventory.enrichment?.stats;
  const sample: ChildSample = {
    type: 'sample',
    at: Date.now(),
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    nodes: s.nodes,
    seq: s.seq,
    fullSnapshots: s.fullSnapshots,
    deltas: s.deltas,
    ignoredEvents: s.ignoredEvents,
    outboxDepth: store.outbox.depth,
    describeCalls: e?.describeCalls ?? 0,
    cachedInstances: e?.cachedInstances ?? 0,
    failing: e?.failing ?? [],
  };
  send(sample);
}, 1000);

process.on('message', async (msg) => {
  if (msg === 'measure') {
    // RSS as it is, then the heap that is really retained (after a full GC), and RSS after it.
    const before = process.memoryUsage();
    (globalThis as { gc?: () => void }).gc?.();
    const after = process.memoryUsage();
    send({
      type: 'measured',
      rssBytes: before.rss,
      heapUsedBytes: before.heapUsed,
      retainedHeapBytes: after.heapUsed,
      rssAfterGcBytes: after.rss,
    });
    return;
  }
  if (typeof msg === 'string' && msg.startsWith('heap-snapshot:')) {
    send({ type: 'heap-snapshot', path: writeHeapSnapshot(msg.slice('heap-snapshot:'.length)) });
    return;
  }
  if (msg !== 'stop') return;
  clearInterval(sampler);
  controller.abort();
  await running;
  store.close();
  process.exit(0);
});
process.on('disconnect', () => process.exit(0));
