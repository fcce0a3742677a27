/**
 * The end-of-test accounting shared by fault tests that drive node actions through the real
 * agent (test/k8s/faults-disk-full.test.ts, faults-clock-jump.test.ts): every action ends in
 * exactly one terminal transition at the control plane, its effect on the node is applied at
 * most once (the executors emit one Node Event naming the action id when they change the
 * node), the last action per node is what the node shows, and the agent's journal agrees.
 */
import type { CoreV1Api } from '@kubernetes/client-node';
import { expect } from 'vitest';
import type { ReferenceControlPlaneAdmin } from '../../src/reference-control-plane/admin-client.ts';
import { StateStore } from '../../src/store/index.ts';
import { waitFor } from './wait.ts';

export interface PlannedAction {
  id: string;
  type: 'patch_node' | 'cordon_node' | 'uncordon_node';
  node: string;
  step: number;
  /** The test expects this one to end `expired` (never executed). */
  expectExpired?: boolean;
}

export const terminalStates = ['succeeded', 'failed', 'rejected', 'expired'];

/** Node action i of a run: patch_node step labels on `patchNodes`, cordon/uncordon alternating on `cordonNodes`. */
export function nodeActionPlan(
  i: number,
  patchNodes: string[],
  cordonNodes: string[],
  cordonTurns: Map<string, number>,
): { type: PlannedAction['type']; node: string; payload: Record<string, unknown> } {
  if (i % 3 === 2) {
    const node = cordonNodes[Math.floor(i / 3) % cordonNodes.length]!;
    const turn = cordonTurns.get(node) ?? 0;
    cordonTurns.set(node, turn + 1);
    return { type: turn % 2 === 0 ? 'cordon_node' : 'uncordon_node', node, payload: { nodeName: node } };
  }
  const node = patchNodes[i % patchNodes.length]!;
  return {
    type: 'patch_node',
    node,
    payload: { nodeName: node, labels: { 'clusteropt.io/step': String(i) } },
  };
}

/** Node Events that name an action id (`clusteropt action <id>`), summed per id. */
/** Per node, the last planned action is what the node shows: its step label, or its cordon state. */
export async function assertLastActionWins(
  core: CoreV1Api,
  planned: readonly { node: string; type: string; step: number }[],
  nodes: { patchNodes: readonly string[]; cordonNodes: readonly string[] },
): Promise<void> {
  for (const node of nodes.patchNodes) {
    const last = planned.filter((p) => p.node === node).at(-1)!;
    expect((await core.readNode({ name: node })).metadata?.labels?.['clusteropt.io/step']).toBe(
      String(last.step),
    );
  }
  for (const node of nodes.cordonNodes) {
    const last = planned.filter((p) => p.node === node).at(-1)!;
    expect((await core.readNode({ name: node })).spec?.unschedulable === true).toBe(
      last.type === 'cordon_node',
    );
  }
}

export async function nodeEventsById(core: CoreV1Api, nodes: string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const list = await core.listNamespacedEvent({ namespace: 'default' });
  for (const e of list.items) {
    if (e.involvedObject.kind !== 'Node' || !nodes.includes(e.involvedObject.name ?? '')) continue;
    const id = /clusteropt action ([0-9a-f-]{36})/.exec(e.message ?? '')?.[1];
    if (id) counts.set(id, (counts.get(id) ?? 0) + (e.count ?? 1));
  }
  return counts;
}

export async function waitAllTerminal(
  admin: ReferenceControlPlaneAdmin,
  clusterId: string,
  total: number,
  timeoutMs: number,
): Promise<void> {
  await waitFor(
    async () => {
      const actions = await admin.listActions(clusterId);
      return actions.length === total && actions.every((a) => terminalStates.includes(a.state))
        ? true
        : undefined;
    },
    { timeoutMs, intervalMs: 500, what: `all ${total} actions terminal` },
  ).catch(async (err) => {
    const stuck = (await admin.listActions(clusterId))
      .filter((a) => !terminalStates.includes(a.state))
      .map((a) => `${a.id} ${a.state} ${a.message}`);
    throw new Error(`${(err as Error).message}\nnot terminal:\n${stuck.join('\n')}`);
  });
}

export interface Accounting {
  superseded: Set<string>;
  expired: Set<string>;
  alreadyDone: number;
  redelivered: number;
}

/**
 * Asserts the outcome of every planned action (call once all are terminal). An action may end
 * `rejected` as superseded (its lease ran out while the agent could not take it, and a newer
 * action on the same node ran first: by design, supersededBy in plan.ts) — then the newer one
 * is a later action on the same node and succeeded, and the old one left no Event.
 */
export async function assertExactlyOnce(options: {
  admin: ReferenceControlPlaneAdmin;
  clusterId: string;
  core: CoreV1Api;
  planned: PlannedAction[];
  patchNodes: string[];
  cordonNodes: string[];
  /** Most actions that may be resumed and found already done (cut between node write and Event). */
  maxAlreadyDone: number;
}): Promise<Accounting> {
  const { admin, clusterId, core, planned, patchNodes, cordonNodes } = options;
  const allNodes = [...patchNodes, ...cordonNodes];
  const byId = new Map((await admin.listActions(clusterId)).map((a) => [a.id, a]));
  const superseded = new Set<string>();
  const expired = new Set<string>();
  for (const p of planned) {
    const a = byId.get(p.id)!;
    if (p.expectExpired) {
      expect(`${a.state}: ${a.message}`, `action ${p.step} (${p.type} on ${p.node}) must expire`).toMatch(
        /^expired: /,
      );
      expired.add(p.id);
      continue;
    }
    if (a.state === 'succeeded') continue;
    expect(`${a.state}: ${a.message}`, `action ${p.step} (${p.type} on ${p.node})`).toMatch(
      /^rejected: superseded/,
    );
    const newer = planned.find((q) => q.id === (a.result as { supersededBy?: string } | null)?.supersededBy);
    expect(newer?.node, `the action that superseded ${p.step}`).toBe(p.node);
    expect(newer!.step).toBeGreaterThan(p.step);
    expect(byId.get(newer!.id)?.state).toBe('succeeded');
    superseded.add(p.id);
  }
  const expectedState = (id: string) =>
    expired.has(id) ? 'expired' : superseded.has(id) ? 'rejected' : 'succeeded';

  // Reported exactly once: one terminal transition per action in the control plane's log.
  const log = await admin.clusterStatusLog(clusterId);
  for (const p of planned) {
    const terminal = log.filter((e) => e.actionId === p.id && terminalStates.includes(e.toState));
    expect(
      terminal.map((e) => e.toState),
      `terminal transitions of ${p.id}`,
    ).toEqual([expectedState(p.id)]);
  }

  // Applied at most once: Node Events naming the action (patch/cordon nodes; drains of a
  // pool are checked by the caller with drainEffects, by Event reason).
  const simple = planned.filter((p) => allNodes.includes(p.node));
  const alreadyDone = (id: string) =>
    (byId.get(id)?.result as { reason?: string } | null)?.reason === 'already_done';
  const noEffect = (id: string) => superseded.has(id) || expired.has(id);
  const counts = await waitFor(
    async () => {
      const c = await nodeEventsById(core, allNodes);
      return simple.every((p) => (c.get(p.id) ?? 0) >= 1 || alreadyDone(p.id) || noEffect(p.id))
        ? c
        : undefined;
    },
    { timeoutMs: 20_000, what: 'an Event for every action that changed a node' },
  ).catch(async () => nodeEventsById(core, allNodes));
  for (const p of simple) {
    const n = counts.get(p.id) ?? 0;
    expect(n, `node Events naming ${p.id} (${p.type} step ${p.step})`).toBeLessThanOrEqual(
      noEffect(p.id) ? 0 : 1,
    );
    if (n === 0 && !noEffect(p.id))
      expect(alreadyDone(p.id), `${p.id} has no Event, so its resumed run must have found it done`).toBe(
        true,
      );
  }
  const resumedDone = simple.filter((p) => alreadyDone(p.id)).length;
  expect(resumedDone).toBeLessThanOrEqual(options.maxAlreadyDone);

  // The node shows the last action that ran on it.
  for (const node of patchNodes) {
    const last = planned.filter((p) => p.node === node && expectedState(p.id) === 'succeeded').at(-1);
    if (!last) continue;
    expect(
      (await core.readNode({ name: node })).metadata?.labels?.['clusteropt.io/step'],
      `labels of ${node}`,
    ).toBe(String(last.step));
  }
  for (const node of cordonNodes) {
    const last = planned.filter((p) => p.node === node && expectedState(p.id) === 'succeeded').at(-1);
    if (!last) continue;
    expect((await core.readNode({ name: node })).spec?.unschedulable === true, `cordon of ${node}`).toBe(
      last.type === 'cordon_node',
    );
  }
  return {
    superseded,
    expired,
    alreadyDone: resumedDone,
    redelivered: [...byId.values()].filter((a) => a.deliveredCount > 1).length,
  };
}

/** Opens the (stopped) agent's state file: journal finished as reported, nothing open, outbox drained, integrity ok. */
export function assertJournal(path: string, planned: PlannedAction[], acc: Accounting): void {
  const store = StateStore.open({ path });
  try {
    for (const p of planned) {
      const want = acc.expired.has(p.id) ? 'expired' : acc.superseded.has(p.id) ? 'rejected' : 'succeeded';
      expect(store.journal.entry(p.id)?.finalState, `journal ${p.id}`).toBe(want);
    }
    expect(store.journal.interruptedActions()).toHaveLength(0);
    expect(store.stats().depth, 'outbox drained').toBe(0);
    expect(store.integrityCheck()).toEqual(['ok']);
  } finally {
    store.close();
  }
}
