/**
 * The test cluster is real: the scheduler places pods on kwok nodes, kwok runs them, the
 * disruption controller computes PDB status, the API server enforces it on eviction, and
 * RBAC denies what a ServiceAccount was not granted.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, PolicyV1Api, type V1Pod, VersionApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clusterBinDir,
  createDeployment,
  createKwokNodes,
  createNamespace,
  deleteNamespace,
  deleteNodes,
  loadTestKubeConfig,
  testKubeconfigPath,
  uniqueName,
  waitFor,
} from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const policy = kc.makeApiClient(PolicyV1Api);

describe('test cluster', () => {
  const nodes = [uniqueName('kwok'), uniqueName('kwok'), uniqueName('kwok')];
  let ns = '';

  beforeAll(async () => {
    ns = await createNamespace(kc, 'cluster');
    await createKwokNodes(kc, nodes, { labels: { 'clusteropt.io/test': ns } });
  });

  afterAll(async () => {
    await deleteNamespace(kc, ns);
    await deleteNodes(kc, nodes);
  });

  it('reports the Kubernetes version it was built as, to the API and to kubectl', async () => {
    const info = await kc.makeApiClient(VersionApi).getCode();
    expect(info.gitVersion).toBe('v1.34.4');
    const out = execFileSync(
      join(clusterBinDir(), 'kubectl'),
      ['version', '--kubeconfig', testKubeconfigPath()],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toMatch(/Client Version: v1\.34\.4/);
    expect(out).toMatch(/Server Version: v1\.34\.4/);
  });

  it('schedules pods onto kwok nodes, runs them, computes PDB status and enforces it on eviction', async () => {
    const labels = { app: 'web' };
    await createDeployment(kc, ns, 'web', {
      replicas: 3,
      podSpec: {
        nodeSelector: { 'clusteropt.io/test': ns },
        containers: [{ name: 'web', image: 'registry.invalid/web:1' }],
      },
    });
    await policy.createNamespacedPodDisruptionBudget({
      namespace: ns,
      body: { metadata: { name: 'web' }, spec: { minAvailable: 3, selector: { matchLabels: labels } } },
    });

    const pods = await waitFor(
      async () => {
        const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
        const ready = list.items.filter(
          (p) =>
            p.status?.phase === 'Running' &&
            p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        );
        return ready.length === 3 ? ready : undefined;
      },
      { timeoutMs: 60_000, what: '3 web pods Running and Ready' },
    );
    for (const pod of pods) expect(nodes).toContain(pod.spec?.nodeName);

    const pdb = await waitFor(
      async () => {
        const p = await policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace: ns });
        return p.status?.observedGeneration === p.metadata?.generation && p.status?.currentHealthy === 3
          ? p
          : undefined;
      },
      { timeoutMs: 60_000, what: 'PDB status from the disruption controller' },
    );
    expect(pdb.status?.disruptionsAllowed).toBe(0);
    expect(pdb.status?.expectedPods).toBe(3);

    const victim = pods[0] as V1Pod;
    const eviction = core.createNamespacedPodEviction({
      name: victim.metadata!.name!,
      namespace: ns,
      body: {
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name: victim.metadata!.name!, namespace: ns },
      },
    });
    await expect(eviction).rejects.toMatchObject({ code: 429 });

    // Loosen the budget: the same eviction is now admitted and the pod is replaced.
    await policy.patchNamespacedPodDisruptionBudget({
      name: 'web',
      namespace: ns,
      body: [{ op: 'replace', path: '/spec/minAvailable', value: 2 }],
    });
    await waitFor(
      async () =>
        (await policy.readNamespacedPodDisruptionBudget({ name: 'web', namespace: ns })).status
          ?.disruptionsAllowed === 1,
      { what: 'PDB to allow one disruption' },
    );
    await core.createNamespacedPodEviction({
      name: victim.metadata!.name!,
      namespace: ns,
      body: {
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name: victim.metadata!.name!, namespace: ns },
      },
    });
    await waitFor(
      async () => {
        const list = await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=web' });
        const uids = list.items.map((p) => p.metadata?.uid);
        return !uids.includes(victim.metadata?.uid) && list.items.length === 3;
      },
      { what: 'evicted pod gone and replaced' },
    );
  });

  it('enforces RBAC: a ServiceAccount without grants cannot list nodes', async () => {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'nobody' } } });
    const token = await core.createNamespacedServiceAccountToken({
      name: 'nobody',
      namespace: ns,
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const limited = new KubeConfig();
    const cluster = kc.getCurrentCluster()!;
    limited.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'nobody', token: token.status!.token }],
      contexts: [{ name: 'nobody', cluster: cluster.name, user: 'nobody' }],
      currentContext: 'nobody',
    });
    await expect(limited.makeApiClient(CoreV1Api).listNode()).rejects.toMatchObject({ code: 403 });
  });
});
