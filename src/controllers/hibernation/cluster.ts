/**
 * The hibernation controller's reads and writes of workloads and HPAs. Reads use the raw
 * list helper (src/kube/watch.ts: paginated, pooled connections) and keep only the facts the
 * passes need; writes are JSON merge patches carrying the resourceVersion they were planned
 * on, so a concurrent change fails with 409 rather than being overwritten.
 */

import type { LabelSelector } from '../../crds/common.ts';
import type { HibernationKind } from '../../crds/hibernation-schedule.ts';
import { isNotFound } from '../../kube/api-errors.ts';
import type { KubeClients } from '../../kube/clients.ts';
import { mergePatch } from '../../kube/merge-patch.ts';
import { replaceScale, resolveScaleTarget } from '../../kube/scale.ts';
import { getJson, listAll } from '../../kube/watch.ts';
import type { HpaFacts, WorkloadFacts } from './workload-plan.ts';

export const kindApis: Record<HibernationKind, { apiVersion: string; plural: string }> = {
  Deployment: { apiVersion: 'apps/v1', plural: 'deployments' },
  StatefulSet: { apiVersion: 'apps/v1', plural: 'statefulsets' },
  CronJob: { apiVersion: 'batch/v1', plural: 'cronjobs' },
};
export const allKinds: readonly HibernationKind[] = ['Deployment', 'StatefulSet', 'CronJob'];

/** Above this many namespaces one cluster-wide list is cheaper than a list per namespace. */
const perNamespaceListLimit = 10;

interface RawWorkload {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind?: string; name?: string; controller?: boolean }[];
  };
  spec?: {
    replicas?: number;
    suspend?: boolean;
    persistentVolumeClaimRetentionPolicy?: { whenScaled?: string };
  };
}

export function workloadFacts(kind: HibernationKind, raw: RawWorkload): WorkloadFacts {
  const meta = raw.metadata ?? {};
  const owner = meta.ownerReferences?.find((r) => r.controller === true);
  const facts: WorkloadFacts = {
    kind,
    namespace: meta.namespace ?? '',
    name: meta.name ?? '',
    resourceVersion: meta.resourceVersion ?? '',
    labels: meta.labels ?? {},
    annotations: meta.annotations ?? {},
  };
  if (meta.uid) facts.uid = meta.uid;
  if (owner) facts.controller = `${owner.kind ?? 'owner'}/${owner.name ?? ''}`;
  if (kind === 'CronJob') {
    facts.suspend = raw.spec?.suspend === true;
  } else {
    // The API server defaults replicas to 1; absent only in objects that never were stored.
    facts.replicas = raw.spec?.replicas ?? 1;
  }
  if (kind === 'StatefulSet' && raw.spec?.persistentVolumeClaimRetentionPolicy?.whenScaled === 'Delete') {
    facts.deletesVolumesOnScaleDown = true;
  }
  return facts;
}

/** A metav1.LabelSelector as the `labelSelector` query string; undefined when it selects everything. */
export function labelSelectorQuery(selector: LabelSelector | undefined): string | undefined {
  if (!selector) return undefined;
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const r of selector.matchExpressions ?? []) {
    const values = (r.values ?? []).join(',');
    if (r.operator === 'In') parts.push(`${r.key} in (${values})`);
    else if (r.operator === 'NotIn') parts.push(`${r.key} notin (${values})`);
    else if (r.operator === 'Exists') parts.push(r.key);
    else parts.push(`!${r.key}`);
  }
  return parts.length > 0 ? parts.join(',') : undefined;
}

function collectionPaths(
  apiVersion: string,
  plural: string,
  namespaces: readonly string[] | 'all',
): string[] {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  if (namespaces === 'all' || namespaces.length > perNamespaceListLimit) return [`${base}/${plural}`];
  return namespaces.map((ns) => `${base}/namespaces/${encodeURIComponent(ns)}/${plural}`);
}

/**
 * Workloads of a kind in the given namespaces (or all), optionally filtered by a label
 * selector on the server. Lists cluster-wide when there are many namespaces; the caller
 * filters by namespace anyway (coverage).
 */
export async function listWorkloads(
  clients: KubeClients,
  kind: HibernationKind,
  options: { namespaces: readonly string[] | 'all'; labelSelector?: string | undefined },
  signal: AbortSignal,
): Promise<WorkloadFacts[]> {
  const { apiVersion, plural } = kindApis[kind];
  const query: Record<string, string> = options.labelSelector ? { labelSelector: options.labelSelector } : {};
  const out: WorkloadFacts[] = [];
  for (const path of collectionPaths(apiVersion, plural, options.namespaces)) {
    const { items } = await listAll<RawWorkload>(clients, path, query, signal);
    for (const item of items) out.push(workloadFacts(kind, item));
  }
  return out;
}

/** The workload as it is now; undefined when it is gone. */
export async function readWorkload(
  clients: KubeClients,
  ref: { kind: HibernationKind; namespace: string; name: string },
  signal: AbortSignal,
): Promise<WorkloadFacts | undefined> {
  const { apiVersion, plural } = kindApis[ref.kind];
  const path = `/apis/${apiVersion}/namespaces/${encodeURIComponent(ref.namespace)}/${plural}/${encodeURIComponent(ref.name)}`;
  try {
    return workloadFacts(ref.kind, await getJson<RawWorkload>(clients, path, {}, signal));
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * Applies a merge patch (which carries its resourceVersion precondition) and returns the
 * workload's new resourceVersion. Throws the API error.
 */
export async function patchWorkload(
  clients: KubeClients,
  ref: { kind: HibernationKind; namespace: string; name: string },
  body: Record<string, unknown>,
): Promise<string> {
  const args = { name: ref.name, namespace: ref.namespace, body };
  switch (ref.kind) {
    case 'Deployment':
      return (await clients.apps.patchNamespacedDeployment(args, mergePatch)).metadata?.resourceVersion ?? '';
    case 'StatefulSet':
      return (
        (await clients.apps.patchNamespacedStatefulSet(args, mergePatch)).metadata?.resourceVersion ?? ''
      );
    case 'CronJob':
      return (await clients.batch.patchNamespacedCronJob(args, mergePatch)).metadata?.resourceVersion ?? '';
  }
}

/**
 * Sets a Deployment's or StatefulSet's replicas through its /scale subresource, guarded by
 * `resourceVersion` (409 when it changed); returns the new resourceVersion. Replicas never
 * change through a patch of the workload itself (see sleepPatch).
 */
export async function scaleWorkload(
  clients: KubeClients,
  ref: { kind: Exclude<HibernationKind, 'CronJob'>; namespace: string; name: string },
  replicas: number,
  resourceVersion: string,
): Promise<string> {
  const target = await resolveScaleTarget(clients, ref.kind, ref.namespace, ref.name);
  return (await replaceScale(clients, target, replicas, resourceVersion)).resourceVersion;
}

interface RawHpa {
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind?: string; apiVersion?: string }[];
  };
  spec?: { minReplicas?: number; scaleTargetRef?: { kind?: string; name?: string } };
}

/** HPAs (autoscaling/v2) in the namespaces, with what they target and whether KEDA made them. */
export async function listHpas(
  clients: KubeClients,
  namespaces: readonly string[] | 'all',
  signal: AbortSignal,
): Promise<HpaFacts[]> {
  const out: HpaFacts[] = [];
  for (const path of collectionPaths('autoscaling/v2', 'horizontalpodautoscalers', namespaces)) {
    const { items } = await listAll<RawHpa>(clients, path, {}, signal);
    for (const item of items) {
      const keda =
        Object.keys(item.metadata?.labels ?? {}).some((k) => k.startsWith('scaledobject.keda.sh/')) ||
        (item.metadata?.ownerReferences ?? []).some(
          (r) => r.kind === 'ScaledObject' && (r.apiVersion ?? '').startsWith('keda.sh/'),
        );
      out.push({
        namespace: item.metadata?.namespace ?? '',
        name: item.metadata?.name ?? '',
        targetKind: item.spec?.scaleTargetRef?.kind ?? '',
        targetName: item.spec?.scaleTargetRef?.name ?? '',
        // minReplicas defaults to 1 (autoscaling/v2).
        minReplicas: item.spec?.minReplicas ?? 1,
        keda,
      });
    }
  }
  return out;
}
