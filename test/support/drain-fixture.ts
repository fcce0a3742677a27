/**
 * Drain scenarios on the real test cluster, shared by test/k8s/actions-*.test.ts and the drain
 * benchmark (plain node: nothing here may need a vitest worker).
 *
 * Every scenario gets its own "pool": kwok nodes labelled and tainted
 * `clusteropt-test/pool=<id>`, and pods that select and tolerate exactly that pool, so other
 * tests' pods never land on these nodes and these pods never land elsewhere.
 */
import { randomUUID } from 'node:crypto';
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  PolicyV1Api,
  type V1Container,
  type V1PodSpec,
} from '@kubernetes/client-node';
import type { ActionContext } from '../../src/actions/types.ts';
import { type Action, parseEnvelope } from '../../src/contract/envelope.ts';
import { createKubeClients } from '../../src/kube/clients.ts';
import { EventRecorder } from '../../src/kube/events.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { createDeployment, kwokNode, uniqueName, waitFor, waitNodesSchedulable } from './kube.ts';

export const poolKey = 'clusteropt-test/pool';

export interface Pool {
  id: string;
  namespace: string;
  source: string;
  targets: string[];
}

const container: V1Container = { name: 'app', image: 'registry.invalid/app:1' };

/** Placement that confines pods to the pool's nodes. */
export function poolPlacement(pool: string): Pick<V1PodSpec, 'affinity' | 'tolerations'> {
  return {
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: poolKey, operator: 'In', values: [pool] }] }],
        },
      },
    },
    tolerations: [{ key: poolKey, operator: 'Equal', value: pool, effect: 'NoSchedule' }],
  };
}

export async function createPoolNodes(
  kc: KubeConfig,
  pool: string,
  names: string[],
  options: { unschedulable?: boolean; managed?: boolean; providerId?: (name: string) => string } = {},
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await Promise.all(
    names.map((name) => {
      const base = kwokNode(name, {
        labels: { [poolKey]: pool },
        managed: options.managed ?? true,
        ...(options.providerId ? { providerId: options.providerId(name) } : {}),
      });
      return core.createNode({
        body: {
          ...base,
          spec: {
            ...base.spec,
            taints: [{ key: poolKey, value: pool, effect: 'NoSchedule' }],
            ...(options.unschedulable ? { unschedulable: true } : {}),
          },
        },
      });
    }),
  );
  if (options.managed === false) return;
  await waitNodesSchedulable(kc, names);
}

export async function setUnschedulable(
  kc: KubeConfig,
  names: string[],
  unschedulable: boolean,
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const { PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
  await Promise.all(
    names.map((name) =>
      core.patchNode(
        { name, body: { spec: { unschedulable: unschedulable ? true : null } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    ),
  );
}

/** A namespace whose default ServiceAccount exists (pods are refused before that). */
export async function createReadyNamespace(kc: KubeConfig, name: string): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name } } });
  await waitFor(
    () => core.readNamespacedServiceAccount({ name: 'default', namespace: name }).then(() => true),
    {
      timeoutMs: 60_000,
      what: `default ServiceAccount in ${name}`,
    },
  );
}

export interface PoolDeploymentOptions {
  replicas: number;
  emptyDir?: boolean;
  priorityClassName?: string;
  annotations?: Record<string, string>;
  podAnnotations?: Record<string, string>;
  terminationGracePeriodSeconds?: number;
}

export async function createPoolDeployment(
  kc: KubeConfig,
  namespace: string,
  pool: string,
  name: string,
  options: PoolDeploymentOptions,
): Promise<void> {
  await createDeployment(kc, namespace, name, {
    replicas: options.replicas,
    annotations: options.annotations,
    podLabels: { role: name },
    podAnnotations: options.podAnnotations,
    podSpec: {
      ...poolPlacement(pool),
      containers: [container],
      terminationGracePeriodSeconds: options.terminationGracePeriodSeconds ?? 5,
      ...(options.priorityClassName ? { priorityClassName: options.priorityClassName } : {}),
      ...(options.emptyDir ? { volumes: [{ name: 'scratch', emptyDir: {} }] } : {}),
    },
  });
}

export async function createPdb(
  kc: KubeConfig,
  namespace: string,
  name: string,
  app: string,
  budget: { minAvailable?: number; maxUnavailable?: number },
): Promise<void> {
  const policy = kc.makeApiClient(PolicyV1Api);
  await policy.createNamespacedPodDisruptionBudget({
    namespace,
    body: { metadata: { name }, spec: { selector: { matchLabels: { app } }, ...budget } },
  });
  // Evictions get 429 until the disruption controller has computed the budget.
  await waitFor(
    async () => {
      const pdb = await policy.readNamespacedPodDisruptionBudget({ name, namespace });
      return (pdb.status?.observedGeneration ?? 0) >= (pdb.metadata?.generation ?? 1) &&
        pdb.status?.expectedPods
        ? true
        : undefined;
    },
    { timeoutMs: 60_000, what: `PDB ${namespace}/${name} computed` },
  );
}

export interface PodCounts {
  total: number;
  running: number;
}

export async function podsOnNode(kc: KubeConfig, node: string) {
  const list = await kc
    .makeApiClient(CoreV1Api)
    .listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` });
  return list.items;
}

/** Waits until `count` pods of the namespace are Running and Ready on `node`. */
export async function waitForPodsRunning(
  kc: KubeConfig,
  namespace: string,
  node: string,
  count: number,
  timeoutMs = 120_000,
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await waitFor(
    async () => {
      const list = await core.listNamespacedPod({ namespace, fieldSelector: `spec.nodeName=${node}` });
      const running = list.items.filter(
        (p) =>
          p.status?.phase === 'Running' &&
          p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return running.length >= count;
    },
    { timeoutMs, intervalMs: 500, what: `${count} pods Running on ${node}` },
  );
}

/**
 * The 110-pod node of the issue: 99 pods of three Deployments, 5 emptyDir pods of a fourth,
 * 2 system-cluster-critical pods, a DaemonSet pod, a mirror pod, an unmanaged pod and a
 * finished (Succeeded) pod; all on `source`, with `targets` ready to take the replacements.
 * Pods are labelled `role=<what>`.
 */
export async function createHundredTenPodNode(
  kc: KubeConfig,
  options: { prefix?: string } = {},
): Promise<Pool> {
  const id = uniqueName(options.prefix ?? 'drain');
  const pool: Pool = { id, namespace: id, source: `${id}-src`, targets: [`${id}-dst-1`, `${id}-dst-2`] };
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  await Promise.all([
    createReadyNamespace(kc, pool.namespace),
    createPoolNodes(kc, id, [pool.source]),
    // Targets exist but are cordoned until every pod sits on the source.
    createPoolNodes(kc, id, pool.targets, { unschedulable: true }),
  ]);
  const ns = pool.namespace;
  await Promise.all([
    createPoolDeployment(kc, ns, id, 'web-a', { replicas: 33 }),
    createPoolDeployment(kc, ns, id, 'web-b', { replicas: 33 }),
    createPoolDeployment(kc, ns, id, 'web-c', { replicas: 33 }),
    createPoolDeployment(kc, ns, id, 'cache', { replicas: 5, emptyDir: true }),
    createPoolDeployment(kc, ns, id, 'dns', { replicas: 2, priorityClassName: 'system-cluster-critical' }),
    apps.createNamespacedDaemonSet({
      namespace: ns,
      body: {
        metadata: { name: 'node-agent' },
        spec: {
          selector: { matchLabels: { app: 'node-agent' } },
          template: {
            metadata: { labels: { app: 'node-agent', role: 'daemonset' } },
            spec: { ...poolPlacement(id), containers: [container] },
          },
        },
      },
    }),
    core.createNamespacedPod({
      namespace: ns,
      body: {
        // What the kubelet creates for a static pod; an admin may create it too (only the
        // NodeRestriction plugin limits mirror pods, and only for node identities).
        metadata: {
          name: `static-${pool.source}`,
          labels: { role: 'mirror' },
          annotations: { 'kubernetes.io/config.mirror': 'fake-hash', 'kubernetes.io/config.source': 'file' },
        },
        spec: {
          nodeName: pool.source,
          automountServiceAccountToken: false,
          containers: [container],
          ...poolPlacement(id),
        },
      },
    }),
    core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'bare', labels: { role: 'bare' } },
        spec: { ...poolPlacement(id), containers: [container], terminationGracePeriodSeconds: 5 },
      },
    }),
    core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'finished', labels: { role: 'finished' } },
        spec: { ...poolPlacement(id), containers: [container], restartPolicy: 'Never' },
      },
    }),
  ]);
  await waitForPodsRunning(kc, ns, pool.source, 110);
  // kwok runs pods forever: finish one by hand, as a completed container would.
  const { PatchStrategy, setHeaderOptions } = await import('@kubernetes/client-node');
  await core.patchNamespacedPodStatus(
    { name: 'finished', namespace: ns, body: { status: { phase: 'Succeeded' } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await waitFor(
    async () =>
      (await core.readNamespacedPod({ name: 'finished', namespace: ns })).status?.phase === 'Succeeded',
    { what: 'pod finished Succeeded' },
  );
  await setUnschedulable(kc, pool.targets, false);
  return pool;
}

/** Deletes the namespace, waits (bounded) for its pods to go, then deletes the nodes. */
export async function deletePool(
  kc: KubeConfig,
  pool: Pick<Pool, 'namespace' | 'source' | 'targets'>,
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.deleteNamespace({ name: pool.namespace }).catch(() => undefined);
  await waitFor(
    async () => (await core.listNamespacedPod({ namespace: pool.namespace, limit: 1 })).items.length === 0,
    { timeoutMs: 60_000, intervalMs: 500, what: `pods of ${pool.namespace} gone` },
  ).catch(() => undefined);
  await Promise.all(
    [pool.source, ...pool.targets].map((name) => core.deleteNode({ name }).catch(() => undefined)),
  );
}

/** An executor context over the given cluster (events recorded for real). */
export function actionContext(
  kc: KubeConfig,
  overrides: Partial<ActionContext> = {},
): ActionContext & { recorder: EventRecorder } {
  const kube = overrides.kube ?? createKubeClients(kc);
  const log = overrides.log ?? createLogger({ level: process.env.LOG_LEVEL ?? 'warn', name: 'test' });
  const recorder = new EventRecorder(kube, { log, instance: 'test' });
  return {
    kube,
    log,
    signal: new AbortController().signal,
    now: Date.now,
    events: recorder,
    recorder,
    ...overrides,
  };
}

/** A validated action envelope (through the real parser, as the controller would get it). */
export function makeAction<T extends Action['type']>(
  type: T,
  payload: Record<string, unknown>,
  envelope: { createdAt?: string; deadline?: string; id?: string } = {},
): Extract<Action, { type: T }> {
  const parsed = parseEnvelope({
    id: envelope.id ?? randomUUID(),
    type,
    payload,
    createdAt: envelope.createdAt ?? new Date().toISOString(),
    ...(envelope.deadline ? { deadline: envelope.deadline } : {}),
  });
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.action as Extract<Action, { type: T }>;
}
