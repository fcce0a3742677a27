/**
 * drain_node against the real cluster (kwok nodes): kubectl parity on a 110-pod node, PDBs
 * (respected, exhausted, forced), NotReady nodes, abort + resume, replay.
 */
import { execFile } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrainDetails } from '../../src/actions/drain-node.ts';
import { drainNodeExecutor } from '../../src/actions/drain-node.ts';
import { ActionAbortedError } from '../../src/actions/types.ts';
import { createKubeClients } from '../../src/kube/clients.ts';
import {
  actionContext,
  createHundredTenPodNode,
  createPdb,
  createPoolDeployment,
  createPoolNodes,
  createReadyNamespace,
  deletePool,
  makeAction,
  type Pool,
  podsOnNode,
  poolPlacement,
  setUnschedulable,
  waitForPodsRunning,
} from '../support/drain-fixture.ts';
import {
  clusterBinDir,
  loadTestKubeConfig,
  testKubeconfigPath,
  uniqueName,
  waitFor,
} from '../support/kube.ts';
import { watchBudgetFloor } from '../support/pdb-watch.ts';

const run = promisify(execFile);
const kc: KubeConfig = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);

/** `kubectl drain --dry-run=server` with the given flags: the pods it would evict, or its refusal. */
async function kubectlDryRun(node: string, flags: string[]) {
  const kubectl = join(clusterBinDir(), 'kubectl');
  const args = [
    '--kubeconfig',
    testKubeconfigPath(),
    'drain',
    node,
    '--dry-run=server',
    '--timeout=60s',
    ...flags,
  ];
  const { stdout, stderr, code } = await run(kubectl, args).then(
    (r) => ({ ...r, code: 0 }),
    (err: { stdout: string; stderr: string; code: number }) => err,
  );
  const evicting = [...stdout.matchAll(/^evicting pod (\S+) \(server dry run\)$/gm)].map((m) => m[1]!).sort();
  // After "There are pending nodes to be drained:", one line per refusal, e.g.
  // "cannot delete Pods with local storage (use ...): ns/a, ns/b" (kubectl 1.34 doubles the
  // "cannot delete" of the no-controller message).
  const refused = new Map<string, string[]>();
  for (const m of stderr.matchAll(/^cannot delete (?:cannot delete )?(.+?) \(use [^)]*\): (.+)$/gm)) {
    refused.set(m[1]!, m[2]!.split(', ').sort());
  }
  return { code, evicting, refused, stderr };
}

const names = (pods: { namespace: string; name: string }[]) =>
  pods.map((p) => `${p.namespace}/${p.name}`).sort();

async function nodeState(name: string) {
  const node = await core.readNode({ name });
  return {
    resourceVersion: node.metadata?.resourceVersion,
    unschedulable: node.spec?.unschedulable === true,
    cordonedBy: node.metadata?.annotations?.['clusteropt.io/cordoned-by'],
    drainingTaint: node.spec?.taints?.find((t) => t.key === 'clusteropt.io/draining'),
  };
}

describe('drain of a node with 110 pods', () => {
  let pool: Pool;

  beforeAll(async () => {
    pool = await createHundredTenPodNode(kc);
  }, 240_000);

  afterAll(async () => {
    if (pool) await deletePool(kc, pool);
  }, 120_000);

  it('refuses, untouched, exactly the pods kubectl refuses', async () => {
    const kubectl = await kubectlDryRun(pool.source, ['--ignore-daemonsets']);
    expect(kubectl.code).not.toBe(0);
    const ctx = actionContext(kc);
    const before = await nodeState(pool.source);
    const result = await drainNodeExecutor.execute(
      makeAction('drain_node', { nodeName: pool.source, timeoutSeconds: 60 }),
      ctx,
    );
    expect(result).toMatchObject({ outcome: 'failed', reason: 'blocked' });
    const blocked = (result.details as DrainDetails).blocked;
    const byReason = (reason: string) => names(blocked.filter((b) => b.reason === reason));
    expect(byReason('local-storage')).toEqual(kubectl.refused.get('Pods with local storage'));
    expect(byReason('unmanaged')).toEqual(kubectl.refused.get('Pods that declare no controller'));
    expect(blocked).toHaveLength(6);
    // Refused before anything was touched.
    expect(await nodeState(pool.source)).toEqual(before);
    expect(before.unschedulable).toBe(false);
  });

  it('evicts exactly the pods kubectl would, critical ones last; replacements avoid the node', async () => {
    const flags = ['--ignore-daemonsets', '--delete-emptydir-data', '--force'];
    const kubectl = await kubectlDryRun(pool.source, flags);
    expect(kubectl.code, kubectl.stderr).toBe(0);
    expect(kubectl.evicting).toHaveLength(108);

    // kubectl's --force, allowed by policy (the controller hands these limits over).
    const ctx = actionContext(kc, { limits: { allowForce: true } });
    const action = makeAction('drain_node', {
      nodeName: pool.source,
      timeoutSeconds: 120,
      force: true,
      deleteEmptyDirData: true,
      ignoreDaemonSets: true,
    });
    const started = performance.now();
    const result = await drainNodeExecutor.execute(action, ctx);
    const elapsed = performance.now() - started;
    expect(result.outcome, result.message).toBe('succeeded');
    const d = result.details as DrainDetails;
    expect(names(d.evicted)).toEqual(kubectl.evicting);
    expect(d.skipped.map((s) => s.reason).sort()).toEqual(['daemonset', 'mirror']);
    expect(d.blocked).toEqual([]);
    expect(d.forceDeleted).toEqual([]);
    // Non-critical pods were all gone before the critical ones were evicted.
    expect(d.evicted.slice(-2).map((e) => e.name.split('-')[0])).toEqual(['dns', 'dns']);
    expect(d.evicted.slice(0, -2).every((e) => !e.critical)).toBe(true);
    console.log(`110-pod drain: ${Math.round(elapsed)} ms (${JSON.stringify(d.durationsMs)})`);

    // Cordoned and tainted with the action's marks.
    const state = await nodeState(pool.source);
    expect(state).toMatchObject({ unschedulable: true, cordonedBy: action.id });
    expect(state.drainingTaint).toMatchObject({ value: action.id, effect: 'NoSchedule' });

    // Replacements run on the other nodes, never on the drained one.
    for (const [name, replicas] of [
      ['web-a', 33],
      ['web-b', 33],
      ['web-c', 33],
      ['cache', 5],
      ['dns', 2],
    ] as const) {
      await waitFor(
        async () =>
          (await apps.readNamespacedDeployment({ name, namespace: pool.namespace })).status?.readyReplicas ===
          replicas,
        { timeoutMs: 120_000, what: `${name} ready again` },
      );
    }
    const left = await podsOnNode(kc, pool.source);
    expect(left.map((p) => p.metadata?.labels?.role).sort()).toEqual(['daemonset', 'mirror']);
    const all = await core.listNamespacedPod({ namespace: pool.namespace });
    for (const p of all.items.filter(
      (p) => p.metadata?.labels?.role !== 'daemonset' && p.metadata?.labels?.role !== 'mirror',
    )) {
      expect(pool.targets).toContain(p.spec?.nodeName);
    }

    // Events on the node and on every evicted pod name the action.
    await ctx.events.flush(10_000);
    const events = await core.listNamespacedEvent({
      namespace: pool.namespace,
      fieldSelector: 'reason=ClusteroptEvicted',
    });
    expect(events.items.filter((e) => e.message?.includes(action.id))).toHaveLength(108);
    const nodeEvents = await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: `involvedObject.name=${pool.source}`,
    });
    expect(
      nodeEvents.items
        .filter((e) => e.message?.includes(action.id))
        .map((e) => e.reason)
        .sort(),
    ).toEqual([
      'ClusteroptCordon',
      'ClusteroptDrainStarted',
      'ClusteroptDrainSucceeded',
      'ClusteroptTainted',
    ]);

    // Replaying the action after a "crash" changes nothing further.
    const again = await drainNodeExecutor.execute(action, actionContext(kc));
    expect(again).toMatchObject({ outcome: 'succeeded', reason: 'already_done' });
    expect((again.details as DrainDetails).evicted).toEqual([]);
    expect((await nodeState(pool.source)).resourceVersion).toBe(state.resourceVersion);
  });
});

/** Source + two target nodes and a namespace; pods placed by the test, then targets opened. */
async function smallPool(prefix: string): Promise<Pool> {
  const id = uniqueName(prefix);
  const pool: Pool = { id, namespace: id, source: `${id}-src`, targets: [`${id}-dst-1`, `${id}-dst-2`] };
  await Promise.all([
    createReadyNamespace(kc, id),
    createPoolNodes(kc, id, [pool.source]),
    createPoolNodes(kc, id, pool.targets, { unschedulable: true }),
  ]);
  return pool;
}

describe('drain with PodDisruptionBudgets', () => {
  const pools: Pool[] = [];
  afterAll(async () => {
    await Promise.all(pools.map((p) => deletePool(kc, p)));
  }, 120_000);

  it('never takes ready pods below minAvailable (PDB allowing one disruption)', async () => {
    const pool = await smallPool('pdb-one');
    pools.push(pool);
    await createPoolDeployment(kc, pool.namespace, pool.id, 'guarded', { replicas: 6 });
    await waitForPodsRunning(kc, pool.namespace, pool.source, 6);
    await createPdb(kc, pool.namespace, 'guarded', 'guarded', { minAvailable: 5 });
    await setUnschedulable(kc, pool.targets, false);

    const watcher = watchBudgetFloor(kc, { namespace: pool.namespace, matchLabels: { app: 'guarded' } });
    await watcher.ready;
    // The agent passes its leadership term's signal, which outlives the drain.
    const term = new AbortController();
    const result = await drainNodeExecutor.execute(
      makeAction('drain_node', { nodeName: pool.source, timeoutSeconds: 150 }),
      actionContext(kc, { signal: term.signal }),
    );
    const { floor, samples } = await watcher.stop();
    expect(result.outcome, result.message).toBe('succeeded');
    // Nothing of the finished drain stays hooked on the term's signal.
    expect(getEventListeners(term.signal, 'abort')).toHaveLength(0);
    const d = result.details as DrainDetails;
    expect(d.evicted).toHaveLength(6);
    // The budget really was in the way (the API answered 429) and was honoured.
    expect(d.retries.tooManyRequests).toBeGreaterThan(0);
    expect(samples).toBeGreaterThan(12);
    expect(floor).toBeGreaterThanOrEqual(5);
  });

  it('reports blocked at the budget end when the PDB allows nothing; force deletes', async () => {
    const pool = await smallPool('pdb-none');
    pools.push(pool);
    await createPoolDeployment(kc, pool.namespace, pool.id, 'pinned', {
      replicas: 2,
      terminationGracePeriodSeconds: 30,
    });
    await waitForPodsRunning(kc, pool.namespace, pool.source, 2);
    await createPdb(kc, pool.namespace, 'pinned', 'pinned', { maxUnavailable: 0 });
    await setUnschedulable(kc, pool.targets, false);

    // 1. No force: blocked when the 4 s budget ends, pods untouched.
    const started = performance.now();
    const blocked = await drainNodeExecutor.execute(
      makeAction('drain_node', { nodeName: pool.source, timeoutSeconds: 4 }),
      actionContext(kc),
    );
    const elapsed = performance.now() - started;
    expect(blocked).toMatchObject({ outcome: 'failed', reason: 'blocked' });
    const bd = blocked.details as DrainDetails;
    expect(bd.blocked.map((b) => b.reason)).toEqual(['pdb', 'pdb']);
    expect(bd.blocked[0]!.message).toMatch(/disruption budget/i);
    expect(elapsed).toBeGreaterThan(3_500);
    expect(elapsed).toBeLessThan(12_000);
    expect((await podsOnNode(kc, pool.source)).filter((p) => !p.metadata?.deletionTimestamp)).toHaveLength(2);

    // 1b. The budget counts from createdAt: an action already older than its timeout gets
    //     one eviction attempt per pod, then reports blocked at once.
    const lateStart = performance.now();
    const late = await drainNodeExecutor.execute(
      makeAction(
        'drain_node',
        { nodeName: pool.source, timeoutSeconds: 60 },
        { createdAt: new Date(Date.now() - 120_000).toISOString() },
      ),
      actionContext(kc),
    );
    expect(late).toMatchObject({ outcome: 'failed', reason: 'blocked', details: { budget: { ms: 0 } } });
    expect((late.details as DrainDetails).blocked.map((b) => b.attempts)).toEqual([1, 1]);
    expect(performance.now() - lateStart).toBeLessThan(3_000);

    // 2. kubectl's force, even allowed, never deletes past a PDB (as with kubectl drain --force).
    const kubectlForce = await drainNodeExecutor.execute(
      makeAction('drain_node', { nodeName: pool.source, timeoutSeconds: 2, force: true }),
      actionContext(kc, { limits: { allowForce: true } }),
    );
    expect(kubectlForce).toMatchObject({ outcome: 'failed', reason: 'blocked' });
    expect((await podsOnNode(kc, pool.source)).filter((p) => !p.metadata?.deletionTimestamp)).toHaveLength(2);

    // 2b. deletion at the budget end requested but the policy forbids it: still blocked, says why.
    const forbidden = await drainNodeExecutor.execute(
      makeAction('drain_node', { nodeName: pool.source, timeoutSeconds: 2, forceDeleteAtBudgetEnd: true }),
      actionContext(kc, { limits: { allowForce: true, allowForceDeleteAtBudgetEnd: false } }),
    );
    expect(forbidden).toMatchObject({ outcome: 'failed', reason: 'blocked' });
    expect(forbidden.message).toContain('forceDeleteAtBudgetEnd is not allowed');
    expect((await podsOnNode(kc, pool.source)).filter((p) => !p.metadata?.deletionTimestamp)).toHaveLength(2);

    // 3. allowed by name: deleted at the budget end with their own grace period, PDB bypassed.
    const forced = await drainNodeExecutor.execute(
      makeAction('drain_node', { nodeName: pool.source, timeoutSeconds: 2, forceDeleteAtBudgetEnd: true }),
      actionContext(kc, { limits: { allowForceDeleteAtBudgetEnd: true } }),
    );
    expect(forced.outcome, forced.message).toBe('succeeded');
    const fd = forced.details as DrainDetails;
    expect(fd.forceDeleted).toHaveLength(2);
    expect(fd.evicted).toEqual([]);
    expect(await podsOnNode(kc, pool.source)).toHaveLength(0);
    const events = await core.listNamespacedEvent({
      namespace: pool.namespace,
      fieldSelector: 'reason=ClusteroptForceDeleted',
    });
    expect(events.items.length).toBeGreaterThanOrEqual(2);
    expect(events.items[0]!.message).toContain('its own grace period (30s)');
  });
});

/** Bare pods bound to `node` (no controller: a drain needs force for them). */
async function createBarePods(namespace: string, node: string, names: string[], graceSeconds: number) {
  for (const name of names) {
    await core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name },
        spec: {
          nodeName: node,
          terminationGracePeriodSeconds: graceSeconds,
          containers: [{ name: 'app', image: 'registry.invalid/app:1' }],
          ...poolPlacement(namespace),
        },
      },
    });
  }
}

/** Nothing runs the pods of an unmanaged node: finish them by hand before the namespace goes. */
async function deleteUnrunPool(pool: Pool | undefined) {
  if (!pool) return;
  const pods = await core.listNamespacedPod({ namespace: pool.namespace });
  await Promise.all(
    pods.items.map((p) =>
      core
        .deleteNamespacedPod({ name: p.metadata!.name!, namespace: pool.namespace, gracePeriodSeconds: 0 })
        .catch(() => undefined),
    ),
  );
  await deletePool(kc, pool);
}

describe('drain of a NotReady node', () => {
  let pool: Pool | undefined;
  afterAll(() => deleteUnrunPool(pool), 120_000);

  it('does not wait forever for pods stuck terminating, and reports them', async () => {
    const id = uniqueName('notready');
    pool = { id, namespace: id, source: `${id}-dead`, targets: [] };
    await createReadyNamespace(kc, id);
    await createPoolNodes(kc, id, [pool.source], { managed: false });
    await createBarePods(id, pool.source, ['a', 'b', 'c'], 2);
    const started = performance.now();
    const result = await drainNodeExecutor.execute(
      makeAction('drain_node', { nodeName: pool.source, timeoutSeconds: 120, force: true }),
      actionContext(kc, { limits: { allowForce: true }, drainTuning: { notReadyMarginSeconds: 2 } }),
    );
    const elapsed = performance.now() - started;
    expect(result.outcome, result.message).toBe('succeeded');
    const d = result.details as DrainDetails;
    expect(d.stuck.map((s) => s.name).sort()).toEqual(['a', 'b', 'c']);
    expect(d.stuck.every((s) => s.reason === 'stuck-on-not-ready-node')).toBe(true);
    // grace 2 s + margin 2 s, not the 120 s budget.
    // (deletionTimestamp has whole seconds, so up to 1 s less.)
    expect(elapsed).toBeGreaterThan(2_900);
    expect(elapsed).toBeLessThan(20_000);
    // They are still there, terminating: no kubelet finished them.
    const left = await podsOnNode(kc, pool.source);
    expect(left).toHaveLength(3);
    expect(left.every((p) => p.metadata?.deletionTimestamp)).toBe(true);
  });
});

/**
 * A node Ready as far as the API server knows (so not "stuck on a NotReady node"), where
 * nothing runs: accepted deletions stay terminating, with the deletionTimestamp they got.
 */
async function readyUnrunPool(prefix: string): Promise<Pool> {
  const id = uniqueName(prefix);
  const pool = { id, namespace: id, source: `${id}-slow`, targets: [] };
  await createReadyNamespace(kc, id);
  await createPoolNodes(kc, id, [pool.source], { managed: false });
  // (Retried: kube-controller-manager updates a new node too, so a replace can meet a 409.)
  await waitFor(
    async () =>
      core
        .replaceNodeStatus({
          name: pool.source,
          body: {
            ...(await core.readNode({ name: pool.source })),
            status: {
              conditions: [
                {
                  type: 'Ready',
                  status: 'True',
                  reason: 'KubeletReady',
                  message: 'test',
                  lastHeartbeatTime: new Date(),
                  lastTransitionTime: new Date(),
                },
              ],
            },
          },
        })
        .then(
          () => true,
          () => false,
        ),
    { timeoutMs: 20_000, what: 'the node marked Ready' },
  );
  return pool;
}

describe('drain of a Ready node whose kubelet never finishes pods', () => {
  let pool: Pool | undefined;
  let gracePool: Pool | undefined;
  afterAll(async () => {
    await deleteUnrunPool(pool);
    await deleteUnrunPool(gracePool);
  }, 120_000);

  it('counts pods deleted but still terminating in its summary, not as "0 evicted"', async () => {
    pool = await readyUnrunPool('terminating');
    const id = pool.id;
    await createBarePods(id, pool.source, ['a', 'b', 'c'], 30);
    const result = await drainNodeExecutor.execute(
      makeAction('drain_node', {
        nodeName: pool.source,
        timeoutSeconds: 2,
        gracePeriodSeconds: 1,
        force: true,
      }),
      actionContext(kc, { limits: { allowForce: true } }),
    );
    expect(result.outcome).toBe('failed');
    const d = result.details as DrainDetails;
    expect(d.evicted).toEqual([]);
    expect(d.forceDeleted).toEqual([]);
    expect(d.blocked.map((b) => b.name).sort()).toEqual(['a', 'b', 'c']);
    expect(d.blocked.every((b) => b.reason === 'terminating')).toBe(true);
    expect(result.message).toContain('0 evicted, 0 force-deleted, 3 deleted but still terminating');
    const left = await podsOnNode(kc, pool.source);
    expect(left.every((p) => p.metadata?.deletionTimestamp)).toBe(true);
  }, 120_000);

  it('never shortens a grace period: a terminating pod keeps what is left of its own, others get at least the minimum', async () => {
    gracePool = await readyUnrunPool('grace');
    const { namespace, source } = gracePool;
    await createBarePods(namespace, source, ['leaving', 'staying'], 3600);
    // An admin deleted `leaving` with its full hour; it terminates on its own.
    await core.deleteNamespacedPod({ name: 'leaving', namespace, gracePeriodSeconds: 3600 });
    const before = await core.readNamespacedPod({ name: 'leaving', namespace });
    expect(before.metadata?.deletionGracePeriodSeconds).toBe(3600);
    // A hostile drain: grace 1, both kinds of force, allowed, a budget of 2 s.
    const result = await drainNodeExecutor.execute(
      makeAction('drain_node', {
        nodeName: source,
        timeoutSeconds: 2,
        gracePeriodSeconds: 1,
        force: true,
        forceDeleteAtBudgetEnd: true,
      }),
      actionContext(kc, {
        limits: { allowForce: true, allowForceDeleteAtBudgetEnd: true },
        drainTuning: { forcedDeleteMarginSeconds: 1 },
      }),
    );
    expect(result.outcome).toBe('failed');
    const leaving = await core.readNamespacedPod({ name: 'leaving', namespace });
    expect(leaving.metadata?.deletionTimestamp).toEqual(before.metadata?.deletionTimestamp);
    expect(leaving.metadata?.deletionGracePeriodSeconds).toBe(3600);
    // Evicted with the minimum grace (30 s by default), not the 1 s asked for; the forced
    // deletion at budget end left it alone (already terminating: deleting again could only
    // shorten it).
    const staying = await core.readNamespacedPod({ name: 'staying', namespace });
    expect(staying.metadata?.deletionGracePeriodSeconds).toBe(30);
    const d = result.details as DrainDetails;
    expect(d.forceDeleted).toEqual([]);
    expect(d.blocked.map((b) => b.reason).sort()).toEqual(['terminating', 'terminating']);
  }, 120_000);
});

describe('drain interrupted (lost leadership) and resumed', () => {
  let pool: Pool;
  afterAll(async () => {
    if (pool) await deletePool(kc, pool);
  }, 120_000);

  it('stops promptly on abort, leaves the node cordoned, and a re-run completes', async () => {
    pool = await smallPool('abort');
    await createPoolDeployment(kc, pool.namespace, pool.id, 'slow', { replicas: 8 });
    await waitForPodsRunning(kc, pool.namespace, pool.source, 8);
    // One at a time: the drain takes a while, long enough to be interrupted.
    await createPdb(kc, pool.namespace, 'slow', 'slow', { maxUnavailable: 1 });
    await setUnschedulable(kc, pool.targets, false);
    const action = makeAction('drain_node', { nodeName: pool.source, timeoutSeconds: 180 });

    const abort = new AbortController();
    let abortedAt = 0;
    const base = actionContext(kc, {
      signal: abort.signal,
      drainTuning: { retryBaseMs: 200, retryMaxMs: 1_000 },
    });
    // Leadership is lost right after the first eviction went through.
    const ctx = {
      ...base,
      events: {
        emit: (...args: Parameters<typeof base.events.emit>) => {
          base.events.emit(...args);
          if (args[2] === 'ClusteroptEvicted' && !abortedAt) {
            abortedAt = performance.now();
            abort.abort(new Error('lost leadership'));
          }
        },
        flush: (ms?: number) => base.events.flush(ms),
      },
    };
    const first = drainNodeExecutor.execute(action, ctx);
    await expect(first).rejects.toBeInstanceOf(ActionAbortedError);
    const stopMs = performance.now() - abortedAt;
    expect(abortedAt).toBeGreaterThan(0);
    expect(stopMs).toBeLessThan(2_000);
    const state = await nodeState(pool.source);
    expect(state).toMatchObject({ unschedulable: true, cordonedBy: action.id });
    const remaining = (await podsOnNode(kc, pool.source)).filter((p) => !p.metadata?.deletionTimestamp);
    expect(remaining.length).toBeGreaterThan(0);
    expect(remaining.length).toBeLessThan(8);

    // The new leader runs the same action again: it finishes the job.
    const second = await drainNodeExecutor.execute(action, actionContext(kc));
    expect(second.outcome, second.message).toBe('succeeded');
    // An eviction the first run had in flight may still land after the abort: the re-run
    // evicts what is left (at least one pod, never more than were left).
    const resumed = (second.details as DrainDetails).evicted.length;
    expect(resumed).toBeGreaterThan(0);
    expect(resumed).toBeLessThanOrEqual(remaining.length);
    expect(second.details).toMatchObject({ cordon: 'kept-agent', taint: 'present' });
    expect(await podsOnNode(kc, pool.source)).toHaveLength(0);
    console.log(`abort honoured in ${Math.round(stopMs)} ms; resumed drain evicted ${remaining.length}`);
  });
});

describe('drain refusals', () => {
  let pool: Pool;
  afterAll(async () => {
    if (pool) await deletePool(kc, pool);
  }, 120_000);

  it('refuses pods whose workload is do-not-disrupt, even with force, untouched', async () => {
    pool = await smallPool('dnd');
    await createPoolDeployment(kc, pool.namespace, pool.id, 'keep', {
      replicas: 2,
      annotations: { 'clusteropt.io/do-not-disrupt': 'true' },
    });
    await waitForPodsRunning(kc, pool.namespace, pool.source, 2);
    const before = await nodeState(pool.source);
    const result = await drainNodeExecutor.execute(
      makeAction('drain_node', {
        nodeName: pool.source,
        timeoutSeconds: 30,
        force: true,
        forceDeleteAtBudgetEnd: true,
      }),
      actionContext(kc, { limits: { allowForce: true, allowForceDeleteAtBudgetEnd: true } }),
    );
    expect(result).toMatchObject({ outcome: 'failed', reason: 'blocked' });
    const d = result.details as DrainDetails;
    expect(d.blocked.map((b) => b.reason)).toEqual(['do-not-disrupt', 'do-not-disrupt']);
    expect(d.blocked[0]!.message).toContain('Deployment/keep');
    expect(await nodeState(pool.source)).toEqual(before);
    expect(await podsOnNode(kc, pool.source)).toHaveLength(2);
  });

  it('undoes its own cordon when a blocking pod lands between its check and its cordon', async () => {
    await apps.patchNamespacedDeployment(
      {
        name: 'keep',
        namespace: pool.namespace,
        body: { metadata: { annotations: { 'clusteropt.io/do-not-disrupt': null } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const clients = createKubeClients(kc);
    let raced = false;
    // The race, made deterministic: an unmanaged pod is bound to the node just before the
    // drain's cordon patch goes out.
    const racingCore = new Proxy(clients.core, {
      get(target, prop, receiver) {
        if (prop === 'patchNode' && !raced) {
          return async (...args: Parameters<typeof target.patchNode>) => {
            raced = true;
            await core.createNamespacedPod({
              namespace: pool.namespace,
              body: {
                metadata: { name: 'latecomer' },
                spec: {
                  nodeName: pool.source,
                  containers: [{ name: 'app', image: 'registry.invalid/app:1' }],
                  ...poolPlacement(pool.id),
                },
              },
            });
            return target.patchNode(...args);
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    const result = await drainNodeExecutor.execute(
      makeAction('drain_node', { nodeName: pool.source, timeoutSeconds: 30 }),
      actionContext(kc, { kube: { ...clients, core: racingCore } }),
    );
    expect(raced).toBe(true);
    expect(result).toMatchObject({ outcome: 'failed', reason: 'blocked', details: { rolledBack: true } });
    expect((result.details as DrainDetails).blocked).toMatchObject([
      { name: 'latecomer', reason: 'unmanaged' },
    ]);
    const state = await nodeState(pool.source);
    expect(state).toMatchObject({ unschedulable: false, cordonedBy: undefined, drainingTaint: undefined });
    expect((await podsOnNode(kc, pool.source)).filter((p) => !p.metadata?.deletionTimestamp)).toHaveLength(3);
  });
});
