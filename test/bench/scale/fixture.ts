/**
 * The cluster of the scale benchmark: N Nodes, of which M are managed by kwok (they are
 * Ready, heartbeat, and carry every pod) and N - M are not managed by anybody (they have a
 * real node's status, but nothing renews it: the controller-manager's node lifecycle
 * controller marks them Unknown and taints them `node.kubernetes.io/unreachable` a grace
 * period after creation; no pod runs on them, so no pod is marked NotReady or evicted).
 *
 * Pods: one "big" Deployment (placed by the scheduler onto the managed nodes) and bare
 * "bulk" pods created with `spec.nodeName` set (no scheduler, no ReplicaSet controller: one
 * API write per pod, plus one status write by the bench, see bulk-pods.ts), spread evenly
 * over the managed nodes. Every
 * pod tolerates `not-ready` / `unreachable` forever, so a kwok hiccup under load never makes
 * the taint-eviction controller delete pods mid-benchmark.
 */
import {
  PatchStrategy,
  setHeaderOptions,
  type V1Node,
  type V1Pod,
  type V1Toleration,
} from '@kubernetes/client-node';
import type { KubeClients } from '../../../src/kube/clients.ts';
import { instanceIdFor } from '../../integration/aws-query-server.ts';
import {
  eksNodeAnnotations,
  eksNodeIp,
  eksNodeLabels,
  eksNodeStatusParts,
  eksZones,
} from '../common/eks-node.ts';
import { forEachLimit, waitFor } from '../common/kube.ts';

export const benchLabel = 'clusteropt.io/bench-scale';
export const roleLabel = 'clusteropt.io/bench-scale-role';
export const bulkNamespace = 'scale-bulk';
export const appsNamespace = 'scale-apps';
export const bigDeployment = 'big';

export function managedName(run: string, i: number): string {
  return `scale-${run}-m${i}`;
}
export function unmanagedName(run: string, n: number): string {
  return `scale-${run}-u${n}`;
}

/**
 * A Node the size of a real EKS node object (30 images, addresses, conditions, labels),
 * with an `aws:///zone/i-…` providerID whose instance the local EC2 server knows.
 * `instance` numbers the EC2 instance (unique over the run).
 */
export function nodeBody(
  run: string,
  name: string,
  instance: number,
  options: { managed: boolean; aws: boolean },
): V1Node {
  const zone = eksZones[instance % eksZones.length]!;
  const ip = eksNodeIp(instance);
  const now = new Date().toISOString();
  const podsCapacity = options.managed ? '256' : '58';
  const parts = eksNodeStatusParts(ip, now);
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        [benchLabel]: run,
        [roleLabel]: options.managed ? 'managed' : 'unmanaged',
        ...eksNodeLabels(name, instance, zone),
      },
      annotations: {
        ...(options.managed ? { 'kwok.x-k8s.io/node': 'fake' } : {}),
        ...eksNodeAnnotations(ip),
      },
    },
    spec: options.aws ? { providerID: `aws:///${zone}/${instanceIdFor(instance)}` } : {},
    status: {
      capacity: {
        cpu: options.managed ? '64' : '4',
        memory: options.managed ? '512Gi' : '16Gi',
        pods: podsCapacity,
        'ephemeral-storage': '80Gi',
      },
      allocatable: {
        cpu: options.managed ? '63' : '3920m',
        memory: options.managed ? '500Gi' : '15Gi',
        pods: podsCapacity,
        'ephemeral-storage': '73Gi',
      },
      addresses: parts.addresses,
      conditions: [
        ...parts.conditions,
        {
          type: 'Ready',
          status: 'True',
          lastHeartbeatTime: now as unknown as Date,
          lastTransitionTime: now as unknown as Date,
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
        },
      ],
      images: parts.images,
      nodeInfo: parts.nodeInfo,
    },
  };
}

/** Forever: no NoExecute taint of a struggling (kwok) node ever evicts a benchmark pod. */
const tolerations: V1Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
];

/** A pod spec about the size of a real service's (one container, env, resources, probes). */
function podSpec(app: string) {
  return {
    containers: [
      {
        name: 'app',
        image: `123456789012.dkr.ecr.us-east-1.amazonaws.com/team/${app}:v1.4.2`,
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
        env: [
          { name: 'APP_ENV', value: 'production' },
          { name: 'LOG_LEVEL', value: 'info' },
          { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        ],
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
        readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 10 },
      },
    ],
    terminationGracePeriodSeconds: 30,
    tolerations,
  };
}

export function bulkPodBody(run: string, name: string, nodeName: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: bulkNamespace,
      labels: { app: 'bulk', [benchLabel]: run, 'app.kubernetes.io/part-of': 'scale-bench' },
      annotations: { 'clusteropt.io/bench-node': nodeName },
    },
    spec: { ...podSpec('bulk'), nodeName },
  } as V1Pod;
}

export async function createBigDeployment(
  clients: KubeClients,
  run: string,
  replicas: number,
): Promise<void> {
  const { apps } = clients;
  await apps.createNamespacedDeployment({
    namespace: appsNamespace,
    body: {
      metadata: { name: bigDeployment, namespace: appsNamespace, labels: { app: bigDeployment } },
      spec: {
        replicas,
        selector: { matchLabels: { app: bigDeployment } },
        template: {
          metadata: { labels: { app: bigDeployment, [benchLabel]: run } },
          spec: {
            ...podSpec(bigDeployment),
            nodeSelector: { [roleLabel]: 'managed', [benchLabel]: run },
            containers: podSpec(bigDeployment).containers.map((c) => ({
              ...c,
              resources: { requests: { cpu: '50m', memory: '64Mi' } },
            })),
          },
        },
      },
    } as never,
  });
}

/** A namespace whose default ServiceAccount exists (pods are refused before that). */
export async function ensureNamespace(
  clients: KubeClients,
  name: string,
  labels: Record<string, string> = {},
) {
  const { core } = clients;
  await core.createNamespace({ body: { metadata: { name, labels } } }).catch((err: { code?: number }) => {
    if (err.code !== 409) throw err;
  });
  await waitFor(
    () => core.readNamespacedServiceAccount({ name: 'default', namespace: name }).then(() => true),
    { timeoutMs: 60_000, what: `default ServiceAccount in ${name}` },
  );
}

export async function setReplicas(clients: KubeClients, replicas: number): Promise<void> {
  const { apps } = clients;
  await apps.patchNamespacedDeploymentScale(
    { name: bigDeployment, namespace: appsNamespace, body: { spec: { replicas } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

/** Uncordons a node and removes the agent's draining taint (the bench's own restore step). */
export async function restoreNode(clients: KubeClients, name: string): Promise<void> {
  const { core } = clients;
  const node = await core.readNode({ name });
  const taints = (node.spec?.taints ?? []).filter((t) => !t.key.startsWith('clusteropt.io/'));
  await core.patchNode(
    { name, body: { spec: { unschedulable: null, taints: taints.length ? taints : null } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

export async function setUnschedulable(clients: KubeClients, names: readonly string[], value: boolean) {
  const { core } = clients;
  await forEachLimit(names, 16, async (name) => {
    await core.patchNode(
      { name, body: { spec: { unschedulable: value ? true : null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  });
}

/** Names of the bulk pods on `nodeName` that still exist. */
export async function bulkPodsOn(clients: KubeClients, nodeName: string): Promise<string[]> {
  const { core } = clients;
  const res = await core.listNamespacedPod({
    namespace: bulkNamespace,
    fieldSelector: `spec.nodeName=${nodeName}`,
  });
  return res.items.map((p) => p.metadata?.name ?? '');
}

export { eksInstanceTypes as instanceTypes } from '../common/eks-node.ts';
