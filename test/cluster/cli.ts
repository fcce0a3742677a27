/**
 * `npm run cluster:up` / `npm run cluster:down`: the test cluster for working by hand.
 * `up` leaves the processes running (detached) and prints the kubeconfig path; the test
 * suite reuses a healthy cluster started this way instead of starting its own.
 */
import { defaultStateDir, startTestCluster, stopLeftovers } from './launcher.ts';

const command = process.argv[2];
if (command === 'up') {
  const cluster = await startTestCluster({ detached: true, verbose: true });
  process.stdout.write(
    `test cluster running at ${cluster.server}\n` +
      `export KUBECONFIG=${cluster.kubeconfigPath}\n` +
      `binaries (kubectl, helm, ...): ${cluster.binDir}\n` +
      `logs: ${cluster.stateDir}/logs\n`,
  );
} else if (command === 'down') {
  await stopLeftovers(defaultStateDir);
  process.stdout.write('test cluster stopped\n');
} else {
  process.stderr.write('usage: node test/cluster/cli.ts up|down\n');
  process.exitCode = 2;
}
