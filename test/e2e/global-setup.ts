/**
 * vitest global setup of the `e2e` project: the product as users run it. A Docker engine
 * (started when none answers, stopped again at the end), the agent image built by
 * `npm run image`, a test cluster that advertises this machine's address, and two real
 * kubelet nodes (containerd, runc, CNI bridge) with the image imported:
 * - real-node-0 runs the agent (the chart, 2 replicas) and the reference control plane;
 * - real-node-1 runs workloads that drains evict for real.
 * Figures (image build, node join) go to .state/e2e/report.json, which the tests extend.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { repoRoot, startTestCluster } from '../cluster/launcher.ts';
import { primaryAddress, startRealNodes } from '../cluster/real-node/real-node.ts';
import { type E2eNodes, e2eImage, e2eStateDir, reportPath } from './support/env.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    e2eNodes: E2eNodes;
  }
}

function bash(script: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): string {
  return execFileSync('bash', [join(repoRoot, script), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  rmSync(e2eStateDir, { recursive: true, force: true });
  mkdirSync(e2eStateDir, { recursive: true });
  const startedDocker = bash('scripts/docker-daemon.sh', ['start']).includes('started');
  const report: Record<string, unknown> = { date: new Date().toISOString() };
  let stopCluster: (() => Promise<void>) | undefined;
  let stopNodes: (() => Promise<void>) | undefined;
  const teardown = async () => {
    await stopNodes?.();
    await stopCluster?.();
    if (startedDocker) bash('scripts/docker-daemon.sh', ['stop']);
  };
  try {
    const t0 = Date.now();
    bash('scripts/image/build.sh', [], {
      IMAGE: e2eImage,
      CLUSTEROPT_IMAGE_LOG: join(e2eStateDir, 'image-build.log'),
    });
    const size = Number(
      execFileSync('docker', ['image', 'inspect', e2eImage, '--format', '{{.Size}}'], { encoding: 'utf8' }),
    );
    report.image = { buildSeconds: (Date.now() - t0) / 1000, sizeMiB: Math.round(size / 2 ** 20) };

    const cluster = await startTestCluster({
      stateDir: join(e2eStateDir, 'cluster'),
      verbose: true,
      advertiseAddress: primaryAddress(),
    });
    stopCluster = cluster.stop;
    // The plain manifests name the published image: the same build under that name, so
    // `imagePullPolicy: IfNotPresent` finds it on the nodes.
    const shipped = `ghcr.io/clusteropt/clusteropt-agent:${execFileSync('node', ['-p', "require('./package.json').version"], { cwd: repoRoot, encoding: 'utf8' }).trim()}`;
    execFileSync('docker', ['tag', e2eImage, shipped]);
    const nodes = await startRealNodes(cluster, { count: 2, images: [e2eImage, shipped], verbose: true });
    stopNodes = nodes.stop;
    report.nodeJoin = { seconds: nodes.timings.total! / 1000, timings: nodes.timings };
    writeFileSync(reportPath, JSON.stringify(report, null, 2));
    project.provide('kubeconfigPath', cluster.kubeconfigPath);
    project.provide('clusterBinDir', cluster.binDir);
    project.provide('e2eNodes', {
      nodes: nodes.nodes.map((n) => ({ name: n.name, containerdSocket: n.containerdSocket })),
      shippedImage: shipped,
    });
    return teardown;
  } catch (err) {
    await teardown();
    throw err;
  }
}
