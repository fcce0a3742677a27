/**
 * Drains behind a PodDisruptionBudget for the fault suite (test/k8s/faults-*.test.ts,
 * agent-failover): a pool of kwok-managed nodes running one Deployment whose budget allows
 * one disruption at a time, a watcher that records the budget's healthy pods throughout
 * the run, and the checks that each drain's effect happened once.
 *
 * The pool: `drainNodes` nodes that the action mix drains and uncordons in turn (drain,
 * uncordon, drain, ... per node) and one spare node that is never drained, so the evicted
 * pods always have somewhere to go even when every drained node is cordoned at once (the
 * spare is tainted PreferNoSchedule, so pods use it only then).
 * Pods spread softly over the nodes (so an uncordoned node fills up again), have
 * terminationGracePeriodSeconds 0 (an accepted eviction removes the pod at once) and stay
 * on the pool's nodes (poolPlacement).
 *
 * No vitest imports: the checks return lists of problems, the tests assert they are empty.
 */
import {
  AppsV1Api,
  CoreV1Api,
  type CoreV1Event,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Node,
} from '@kubernetes/client-node';
import { drainingTaintKey } from '../../src/contract/marks.ts';
import {
  createPdb,
  createPoolNodes,
  createReadyNamespace,
  deletePool,
  poolKey,
  poolPlacement,
} from './drain-fixture.ts';
import { createDeployment, uniqueName } from './kube.ts';
import { type BudgetFloor, type BudgetWatch, watchBudgetFloor } from './pdb-watch.ts';
import { waitFor } from './wait.ts';

const spareTaintKey = 'clusteropt-test/spare';

export interface DrainPool {
  id: string;
  namespace: string;
  /** Drained and uncordoned in turn by the action mix. */
  nodes: string[];
  /** Never drained. */
  spare: string;
  app: string;
  replicas: number;
  minAvailable: number;
  budget: BudgetWatch;
  /** The next action on `node`: drain_node, then uncordon_node, alternating. */
  next(node: string): { type: 'drain_node' | 'uncordon_node'; payload: Record<string, unknown> };
  delete(): Promise<void>;
}

export interface DrainPoolOptions {
  prefix: string;
  drainNodes?: number;
  replicas?: number;
  /** The drain's timeoutSeconds; the budget shrinks by the action's age, so allow for queues and outages. */
  timeoutSeconds?: number;
}

export async function createDrainPool(kc: KubeConfig, options: DrainPoolOptions): Promise<DrainPool> {
  const id = uniqueName(options.prefix);
  const nodes = Array.from({ length: options.drainNodes ?? 3 }, (_, i) => `${id}-d${i}`);
  const spare = `${id}-spare`;
  const replicas = options.replicas ?? 6;
  const minAvailable = replicas - 1;
  const app = 'guarded';
  const timeoutSeconds = options.timeoutSeconds ?? 1_200;
  await Promise.all([createReadyNamespace(kc, id), createPoolNodes(kc, id, [...nodes, spare])]);
  // The spare is the last resort (PreferNoSchedule, not tolerated): pods land there only
  // while every drained node is cordoned, so they keep coming back to the nodes the mix
  // drains instead of piling up where nothing ever moves them.
  await kc.makeApiClient(CoreV1Api).patchNode(
    {
      name: spare,
      body: {
        spec: {
          taints: [
            { key: poolKey, value: id, effect: 'NoSchedule' },
            { key: spareTaintKey, value: 'true', effect: 'PreferNoSchedule' },
          ],
        },
      },
    },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  await createDeployment(kc, id, app, {
    replicas,
    podSpec: {
      ...poolPlacement(id),
      topologySpreadConstraints: [
        {
          maxSkew: 1,
          topologyKey: 'kubernetes.io/hostname',
          whenUnsatisfiable: 'ScheduleAnyway',
          labelSelector: { matchLabels: { app } },
        },
      ],
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'app', image: 'registry.invalid/app:1' }],
    },
  });
  await waitFor(
    async () => {
      const d = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: app, namespace: id });
      return (d.status?.readyReplicas ?? 0) === replicas;
    },
    { timeoutMs: 120_000, intervalMs: 500, what: `${id}/${app} ready` },
  );
  await createPdb(kc, id, app, app, { minAvailable });
  const budget = watchBudgetFloor(kc, { namespace: id, matchLabels: { app }, minAvailable });
  await budget.ready;
  const turns = new Map<string, number>();
  return {
    id,
    namespace: id,
    nodes,
    spare,
    app,
    replicas,
    minAvailable,
    budget,
    next(node) {
      const turn = turns.get(node) ?? 0;
      turns.set(node, turn + 1);
      return turn % 2 === 0
        ? { type: 'drain_node', payload: { nodeName: node, timeoutSeconds } }
        : { type: 'uncordon_node', payload: { nodeName: node } };
    },
    async delete() {
      await budget.stop().catch(() => undefined);
      await deletePool(kc, { namespace: id, source: spare, targets: nodes });
    },
  };
}

/** The budget held: armed, never below minAvailable, and really exercised (at its limit at least once). */
export function budgetProblems(pool: DrainPool, seen: BudgetFloor) {
  const problems: string[] = [];
  if (!seen.armed)
    problems.push(`budget ${pool.namespace}/${pool.app}: never saw ${pool.minAvailable} healthy pods`);
  for (const v of seen.violations.slice(0, 10))
    problems.push(
      `budget ${pool.namespace}/${pool.app} violated at ${v.at}: ${v.healthy} < ${pool.minAvailable}`,
    );
  if (seen.violations.length > 10) problems.push(`... and ${seen.violations.length - 10} more violations`);
  if (seen.floor > pool.minAvailable)
    problems.push(
      `budget never reached its limit (floor ${seen.floor}; ${seen.samples} pod events, ${seen.relists} relists): no drain evicted a guarded pod`,
    );
  return problems;
}

export interface PlannedPoolAction {
  id: string;
  type: string;
  node: string;
  step: number;
}

export interface ReportedAction {
  state: string;
  finishedAt: string | null;
  result: unknown;
}

export interface DrainEffects {
  problems: string[];
  drains: number;
  /** Pods evicted by the agent's drains (ClusteroptEvicted Events). */
  evictions: number;
  /** 429s the final run of each drain got from the budget (from its result). */
  tooManyRequests: number;
  /** Drains that started evicting more than once (resumed after an interruption). */
  restartedDrains: number;
  /** Per drain, as its result reported it: node, state, reason, pods evicted (for failure messages). */
  perDrain: string[];
}

/** For failure messages: how many drains evicted how many pods, and each drain's own report. */
export function describeDrains(e: DrainEffects): string {
  return `${e.drains} drains evicted ${e.evictions} pods (429s ${e.tooManyRequests}): ${e.perDrain.join(', ')}`;
}

function eventMs(e: CoreV1Event): number {
  const t = e.eventTime ?? e.firstTimestamp ?? e.lastTimestamp;
  return t ? new Date(t as unknown as string).getTime() : Number.NaN;
}

const actionIdIn = (message: string | undefined) =>
  /clusteropt action ([0-9a-f-]{36})/.exec(message ?? '')?.[1];

/**
 * Each drain's (and uncordon's) effect happened once, and never after it was reported:
 * - per action, at most one ClusteroptCordon / ClusteroptTainted / ClusteroptDrainSucceeded /
 *   ClusteroptUncordon Event on its node; none for an action rejected as superseded;
 * - a pod is evicted at most once, only by a drain of the node it ran on;
 * - no Event naming an action is newer than the action's reported finish (a re-run after
 *   the report would show there);
 * - a drain without its ClusteroptDrainSucceeded Event was resumed and found done
 *   (`already_done`: the run that changed the node was cut before its Event);
 * - the final node state is the last action per node: drained (cordoned, tainted, no guarded
 *   pod left) or uncordoned (schedulable, no draining taint).
 */
export async function drainEffects(
  kc: KubeConfig,
  pool: DrainPool,
  planned: PlannedPoolAction[],
  reported: Map<string, ReportedAction>,
  options: { settleMs?: number } = {},
): Promise<DrainEffects> {
  // Events are sent asynchronously (bounded wait before the report): look again for a while
  // when something is missing. A problem that is really there stays.
  const deadline = Date.now() + (options.settleMs ?? 0);
  for (;;) {
    const effects = await drainEffectsOnce(kc, pool, planned, reported);
    if (effects.problems.length === 0 || Date.now() >= deadline) return effects;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

async function drainEffectsOnce(
  kc: KubeConfig,
  pool: DrainPool,
  planned: PlannedPoolAction[],
  reported: Map<string, ReportedAction>,
): Promise<DrainEffects> {
  const core = kc.makeApiClient(CoreV1Api);
  const problems: string[] = [];
  const mine = planned.filter((p) => pool.nodes.includes(p.node));
  const byId = new Map(mine.map((p) => [p.id, p]));

  const nodeEvents = (
    await Promise.all(
      pool.nodes.map(
        async (name) =>
          (
            await core.listNamespacedEvent({
              namespace: 'default',
              fieldSelector: `involvedObject.kind=Node,involvedObject.name=${name}`,
            })
          ).items,
      ),
    )
  ).flat();
  const evictedEvents = (
    await core.listNamespacedEvent({ namespace: pool.namespace, fieldSelector: 'reason=ClusteroptEvicted' })
  ).items;

  const counted = ['ClusteroptCordon', 'ClusteroptTainted', 'ClusteroptDrainSucceeded', 'ClusteroptUncordon'];
  const counts = new Map<string, number>();
  const started = new Map<string, number>();
  for (const e of [...nodeEvents, ...evictedEvents]) {
    const id = actionIdIn(e.message);
    if (!id) continue;
    const p = byId.get(id);
    if (!p) {
      problems.push(
        `Event ${e.reason} names ${id}, which is no action of this run on ${e.involvedObject.name}`,
      );
      continue;
    }
    const a = reported.get(id);
    const finishedMs = a?.finishedAt ? Date.parse(a.finishedAt) : Number.NaN;
    // Event times have second precision (truncated): an Event of the run that was reported
    // is never later than the report; allow a second for clock rounding.
    if (!(eventMs(e) <= finishedMs + 1_000))
      problems.push(
        `${e.reason} of ${p.type} ${id} at ${new Date(eventMs(e)).toISOString()} is after its reported finish ${a?.finishedAt}`,
      );
    if (a?.state === 'rejected') problems.push(`${e.reason} names ${id}, which was rejected (superseded)`);
    const n = e.count ?? 1;
    if (counted.includes(e.reason ?? '')) {
      const key = `${id} ${e.reason}`;
      counts.set(key, (counts.get(key) ?? 0) + n);
    }
    if (e.reason === 'ClusteroptDrainStarted') started.set(id, (started.get(id) ?? 0) + n);
  }
  for (const [key, n] of counts) if (n > 1) problems.push(`${n} Events ${key} (applied more than once)`);

  // Pods: evicted at most once, by a drain of their own node.
  const perPod = new Map<string, number>();
  for (const e of evictedEvents) {
    const uid = e.involvedObject.uid ?? `${e.involvedObject.name}`;
    perPod.set(uid, (perPod.get(uid) ?? 0) + (e.count ?? 1));
    const id = actionIdIn(e.message);
    const p = id ? byId.get(id) : undefined;
    const from = /Evicted from node (\S+) /.exec(e.message ?? '')?.[1];
    if (p && p.type !== 'drain_node')
      problems.push(`pod ${e.involvedObject.name} evicted by ${p.type} ${id}`);
    if (p && from !== p.node)
      problems.push(`pod ${e.involvedObject.name} evicted from ${from} by the drain of ${p.node} (${id})`);
  }
  for (const [uid, n] of perPod) if (n > 1) problems.push(`pod ${uid} evicted ${n} times`);

  let tooManyRequests = 0;
  const perDrain: string[] = [];
  for (const p of mine) {
    const a = reported.get(p.id);
    if (!a || a.state === 'rejected') continue;
    const result = (a.result ?? {}) as {
      reason?: string;
      evicted?: unknown[];
      retries?: { tooManyRequests?: number };
    };
    if (p.type === 'drain_node') {
      perDrain.push(
        `${p.node} ${a.state}${result.reason ? ` (${result.reason})` : ''}: ${result.evicted?.length ?? '?'} evicted`,
      );
      tooManyRequests += result.retries?.tooManyRequests ?? 0;
      if ((counts.get(`${p.id} ClusteroptDrainSucceeded`) ?? 0) === 0 && result.reason !== 'already_done')
        problems.push(`drain ${p.id} of ${p.node}: no ClusteroptDrainSucceeded Event and not already_done`);
    }
  }

  // Final state: the last action per node (never superseded: nothing newer exists).
  const guarded = (
    await core.listNamespacedPod({ namespace: pool.namespace, labelSelector: `app=${pool.app}` })
  ).items.filter((p) => !p.metadata?.deletionTimestamp);
  for (const node of pool.nodes) {
    const last = mine.filter((p) => p.node === node).at(-1);
    if (!last) continue;
    const n: V1Node = await core.readNode({ name: node });
    const cordoned = n.spec?.unschedulable === true;
    const tainted = (n.spec?.taints ?? []).some((t) => t.key === drainingTaintKey);
    const podsHere = guarded.filter((p) => p.spec?.nodeName === node).length;
    if (last.type === 'drain_node' && !(cordoned && tainted && podsHere === 0))
      problems.push(
        `${node}: last action drain ${last.id}, but cordoned=${cordoned} tainted=${tainted} guarded pods=${podsHere}`,
      );
    if (last.type === 'uncordon_node' && (cordoned || tainted))
      problems.push(`${node}: last action uncordon ${last.id}, but cordoned=${cordoned} tainted=${tainted}`);
  }

  return {
    problems,
    drains: mine.filter((p) => p.type === 'drain_node').length,
    evictions: evictedEvents.reduce((s, e) => s + (e.count ?? 1), 0),
    tooManyRequests,
    restartedDrains: [...started.values()].filter((n) => n > 1).length,
    perDrain,
  };
}
