/**
 * The chart's identity (RBAC, ServiceAccount) and its credentials, for tests that run the
 * agent with exactly the chart's RBAC (test/k8s/rbac.test.ts, test/k8s/hostile-control-plane.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { chartDir } from '../../src/packaging/chart.ts';
import { clusterBinDir, testKubeconfigPath } from './kube.ts';

/**
 * Installs the chart with replicas 0: its RBAC, admission policy and ServiceAccount, no agent
 * pods (the agent under test runs in the test process with the ServiceAccount's token).
 * Returns the uninstall (what it leaves, the namespace's deletion removes).
 */
export function installChartIdentity(release: string, namespace: string): () => void {
  const helm = (args: string[]) =>
    execFileSync(join(clusterBinDir(), 'helm'), args, {
      env: { ...process.env, KUBECONFIG: testKubeconfigPath() },
      stdio: 'pipe',
    });
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
  return () => {
    try {
      helm(['uninstall', release, '-n', namespace, '--wait']);
    } catch {
      // the namespace's deletion removes what is left
    }
  };
}

/** A kubeconfig that authenticates as the ServiceAccount with a bound token (TokenRequest). */
export async function serviceAccountKubeconfig(
  kc: KubeConfig,
  namespace: string,
  serviceAccount: string,
  dir: string,
): Promise<string> {
  const request = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const cluster = kc.getCurrentCluster();
  if (!cluster?.caData) throw new Error('the test kubeconfig has no inline CA');
  const path = join(dir, 'sa.kubeconfig');
  writeFileSync(
    path,
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
  return path;
}
