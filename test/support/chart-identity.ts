/**
 * The agent's identity as the chart grants it: the release's RBAC and ServiceAccount
 * installed with helm (no agent pods: replicas 0), and a kubeconfig with a bound token of
 * that ServiceAccount (TokenRequest), so an agent started in the test process has exactly
 * the chart's permissions.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { chartDir } from '../../src/packaging/chart.ts';
import { clusterBinDir, testKubeconfigPath } from './kube.ts';

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
  const request = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = kc.getCurrentCluster();
  if (!cluster?.caData) throw new Error('the test kubeconfig has no inline CA');
  const kubeconfigPath = join(dir, `${serviceAccount}.kubeconfig`);
  writeFileSync(
    kubeconfigPath,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'test', cluster: { server: cluster.server, 'certificate-authority-data': cluster.caData } },
      ],
      users: [{ name: serviceAccount, user: { token: request.status?.token } }],
      contexts: [{ name: 'sa', context: { cluster: 'test', user: serviceAccount, namespace } }],
      'current-context': 'sa',
    }),
    { mode: 0o600 },
  );
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
