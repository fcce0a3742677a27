/**
 * Drain benchmark: the agent's drain_node executor against the built kubectl, on the same
 * cluster, on identical freshly built 110-pod nodes (test/support/drain-fixture.ts), alternating
 * which goes first in each round.
 *
 *   node test/bench/drain/run.ts [--rounds N] [--kubeconfig PATH] [--bin-dir DIR] [--timeout S]
 *
 * Without --kubeconfig it starts a test cluster with the launcher the tests use (in its own
 * state folder, .state/bench-drain) and stops it at the end. Both sides get the same flags and budget:
 *   kubectl drain NODE --ignore-daemonsets --delete-emptydir-data --force --timeout=Ss
 *   drain_node {ignoreDaemonSets, deleteEmptyDirData, force: true, timeoutSeconds: S}
 * kubectl is timed as a process (start-up included: that is what running kubectl costs);
 * the agent is timed around execute() in a running process (that is how the agent runs).
 * Prints each run, then median/min/max per side and the ratio agent/kubectl, then one JSON line.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs, promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { type DrainDetails, drainNodeExecutor } from '../../../src/actions/drain-node.ts';
import {
  actionContext,
  createHundredTenPodNode,
  deletePool,
  makeAction,
  podsOnNode,
} from '../../support/drain-fixture.ts';

const run = promisify(execFile);

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    kubeconfig: { type: 'string' },
    'bin-dir': { type: 'string' },
    timeout: { type: 'string', default: '300' },
  },
});
const rounds = Number(values.rounds);
const timeoutSeconds = Number(values.timeout);

type Side = 'agent' | 'kubectl';

async function main() {
  let kubeconfigPath = values.kubeconfig;
  let binDir = values['bin-dir'];
  let stop: (() => Promise<void>) | undefined;
  if (!kubeconfigPath) {
    const { repoRoot, startTestCluster } = await import('../../cluster/launcher.ts');
    // A private state folder: starting a cluster stops whatever its folder's last start left,
    // and the shared one may be serving `npm run cluster:up` for someone else.
    const cluster = await startTestCluster({
      verbose: true,
      stateDir: join(repoRoot, '.state', 'bench-drain'),
      ...(binDir ? { binDir } : {}),
    });
    kubeconfigPath = cluster.kubeconfigPath;
    binDir = cluster.binDir;
    stop = () => cluster.stop();
  }
  if (!binDir) {
    const { resolveBinDir } = await import('../../cluster/launcher.ts');
    binDir = resolveBinDir();
  }
  const kubectl = join(binDir, 'kubectl');
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  // kubectl drain --force's meaning, allowed as a policy would.
  const ctx = actionContext(kc, { limits: { allowForce: true } });

  const times: Record<Side, number[]> = { agent: [], kubectl: [] };
  const drainOnce = async (side: Side, round: number) => {
    const pool = await createHundredTenPodNode(kc, { prefix: `bench-${side}` });
    try {
      const started = performance.now();
      let note = '';
      if (side === 'kubectl') {
        await run(
          kubectl,
          [
            '--kubeconfig',
            kubeconfigPath!,
            'drain',
            pool.source,
            '--ignore-daemonsets',
            '--delete-emptydir-data',
            '--force',
            `--timeout=${timeoutSeconds}s`,
          ],
          { maxBuffer: 16 * 1024 * 1024 },
        );
      } else {
        const result = await drainNodeExecutor.execute(
          makeAction('drain_node', {
            nodeName: pool.source,
            timeoutSeconds,
            force: true,
            deleteEmptyDirData: true,
            ignoreDaemonSets: true,
          }),
          ctx,
        );
        if (result.outcome !== 'succeeded') throw new Error(`agent drain failed: ${result.message}`);
        const d = result.details as DrainDetails;
        const waited = d.evicted.map((e) => e.waitedMs ?? 0).sort((a, b) => a - b);
        note = ` (evicted ${d.evicted.length}; prepare ${d.durationsMs.prepare} ms; pod gone after eviction: p50 ${waited[Math.floor(waited.length / 2)]} ms, max ${waited.at(-1)} ms)`;
      }
      const ms = performance.now() - started;
      // Same end state for both: nothing left but the DaemonSet pod and the mirror pod.
      const left = (await podsOnNode(kc, pool.source)).filter((p) => !p.metadata?.deletionTimestamp);
      if (left.length !== 2)
        throw new Error(`${side}: ${left.length} pods left on ${pool.source}, expected 2`);
      times[side].push(ms);
      console.log(`round ${round} ${side.padEnd(7)} ${ms.toFixed(0).padStart(6)} ms${note}`);
    } finally {
      await deletePool(kc, pool);
    }
  };

  try {
    for (let round = 1; round <= rounds; round++) {
      const order: Side[] = round % 2 === 1 ? ['agent', 'kubectl'] : ['kubectl', 'agent'];
      for (const side of order) await drainOnce(side, round);
    }
  } finally {
    await ctx.events.flush(5_000);
    await ctx.kube.close();
    if (stop) await stop();
  }

  const stats = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const mid = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
    return { median: Math.round(mid), min: Math.round(s[0]!), max: Math.round(s.at(-1)!) };
  };
  const agent = stats(times.agent);
  const kube = stats(times.kubectl);
  const ratio = Number((agent.median / kube.median).toFixed(3));
  console.log(`agent   median ${agent.median} ms  min ${agent.min}  max ${agent.max}`);
  console.log(`kubectl median ${kube.median} ms  min ${kube.min}  max ${kube.max}`);
  console.log(`ratio agent/kubectl (medians) ${ratio}`);
  console.log(
    JSON.stringify({
      bench: 'drain-110-pods',
      rounds,
      timeoutSeconds,
      agentMs: { ...agent, runs: times.agent.map(Math.round) },
      kubectlMs: { ...kube, runs: times.kubectl.map(Math.round) },
      ratio,
    }),
  );
}

await main();
