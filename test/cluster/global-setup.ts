/**
 * vitest global setup of the `k8s` project: provides a running test cluster.
 * - CLUSTEROPT_TEST_KUBECONFIG set: use that cluster as it is (nothing started or stopped).
 * - a healthy cluster from `npm run cluster:up`: reuse it, leave it running.
 * - otherwise: start one attached to this process and stop it at the end.
 * It also bundles the agent once (scripts/bundle.ts) for the tests that start it as a child
 * process the way the image runs it (CLUSTEROPT_AGENT_BUNDLE, read by agent-image.ts).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildBundle, repoRoot } from '../support/agent-image.ts';
import { apiGet, defaultStateDir, resolveBinDir, startTestCluster } from './launcher.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfigPath: string;
    clusterBinDir: string;
  }
}

async function reusableCluster(): Promise<{ kubeconfigPath: string; binDir: string } | undefined> {
  const statePath = join(defaultStateDir, 'state.json');
  if (!existsSync(statePath)) return undefined;
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as {
    mode: string;
    server: string;
    kubeconfigPath: string;
    binDir: string;
  };
  if (state.mode !== 'detached') return undefined;
  const pki = {
    caCert: join(defaultStateDir, 'pki', 'ca.crt'),
    admin: {
      certPath: join(defaultStateDir, 'pki', 'admin.crt'),
      keyPath: join(defaultStateDir, 'pki', 'admin.key'),
    },
  };
  const [status] = await apiGet(state.server, pki, '/readyz').catch(() => [0] as const);
  return status === 200 ? { kubeconfigPath: state.kubeconfigPath, binDir: state.binDir } : undefined;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let bundleDir: string | undefined;
  if (!process.env.CLUSTEROPT_AGENT_BUNDLE) {
    bundleDir = mkdtempSync(join(tmpdir(), 'clusteropt-bundle-'));
    buildBundle(repoRoot, join(bundleDir, 'dist'));
    process.env.CLUSTEROPT_AGENT_BUNDLE = join(bundleDir, 'dist');
  }
  const stopCluster = await provideCluster(project);
  return async () => {
    await stopCluster?.();
    if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
  };
}

async function provideCluster(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const external = process.env.CLUSTEROPT_TEST_KUBECONFIG;
  if (external) {
    project.provide('kubeconfigPath', external);
    project.provide('clusterBinDir', resolveBinDir());
    return undefined;
  }
  const reused = await reusableCluster();
  if (reused) {
    project.provide('kubeconfigPath', reused.kubeconfigPath);
    project.provide('clusterBinDir', reused.binDir);
    return undefined;
  }
  // A folder of its own, so test runs side by side never stop each other's cluster.
  const stateDir = join(dirname(defaultStateDir), `test-cluster-run-${process.pid}`);
  const cluster = await startTestCluster({ verbose: true, stateDir });
  project.provide('kubeconfigPath', cluster.kubeconfigPath);
  project.provide('clusterBinDir', cluster.binDir);
  return async () => {
    await cluster.stop();
    rmSync(stateDir, { recursive: true, force: true });
  };
}
