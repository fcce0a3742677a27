/**
 * Where throughput goes: one round of run.ts (N cordons) with the agent in-process and its
 * stages counted (AgentActions created by the poller, node patches by the executors, status
 * reports shipped, final AgentAction statuses), printed once a second, so the slowest stage
 * shows as the one the others wait for.
 *
 *   node test/bench/throughput/profile.ts [--n 300] [--kubeconfig PATH]
 *
 * Diagnostics only (the agent shares this process with the counters).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { startAgent } from '../../../src/agent/run.ts';
import { AgentConfigSchema } from '../../../src/config/schema.ts';
import { WorkQueue } from '../../../src/controllers/runtime/work-queue.ts';
import { ControlPlaneClient } from '../../../src/controlplane/client.ts';
import { EventRecorder } from '../../../src/kube/events.ts';
import { createLogger } from '../../../src/observability/logger.ts';
import { CommitGroup } from '../../../src/store/commit-group.ts';
import { Outbox, StateStore } from '../../../src/store/index.ts';
import { applyWidePolicy } from '../../support/policy.ts';
import { registerCluster, spawnControlPlane } from '../../support/processes.ts';
import { createNodes, deleteNodes, forEachLimit, useCluster } from '../common/kube.ts';
import { printJsonLine, printTable } from '../common/stats.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '300' },
    kubeconfig: { type: 'string' },
    // Experiment: executors do not wait for the (global) event queue at their end.
    'no-event-flush': { type: 'boolean', default: false },
    // Experiment: the action controller's work-queue concurrency (default 16).
    'queue-concurrency': { type: 'string' },
  },
});
const n = Number(values.n);
if (values['no-event-flush']) EventRecorder.prototype.flush = async () => {};
if (values['queue-concurrency']) {
  const concurrency = Number(values['queue-concurrency']);
  const proto = WorkQueue.prototype as unknown as {
    add(key: string): void;
    options: { concurrency: number };
  };
  const add = proto.add;
  proto.add = function (this: typeof proto, key: string) {
    this.options.concurrency = concurrency;
    add.call(this, key);
  };
}

const counts: Record<string, number> = {
  polled: 0,
  created: 0,
  patchedNode: 0,
  statusPatched: 0,
  shipped: 0,
  batches: 0,
  commits: 0,
  groupPieces: 0,
};
function count<T extends object>(proto: T, method: keyof T, name: string, size?: (v: unknown) => number) {
  const original = proto[method] as unknown as (...args: unknown[]) => Promise<unknown>;
  (proto as Record<keyof T, unknown>)[method] = async function (this: unknown, ...args: unknown[]) {
    const v = await original.apply(this, args);
    counts[name] = (counts[name] ?? 0) + (size ? size(v) : 1);
    return v;
  };
}
count(ControlPlaneClient.prototype, 'pollActions', 'polled', (v) => (v as unknown[]).length);
count(CustomObjectsApi.prototype, 'createNamespacedCustomObject', 'created');
count(CoreV1Api.prototype, 'patchNode', 'patchedNode');
count(CustomObjectsApi.prototype, 'patchNamespacedCustomObjectStatus', 'statusPatched');
count(ControlPlaneClient.prototype, 'reportStatus', 'shipped');
count(ControlPlaneClient.prototype, 'reportStatuses', 'shipped', (v) => (v as unknown[]).length);
count(ControlPlaneClient.prototype, 'reportStatuses', 'batches');
// SQLite commits: outermost StateStore transactions (each one fsync with synchronous=FULL),
// and how many journal writes went through the group commit.
{
  const transaction = StateStore.prototype.transaction;
  let depth = 0;
  StateStore.prototype.transaction = function <T>(this: StateStore, fn: () => T): T {
    if (depth === 0) counts.commits = (counts.commits ?? 0) + 1;
    depth++;
    try {
      return transaction.call(this, fn) as T;
    } finally {
      depth--;
    }
  };
  const markShipped = Outbox.prototype.markShipped;
  Outbox.prototype.markShipped = function (this: Outbox, ...args: Parameters<typeof markShipped>) {
    counts.commits = (counts.commits ?? 0) + 1;
    return markShipped.apply(this, args);
  };
  const run = CommitGroup.prototype.run;
  CommitGroup.prototype.run = function <T>(this: CommitGroup, fn: () => T): Promise<T> {
    counts.groupPieces = (counts.groupPieces ?? 0) + 1;
    return run.call(this, fn) as Promise<T>;
  };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'clusteropt-bench-tp-profile-'));
  const cluster = await useCluster(values.kubeconfig ? { kubeconfig: values.kubeconfig } : { verbose: true });
  const { installCrds } = await import('../../../src/kube/install-crds.ts');
  await installCrds(cluster.kc);
  // Measures the agent's mechanics, not its guardrails: every one widened (an explicit admin act).
  await applyWidePolicy(cluster.kc, 'bench-wide');
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const ns = `bench-tp-profile-${process.pid}`;
  await core.createNamespace({ body: { metadata: { name: ns } } });
  const names = Array.from({ length: n }, (_, i) => `bench-tpp-${process.pid}-${i}`);
  await createNodes(cluster.kc, names, { managed: false, concurrency: 32 });
  const cp = await spawnControlPlane({ dir, leaseSeconds: 120 });
  const keyFile = join(dir, 'api-key');
  const { clusterId } = await registerCluster(cp, 'bench-tp-profile', keyFile);
  const agent = await startAgent(
    AgentConfigSchema.parse({
      controlPlaneUrl: cp.url,
      allowInsecureHttp: true,
      apiKeyFile: keyFile,
      stateDir: join(dir, 'state'),
      namespace: ns,
      kubeconfig: cluster.kubeconfigPath,
      listenHealth: '127.0.0.1:0',
      leaderElection: { enabled: false },
    }),
    createLogger({ level: 'warn' }),
  );
  const rows: (string | number)[][] = [['s', ...Object.keys(counts), 'terminal at cp']];
  const t0 = performance.now();
  try {
    const enqueueing = forEachLimit(names, 16, async (nodeName) => {
      await cp.admin.enqueue(clusterId, { type: 'cordon_node', payload: { nodeName } });
    });
    for (let s = 1; ; s++) {
      await new Promise((r) => setTimeout(r, t0 + s * 1000 - performance.now()));
      const terminal = (await cp.admin.countActions(clusterId)).succeeded;
      rows.push([s, ...Object.values(counts), terminal]);
      console.error(rows.at(-1)!.join('\t'));
      if (terminal === n) break;
      if (s > 600) throw new Error('not done after 10 min');
    }
    await enqueueing;
  } finally {
    await agent.stop();
    await cp.stop();
    await deleteNodes(cluster.kc, names, 32);
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(rows);
  printJsonLine('action-throughput-profile', { n, seconds: rows.length - 1, timeline: rows.slice(1) });
}

await main();
