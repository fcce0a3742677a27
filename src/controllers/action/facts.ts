/**
 * The facts the policy check needs about an action's target, read from the API server (or
 * from the leader's watch-fed node copies). Only what a rule of the resolved policies will
 * look at is read; the built-in defaults always need the target node's labels (control-plane
 * nodes), the current replicas of a scale target (scale-up limits) and the node counts
 * (maxUnavailableNodes), which the node copies answer without a request.
 */

import { isMirrorPod, isTerminal } from '../../actions/drain-plan.ts';
import { type Action, disruptiveActionTypes } from '../../contract/envelope.ts';
import { isDoNotDisrupt } from '../../contract/marks.ts';
import type { AgentAction } from '../../crds/agent-action.ts';
import { isNotFound } from '../../kube/api-errors.ts';
import type { KubeClients } from '../../kube/clients.ts';
import type { NodeCache } from '../../kube/node-cache.ts';
import { isNodeReady } from '../../kube/nodes.ts';
import { listPodsOnNode } from '../../kube/pods.ts';
import {
  readScale,
  resolveScaleTarget,
  UnsupportedKindError,
  WorkloadNotFoundError,
} from '../../kube/scale.ts';
import { getJson, listPages } from '../../kube/watch.ts';
import { lookupPodOwners, ownerKey } from '../../kube/workloads.ts';
import {
  addsNoExecuteTaint,
  isDisruptive,
  type PodFacts as PolicyPodFacts,
  type TargetFacts,
} from '../policy/decide.ts';
import type { ResolvedPolicy } from '../policy/defaults.ts';

/**
 * Whether an AgentAction counts for maxConcurrentDisruptiveActions: the disruptive types, and
 * a patch_node adding a NoExecute taint or removing taints (read from the payload alone, so
 * the count needs no node; a removal of the agent's own taint counts too, on the safe side).
 */
export function countsAsDisruptive(object: AgentAction): boolean {
  const { type, payload } = object.spec;
  if (disruptiveActionTypes.has(type)) return true;
  if (type !== 'patch_node') return false;
  const p = payload as { taints?: unknown; removeTaints?: unknown };
  return (
    (Array.isArray(p.taints) &&
      p.taints.some((t) => (t as { effect?: unknown } | null)?.effect === 'NoExecute')) ||
    (Array.isArray(p.removeTaints) && p.removeTaints.length > 0)
  );
}

/** Disruptive actions Running among `actions`, not counting the one with id `exceptId`. */
export function runningDisruptiveActions(actions: Iterable<AgentAction>, exceptId: string): number {
  let running = 0;
  for (const a of actions) {
    if (a.spec.id !== exceptId && a.status?.phase === 'Running' && countsAsDisruptive(a)) running++;
  }
  return running;
}

export interface FactNeeds {
  /** All the node's labels (protectedNodeSelector), not only the control-plane role. */
  nodeLabels: boolean;
  pods: boolean;
  workload: boolean;
}

export function factNeeds(policies: readonly ResolvedPolicy[]): FactNeeds {
  const protectsWorkloads = policies.some(
    (p) => p.protectedNamespaces.length > 0 || p.protectedWorkloadSelector !== undefined,
  );
  return {
    nodeLabels: policies.some((p) => p.protectedNodeSelector !== undefined),
    pods: protectsWorkloads,
    workload: protectsWorkloads,
  };
}

type RawObject = {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
  spec?: { unschedulable?: boolean };
  status?: unknown;
};

export interface ResolvedFacts {
  target: TargetFacts;
  unavailableNodes: number;
  totalNodes: number;
  targetNodeUnavailable: boolean;
}

const workloadPaths: Record<string, string> = {
  Deployment: '/apis/apps/v1/namespaces/{ns}/deployments/{name}',
  StatefulSet: '/apis/apps/v1/namespaces/{ns}/statefulsets/{name}',
  ReplicaSet: '/apis/apps/v1/namespaces/{ns}/replicasets/{name}',
};

/** The leader's node copies (NodeCache): counts and role labels without a request. */
export type NodeCopies = Pick<NodeCache, 'get' | 'values' | 'size'>;

export async function resolveFacts(
  clients: KubeClients,
  action: Action,
  needs: FactNeeds,
  signal: AbortSignal,
  nodes?: NodeCopies,
): Promise<ResolvedFacts> {
  const target = await targetFacts(clients, action, needs, signal, nodes);
  // Node counts matter only to the disruption rules.
  const counts = isDisruptive(action, target)
    ? await nodeCounts(
        clients,
        'nodeName' in action.payload ? action.payload.nodeName : undefined,
        signal,
        nodes,
      )
    : { unavailableNodes: 0, totalNodes: 0, targetNodeUnavailable: false };
  return { target, ...counts };
}

async function targetFacts(
  clients: KubeClients,
  action: Action,
  needs: FactNeeds,
  signal: AbortSignal,
  nodes?: NodeCopies,
): Promise<TargetFacts> {
  const target: TargetFacts = {};
  const nodeName = 'nodeName' in action.payload ? action.payload.nodeName : undefined;
  const patch = action.type === 'patch_node' ? action.payload : undefined;
  const addsNoExecute = addsNoExecuteTaint(action);

  if (nodeName) {
    // All labels for a selector, the annotations for a patch that removes taints; otherwise
    // the copy's labels (it keeps the control-plane role labels) spare a request per action.
    const cached = nodes?.get(nodeName);
    if (needs.nodeLabels || (patch?.removeTaints?.length ?? 0) > 0 || !cached) {
      try {
        const node = await clients.core.readNode({ name: nodeName });
        target.nodeLabels = node.metadata?.labels ?? {};
        target.nodeAnnotations = node.metadata?.annotations ?? {};
      } catch (err) {
        // The executor reports a missing node; a policy has nothing to protect then.
        if (!isNotFound(err)) throw err;
        target.nodeLabels = {};
        target.nodeAnnotations = {};
      }
    } else {
      target.nodeLabels = cached.metadata?.labels ?? {};
    }
  }
  const drains = action.type === 'drain_node' || action.type === 'delete_node';
  if (nodeName && ((needs.pods && drains) || addsNoExecute)) {
    target.pods = await nodePods(clients, nodeName, drains, signal);
  }
  if (action.type === 'scale_workload') {
    target.namespace = action.payload.namespace;
    target.currentReplicas = await currentReplicas(clients, action.payload);
    const template = workloadPaths[action.payload.kind];
    if (needs.workload && template) {
      const path = template.replace('{ns}', action.payload.namespace).replace('{name}', action.payload.name);
      try {
        const obj = await getJson<RawObject>(clients, path, {}, signal);
        target.workloadLabels = obj.metadata?.labels ?? {};
      } catch (err) {
        if (!isNotFound(err)) throw err;
        target.workloadLabels = {};
      }
    }
  }
  return target;
}

/** Pods on the node: for a drain those it would evict; for a NoExecute taint every running one. */
async function nodePods(
  clients: KubeClients,
  nodeName: string,
  forDrain: boolean,
  signal: AbortSignal,
): Promise<PolicyPodFacts[]> {
  const { pods: all } = await listPodsOnNode(clients, nodeName, signal);
  const pods = all.filter(
    (pod) => !(isMirrorPod(pod) || isTerminal(pod) || (forDrain && pod.controller?.kind === 'DaemonSet')),
  );
  if (forDrain) return pods;
  // do-not-disrupt on a workload counts for its pods (as in a drain's plan).
  const owners = await lookupPodOwners(clients, pods);
  return pods.map((pod) => {
    const owner = pod.controller ? owners.get(ownerKey(pod.namespace, pod.controller)) : undefined;
    return { ...pod, doNotDisrupt: isDoNotDisrupt(pod.annotations) || isDoNotDisrupt(owner?.annotations) };
  });
}

/** Replicas of a scale target now; null when it (or its kind) does not exist. */
async function currentReplicas(
  clients: KubeClients,
  payload: Extract<Action, { type: 'scale_workload' }>['payload'],
): Promise<number | null> {
  try {
    const target = await resolveScaleTarget(clients, payload.kind, payload.namespace, payload.name);
    return (await readScale(clients, target)).replicas;
  } catch (err) {
    if (err instanceof UnsupportedKindError || err instanceof WorkloadNotFoundError) return null;
    throw err;
  }
}

async function nodeCounts(
  clients: KubeClients,
  nodeName: string | undefined,
  signal: AbortSignal,
  nodes?: NodeCopies,
): Promise<Omit<ResolvedFacts, 'target'>> {
  let unavailableNodes = 0;
  let targetNodeUnavailable = false;
  const count = (node: RawObject) => {
    const unavailable = node.spec?.unschedulable === true || !isNodeReady(node as never);
    if (unavailable) unavailableNodes++;
    if (unavailable && node.metadata?.name === nodeName) targetNodeUnavailable = true;
  };
  let totalNodes = 0;
  if (nodes && nodes.size > 0) {
    for (const node of nodes.values()) count(node as RawObject);
    totalNodes = nodes.size;
  } else {
    // Counted as the nodes stream in: a raw list of every Node held at once is ~11 KiB each.
    await listPages<RawObject>(clients, '/api/v1/nodes', {}, signal, (page) => {
      for (const node of page) count(node);
      totalNodes += page.length;
    });
  }
  return { unavailableNodes, totalNodes, targetNodeUnavailable };
}
