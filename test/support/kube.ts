/**
 * Helpers for tests that run against the real test cluster (vitest project `k8s`).
 * The cluster is started (or reused) by test/cluster/global-setup.ts, which provides the
 * admin kubeconfig path and the folder of cluster binaries (kubectl, helm, ...).
 */
import { randomBytes } from 'node:crypto';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type V1Deployment,
  type V1Node,
  type V1OwnerReference,
  type V1PodSpec,
} from '@kubernetes/client-node';
import { inject } from 'vitest';
import { type AgentAction, agentActionName } from '../../src/crds/agent-action.ts';

export function testKubeconfigPath(): string {
  return inject('kubeconfigPath');
}

export function clusterBinDir(): string {
  return inject('clusterBinDir');
}

export function loadTestKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(testKubeconfigPath());
  return kc;
}

/** A name unique to this run: `${prefix}-${6 hex chars}`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`;
}

import { waitFor } from './wait.ts';

export { waitFor };

export interface KwokNodeOptions {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  providerId?: string;
  /** false: kwok does not manage the node, so it never becomes Ready (a dead kubelet). */
  managed?: boolean;
  podCapacity?: number;
}

/**
 * A fake node for kwok. kwok manages nodes annotated kwok.x-k8s.io/node=fake (see the
 * launcher's --manage-nodes-with-annotation-selector): it marks them Ready, renews their
 * Lease, and runs the pods bound to them like a kubelet would.
 */
export function kwokNode(name: string, options: KwokNodeOptions = {}): V1Node {
  const managed = options.managed ?? true;
  const pods = String(options.podCapacity ?? 250);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
        ...options.labels,
      },
      annotations: {
        ...(managed ? { 'kwok.x-k8s.io/node': 'fake' } : {}),
        'node.alpha.kubernetes.io/ttl': '0',
        ...options.annotations,
      },
    },
    spec: options.providerId ? { providerID: options.providerId } : {},
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods },
      capacity: { cpu: '32', memory: '256Gi', pods },
    },
  };
}

/** Creates kwok nodes and waits until every managed one is Ready for the scheduler. */
export async function createKwokNodes(
  kc: KubeConfig,
  names: string[],
  options: KwokNodeOptions = {},
): Promise<V1Node[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const created = await Promise.all(names.map((name) => core.createNode({ body: kwokNode(name, options) })));
  if (options.managed === false) return created;
  await waitNodesSchedulable(kc, names);
  return created;
}

/**
 * Ready, and the scheduler no longer skips it: the API server gives every new node the
 * node.kubernetes.io/not-ready NoSchedule taint (TaintNodesByCondition), and the node
 * lifecycle controller lifts it only after it has seen Ready. Pods created in between all
 * land on the nodes that happen to be clear (one CI run put a whole pool on its spare).
 */
export function isSchedulableReady(node: V1Node): boolean {
  const ready = node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const notReadyTaint = (node.spec?.taints ?? []).some(
    (t) => t.key === 'node.kubernetes.io/not-ready' || t.key === 'node.kubernetes.io/unreachable',
  );
  return ready && !notReadyTaint;
}

export async function waitNodesSchedulable(kc: KubeConfig, names: string[]): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await waitFor(
    async () => (await Promise.all(names.map((name) => core.readNode({ name })))).every(isSchedulableReady),
    {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: `nodes ${names.join(',')} Ready, without the not-ready taint`,
    },
  );
}

/** Deletes nodes, ignoring ones already gone. */
export async function deleteNodes(kc: KubeConfig, names: string[]): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await Promise.all(
    names.map((name) =>
      core.deleteNode({ name }).catch((err: { code?: number }) => {
        if (err.code !== 404) throw err;
      }),
    ),
  );
}

/** Creates a namespace and returns its name; delete it with deleteNamespace. */
export async function createNamespace(kc: KubeConfig, prefix = 'test'): Promise<string> {
  const name = uniqueName(prefix);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

export async function deleteNamespace(kc: KubeConfig, name: string): Promise<void> {
  await kc
    .makeApiClient(CoreV1Api)
    .deleteNamespace({ name })
    .catch(() => undefined);
}

const clusteropt = { group: 'clusteropt.io', version: 'v1alpha1' };

/** The AgentAction of control-plane action `id` in the agent's namespace; undefined if none. */
export async function readAgentAction(
  kc: KubeConfig,
  namespace: string,
  id: string,
): Promise<AgentAction | undefined> {
  return (await kc
    .makeApiClient(CustomObjectsApi)
    .getNamespacedCustomObject({
      ...clusteropt,
      namespace,
      plural: 'agentactions',
      name: agentActionName(id),
    })
    .catch(() => undefined)) as AgentAction | undefined;
}

export interface DeploymentOptions {
  replicas: number;
  podSpec: V1PodSpec;
  /** Labels of the Deployment object itself (none by default). */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: V1OwnerReference[];
  /** Pod labels besides `app: NAME` (not part of the selector). */
  podLabels?: Record<string, string>;
  podAnnotations?: Record<string, string>;
}

/**
 * Creates Deployment `name` whose pods (and selector) are labelled `app: NAME`: the one shape
 * most tests need, so each states only its replicas and pod spec.
 */
export async function createDeployment(
  kc: KubeConfig,
  namespace: string,
  name: string,
  options: DeploymentOptions,
): Promise<V1Deployment> {
  const { replicas, podSpec, labels, annotations, ownerReferences, podLabels, podAnnotations } = options;
  return kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name, labels, annotations, ownerReferences },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name, ...podLabels }, annotations: podAnnotations },
          spec: podSpec,
        },
      },
    },
  });
}

/**
 * Pods that never schedule (no node has this label): for tests where only spec.replicas
 * matters, and whose pods must not land on the kwok nodes other test files drain.
 */
export const neverScheduledPodSpec: V1PodSpec = {
  nodeSelector: { 'clusteropt.io/test-never': 'true' },
  containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }],
};

/** Waits until a Deployment reports `replicas` ready replicas. */
export async function waitForDeploymentReady(
  kc: KubeConfig,
  namespace: string,
  name: string,
  replicas: number,
  timeoutMs = 90_000,
): Promise<void> {
  const apps = kc.makeApiClient(AppsV1Api);
  await waitFor(
    async () => {
      const d = await apps.readNamespacedDeployment({ name, namespace });
      return (d.status?.readyReplicas ?? 0) === replicas && (d.status?.updatedReplicas ?? 0) === replicas;
    },
    { timeoutMs, what: `deployment ${namespace}/${name} ready with ${replicas} replicas` },
  );
}
