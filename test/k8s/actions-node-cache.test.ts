/**
 * cordon_node / uncordon_node with a node cache (the controller's NodeCache) against the real
 * API server: a current copy saves the GET of the node; a stale copy — the node changed,
 * was re-created under the same name, or its copy says "nothing to do" — never decides: the
 * guarded write fails or is not tried, and the executor reads the node and decides on that.
 */
import {
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Node,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cordonNodeExecutor } from '../../src/actions/cordon-node.ts';
import { uncordonNodeExecutor } from '../../src/actions/uncordon-node.ts';
import { createKubeClients, type KubeClients } from '../../src/kube/clients.ts';
import { NodeCache, type NodeLookup, trimNode } from '../../src/kube/node-cache.ts';
import { actionContext, createPoolNodes, makeAction } from '../support/drain-fixture.ts';
import { kwokNode, loadTestKubeConfig, uniqueName, waitFor } from '../support/kube.ts';

const kc: KubeConfig = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const id = uniqueName('nodecache');
const nodes = { a: `${id}-a`, b: `${id}-b`, c: `${id}-c`, d: `${id}-d` };
const providerId = (name: string) => `aws:///eu-west-1a/i-${name}`;
const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const read = (name: string) => core.readNode({ name });
const mark = 'clusteropt.io/cordoned-by';

/** A cache that answers what it was given: copies taken at chosen moments. */
class Snapshot implements NodeLookup {
  private readonly copies = new Map<string, V1Node>();
  async take(name: string): Promise<V1Node> {
    const copy = trimNode((await read(name)) as never);
    this.copies.set(name, copy);
    return copy;
  }
  get(name: string): V1Node | undefined {
    return this.copies.get(name);
  }
}

/** Kube clients whose readNode calls are counted. */
function countingClients(): { kube: KubeClients; reads: () => number } {
  const kube = createKubeClients(kc);
  let reads = 0;
  const readNode = kube.core.readNode.bind(kube.core);
  kube.core.readNode = ((...args: Parameters<typeof readNode>) => {
    reads++;
    return readNode(...args);
  }) as typeof readNode;
  return { kube, reads: () => reads };
}

async function nodeEvents(name: string, actionId: string) {
  const list = await core.listNamespacedEvent({
    namespace: 'default',
    fieldSelector: `involvedObject.name=${name}`,
  });
  return list.items.filter((e) => e.message?.includes(actionId)).map((e) => e.reason);
}

beforeAll(async () => {
  await createPoolNodes(kc, id, Object.values(nodes), { providerId, managed: false });
  // kube-controller-manager marks nodes that never reported Unknown and taints them about
  // 50 s after creation; until then it writes to them, and a copy taken now could be stale
  // for reasons of its own. The tests below make copies stale on purpose only.
  await waitFor(
    async () => {
      const all = await Promise.all(Object.values(nodes).map(read));
      return all.every((n) => n.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/unreachable'));
    },
    { timeoutMs: 150_000, intervalMs: 1_000, what: 'kube-controller-manager to settle the new nodes' },
  );
  await new Promise((r) => setTimeout(r, 3_000));
}, 200_000);

afterAll(async () => {
  await Promise.all(Object.values(nodes).map((name) => core.deleteNode({ name }).catch(() => undefined)));
}, 120_000);

describe('cordon and uncordon from a node cache', () => {
  it('a current copy: no GET of the node, the same marks, Event and result as the read path', async () => {
    const cache = new Snapshot();
    const { kube, reads } = countingClients();
    await cache.take(nodes.a);
    const ctx = actionContext(kc, { kube, nodes: cache });
    const cordon = makeAction('cordon_node', { nodeName: nodes.a, providerId: providerId(nodes.a) });
    const first = await cordonNodeExecutor.execute(cordon, ctx);
    expect(first).toMatchObject({
      outcome: 'succeeded',
      message: `node ${nodes.a} cordoned`,
      details: { node: nodes.a, cordon: 'added', taint: 'not-requested', changed: true },
    });
    expect(first.reason).toBeUndefined();
    expect(reads()).toBe(0);
    const node = await read(nodes.a);
    expect(node.spec?.unschedulable).toBe(true);
    expect(node.metadata?.annotations?.[mark]).toBe(cordon.id);
    expect(await nodeEvents(nodes.a, cordon.id)).toEqual(['ClusteroptCordon']);

    await cache.take(nodes.a);
    const uncordon = makeAction('uncordon_node', { nodeName: nodes.a, nodeUid: node.metadata!.uid! });
    const undone = await uncordonNodeExecutor.execute(uncordon, ctx);
    expect(undone).toMatchObject({ outcome: 'succeeded', details: { cordon: 'removed', changed: true } });
    expect(reads()).toBe(0);
    const after = await read(nodes.a);
    expect(after.spec?.unschedulable).toBeFalsy();
    expect(after.metadata?.annotations?.[mark]).toBeUndefined();
    expect(await nodeEvents(nodes.a, uncordon.id)).toEqual(['ClusteroptUncordon']);
  });

  it('a copy older than an admin cordon: the guarded write fails (409), the fresh read keeps it as the admin left it', async () => {
    const cache = new Snapshot();
    const { kube, reads } = countingClients();
    await cache.take(nodes.b); // schedulable
    await core.patchNode({ name: nodes.b, body: { spec: { unschedulable: true } } }, merge);
    const cordon = makeAction('cordon_node', { nodeName: nodes.b });
    const result = await cordonNodeExecutor.execute(cordon, actionContext(kc, { kube, nodes: cache }));
    expect(result).toMatchObject({
      outcome: 'succeeded',
      reason: 'already_done',
      details: { cordon: 'kept-other', changed: false },
    });
    expect(reads()).toBe(1);
    // Not recorded as the agent's: an agent uncordon must leave it cordoned.
    expect((await read(nodes.b)).metadata?.annotations?.[mark]).toBeUndefined();
    expect(await nodeEvents(nodes.b, cordon.id)).toEqual([]);
    await core.patchNode({ name: nodes.b, body: { spec: { unschedulable: null } } }, merge);
  });

  it('"nothing to do" is never taken from a copy: an uncordon by hand since the copy is seen and the node cordoned again', async () => {
    const cache = new Snapshot();
    const { kube, reads } = countingClients();
    const ctx = actionContext(kc, { kube, nodes: cache });
    const first = makeAction('cordon_node', { nodeName: nodes.c });
    await cordonNodeExecutor.execute(first, actionContext(kc));
    await cache.take(nodes.c); // cordoned by the agent
    await core.patchNode(
      { name: nodes.c, body: { metadata: { annotations: { [mark]: null } }, spec: { unschedulable: null } } },
      merge,
    );
    const again = makeAction('cordon_node', { nodeName: nodes.c });
    expect(await cordonNodeExecutor.execute(again, ctx)).toMatchObject({
      outcome: 'succeeded',
      details: { cordon: 'added', changed: true },
    });
    // At least one fresh read; a second when kube-controller-manager updated the node (its
    // unschedulable taint follows the hand uncordon) between that read and the write.
    let seen = reads();
    expect(seen).toBeGreaterThanOrEqual(1);
    expect((await read(nodes.c)).metadata?.annotations?.[mark]).toBe(again.id);

    // And the replay of an action that did happen still reports already_done, from a fresh read.
    await cache.take(nodes.c);
    expect(await cordonNodeExecutor.execute(again, ctx)).toMatchObject({
      reason: 'already_done',
      details: { cordon: 'kept-agent' },
    });
    expect(reads()).toBeGreaterThan(seen);
    seen = reads();
    // Uncordon with a copy that says "not cordoned" (stale): read, and undone.
    const staleCopy = await cache.take(nodes.c);
    staleCopy.spec = {};
    staleCopy.metadata = { ...staleCopy.metadata, annotations: {} };
    expect(
      await uncordonNodeExecutor.execute(makeAction('uncordon_node', { nodeName: nodes.c }), ctx),
    ).toMatchObject({ details: { cordon: 'removed', changed: true } });
    expect(reads()).toBeGreaterThan(seen);
    expect((await read(nodes.c)).spec?.unschedulable).toBeFalsy();
  });

  it('a node re-created under the same name: a copy of the old one never touches the new one wrongly', async () => {
    const cache = new Snapshot();
    const { kube, reads } = countingClients();
    const ctx = actionContext(kc, { kube, nodes: cache });
    const old = await cache.take(nodes.d);
    await core.deleteNode({ name: nodes.d });
    await waitFor(async () => (await read(nodes.d).catch(() => undefined)) === undefined, {
      what: 'old node gone',
    });
    await core.createNode({ body: kwokNode(nodes.d, { managed: false, providerId: providerId(nodes.d) }) });
    const fresh = await read(nodes.d);
    expect(fresh.metadata?.uid).not.toBe(old.metadata?.uid);

    // Meant for the old machine (its uid), and the copy is of the old machine: the copy passes
    // the identity check, but its guarded write cannot land on the new object (409); the
    // fresh read sees the new uid and refuses. The new node is untouched.
    const forOld = await cordonNodeExecutor.execute(
      makeAction('cordon_node', { nodeName: nodes.d, nodeUid: old.metadata!.uid! }),
      ctx,
    );
    expect(forOld).toMatchObject({ outcome: 'failed', reason: 'identity_mismatch' });
    expect(reads()).toBe(1);
    expect((await read(nodes.d)).spec?.unschedulable).toBeFalsy();

    // By name only, with the old copy: 409 again, and the fresh read decides — exactly as
    // without a cache: the node now under that name is cordoned.
    const byName = makeAction('cordon_node', { nodeName: nodes.d });
    expect(await cordonNodeExecutor.execute(byName, ctx)).toMatchObject({
      outcome: 'succeeded',
      details: { cordon: 'added' },
    });
    expect(reads()).toBe(2);
    expect((await read(nodes.d)).metadata?.annotations?.[mark]).toBe(byName.id);

    // Meant for the new one (its uid) with only the old copy cached: the copy does not match,
    // so it is not used; read, then uncordoned.
    const forNew = makeAction('uncordon_node', { nodeName: nodes.d, nodeUid: fresh.metadata!.uid! });
    expect(await uncordonNodeExecutor.execute(forNew, ctx)).toMatchObject({
      outcome: 'succeeded',
      details: { cordon: 'removed' },
    });
    expect(reads()).toBe(3);
  });
});

describe('NodeCache', () => {
  it('lists, follows changes and deletions, keeps only the trimmed fields, and tells its listeners', async () => {
    const cache = new NodeCache(createKubeClients(kc));
    const heard: string[] = [];
    const off = cache.subscribe({
      changed: (node, previous) =>
        heard.push(
          `${previous ? 'changed' : 'added'} ${node.metadata?.name} ${previous?.metadata?.resourceVersion ?? '-'}`,
        ),
      deleted: (node) => heard.push(`deleted ${node.metadata?.name}`),
    });
    const abort = new AbortController();
    const running = cache.run(abort.signal);
    const extra = `${id}-e`;
    try {
      expect(cache.get(nodes.a)).toBeUndefined(); // not synced yet: the executors read
      await cache.ready;
      const copy = cache.get(nodes.a);
      expect(Object.keys(copy?.metadata ?? {}).sort()).toEqual(['name', 'resourceVersion', 'uid']);
      expect(copy?.spec?.providerID).toBe(providerId(nodes.a));
      // The first list is heard node by node, as additions.
      expect(heard).toContain(`added ${nodes.a} -`);
      expect([...cache.values()]).toContain(copy);

      // kube-controller-manager follows a cordon with its unschedulable taint (one more
      // version), so wait for the state, not for one version.
      await core.patchNode({ name: nodes.a, body: { spec: { unschedulable: true } } }, merge);
      await waitFor(() => cache.get(nodes.a)?.spec?.unschedulable === true, { what: 'watch event' });
      // A listener gets the copy it replaces, for the inventory's "did the report change".
      expect(heard).toContain(`changed ${nodes.a} ${copy?.metadata?.resourceVersion}`);
      await core.patchNode({ name: nodes.a, body: { spec: { unschedulable: null } } }, merge);

      await core.createNode({ body: kwokNode(extra, { managed: false }) });
      await waitFor(() => cache.get(extra), { what: 'the new node' });
      await core.deleteNode({ name: extra });
      await waitFor(() => heard.includes(`deleted ${extra}`), { what: 'the deletion heard' });
      expect(cache.get(extra)).toBeUndefined();
      off();
      const heardBefore = heard.length;
      await core.patchNode({ name: nodes.a, body: { metadata: { labels: { probe: 'x' } } } }, merge);
      const rv = Number((await read(nodes.a)).metadata?.resourceVersion);
      // etcd revisions: a test against the real server may compare them.
      await waitFor(() => Number(cache.get(nodes.a)?.metadata?.resourceVersion) >= rv, {
        what: 'watch event',
      });
      expect(heard.length).toBe(heardBefore);
    } finally {
      abort.abort();
      await running;
      await core.deleteNode({ name: extra }).catch(() => undefined);
    }
    expect(cache.get(nodes.a)).toBeUndefined();
  });
});
