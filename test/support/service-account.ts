/**
 * Credentials of a ServiceAccount for tests that run the agent with exactly the chart's RBAC
 * (through chart-identity.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

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
