/**
 * The scale subresource for any workload kind: Deployment, StatefulSet, ReplicaSet and
 * ReplicationController through the typed clients; `Kind.group` (e.g. `Rollout.argoproj.io`)
 * through discovery (the group's preferred version that serves the kind, and a `<plural>/scale`
 * subresource) and the CustomObjectsApi.
 *
 * Writes replace the Scale object with the resourceVersion it was read with, so a concurrent
 * change in between fails with 409 instead of being overwritten.
 */
import type { V1Scale } from '@kubernetes/client-node';
import { AgentError } from '../util/errors.ts';
import { isNotFound } from './api-errors.ts';
import type { KubeClients } from './clients.ts';

type BuiltinKind = 'Deployment' | 'StatefulSet' | 'ReplicaSet' | 'ReplicationController';

export interface ScaleTarget {
  kind: string;
  group: string;
  version: string;
  plural: string;
  namespace: string;
  name: string;
  builtin: BuiltinKind | undefined;
}

export interface ScaleState {
  replicas: number;
  /** resourceVersion of the workload when read (the Scale's own). */
  resourceVersion: string;
}

export interface WorkloadMeta {
  uid: string | undefined;
  annotations: Record<string, string>;
}

export class UnsupportedKindError extends AgentError {
  constructor(kind: string, why: string) {
    super('UNSUPPORTED_KIND', `cannot scale kind ${kind}: ${why}`);
  }
}

export class WorkloadNotFoundError extends AgentError {
  constructor(target: Pick<ScaleTarget, 'kind' | 'namespace' | 'name'>) {
    super('WORKLOAD_NOT_FOUND', `${target.kind} ${target.namespace}/${target.name} not found`);
  }
}

const builtins: Record<BuiltinKind, { group: string; version: string; plural: string }> = {
  Deployment: { group: 'apps', version: 'v1', plural: 'deployments' },
  StatefulSet: { group: 'apps', version: 'v1', plural: 'statefulsets' },
  ReplicaSet: { group: 'apps', version: 'v1', plural: 'replicasets' },
  ReplicationController: { group: '', version: 'v1', plural: 'replicationcontrollers' },
};

/** Splits `Kind` / `Kind.group`. `Deployment.apps` is the built-in Deployment. */
export function parseKind(kind: string): { kind: string; group: string | undefined } {
  const dot = kind.indexOf('.');
  return dot < 0 ? { kind, group: undefined } : { kind: kind.slice(0, dot), group: kind.slice(dot + 1) };
}

export async function resolveScaleTarget(
  clients: KubeClients,
  kindSpec: string,
  namespace: string,
  name: string,
): Promise<ScaleTarget> {
  const { kind, group } = parseKind(kindSpec);
  const builtin = builtins[kind as BuiltinKind] as (typeof builtins)[BuiltinKind] | undefined;
  if (builtin && (group === undefined || group === builtin.group)) {
    return { kind, ...builtin, namespace, name, builtin: kind as BuiltinKind };
  }
  if (group === undefined) {
    throw new UnsupportedKindError(kind, 'not a built-in scalable kind; use Kind.group for other resources');
  }
  const groups = await clients.apis.getAPIVersions();
  const apiGroup = groups.groups.find((g) => g.name === group);
  if (!apiGroup) throw new UnsupportedKindError(kindSpec, `API group ${group} is not served`);
  // Preferred version first, then the others in the server's order.
  const versions = [apiGroup.preferredVersion?.version, ...apiGroup.versions.map((v) => v.version)].filter(
    (v, i, all): v is string => v !== undefined && all.indexOf(v) === i,
  );
  for (const version of versions) {
    const resources = await clients.custom.getAPIResources({ group, version });
    const resource = resources.resources.find((r) => r.kind === kind && !r.name.includes('/'));
    if (!resource) continue;
    if (!resource.namespaced) throw new UnsupportedKindError(kindSpec, 'it is cluster-scoped');
    if (!resources.resources.some((r) => r.name === `${resource.name}/scale`)) {
      throw new UnsupportedKindError(
        kindSpec,
        `${group}/${version} ${resource.name} has no /scale subresource`,
      );
    }
    return { kind, group, version, plural: resource.name, namespace, name, builtin: undefined };
  }
  throw new UnsupportedKindError(kindSpec, `no version of ${group} serves kind ${kind}`);
}

function scaleFromJson(raw: unknown): ScaleState {
  const scale = raw as { spec?: { replicas?: number }; metadata?: { resourceVersion?: string } };
  return { replicas: scale.spec?.replicas ?? 0, resourceVersion: scale.metadata?.resourceVersion ?? '' };
}

export async function readScale(clients: KubeClients, t: ScaleTarget): Promise<ScaleState> {
  const args = { name: t.name, namespace: t.namespace };
  try {
    switch (t.builtin) {
      case 'Deployment':
        return scaleFromJson(await clients.apps.readNamespacedDeploymentScale(args));
      case 'StatefulSet':
        return scaleFromJson(await clients.apps.readNamespacedStatefulSetScale(args));
      case 'ReplicaSet':
        return scaleFromJson(await clients.apps.readNamespacedReplicaSetScale(args));
      case 'ReplicationController':
        return scaleFromJson(await clients.core.readNamespacedReplicationControllerScale(args));
      default:
        return scaleFromJson(
          await clients.custom.getNamespacedCustomObjectScale({
            group: t.group,
            version: t.version,
            namespace: t.namespace,
            plural: t.plural,
            name: t.name,
          }),
        );
    }
  } catch (err) {
    if (isNotFound(err)) throw new WorkloadNotFoundError(t);
    throw err;
  }
}

/**
 * PUT the Scale with `resourceVersion` as precondition. Throws the API error (409 when the
 * workload changed since it was read).
 */
export async function replaceScale(
  clients: KubeClients,
  t: ScaleTarget,
  replicas: number,
  resourceVersion: string,
): Promise<ScaleState> {
  const body: V1Scale = {
    apiVersion: 'autoscaling/v1',
    kind: 'Scale',
    metadata: { name: t.name, namespace: t.namespace, resourceVersion },
    spec: { replicas },
  };
  const args = { name: t.name, namespace: t.namespace, body };
  switch (t.builtin) {
    case 'Deployment':
      return scaleFromJson(await clients.apps.replaceNamespacedDeploymentScale(args));
    case 'StatefulSet':
      return scaleFromJson(await clients.apps.replaceNamespacedStatefulSetScale(args));
    case 'ReplicaSet':
      return scaleFromJson(await clients.apps.replaceNamespacedReplicaSetScale(args));
    case 'ReplicationController':
      return scaleFromJson(await clients.core.replaceNamespacedReplicationControllerScale(args));
    default:
      return scaleFromJson(
        await clients.custom.replaceNamespacedCustomObjectScale({
          group: t.group,
          version: t.version,
          namespace: t.namespace,
          plural: t.plural,
          name: t.name,
          body,
        }),
      );
  }
}

/** The workload's own metadata (for the do-not-disrupt annotation and event subjects). */
export async function readWorkloadMeta(clients: KubeClients, t: ScaleTarget): Promise<WorkloadMeta> {
  const args = { name: t.name, namespace: t.namespace };
  let meta: { uid?: string; annotations?: Record<string, string> } | undefined;
  try {
    switch (t.builtin) {
      case 'Deployment':
        meta = (await clients.apps.readNamespacedDeployment(args)).metadata;
        break;
      case 'StatefulSet':
        meta = (await clients.apps.readNamespacedStatefulSet(args)).metadata;
        break;
      case 'ReplicaSet':
        meta = (await clients.apps.readNamespacedReplicaSet(args)).metadata;
        break;
      case 'ReplicationController':
        meta = (await clients.core.readNamespacedReplicationController(args)).metadata;
        break;
      default: {
        const obj = (await clients.custom.getNamespacedCustomObject({
          group: t.group,
          version: t.version,
          namespace: t.namespace,
          plural: t.plural,
          name: t.name,
        })) as { metadata?: { uid?: string; annotations?: Record<string, string> } };
        meta = obj.metadata;
      }
    }
  } catch (err) {
    if (isNotFound(err)) throw new WorkloadNotFoundError(t);
    throw err;
  }
  return { uid: meta?.uid, annotations: meta?.annotations ?? {} };
}

export function apiVersionOf(t: Pick<ScaleTarget, 'group' | 'version'>): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}
