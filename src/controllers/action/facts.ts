/**
 * The facts the policy check needs about an action's target, read from the API server.
 * Only what some policy will look at is read: a cluster without AgentPolicies costs no
 * extra API calls per action.
 */

import { isMirrorPod, isTerminal } from '../../actions/drain-plan.ts';
import { type Action, disruptiveActionTypes } from '../../contract/envelope.ts';
import type { AgentAction } from '../../crds/agent-action.ts';
import { isNotFound } from '../../kube/api-errors.ts';
import type { KubeClients } from '../../kube/clients.ts';
import { isNodeReady } from '../../kube/nodes.ts';
import { nodePodsQuery, podFacts } from '../../kube/pods.ts';
import { getJson, listAll, listPages } from '../../kube/watch.ts';
import type { PolicyInput, TargetFacts } from '../policy/decide.ts';

/** Disruptive actions Running among `actions`, not counting the one with id `exceptId`. */
export function runningDisruptiveActions(actions: Iterable<AgentAction>, exceptId: string): number {
  let running = 0;
  for (const a of actions) {
    if (a.spec.id !== exceptId && a.status?.phase === 'Running' && disruptiveActionTypes.has(a.spec.type))
      running++;
  }
  return running;
}

export interface FactNeeds {
  nodeLabels: boolean;
  pods: boolean;
  workload: boolean;
  unavailableNodes: boolean;
}

export function factNeeds(policies: readonly PolicyInput[]): FactNeeds {
  const any = (f: (p: PolicyInput['spec']) => unknown) => policies.some((p) => Boolean(f(p.spec)));
  const protectsWorkloads = any((s) => s.protectedNamespaces?.length || s.protectedWorkloadSelector);
  return {
    nodeLabels: any((s) => s.protectedNodeSelector),
    pods: protectsWorkloads,
    workload: protectsWorkloads,
    unavailableNodes: any((s) => s.maxUnavailableNodes !== undefined),
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
  targetNodeUnavailable: boolean;
}

const workloadPaths: Record<string, string> = {
  Deployment: '/apis/apps/v1/namespaces/{ns}/deployments/{name}',
  StatefulSet: '/apis/apps/v1/namespaces/{ns}/statefulsets/{name}',
  ReplicaSet: '/apis/apps/v1/namespaces/{ns}/replicasets/{name}',
};

export async function resolveFacts(
  clients: KubeClients,
  action: Action,
  needs: FactNeeds,
  signal: AbortSignal,
): Promise<ResolvedFacts> {
  const target: TargetFacts = {};
  let unavailableNodes = 0;
  let targetNodeUnavailable = false;
  const nodeName = 'nodeName' in action.payload ? action.payload.nodeName : undefined;

  if (nodeName && needs.nodeLabels) {
    try {
      const node = await clients.core.readNode({ name: nodeName });
      target.nodeLabels = node.metadata?.labels ?? {};
    } catch (err) {
      // The executor reports a missing node; a policy has nothing to protect then.
      if (!isNotFound(err)) throw err;
      target.nodeLabels = {};
    }
  }
  if (nodeName && needs.pods && (action.type === 'drain_node' || action.type === 'delete_node')) {
    const { items } = await listAll<Record<string, unknown>>(
      clients,
      '/api/v1/pods',
      nodePodsQuery(nodeName),
      signal,
    );
    target.pods = items
      .map(podFacts)
      .filter((pod) => !(isMirrorPod(pod) || isTerminal(pod) || pod.controller?.kind === 'DaemonSet'));
  }
  if (action.type === 'scale_workload') {
    target.namespace = action.payload.namespace;
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
  if (needs.unavailableNodes) {
    // Counted as the nodes stream in: a raw list of every Node held at once is ~11 KiB each.
    await listPages<RawObject>(clients, '/api/v1/nodes', {}, signal, (nodes) => {
      for (const node of nodes) {
        const unavailable = node.spec?.unschedulable === true || !isNodeReady(node as never);
        if (unavailable) unavailableNodes++;
        if (unavailable && node.metadata?.name === nodeName) targetNodeUnavailable = true;
      }
    });
  }
  return { target, unavailableNodes, targetNodeUnavailable };
}
