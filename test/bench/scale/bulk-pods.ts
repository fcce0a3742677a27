/**
 * The bare ("bulk") pods of the scale benchmark and the nodes that carry them, placed so that
 * kwok does not have to start them.
 *
 * Why: kwok starts pods (its pod-ready stage: one status patch each, 4 workers) at only
 * ~30-70/s on this 2-core machine, so 48,000 pods took 12-25 minutes, and every deletion a
 * drain caused waited behind that backlog (kwok's queue is first come, first served), so the
 * drains ran into their budgets. Instead, per pod-carrying node:
 *
 *   1. the node is created with a real node's status (Ready) but without kwok's annotation,
 *      so kwok ignores it and its pods for now;
 *   2. its pods are created (spec.nodeName set) and the bench writes each pod's status the
 *      way a kubelet does (Running, the five conditions True, container status, hostIP,
 *      podIP), one status write per pod, as kwok or a kubelet would;
 *   3. the node gets kwok's annotation: kwok takes it over (Lease, heartbeats) and syncs its
 *      pods, which already have a podIP, so its pod-ready stage does not match them
 *      (`.status.podIP DoesNotExist`) and kwok has no work queued for them.
 *
 * From then on kwok is these pods' kubelet in every way that matters to a drain: an eviction
 * sets deletionTimestamp, kwok's pod-delete stage clears finalizers and deletes the pod
 * (grace 0), and the pod is gone. Steps 1-3 take a few seconds per node, well inside the
 * node lifecycle controller's grace period, so no node is ever marked NotReady (checked:
 * setup counts Running + Ready pods).
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
    await core.createNode({
      body: nodeBody(run, n.name, n.instance, { managed: true, aws: options.aws, kwok: false }),
    });
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
    await adoptByKwok(clients, n.name);
    options.onNode?.();
  });
}

/** Hands a node to kwok (its --manage-nodes-with-annotation-selector). */
export async function adoptByKwok(clients: KubeClients, name: string): Promise<void> {
  await clients.core.patchNode(
    { name, body: { metadata: { annotations: { 'kwok.x-k8s.io/node': 'fake' } } } },
    mergePatch,
  );
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
