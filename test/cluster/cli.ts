/**
 * `npm run cluster:up` / `npm run cluster:down`: the test cluster for working by hand.
 * `up` leaves the processes running (detached) and prints the kubeconfig path; the test
 * suite reuses a healthy cluster started this way instead of starting its own.
 * `up --real-node[=N]` also joins N (default 1) real kubelet nodes (real-node/; root,
 * containerd, Docker), with IMAGES (space-separated Docker images, default
 * clusteropt-agent:local) imported.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultStateDir, startTestCluster, stopLeftovers } from './launcher.ts';
import { primaryAddress, startRealNodes, stopRealNodes } from './real-node/real-node.ts';

const [command, ...flags] = process.argv.slice(2);
const realNodeFlag = flags.find((f) => f === '--real-node' || f.startsWith('--real-node='));
const realNodes = realNodeFlag ? Number(realNodeFlag.split('=')[1] ?? 1) : 0;
if (command === 'up') {
  const cluster = await startTestCluster({
    detached: true,
    verbose: true,
    ...(realNodes ? { advertiseAddress: primaryAddress() } : {}),
  });
  if (realNodes) {
    const images = (process.env.IMAGES ?? 'clusteropt-agent:local').split(/\s+/).filter(Boolean);
    const started = await startRealNodes(cluster, {
      count: realNodes,
      detached: true,
      verbose: true,
      images,
    });
    process.stdout.write(`real nodes ${started.nodes.map((n) => n.name).join(', ')} Ready\n`);
  }
  process.stdout.write(
    `test cluster running at ${cluster.server}\n` +
      `export KUBECONFIG=${cluster.kubeconfigPath}\n` +
      `binaries (kubectl, helm, ...): ${cluster.binDir}\n` +
      `logs: ${cluster.stateDir}/logs\n`,
  );
} else if (command === 'down') {
  try {
    const state = JSON.parse(readFileSync(join(defaultStateDir, 'state.json'), 'utf8')) as {
      binDir: string;
      kubeconfigPath: string;
    };
    await stopRealNodes({ stateDir: defaultStateDir, ...state });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await stopLeftovers(defaultStateDir);
  process.stdout.write('test cluster stopped\n');
} else {
  process.stderr.write('usage: node test/cluster/cli.ts up [--real-node[=N]] | down\n');
  process.exitCode = 2;
}
