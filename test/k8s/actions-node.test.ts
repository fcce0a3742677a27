/**
 * cordon_node, uncordon_node, patch_node, delete_node and the executor entry point against
 * the real cluster (kwok nodes): identity checks, marks, events, replays, concurrent writers.
 */
import { CoreV1Api, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cordonNodeExecutor } from '../../src/actions/cordon-node.ts';
import { deleteNodeExecutor } from '../../src/actions/delete-node.ts';
import type { DrainDetails } from '../../src/actions/drain-node.ts';
import { drainNodeExecutor } from '../../src/actions/drain-node.ts';
import { patchNodeExecutor } from '../../src/actions/patch-node.ts';
import { executorFor, runAction } from '../../src/actions/registry.ts';
import { ActionAbortedError } from '../../src/actions/types.ts';
import { uncordonNodeExecutor } from '../../src/actions/uncordon-node.ts';
import { ActionType } from '../../src/crds/agent-action.ts';
import {
  actionContext,
  createPoolDeployment,
  createPoolNodes,
  createReadyNamespace,
  deletePool,
  makeAction,
  setUnschedulable,
  waitForPodsRunning,
} from '../support/drain-fixture.ts';
import { loadTestKubeConfig, uniqueName, waitFor } from '../support/kube.ts';

const kc: KubeConfig = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const id = uniqueName('nodeact');
const nodes = { a: `${id}-a`, b: `${id}-b`, c: `${id}-c`, gone: `${id}-d` };
const providerId = (name: string) => `aws:///eu-west-1a/i-${name}`;

const read = (name: string) => core.readNode({ name });
const rv = async (name: string) => (await read(name)).metadata?.resourceVersion;

async function nodeEvents(name: string, actionId: string) {
  const list = await core.listNamespacedEvent({
    namespace: 'default',
    fieldSelector: `involvedObject.name=${name}`,
  });
  return list.items.filter((e) => e.message?.includes(actionId)).map((e) => e.reason);
}

beforeAll(async () => {
  await createReadyNamespace(kc, id);
  await createPoolNodes(kc, id, Object.values(nodes), { providerId });
}, 120_000);

afterAll(async () => {
  await deletePool(kc, { namespace: id, source: nodes.a, targets: [nodes.b, nodes.c, nodes.gone] });
}, 120_000);

describe('cordon and uncordon', () => {
  it('cordons with its mark, uncordons exactly that, and replays change nothing', async () => {
    const ctx = actionContext(kc);
    const cordon = makeAction('cordon_node', { nodeName: nodes.a, providerId: providerId(nodes.a) });
    const first = await cordonNodeExecutor.execute(cordon, ctx);
    expect(first).toMatchObject({ outcome: 'succeeded', details: { cordon: 'added', changed: true } });
    let node = await read(nodes.a);
    expect(node.spec?.unschedulable).toBe(true);
    expect(node.metadata?.annotations?.['clusteropt.io/cordoned-by']).toBe(cordon.id);
    await ctx.events.flush();
    expect(await nodeEvents(nodes.a, cordon.id)).toEqual(['ClusteroptCordon']);

    // kube-controller-manager answers a cordon with its node.kubernetes.io/unschedulable
    // taint (a write of its own); wait for it, so the version compared below is only ours.
    await waitFor(
      async () =>
        (await read(nodes.a)).spec?.taints?.some((t) => t.key === 'node.kubernetes.io/unschedulable'),
      { what: "kube-controller-manager's unschedulable taint", timeoutMs: 20_000 },
    );
    const before = await rv(nodes.a);
    const replay = await cordonNodeExecutor.execute(cordon, actionContext(kc));
    expect(replay).toMatchObject({
      outcome: 'succeeded',
      reason: 'already_done',
      details: { cordon: 'kept-agent' },
    });
    expect(await rv(nodes.a)).toBe(before);

    const uncordon = makeAction('uncordon_node', { nodeName: nodes.a, nodeUid: node.metadata!.uid! });
    const undone = await uncordonNodeExecutor.execute(uncordon, ctx);
    expect(undone).toMatchObject({ outcome: 'succeeded', details: { cordon: 'removed' } });
    node = await read(nodes.a);
    expect(node.spec?.unschedulable).toBeFalsy();
    expect(node.metadata?.annotations?.['clusteropt.io/cordoned-by']).toBeUndefined();
    await waitFor(
      async () =>
        !(await read(nodes.a)).spec?.taints?.some((t) => t.key === 'node.kubernetes.io/unschedulable'),
      { what: "kube-controller-manager's unschedulable taint gone", timeoutMs: 20_000 },
    );
    const after = await rv(nodes.a);
    expect(await uncordonNodeExecutor.execute(uncordon, actionContext(kc))).toMatchObject({
      reason: 'already_done',
    });
    expect(await rv(nodes.a)).toBe(after);
  });

  it("leaves an admin's cordon alone and says so", async () => {
    await core.patchNode(
      { name: nodes.b, body: { spec: { unschedulable: true } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const cordon = await cordonNodeExecutor.execute(
      makeAction('cordon_node', { nodeName: nodes.b }),
      actionContext(kc),
    );
    expect(cordon).toMatchObject({
      outcome: 'succeeded',
      reason: 'already_done',
      details: { cordon: 'kept-other' },
    });
    // A drain (nothing to evict) adds only its taint.
    const drain = await drainNodeExecutor.execute(
      makeAction('drain_node', { nodeName: nodes.b, timeoutSeconds: 30 }),
      actionContext(kc),
    );
    expect(drain.outcome).toBe('succeeded');
    expect(drain.details).toMatchObject({ cordon: 'kept-other', taint: 'added' });
    const uncordon = await uncordonNodeExecutor.execute(
      makeAction('uncordon_node', { nodeName: nodes.b }),
      actionContext(kc),
    );
    expect(uncordon).toMatchObject({
      outcome: 'succeeded',
      details: { cordon: 'left-other', taintRemoved: true },
    });
    expect(uncordon.message).toContain('cordoned by someone else');
    const node = await read(nodes.b);
    expect(node.spec?.unschedulable).toBe(true);
    expect(node.spec?.taints?.some((t) => t.key === 'clusteropt.io/draining')).toBe(false);
    await core.patchNode(
      { name: nodes.b, body: { spec: { unschedulable: null } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  });

  it('refuses a node whose identity does not match, and touches nothing', async () => {
    const before = await rv(nodes.c);
    const wrongProvider = await cordonNodeExecutor.execute(
      makeAction('cordon_node', { nodeName: nodes.c, providerId: 'aws:///eu-west-1a/i-other' }),
      actionContext(kc),
    );
    expect(wrongProvider).toMatchObject({ outcome: 'failed', reason: 'identity_mismatch' });
    expect(wrongProvider.message).toContain('i-other');
    const wrongUid = await drainNodeExecutor.execute(
      makeAction('drain_node', {
        nodeName: nodes.c,
        nodeUid: '00000000-0000-4000-8000-000000000000',
        timeoutSeconds: 10,
      }),
      actionContext(kc),
    );
    expect(wrongUid).toMatchObject({ outcome: 'failed', reason: 'identity_mismatch' });
    const deleteWrong = await deleteNodeExecutor.execute(
      makeAction('delete_node', { nodeName: nodes.c, providerId: 'aws:///x/i-y', timeoutSeconds: 10 }),
      actionContext(kc),
    );
    expect(deleteWrong).toMatchObject({ outcome: 'failed', reason: 'identity_mismatch' });
    expect(await rv(nodes.c)).toBe(before);
    const missing = await cordonNodeExecutor.execute(
      makeAction('cordon_node', { nodeName: `${id}-nope` }),
      actionContext(kc),
    );
    expect(missing).toMatchObject({ outcome: 'failed', reason: 'node_not_found' });
  });
});

describe('patch_node', () => {
  it('merges labels/annotations, replaces taints by key+effect, and replays as a no-op', async () => {
    const ctx = actionContext(kc);
    const setup = makeAction('patch_node', {
      nodeName: nodes.c,
      labels: { tier: 'spot', stale: 'x' },
      annotations: { 'example.com/note': 'hello' },
      taints: [
        { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
        { key: 'dedicated', value: 'gpu', effect: 'NoExecute' },
      ],
    });
    expect((await patchNodeExecutor.execute(setup, ctx)).outcome).toBe('succeeded');
    const change = makeAction('patch_node', {
      nodeName: nodes.c,
      labels: { stale: null, tier: 'on-demand' },
      taints: [{ key: 'dedicated', value: 'cpu', effect: 'NoSchedule' }],
      removeTaints: [{ key: 'dedicated', effect: 'NoExecute' }],
    });
    const result = await patchNodeExecutor.execute(change, ctx);
    expect(result).toMatchObject({
      outcome: 'succeeded',
      details: {
        labelsChanged: ['stale', 'tier'],
        taintsReplaced: ['dedicated:NoSchedule'],
        taintsRemoved: ['dedicated:NoExecute'],
      },
    });
    const node = await read(nodes.c);
    expect(node.metadata?.labels?.tier).toBe('on-demand');
    expect(node.metadata?.labels).not.toHaveProperty('stale');
    expect(node.metadata?.annotations?.['example.com/note']).toBe('hello');
    const ours = node.spec?.taints?.filter((t) => t.key === 'dedicated');
    expect(ours).toEqual([{ key: 'dedicated', value: 'cpu', effect: 'NoSchedule' }]);
    // The pool taint set up by the test is untouched.
    expect(node.spec?.taints?.some((t) => t.key === 'clusteropt-test/pool')).toBe(true);
    await ctx.events.flush();
    expect(await nodeEvents(nodes.c, change.id)).toEqual(['ClusteroptPatched']);

    const before = node.metadata?.resourceVersion;
    expect(await patchNodeExecutor.execute(change, actionContext(kc))).toMatchObject({
      reason: 'already_done',
    });
    expect(await rv(nodes.c)).toBe(before);
  });

  it('loses no taint when many actions patch the same node at once (resourceVersion guard)', async () => {
    const actions = Array.from({ length: 8 }, (_, i) =>
      makeAction('patch_node', { nodeName: nodes.c, taints: [{ key: `race-${i}`, effect: 'NoSchedule' }] }),
    );
    const results = await Promise.all(actions.map((a) => patchNodeExecutor.execute(a, actionContext(kc))));
    expect(results.every((r) => r.outcome === 'succeeded')).toBe(true);
    const keys = (await read(nodes.c)).spec?.taints?.map((t) => t.key) ?? [];
    for (let i = 0; i < 8; i++) expect(keys).toContain(`race-${i}`);
  });
});

describe('delete_node', () => {
  it('drains, deletes with a UID precondition, and a replay is a no-op', async () => {
    // Only the node to delete is open while the pods are placed; then the others take over.
    await setUnschedulable(kc, [nodes.a, nodes.b, nodes.c], true);
    await createPoolDeployment(kc, id, id, 'victim', { replicas: 2 });
    await waitForPodsRunning(kc, id, nodes.gone, 2);
    await setUnschedulable(kc, [nodes.a, nodes.b, nodes.c], false);
    const action = makeAction('delete_node', {
      nodeName: nodes.gone,
      providerId: providerId(nodes.gone),
      timeoutSeconds: 60,
    });
    const ctx = actionContext(kc);
    const result = await deleteNodeExecutor.execute(action, ctx);
    expect(result.outcome, result.message).toBe('succeeded');
    expect(result.details).toMatchObject({ deleted: true });
    expect((result.details as DrainDetails).evicted).toHaveLength(2);
    await expect(read(nodes.gone)).rejects.toMatchObject({ code: 404 });
    await ctx.events.flush();
    expect(await nodeEvents(nodes.gone, action.id)).toContain('ClusteroptNodeDeleted');
    const replay = await deleteNodeExecutor.execute(action, actionContext(kc));
    expect(replay).toMatchObject({ outcome: 'succeeded', reason: 'already_done' });
  });
});

describe('runAction', () => {
  it('turns an aborted signal into ActionAbortedError and has an idempotent executor for every type', async () => {
    const abort = new AbortController();
    abort.abort(new Error('shutdown'));
    await expect(
      runAction(
        makeAction('cordon_node', { nodeName: nodes.a }),
        actionContext(kc, { signal: abort.signal }),
      ),
    ).rejects.toBeInstanceOf(ActionAbortedError);
    expect(await rv(nodes.a)).toBeDefined();
    expect((await read(nodes.a)).spec?.unschedulable).toBeFalsy();

    // sync_hibernation_schedule is in the registry like every other type (issue 17; it used to
    // enter through the controller's extraExecutors, and runAction failed it).
    for (const type of ActionType.options) {
      expect(executorFor(type)?.idempotent).toBe(true);
    }
  });
});
