/**
 * Action latency: enqueue on the reference control plane -> node cordoned (or uncordoned) in
 * the API server, seen through a node watch. The agent runs as a child process
 * (`clusteropt-agent run`), the control plane as another; this process only enqueues and
 * watches.
 *
 *   node test/bench/latency/run.ts [--n 500] [--nodes 50] [--gap-ms 0] [--kubeconfig PATH]
 *
 * Actions go one at a time (closed loop): the next is enqueued `--gap-ms` (random in
 * [0, 2*gap], default 0) after the previous one was seen applied, each on the next node,
 * alternating cordon and uncordon per node. Without --kubeconfig a test cluster of its own
 * is started (nodes are unmanaged kwok nodes: cordon does not need a Ready node).
 *
 * Baseline: a naive agent that polls every 5 s. An action then waits for the next poll,
 * uniformly 0..5 s, before the same processing; simulated by adding U(0, 5000) ms to each
 * measured sample (seeded). Prints both, the ratio of medians, then one JSON line.
 * Targets: p50 <= 100 ms, p99 <= 500 ms.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { createKubeClients } from '../../../src/kube/clients.ts';
import { applyWidePolicy } from '../../support/policy.ts';
import { registerCluster, spawnAgent, spawnControlPlane } from '../../support/processes.ts';
import { createNodes, deleteNodes, useCluster, waitFor, watchNodes } from '../common/kube.ts';
import {
  machineNote,
  printJsonLine,
  printSummaryTable,
  ratio,
  roundSummary,
  summarize,
} from '../common/stats.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '500' },
    nodes: { type: 'string', default: '50' },
    'gap-ms': { type: 'string', default: '0' },
    kubeconfig: { type: 'string' },
    'poll-wait-seconds': { type: 'string', default: '25' },
  },
});
const n = Number(values.n);
const nodeCount = Math.min(Number(values.nodes), n);
const gapMs = Number(values['gap-ms']);

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'clusteropt-bench-latency-'));
  const cluster = await useCluster({
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    verbose: true,
  });
  const { installCrds } = await import('../../../src/kube/install-crds.ts');
  const { CoreV1Api } = await import('@kubernetes/client-node');
  await installCrds(cluster.kc);
  // Measures the agent's mechanics, not its guardrails: every one widened (an explicit admin act).
  await applyWidePolicy(cluster.kc, 'bench-wide');
  const ns = `bench-latency-${process.pid}`;
  await cluster.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  const label = `clusteropt.io/bench=latency-${process.pid}`;
  const names = Array.from({ length: nodeCount }, (_, i) => `bench-lat-${process.pid}-${i}`);
  await createNodes(cluster.kc, names, {
    managed: false,
    labels: { 'clusteropt.io/bench': `latency-${process.pid}` },
  });

  // kube-controller-manager marks nodes that never reported Unknown and taints them about
  // 50 s after creation; wait for that, so its writes do not land in the middle of the run
  // (a real cluster's nodes are long past it).
  const settleStart = performance.now();
  await waitFor(
    async () => {
      const list = await cluster.kc.makeApiClient(CoreV1Api).listNode({ labelSelector: label });
      return (
        list.items.length === names.length &&
        list.items.every((node) =>
          node.spec?.taints?.some((taint) => taint.key === 'node.kubernetes.io/unreachable'),
        )
      );
    },
    { timeoutMs: 150_000, intervalMs: 2_000, what: 'kube-controller-manager to settle the nodes' },
  ).catch(() => console.error('nodes did not settle within 150 s; measuring anyway'));
  await new Promise((r) => setTimeout(r, 5_000));
  console.error(`nodes settled in ${Math.round(performance.now() - settleStart)} ms`);

  const cp = await spawnControlPlane({ dir, leaseSeconds: 60 });
  const keyFile = join(dir, 'api-key');
  const { clusterId } = await registerCluster(cp, 'bench-latency', keyFile);
  const agent = await spawnAgent({
    name: 'agent',
    dir,
    controlPlaneUrl: cp.url,
    apiKeyFile: keyFile,
    namespace: ns,
    kubeconfig: cluster.kubeconfigPath,
    args: [`--poll-wait-seconds=${values['poll-wait-seconds']}`, '--leader-election-enabled=false'],
  });
  const clients = createKubeClients(cluster.kc);
  const watch = watchNodes(clients, label);
  await watch.ready;

  const cordoned = new Map(names.map((name) => [name, false]));
  let expecting: { name: string; unschedulable: boolean; resolve: (t: number) => void } | undefined;
  watch.onEvent((type, node) => {
    const t = performance.now();
    if (type === 'DELETED' || !expecting || node.metadata?.name !== expecting.name) return;
    if ((node.spec?.unschedulable === true) === expecting.unschedulable) expecting.resolve(t);
  });

  const samples: { type: string; ms: number }[] = [];
  try {
    // Warm-up: the first action pays for connections and lazy loading; not counted.
    for (let i = 0; i < n + 3; i++) {
      const name = names[i % names.length]!;
      const cordon = !cordoned.get(name);
      const seen = new Promise<number>((resolve) => {
        expecting = { name, unschedulable: cordon, resolve };
      });
      const t0 = performance.now();
      await cp.admin.enqueue(clusterId, {
        type: cordon ? 'cordon_node' : 'uncordon_node',
        payload: { nodeName: name },
      });
      const t1 = await Promise.race([
        seen,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`action ${i} on ${name} not applied within 30 s`)), 30_000),
        ),
      ]);
      expecting = undefined;
      cordoned.set(name, cordon);
      if (i >= 3) samples.push({ type: cordon ? 'cordon' : 'uncordon', ms: t1 - t0 });
      if ((i + 1) % 100 === 0) console.error(`${i + 1 - 3}/${n} actions`);
      if (gapMs > 0) await new Promise((r) => setTimeout(r, Math.random() * 2 * gapMs));
    }
    // Every action ended succeeded at the control plane.
    await waitFor(
      async () => (await cp.admin.listActions(clusterId, { state: 'succeeded' })).length === n + 3,
      { timeoutMs: 60_000, what: 'all actions succeeded at the control plane' },
    );
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

  // Baseline: the same processing after a wait for the next 5 s poll, U(0, 5000) ms.
  let seed = 42;
  const rnd = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  const all = summarize(samples.map((s) => s.ms));
  const cordon = summarize(samples.filter((s) => s.type === 'cordon').map((s) => s.ms));
  const uncordon = summarize(samples.filter((s) => s.type === 'uncordon').map((s) => s.ms));
  const baseline = summarize(samples.map((s) => s.ms + rnd() * 5000));
  console.log(`\naction latency, enqueue -> node changed (ms), n=${n}, gap ${gapMs} ms, one at a time`);
  printSummaryTable('ms', [
    { label: 'agent (all)', summary: all, ratio: 1 },
    { label: 'agent cordon', summary: cordon },
    { label: 'agent uncordon', summary: uncordon },
    { label: 'naive 5 s poller (sim.)', summary: baseline, ratio: ratio(baseline.median, all.median) },
  ]);
  const targets = { p50: all.p50 <= 100, p99: all.p99 <= 500 };
  console.log(
    `targets: p50 <= 100 ms ${targets.p50 ? 'met' : 'MISSED'}; p99 <= 500 ms ${targets.p99 ? 'met' : 'MISSED'}`,
  );
  printJsonLine('action-latency', {
    n,
    nodes: nodeCount,
    gapMs,
    unit: 'ms',
    agent: roundSummary(all),
    cordon: roundSummary(cordon),
    uncordon: roundSummary(uncordon),
    naive5sPoller: roundSummary(baseline),
    ratioMedianBaselineOverAgent: ratio(baseline.median, all.median),
    targets,
    machine: await machineNote(),
    ownCluster: cluster.owned,
  });
}

await main();
