/**
 * Node helpers: read, readiness, and read-modify-write updates that never lose a
 * concurrent change (the patch carries the read resourceVersion; a 409 re-reads and retries).
 */

import type { V1Node, V1Taint } from '@kubernetes/client-node';
import { AgentError } from '../util/errors.ts';
import { isConflict, isNotFound } from './api-errors.ts';
import type { KubeClients } from './clients.ts';
import { mergePatch, mergePatchContentType } from './merge-patch.ts';
import { kubeJson } from './raw.ts';

/** Labels that make a node a control-plane node (kubeadm's current and legacy role label). */
export const controlPlaneNodeLabels: readonly string[] = [
  'node-role.kubernetes.io/control-plane',
  'node-role.kubernetes.io/master',
];

export async function readNodeOrNull(clients: KubeClients, name: string): Promise<V1Node | null> {
  try {
    return await clients.core.readNode({ name });
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** The kubelet's Ready condition is True (a node without conditions is not Ready). */
export function isNodeReady(node: Pick<V1Node, 'status'>): boolean {
  return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/**
 * A merge-patch body for the parts of a Node the agent changes. Annotation and label values
 * of null remove the key. `taints`, when present, replaces the whole list (the Node API
 * has no merge key for taints), which is why every patch is guarded by resourceVersion.
 */
export interface NodeChange {
  labels?: Record<string, string | null>;
  annotations?: Record<string, string | null>;
  unschedulable?: boolean;
  taints?: V1Taint[];
}

export function isEmptyChange(change: NodeChange): boolean {
  return (
    change.unschedulable === undefined &&
    change.taints === undefined &&
    Object.keys(change.labels ?? {}).length === 0 &&
    Object.keys(change.annotations ?? {}).length === 0
  );
}

export class NodeGoneError extends AgentError {
  constructor(name: string) {
    super('NODE_NOT_FOUND', `node ${name} not found`);
  }
}

export class NodeReplacedError extends AgentError {
  constructor(name: string, expected: string, found: string | undefined) {
    super(
      'IDENTITY_MISMATCH',
      `node ${name} was replaced while the action ran (uid ${expected} -> ${found ?? 'none'})`,
    );
  }
}

export class NodeUpdateConflictError extends AgentError {
  constructor(name: string, attempts: number) {
    super(
      'NODE_UPDATE_CONFLICT',
      `node ${name} kept changing: gave up after ${attempts} conflicting updates`,
      {
        retryable: true,
      },
    );
  }
}

/**
 * Reads the node, asks `decide` what to change (null: nothing), and applies it guarded by the
 * read resourceVersion. On a 409 the node is re-read and `decide` runs again on the fresh
 * object, so decisions are always made on the state they are applied to. The resourceVersion
 * also guarantees the patch lands on the object that was read: a node re-created under the
 * same name has a new one (and `expectUid` then stops the retry).
 * Returns the node as it is after the update (or as read, when nothing changed).
 */
export async function updateNode<R>(
  clients: KubeClients,
  name: string,
  decide: (node: V1Node) => { change: NodeChange | null; result: R },
  options: { attempts?: number; node?: V1Node; expectUid?: string } = {},
): Promise<{ node: V1Node; changed: boolean; result: R }> {
  const attempts = options.attempts ?? 8;
  let node = options.node;
  for (let attempt = 1; ; attempt++) {
    node ??= (await readNodeOrNull(clients, name)) ?? undefined;
    if (!node) throw new NodeGoneError(name);
    if (options.expectUid !== undefined && node.metadata?.uid !== options.expectUid) {
      throw new NodeReplacedError(name, options.expectUid, node.metadata?.uid);
    }
    const { change, result } = decide(node);
    if (!change || isEmptyChange(change)) return { node, changed: false, result };
    try {
      const updated = await patchNodeGuarded(clients, name, node.metadata?.resourceVersion, change);
      return { node: updated, changed: true, result };
    } catch (err) {
      if (isNotFound(err)) throw new NodeGoneError(name);
      if (!isConflict(err) || attempt >= attempts) {
        if (isConflict(err)) throw new NodeUpdateConflictError(name, attempt);
        throw err;
      }
      node = undefined;
    }
  }
}

/** A merge patch of `change`, guarded by `resourceVersion` (409 when the node moved on). */
function patchNodeGuarded(
  clients: KubeClients,
  name: string,
  resourceVersion: string | undefined,
  change: NodeChange,
): Promise<V1Node> {
  return clients.core.patchNode({ name, body: guardedPatchBody(resourceVersion, change) }, mergePatch);
}

function guardedPatchBody(resourceVersion: string | undefined, change: NodeChange): Record<string, unknown> {
  const body: Record<string, unknown> = {
    metadata: {
      resourceVersion,
      ...(change.labels ? { labels: change.labels } : {}),
      ...(change.annotations ? { annotations: change.annotations } : {}),
    },
  };
  const spec: Record<string, unknown> = {};
  if (change.unschedulable !== undefined) spec.unschedulable = change.unschedulable ? true : null;
  if (change.taints !== undefined) spec.taints = change.taints.length ? change.taints.map(taintJson) : null;
  if (Object.keys(spec).length) body.spec = spec;
  return body;
}

/**
 * One optimistic write from a cached copy of a node (NodeCache): `decide` runs on the copy
 * and its change is patched guarded by the copy's resourceVersion, so it lands only if the
 * node is still exactly that version (same object, same uid, same state the decision was
 * made on). Returns undefined — and the caller must then take the fresh path (read, decide,
 * write) — when the copy needs no change (a "nothing to do" is never trusted from a cache),
 * when the node moved on (409), or when it is gone (404: the fresh read reports it).
 * Saves the GET of the fresh path whenever the copy is current.
 */
export async function patchCachedNode<R>(
  clients: KubeClients,
  cached: V1Node,
  decide: (node: V1Node) => { change: NodeChange | null; result: R },
): Promise<{ node: V1Node; changed: true; result: R } | undefined> {
  const name = cached.metadata?.name;
  const resourceVersion = cached.metadata?.resourceVersion;
  if (!name || !resourceVersion) return undefined;
  const { change, result } = decide(cached);
  if (!change || isEmptyChange(change)) return undefined;
  try {
    // Raw JSON (no model deserialisation): the answer is only used for the node's name and
    // uid (its Event), and this is the path of every bulk cordon.
    const node = await kubeJson<V1Node>(clients, {
      method: 'PATCH',
      path: `/api/v1/nodes/${encodeURIComponent(name)}`,
      body: guardedPatchBody(resourceVersion, change),
      contentType: mergePatchContentType,
    });
    return { node, changed: true, result };
  } catch (err) {
    if (isConflict(err) || isNotFound(err)) return undefined;
    throw err;
  }
}

/** The wire form of a taint (client-node models carry Date objects for timeAdded). */
function taintJson(t: V1Taint): Record<string, unknown> {
  const out: Record<string, unknown> = { key: t.key, effect: t.effect };
  if (t.value !== undefined && t.value !== '') out.value = t.value;
  if (t.timeAdded !== undefined) {
    out.timeAdded =
      t.timeAdded instanceof Date ? t.timeAdded.toISOString().replace(/\.\d{3}Z$/, 'Z') : t.timeAdded;
  }
  return out;
}
