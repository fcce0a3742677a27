/**
 * Looks up the controllers of pods (once per distinct controller, not per pod) for the two
 * things a drain needs from them: does a DaemonSet owner still exist (kubectl deletes pods of
 * a missing DaemonSet only with --force), and does the owning workload carry the
 * do-not-disrupt annotation (a ReplicaSet's Deployment is checked too).
 * Kinds other than the built-in controllers are not looked up (that would need discovery per
 * kind); their pods are judged by their own annotations only.
 */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { apiErrorMessage, isNotFound } from './api-errors.ts';
import type { KubeClients } from './clients.ts';
import type { OwnerRef, PodFacts } from './pods.ts';

export interface OwnerInfo {
  /** False only when the API said 404. */
  exists: boolean;
  /** Annotations of the controller and, for a ReplicaSet, of its Deployment. */
  annotations: Record<string, string>;
  /** `Deployment/web` when the annotations came from a grand-owner. */
  via?: string;
  /** Set when the lookup failed for another reason (the owner is then assumed to exist). */
  error?: string;
}

export const ownerKey = (namespace: string, ref: Pick<OwnerRef, 'kind' | 'name' | 'apiVersion'>): string =>
  `${namespace}/${ref.apiVersion}/${ref.kind}/${ref.name}`;

type Reader = (clients: KubeClients, namespace: string, name: string) => Promise<V1ObjectMeta | undefined>;

const readers: Record<string, Reader> = {
  'apps/v1/ReplicaSet': async (c, namespace, name) =>
    (await c.apps.readNamespacedReplicaSet({ namespace, name })).metadata,
  'apps/v1/StatefulSet': async (c, namespace, name) =>
    (await c.apps.readNamespacedStatefulSet({ namespace, name })).metadata,
  'apps/v1/DaemonSet': async (c, namespace, name) =>
    (await c.apps.readNamespacedDaemonSet({ namespace, name })).metadata,
  'apps/v1/Deployment': async (c, namespace, name) =>
    (await c.apps.readNamespacedDeployment({ namespace, name })).metadata,
  'batch/v1/Job': async (c, namespace, name) =>
    (await c.batch.readNamespacedJob({ namespace, name })).metadata,
  'v1/ReplicationController': async (c, namespace, name) =>
    (await c.core.readNamespacedReplicationController({ namespace, name })).metadata,
};

async function readOwner(
  clients: KubeClients,
  namespace: string,
  ref: OwnerRef,
): Promise<OwnerInfo | undefined> {
  const reader = readers[`${ref.apiVersion}/${ref.kind}`];
  if (!reader) return undefined;
  try {
    const meta = await reader(clients, namespace, ref.name);
    const info: OwnerInfo = { exists: true, annotations: { ...(meta?.annotations ?? {}) } };
    const parent = meta?.ownerReferences?.find((r) => r.controller === true);
    if (ref.kind === 'ReplicaSet' && parent?.kind === 'Deployment' && parent.apiVersion === 'apps/v1') {
      const grand = await readOwner(clients, namespace, parent);
      if (grand?.exists) {
        // Only the Deployment's: the Deployment controller copies its annotations onto its
        // ReplicaSets but never removes them there, so a ReplicaSet keeps a do-not-disrupt the
        // admin has since removed from the Deployment.
        info.annotations = grand.annotations;
        info.via = `Deployment/${parent.name}`;
      }
    }
    return info;
  } catch (err) {
    if (isNotFound(err)) return { exists: false, annotations: {} };
    return { exists: true, annotations: {}, error: apiErrorMessage(err) };
  }
}

/** One lookup per distinct controller of the given pods, `concurrency` at a time. */
export async function lookupPodOwners(
  clients: KubeClients,
  pods: readonly PodFacts[],
  concurrency = 8,
): Promise<Map<string, OwnerInfo>> {
  const distinct = new Map<string, { namespace: string; ref: OwnerRef }>();
  for (const pod of pods) {
    if (pod.controller)
      distinct.set(ownerKey(pod.namespace, pod.controller), {
        namespace: pod.namespace,
        ref: pod.controller,
      });
  }
  const result = new Map<string, OwnerInfo>();
  const work = [...distinct.entries()];
  const worker = async () => {
    for (let next = work.shift(); next; next = work.shift()) {
      const [key, { namespace, ref }] = next;
      const info = await readOwner(clients, namespace, ref);
      if (info) result.set(key, info);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, work.length) }, worker));
  return result;
}
