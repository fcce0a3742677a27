/**
 * The bare ("bulk") pods of the scale benchmark and the nodes that carry them, placed so that
 * kwok does not have to start them.
 *
 * Why: kwok starts pods (its pod-ready stage: one status patch each, 4 workers) at only
 * ~30-70/s on this 2-core machine, so 48,000 pods took 12-25 minutes, and every deletion a
 * drain caused waited behind that backlog (kwok's queue is first come, first served), so the
 * drains ran into their budgets. Instead, per pod-carrying node, a kubelet handover:
 *
 *   1. the bench creates the node's Lease (kube-node-lease/<node>) as its holder, then the
 *      node (a real node's status, Ready, kwok's annotation). kwok sees the node but cannot
 *      take the Lease, and a kwok that does not hold a node's Lease leaves the node and its
 *      pods alone (its "read only" mode);
 *   2. the bench creates the node's pods (spec.nodeName set) and writes each pod's status the
 *      way a kubelet does (Running, the five conditions True, container status, hostIP,
 *      podIP): one status write per pod, as kwok or a kubelet would do;
 *   3. the bench gives the Lease up (no holder). kwok takes it at its next try (every
 *      ~10 s), manages the node from then on (Lease, heartbeats) and syncs its pods, which
 *      already have a podIP, so its pod-ready stage (`.status.podIP DoesNotExist`) does not
 *      match them and kwok has no work queued for them.
 *
 * From then on kwok is these pods' kubelet in every way that matters to a drain: an eviction
 * sets deletionTimestamp, kwok's pod-delete stage clears finalizers and deletes the pod
 * (grace 0), and the pod is gone. The node's Lease is renewed all along (by the bench, then
 * by kwok), so the node lifecycle controller never marks the node NotReady (checked: setup
 * counts Running + Ready pods).
 */
import { PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import type { KubeClients } from '../../../src/kube/clients.ts';
import { eksNodeIp } from '../common/eks-node.ts';
import { forEachLimit } from '../common/kube.ts';
import { bulkNamespace, bulkPodBody, nodeBody } from './fixture.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A pod IP outside kwok's own range (10.0.0.0/16), unique per bulk pod index. */
export function bulkPodIp(index: number): string {
  return `10.${64 + (index >> 16)}.${(index >> 8) & 255}.${index & 255}`;
}

const hex = (seed: number, length: number) => {
  let s = '';
  let x = (seed * 2654435761) >>> 0;
  while (s.length < length) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += x.toString(16).padStart(8, '0');
  }
  return s.slice(0, length);
};

/** The status a kubelet writes for a started pod of bulkPodBody's spec. */
export function runningStatus(pod: V1Pod, hostIP: string, podIP: string, index: number) {
  const now = new Date().toISOString();
  const condition = (type: string) => ({ type, status: 'True', lastTransitionTime: now });
  return {
    phase: 'Running',
    conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(
      condition,
    ),
    hostIP,
    hostIPs: [{ ip: hostIP }],
    podIP,
    podIPs: [{ ip: podIP }],
    startTime: now,
    qosClass: 'Burstable',
    containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
      name: c.name,
      image: c.image,
      imageID: `${c.image?.split(':')[0]}@sha256:${hex(7, 64)}`,
      containerID: `containerd://${hex(index, 64)}`,
      ready: true,
      started: true,
      restartCount: 0,
      state: { running: { startedAt: now } },
    })),
  };
}

export interface PlacedNode {
  name: string;
  /** EC2 instance number (nodeBody's `instance`): also fixes the node's IP. */
  instance: number;
  /** [pod name, bulk index] of the pods this node carries. */
  pods: [string, number][];
}

/**
 * Creates each node with its pods Running (steps 1-3 above); `nodeConcurrency` nodes at a
 * time, `podConcurrency` requests per node.
 */
export async function placeNodesWithPods(
  clients: KubeClients,
  run: string,
  nodes: readonly PlacedNode[],
  options: { aws: boolean; nodeConcurrency: number; podConcurrency: number; onNode?: () => void },
): Promise<void> {
  const { core } = clients;
  await forEachLimit(nodes, options.nodeConcurrency, async (n) => {
    await holdLease(clients, n.name);
    await core.createNode({ body: nodeBody(run, n.name, n.instance, { managed: true, aws: options.aws }) });
    const hostIP = eksNodeIp(n.instance);
    await forEachLimit(n.pods, options.podConcurrency, async ([podName, index]) => {
      const pod = await core.createNamespacedPod({
        namespace: bulkNamespace,
        body: bulkPodBody(run, podName, n.name),
      });
      await core.patchNamespacedPodStatus(
        {
          name: podName,
          namespace: bulkNamespace,
          body: { status: runningStatus(pod, hostIP, bulkPodIp(index), index) },
        },
        mergePatch,
      );
    });
    await releaseLease(clients, n.name);
    options.onNode?.();
  });
}

const benchHolder = 'clusteropt-bench-scale';
/** metav1.MicroTime's format (RFC 3339 with six fractional digits). */
const microTime = () => new Date().toISOString().replace('Z', '000Z');
const leaseNamespace = 'kube-node-lease';

/** Step 1: the node's Lease, held by the bench (as a kubelet holds its node's). */
async function holdLease(clients: KubeClients, node: string): Promise<void> {
  await clients.coordination.createNamespacedLease({
    namespace: leaseNamespace,
    body: {
      metadata: { name: node, namespace: leaseNamespace },
      spec: {
        holderIdentity: benchHolder,
        leaseDurationSeconds: 40,
        renewTime: microTime() as unknown as Date,
      },
    },
  });
}

/** Step 3: no holder, freshly renewed: kwok takes it over at its next try. */
async function releaseLease(clients: KubeClients, node: string): Promise<void> {
  await clients.coordination.patchNamespacedLease(
    {
      name: node,
      namespace: leaseNamespace,
      body: { spec: { holderIdentity: null, renewTime: microTime() } },
    },
    mergePatch,
  );
}

/** Nodes whose Lease kwok holds now (it took them over from the bench). */
export async function nodesHeldByKwok(clients: KubeClients, nodes: readonly string[]): Promise<number> {
  const leases = await clients.coordination.listNamespacedLease({ namespace: leaseNamespace });
  const byName = new Map(leases.items.map((l) => [l.metadata?.name, l.spec?.holderIdentity]));
  return nodes.filter((n) => {
    const holder = byName.get(n);
    return holder !== undefined && holder !== null && holder !== benchHolder;
  }).length;
}

/** Pods of a namespace by state (paged list; one pass). */
export async function countPodStates(
  clients: KubeClients,
  namespace: string,
): Promise<{ total: number; runningReady: number; terminating: number }> {
  const { core } = clients;
  const out = { total: 0, runningReady: 0, terminating: 0 };
  let cont: string | undefined;
  do {
    const res = await core.listNamespacedPod({
      namespace,
      limit: 2000,
      ...(cont ? { _continue: cont } : {}),
    });
    for (const p of res.items) {
      out.total++;
      if (p.metadata?.deletionTimestamp) out.terminating++;
      else if (
        p.status?.phase === 'Running' &&
        p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
      )
        out.runningReady++;
    }
    cont = res.metadata?._continue;
  } while (cont);
  return out;
}
