/**
 * Throughput: N cordon (then N uncordon) actions on N kwok nodes, end to end. All actions of
 * a round are enqueued on the reference control plane at once (over its admin HTTP API, 16
 * at a time); the round ends when the control plane has every one in a terminal state (so
 * the figure includes polling, AgentAction creation, execution, status writes and shipping
 * every result back). The agent and the control plane are child processes.
 *
 *   node test/bench/throughput/run.ts [--n 1000] [--rounds 2] [--kubeconfig PATH]
 *
 * Nodes are unmanaged kwok nodes (cordon checks identity, not readiness; nothing heartbeats
 * them, which keeps the cluster's CPU for the agent). Without --kubeconfig a test cluster of
 * its own is started. Target: >= 100 actions/s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { applyWidePolicy } from '../../support/policy.ts';
import { registerCluster, spawnAgent, spawnControlPlane } from '../../support/processes.ts';
import { createNodes, deleteNodes, forEachLimit, useCluster } from '../common/kube.ts';
import { machineNote, printJsonLine, printTable, round } from '../common/stats.ts';
import { apiRequestCounts, countDiff, cpuDiff, cpuSnapshot } from './cost.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '2' },
    kubeconfig: { type: 'string' },
    // Write V8 CPU profiles of the agent and the control plane into this directory
    // (summarise them with cpuprofile-summary.ts).
    'cpu-prof-dir': { type: 'string' },
    // Seconds to wait at most for kube-controller-manager to settle the new nodes (0: do not).
    'settle-seconds': { type: 'string', default: '150' },
  },
});
const n = Number(values.n);
const rounds = Number(values.rounds);

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'clusteropt-bench-throughput-'));
  const cluster = await useCluster({
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    verbose: true,
  });
  const { installCrds } = await import('../../../src/kube/install-crds.ts');
  await installCrds(cluster.kc);
  // Measures the agent's mechanics, not its guardrails: every one widened (an explicit admin act).
  await applyWidePolicy(cluster.kc, 'bench-wide');
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const ns = `bench-throughput-${process.pid}`;
  await core.createNamespace({ body: { metadata: { name: ns } } });
  const names = Array.from({ length: n }, (_, i) => `bench-tp-${process.pid}-${i}`);
  let t = performance.now();
  await createNodes(cluster.kc, names, { managed: false, concurrency: 32 });
  console.error(`created ${n} nodes in ${Math.round(performance.now() - t)} ms`);
  // kube-controller-manager's node lifecycle controller marks nodes that never reported as
  // NotReady/Unknown and taints them about 50 s after they were created: 1,000 status
  // updates and taint patches that would otherwise land in the middle of round 1 (and fight
  // the agent's writes with conflicts). A real cluster's nodes are long past that.
  t = performance.now();
  const settled = await settleNodes(core, names, Number(values['settle-seconds']) * 1000);
  console.error(`nodes settled (${settled}) in ${Math.round(performance.now() - t)} ms`);

  const profDir = values['cpu-prof-dir'];
  const nodeOptions = process.env.NODE_OPTIONS;
  if (profDir) process.env.NODE_OPTIONS = `${nodeOptions ?? ''} --cpu-prof --cpu-prof-dir=${profDir}`.trim();
  const cp = await spawnControlPlane({ dir, leaseSeconds: 120 });
  const keyFile = join(dir, 'api-key');
  const { clusterId } = await registerCluster(cp, 'bench-throughput', keyFile);
  const agent = await spawnAgent({
    name: 'agent',
    dir,
    controlPlaneUrl: cp.url,
    apiKeyFile: keyFile,
    namespace: ns,
    kubeconfig: cluster.kubeconfigPath,
    args: ['--leader-election-enabled=false'],
  });
  if (profDir) {
    if (nodeOptions === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = nodeOptions;
  }

  const results: {
    round: number;
    type: string;
    enqueueMs: number;
    totalMs: number;
    perSecond: number;
    ok: number;
    cost: ReturnType<typeof cpuDiff> & { apiRequestsPerAction: Record<string, number> };
  }[] = [];
  try {
    for (let round = 1; round <= rounds; round++) {
      const type = round % 2 === 1 ? 'cordon_node' : 'uncordon_node';
      const cpuBefore = cpuSnapshot();
      const requestsBefore = await apiRequestCounts(cluster.kc).catch(() => ({}));
      t = performance.now();
      let enqueuedAt = 0;
      const enqueueing = forEachLimit(names, 16, async (nodeName) => {
        await cp.admin.enqueue(clusterId, { type, payload: { nodeName } });
      }).then(() => {
        enqueuedAt = performance.now();
      });
      // Done when nothing of this round is queued, leased or running any more (one GROUP BY
      // a poll: listing 1,000 actions four times a second cost the control plane more CPU
      // than serving the agent).
      for (;;) {
        await new Promise((r) => setTimeout(r, 250));
        const counts = await cp.admin.countActions(clusterId);
        const pending = counts.queued + counts.leased + counts.running;
        if (enqueuedAt > 0 && pending === 0) break;
        if (performance.now() - t > 600_000)
          throw new Error(`round ${round}: ${pending} actions still pending after 10 min`);
      }
      await enqueueing;
      const totalMs = performance.now() - t;
      const cost = {
        ...cpuDiff(cpuBefore, cpuSnapshot()),
        apiRequestsPerAction: countDiff(
          requestsBefore,
          await apiRequestCounts(cluster.kc).catch(() => ({})),
          n,
        ),
      };
      const ok = (await cp.admin.countActions(clusterId)).succeeded - (round - 1) * n;
      if (ok !== n) {
        const failed = (await cp.admin.listActions(clusterId)).filter((a) => a.state !== 'succeeded');
        for (const a of failed.slice(0, 5))
          console.error(`  not succeeded: ${a.type} ${a.state}: ${a.message}`);
      }
      const perSecond = n / (totalMs / 1000);
      results.push({ round, type, enqueueMs: enqueuedAt - t, totalMs, perSecond, ok, cost });
      console.error(
        `round ${round} (${type}): ${n} actions in ${Math.round(totalMs)} ms = ${round1(perSecond)}/s`,
      );
      console.error(`  cost: ${JSON.stringify(cost)}`);
    }
  } finally {
    await agent.stop();
    await cp.stop();
    t = performance.now();
    await deleteNodes(cluster.kc, names, 32);
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  console.log(
    `\nthroughput, ${n} actions per round, enqueued 16 at a time, until all terminal at the control plane`,
  );
  printTable([
    ['round', 'type', 'enqueue ms', 'total ms', 'actions/s', 'succeeded'],
    ...results.map((r) => [r.round, r.type, r.enqueueMs, r.totalMs, r.perSecond, r.ok]),
  ]);
  console.log('\nCPU seconds per process during each round (bench = this process: enqueue + watch)');
  const procs = [...new Set(results.flatMap((r) => Object.keys(r.cost.cpuSecondsByProcess)))].sort();
  printTable([
    ['round', 's', ...procs, 'others on the machine', 'machine busy'],
    ...results.map((r) => [
      r.round,
      r.cost.seconds,
      ...procs.map((name) => r.cost.cpuSecondsByProcess[name] ?? 0),
      r.cost.cpuSecondsOthers,
      r.cost.machineBusyShare,
    ]),
  ]);
  console.log('\nAPI server requests per action (apiserver_request_total, every client)');
  for (const r of results) console.log(`  round ${r.round}: ${JSON.stringify(r.cost.apiRequestsPerAction)}`);
  const rates = results.map((r) => r.perSecond).sort((a, b) => a - b);
  const median =
    rates.length % 2
      ? rates[(rates.length - 1) / 2]!
      : (rates[rates.length / 2 - 1]! + rates[rates.length / 2]!) / 2;
  const met = median >= 100;
  console.log(`median ${round(median)} actions/s; target >= 100/s ${met ? 'met' : 'MISSED'}`);
  printJsonLine('action-throughput', {
    n,
    rounds: results.map((r) => ({
      ...r,
      enqueueMs: round(r.enqueueMs),
      totalMs: round(r.totalMs),
      perSecond: round(r.perSecond),
    })),
    medianPerSecond: round(median),
    targetMet: met,
    allSucceeded: results.every((r) => r.ok === n),
    machine: await machineNote(),
    ownCluster: cluster.owned,
  });
}

/**
 * Waits until every node carries kube-controller-manager's `node.kubernetes.io/unreachable`
 * taint (its verdict on a node that never reported), then 5 s more for the follow-up writes.
 */
async function settleNodes(core: CoreV1Api, names: string[], timeoutMs: number): Promise<string> {
  if (timeoutMs <= 0) return 'skipped';
  const wanted = new Set(names);
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const list = await core.listNode({});
    const done = list.items.filter(
      (node) =>
        wanted.has(node.metadata?.name ?? '') &&
        node.spec?.taints?.some((taint) => taint.key === 'node.kubernetes.io/unreachable'),
    ).length;
    if (done === names.length) {
      await new Promise((r) => setTimeout(r, 5_000));
      return 'all tainted unreachable';
    }
    await new Promise((r) => setTimeout(r, 2_000));
  }
  return 'timed out';
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

await main();
