import type { V1Node, V1Taint } from '@kubernetes/client-node';
import { patchedTaintsAnnotation } from '../contract/marks.ts';
import { type PatchNodePayload, sameTaint, type Taint } from '../contract/payloads.ts';
import { type NodeChange, updateNode } from '../kube/nodes.ts';
import { loadTargetNode, nodeSubject } from './target-node.ts';
import {
  type ActionContext,
  type ActionExecutor,
  type ActionOf,
  succeeded,
  throwIfAborted,
} from './types.ts';

export interface PatchNodePlan {
  change: NodeChange | null;
  labelsChanged: string[];
  annotationsChanged: string[];
  taintsAdded: string[];
  taintsReplaced: string[];
  taintsRemoved: string[];
}

const taintName = (t: Pick<V1Taint, 'key' | 'effect'>): string => `${t.key}:${t.effect}`;

/** The taints patch_node added to a node (its patchedTaintsAnnotation), as `key:Effect`. */
export function agentAddedTaints(annotations: Record<string, string> | undefined): Set<string> {
  const raw = annotations?.[patchedTaintsAnnotation];
  if (!raw) return new Set();
  try {
    const list = JSON.parse(raw) as unknown;
    return new Set(Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : []);
  } catch {
    // Edited into garbage: no taint counts as the agent's (the safe reading).
    return new Set();
  }
}

/** What a patch_node would disrupt (docs/policy.md "patch_node"): both kinds count as evicting. */
export interface PatchNodeDisruption {
  /** NoExecute taints it adds: pods that do not tolerate them are evicted, PDBs or not. */
  noExecuteAdded: Taint[];
  /** Taints it removes that patch_node did not add (`key:Effect`); undefined: node annotations unknown. */
  foreignTaintsRemoved: string[] | undefined;
}

export function patchNodeDisruption(
  payload: Pick<PatchNodePayload, 'taints' | 'removeTaints'>,
  nodeAnnotations: Record<string, string> | undefined,
): PatchNodeDisruption {
  const removals = payload.removeTaints ?? [];
  const ours = nodeAnnotations === undefined ? undefined : agentAddedTaints(nodeAnnotations);
  return {
    noExecuteAdded: (payload.taints ?? []).filter((t) => t.effect === 'NoExecute'),
    foreignTaintsRemoved:
      ours === undefined && removals.length > 0
        ? undefined
        : removals.map(taintName).filter((name) => !ours?.has(name)),
  };
}

export function isEvictingPatch(d: PatchNodeDisruption): boolean {
  return (
    d.noExecuteAdded.length > 0 || d.foreignTaintsRemoved === undefined || d.foreignTaintsRemoved.length > 0
  );
}

/** Only the keys whose value would actually change (so a replay patches nothing). */
function mergeMap(
  current: Record<string, string>,
  wanted: Record<string, string | null> | undefined,
): { patch: Record<string, string | null>; changed: string[] } {
  const patch: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(wanted ?? {})) {
    if (value === null ? key in current : current[key] !== value) patch[key] = value;
  }
  return { patch, changed: Object.keys(patch).sort() };
}

/** Pure: the change that makes `node` match the payload, or null when it already does. */
export function planPatchNode(node: V1Node, payload: PatchNodePayload): PatchNodePlan {
  const labels = mergeMap(node.metadata?.labels ?? {}, payload.labels);
  const annotations = mergeMap(node.metadata?.annotations ?? {}, payload.annotations);
  const current = node.spec?.taints ?? [];
  const next: V1Taint[] = current.filter((t) => !(payload.removeTaints ?? []).some((r) => sameTaint(t, r)));
  const taintsRemoved = current.filter((t) => !next.includes(t)).map(taintName);
  const taintsAdded: string[] = [];
  const taintsReplaced: string[] = [];
  for (const wanted of payload.taints ?? []) {
    const i = next.findIndex((t) => sameTaint(t, wanted));
    const value = wanted.value ?? '';
    if (i < 0) {
      next.push({ key: wanted.key, effect: wanted.effect, ...(value ? { value } : {}) });
      taintsAdded.push(taintName(wanted));
    } else if ((next[i]!.value ?? '') !== value) {
      // Same key+effect, new value: replaced in place (keeps timeAdded semantics simple).
      next[i] = { key: wanted.key, effect: wanted.effect, ...(value ? { value } : {}) };
      taintsReplaced.push(taintName(wanted));
    }
  }
  const taintsChanged = taintsAdded.length + taintsReplaced.length + taintsRemoved.length > 0;
  const change: NodeChange = {};
  if (labels.changed.length) change.labels = labels.patch;
  if (annotations.changed.length) change.annotations = annotations.patch;
  if (taintsChanged) change.taints = next;
  // Remember which taints are the agent's own, so removing them later is known to be an undo.
  const before = agentAddedTaints(node.metadata?.annotations);
  const ours = new Set([...before, ...taintsAdded].filter((name) => !taintsRemoved.includes(name)));
  if (ours.size !== before.size || [...ours].some((name) => !before.has(name))) {
    change.annotations = {
      ...change.annotations,
      [patchedTaintsAnnotation]: ours.size ? JSON.stringify([...ours].sort()) : null,
    };
  }
  return {
    change: Object.keys(change).length ? change : null,
    labelsChanged: labels.changed,
    annotationsChanged: annotations.changed,
    taintsAdded,
    taintsReplaced,
    taintsRemoved,
  };
}

export const patchNodeExecutor: ActionExecutor<'patch_node'> = {
  type: 'patch_node',
  idempotent: true,
  async execute(action: ActionOf<'patch_node'>, ctx: ActionContext) {
    throwIfAborted(ctx, action.id);
    const target = await loadTargetNode(ctx, action.payload);
    if (!target.ok) return target.result;
    const { node, changed, result } = await updateNode(
      ctx.kube,
      action.payload.nodeName,
      (n) => {
        const plan = planPatchNode(n, action.payload);
        return { change: plan.change, result: plan };
      },
      { node: target.node, expectUid: target.node.metadata?.uid },
    );
    const { change: _change, ...summary } = result;
    const details = { node: action.payload.nodeName, changed, ...summary };
    if (!changed)
      return succeeded(`node ${action.payload.nodeName} already matches`, details, 'already_done');
    const parts = [
      summary.labelsChanged.length ? `labels ${summary.labelsChanged.join(',')}` : '',
      summary.annotationsChanged.length ? `annotations ${summary.annotationsChanged.join(',')}` : '',
      summary.taintsAdded.length ? `added taints ${summary.taintsAdded.join(',')}` : '',
      summary.taintsReplaced.length ? `replaced taints ${summary.taintsReplaced.join(',')}` : '',
      summary.taintsRemoved.length ? `removed taints ${summary.taintsRemoved.join(',')}` : '',
    ].filter(Boolean);
    ctx.events.emit(
      nodeSubject(node),
      'Normal',
      'ClusteroptPatched',
      `${parts.join('; ')} (clusteropt action ${action.id})`,
    );
    await ctx.events.flush();
    return succeeded(`node ${action.payload.nodeName} patched: ${parts.join('; ')}`, details);
  },
};
