/**
 * Where an action's latency goes: the same closed loop as run.ts, but with the agent
 * in-process (startAgent) and its I/O wrapped to timestamp each step of the critical path:
 *
 *   enqueue -> poll answered -> AgentAction created -> (watch) reconcile starts ->
 *   journal started+running report -> status Running patched -> node read -> node patched ->
 *   (watch) the change seen here
 *
 *   node test/bench/latency/profile.ts [--n 50] [--kubeconfig PATH]
 *
 * Diagnostics only: wrapping costs a little and the agent shares this process's event loop
 * with the watch that measures it. Prints the median ms of each step and one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { startAgent } from '../../../src/agent/run.ts';
import { AgentConfigSchema } from '../../../src/config/schema.ts';
import { ControlPlaneClient } from '../../../src/controlplane/client.ts';
import { createKubeClients } from '../../../src/kube/clients.ts';
import { createLogger } from '../../../src/observability/logger.ts';
import { StateStore } from '../../../src/store/index.ts';
import { applyWidePolicy } from '../../support/policy.ts';
import { registerCluster, spawnControlPlane } from '../../support/processes.ts';
import { createNodes, deleteNodes, useCluster, watchNodes } from '../common/kube.ts';
import { printJsonLine, printTable, round, summarize } from '../common/stats.ts';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '50' }, kubeconfig: { type: 'string' } },
});
const n = Number(values.n);

/** Marks of the current action, by step name (first occurrence wins). */
let marks = new Map<string, number>();
const mark = (step: string) => {
  if (!marks.has(step)) marks.set(step, performance.now());
};

function wrap<T extends object>(proto: T, method: keyof T, before?: string, after?: string) {
  const original = proto[method] as unknown as (...args: unknown[]) => unknown;
  (proto as Record<keyof T, unknown>)[method] = function (this: unknown, ...args: unknown[]) {
    if (before) mark(before);
    const result = original.apply(this, args);
    if (after && result instanceof Promise) {
      return result.then((v: unknown) => {
        if (!(Array.isArray(v) && v.length === 0)) mark(after);
        return v;
      });
    }
    if (after) mark(after);
    return result;
  };
}

wrap(ControlPlaneClient.prototype, 'pollActions', undefined, 'poll answered');
wrap(CustomObjectsApi.prototype, 'createNamespacedCustomObject', 'create AgentAction', 'AgentAction created');
wrap(StateStore.prototype, 'startAndReport', 'journal started', 'journal started done');
wrap(CustomObjectsApi.prototype, 'patchNamespacedCustomObjectStatus', 'patch status', 'status patched');
wrap(CoreV1Api.prototype, 'readNode', 'read node', 'node read');
wrap(CoreV1Api.prototype, 'patchNode', 'patch node', 'node patched');

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'clusteropt-bench-latency-profile-'));
  const cluster = await useCluster(values.kubeconfig ? { kubeconfig: values.kubeconfig } : { verbose: true });
  const { installCrds } = await import('../../../src/kube/install-crds.ts');
  await installCrds(cluster.kc);
  // Measures the agent's mechanics, not its guardrails: every one widened (an explicit admin act).
  await applyWidePolicy(cluster.kc, 'bench-wide');
  const ns = `bench-profile-${process.pid}`;
  await cluster.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  const names = Array.from({ length: Math.min(20, n) }, (_, i) => `bench-prof-${process.pid}-${i}`);
  await createNodes(cluster.kc, names, {
    managed: false,
    labels: { 'clusteropt.io/bench': `profile-${process.pid}` },
  });
  const cp = await spawnControlPlane({ dir });
  const keyFile = join(dir, 'api-key');
  const { clusterId } = await registerCluster(cp, 'bench-profile', keyFile);
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
  const clients = createKubeClients(cluster.kc);
  const watch = watchNodes(clients, `clusteropt.io/bench=profile-${process.pid}`);
  await watch.ready;
  let expecting: { name: string; unschedulable: boolean; resolve: () => void } | undefined;
  watch.onEvent((type, node) => {
    if (type === 'DELETED' || !expecting || node.metadata?.name !== expecting.name) return;
    if ((node.spec?.unschedulable === true) === expecting.unschedulable) {
      mark('seen by watch');
      expecting.resolve();
    }
  });
  const cordoned = new Map(names.map((name) => [name, false]));
  const rows: Map<string, number>[] = [];
  try {
    for (let i = 0; i < n + 3; i++) {
      const name = names[i % names.length]!;
      const cordon = !cordoned.get(name);
      // Let the previous action's tail (final status, events, shipping) finish first.
      await new Promise((r) => setTimeout(r, 300));
      marks = new Map();
      const seen = new Promise<void>((resolve) => {
        expecting = { name, unschedulable: cordon, resolve };
      });
      mark('enqueue');
      await cp.admin.enqueue(clusterId, {
        type: cordon ? 'cordon_node' : 'uncordon_node',
        payload: { nodeName: name },
      });
      mark('enqueued');
      await seen;
      expecting = undefined;
      cordoned.set(name, cordon);
      if (i >= 3) rows.push(marks);
    }
  } finally {
    await watch.stop();
    await clients.close();
    await agent.stop();
    await cp.stop();
    await deleteNodes(cluster.kc, names);
    await cluster.kc
      .makeApiClient(CoreV1Api)
      .deleteNamespace({ name: ns })
      .catch(() => undefined);
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const steps = [
    'enqueue',
    'enqueued',
    'poll answered',
    'create AgentAction',
    'AgentAction created',
    'journal started',
    'journal started done',
    'patch status',
    'status patched',
    'read node',
    'node read',
    'patch node',
    'node patched',
    'seen by watch',
  ];
  const table: (string | number)[][] = [['step', 'median ms since previous', 'median ms since enqueue']];
  const out: Record<string, { sincePrevious: number; sinceEnqueue: number }> = {};
  for (let s = 1; s < steps.length; s++) {
    const d = rows
      .map((m) => (m.get(steps[s]!) ?? Number.NaN) - (m.get(steps[s - 1]!) ?? Number.NaN))
      .filter(Number.isFinite);
    const t = rows.map((m) => (m.get(steps[s]!) ?? Number.NaN) - m.get('enqueue')!).filter(Number.isFinite);
    const row = { sincePrevious: round(summarize(d).median), sinceEnqueue: round(summarize(t).median) };
    out[steps[s]!] = row;
    table.push([steps[s]!, row.sincePrevious, row.sinceEnqueue]);
  }
  printTable(table);
  printJsonLine('action-latency-profile', { n, steps: out });
}

await main();
