/**
 * The agent's identity as the chart grants it: the release's RBAC and ServiceAccount
 * installed with helm (no agent pods: replicas 0), and a kubeconfig with a bound token of
 * that ServiceAccount (TokenRequest), so an agent started in the test process has exactly
 * the chart's permissions.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { chartDir } from '../../src/packaging/chart.ts';
import { clusterBinDir, testKubeconfigPath } from './kube.ts';
import { serviceAccountKubeconfig } from './service-account.ts';

export interface ChartIdentity {
  release: string;
  /** Also the name of the release's ClusterRole and Role. */
  serviceAccount: string;
  /** A kubeconfig authenticating as the ServiceAccount. */
  kubeconfigPath: string;
  /** helm uninstall (best effort: deleting the namespace removes what is left). */
  uninstall(): void;
}

const helm = (args: string[]) =>
  execFileSync(join(clusterBinDir(), 'helm'), args, {
    env: { ...process.env, KUBECONFIG: testKubeconfigPath() },
    stdio: 'pipe',
  });

export async function installChartIdentity(
  kc: KubeConfig,
  options: { release: string; namespace: string; dir: string },
): Promise<ChartIdentity> {
  const { release, namespace, dir } = options;
  helm([
    'install',
    release,
    chartDir,
    '--namespace',
    namespace,
    '--set',
    'replicas=0',
    '--set',
    'controlPlane.url=https://api.clusteropt.example',
    '--set',
    'apiKey.existingSecret=unused',
  ]);
  const serviceAccount = `${release}-clusteropt-agent`;
  const kubeconfigPath = await serviceAccountKubeconfig(kc, namespace, serviceAccount, dir);
  return {
    release,
    serviceAccount,
    kubeconfigPath,
    uninstall() {
      try {
        helm(['uninstall', release, '-n', namespace, '--wait']);
      } catch {
        // namespace deletion removes what is left; the ClusterRole is the release's
      }
    },
  };
}
