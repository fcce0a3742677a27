/**
 * Wall-clock steps (NTP) while the agent runs: nothing twice, nothing stuck, one leader.
 *
 * Two agent replicas (`clusteropt-agent run` child processes, leader election on: lease 6 s,
 * renew deadline 4 s, retry 1 s) run under libfaketime (LD_PRELOAD) with one shared,
 * changeable offset (FAKETIME_TIMESTAMP_FILE + FAKETIME_NO_CACHE) and
 * FAKETIME_DONT_FAKE_MONOTONIC=1: like a real NTP step, only CLOCK_REALTIME moves
 * (Date.now()); performance.now() and Node's timers do not. The test first checks that a
 * plain `node` under the same settings sees the offset in Date.now() and not in
 * performance.now(); without libfaketime it FAILS with the apt-get line to run.
 *
 * The agents' clock runs 3 h ahead (see `base`) and steps 0 → +2 h → −2 h → +1 day → 0
 * from there; at each step a burst of 10 node actions (patch_node step labels on 4 kwok
 * nodes, cordon/uncordon on 2) goes through, two of them with `expiresAt` 30 minutes ahead
 * of the control plane's clock (already past on the agents' clock), and a drain or uncordon
 * of a node of a pool whose 6 pods are behind a PodDisruptionBudget (minAvailable 5, drain
 * timeout 20 min), watched all along. Decided behaviour (docs/operator.md "Clock steps"):
 * the control plane's instants (createdAt, expiresAt, deadlines) are translated to the
 * agent's clock by the skew measured from each poll response's Date header, so none of those
 * actions expires and every drain gets its whole budget; the leader's
 * `clusteropt_agent_controlplane_clock_skew_seconds` must equal its clock's offset. A HibernationSchedule asleep
 * only in the hours h+2 and h+3 (UTC, h = the agents' hour now) covers a Deployment: the
 * +2 h step must put it to sleep within seconds (the schedule is re-evaluated on a step, not
 * at its timer up to 5 min later) and the step back must wake it. Throughout, /metrics
 * `clusteropt_agent_leader` of both replicas is sampled: never two leaders, and no
 * leadership change from the steps. Then, with the clock 2 h behind, the leader is killed
 * -9: the standby must take over within about a lease (its expiry of the old holder's Lease
 * is monotonic; on the wall clock the Lease would look fresh for 2 h). Last, a step to before
 * the API server certificate's notBefore (TLS fails) and back: everything resumes.
 * Asserted at the end: every action reported exactly once (one terminal transition), applied
 * at most once (Node Events), the expiring ones expired without an Event, the last action per
 * node is what the node shows, the journals agree, integrity ok, nothing left started.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { agentNamespaceLabel } from '../../src/controllers/hibernation/controller.ts';
import { installCrds } from '../../src/kube/install-crds.ts';
import { createLogger } from '../../src/observability/logger.ts';
import {
  type ReferenceControlPlane,
  startReferenceControlPlane,
} from '../../src/reference-control-plane/index.ts';
import { StateStore } from '../../src/store/index.ts';
import {
  assertExactlyOnce,
  nodeActionPlan,
  type PlannedAction,
  waitAllTerminal,
} from '../support/fault-checks.ts';
import {
  budgetProblems,
  createDrainPool,
  type DrainPool,
  describeDrains,
  drainEffects,
} from '../support/fault-drains.ts';
import {
  createDeployment,
  createKwokNodes,
  createNamespace,
  deleteNamespace,
  deleteNodes,
  loadTestKubeConfig,
  neverScheduledPodSpec,
  testKubeconfigPath,
  uniqueName,
  waitFor,
} from '../support/kube.ts';
import { applyWidePolicy } from '../support/policy.ts';
import { type AgentProcess, registerCluster, spawnAgent } from '../support/processes.ts';

const libfaketime = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const dir = mkdtempSync(join(tmpdir(), 'clusteropt-clock-jump-'));
const offsetFile = join(dir, 'faketime.rc');
const patchNodes = Array.from({ length: 4 }, () => uniqueName('cj-p'));
const cordonNodes = Array.from({ length: 2 }, () => uniqueName('cj-c'));
const allNodes = [...patchNodes, ...cordonNodes];
const run = uniqueName('cj');
const scheduleName = `${run}-sched`;
const hour = 3_600_000;
/**
 * The agents' clock runs 3 h ahead, and the steps are taken from there. The test cluster's
 * certificates are minutes old: a step to before their notBefore breaks every new TLS
 * connection to the API server (as it would in a real cluster whose certificate was rotated
 * within the step) — a different fault, checked separately at the end.
 */
const base = 3 * hour;

let ns = '';
let workNs = '';
let cp: ReferenceControlPlane;
const agents: AgentProcess[] = [];
let clusterId = '';
let pool: DrainPool;

const fakeEnv = {
  LD_PRELOAD: libfaketime,
  FAKETIME_TIMESTAMP_FILE: offsetFile,
  FAKETIME_NO_CACHE: '1',
  FAKETIME_DONT_FAKE_MONOTONIC: '1',
};

/**
 * libfaketime leaves /dev/shm/faketime_shm_<pid> (and sem.faketime_sem_<pid>) behind when a
 * process is killed; a later process that gets the same pid then fails to start ("shm_open
 * failed: File exists", libfaketime's README). The pids of every process this file ran
 * under libfaketime are collected and their leftovers removed at the end.
 */
const fakedPids = new Set<number>();
function trackPids(): void {
  for (const a of agents) if (a.child?.pid) fakedPids.add(a.child.pid);
}
function removeFaketimeLeftovers(): void {
  for (const pid of fakedPids) {
    for (const f of [`/dev/shm/faketime_shm_${pid}`, `/dev/shm/sem.faketime_sem_${pid}`])
      rmSync(f, { force: true });
  }
}

/** Steps the agents' wall clock to `base + ms`: libfaketime reads the file on every clock call. */
function setOffset(ms: number): void {
  const s = Math.round((base + ms) / 1000);
  writeFileSync(offsetFile, `${s >= 0 ? '+' : ''}${s}\n`);
}

async function leaders(): Promise<boolean[]> {
  return Promise.all(
    agents.map(async (a) =>
      a.child.exitCode === null && a.child.signalCode === null
        ? (await a.metric('clusteropt_agent_leader').catch(() => 0)) === 1
        : false,
    ),
  );
}

/**
 * A missing prerequisite fails every test of the file with its message (thrown from beforeAll
 * it would only show as "skipped" in the summary line).
 */
let prerequisite: Error | undefined;
function requirePrerequisites(): void {
  if (prerequisite) throw prerequisite;
}

let removeWidePolicy: (() => Promise<void>) | undefined;

beforeAll(async () => {
  if (!existsSync(libfaketime)) {
    prerequisite = new Error(
      `faults-clock-jump needs libfaketime at ${libfaketime}: apt-get install -y faketime (.ci/run installs it)`,
    );
    return;
  }
  setOffset(0);
  await installCrds(kc);
  // The agent's mechanics under test, not its guardrails: every one widened (test/support/policy.ts).
  removeWidePolicy = await applyWidePolicy(kc, `test-wide-${process.pid}-${Date.now()}`);
  ns = await createNamespace(kc, 'clock-jump');
  workNs = `${run}-work`;
  await core.createNamespace({ body: { metadata: { name: workNs, labels: { 'clock-jump': run } } } });
  await createDeployment(kc, workNs, 'web', { replicas: 2, podSpec: neverScheduledPodSpec });
  await createKwokNodes(kc, allNodes, { managed: false });
  // Drains behind a budget (minAvailable 5 of 6), with the pool's default timeout (20 min):
  // the budget shrinks by the action's age, which only the skew correction keeps at seconds
  // on agent clocks 1 h to 27 h ahead of the control plane's (uncorrected: no time at all).
  pool = await createDrainPool(kc, { prefix: 'cj-pdb' });
  cp = await startReferenceControlPlane({
    dbPath: join(dir, 'cp.db'),
    leaseSeconds: 5,
    logger: createLogger({ level: 'warn' }),
  });
  const keyFile = join(dir, 'api-key');
  ({ clusterId } = await registerCluster(cp, 'clock-jump', keyFile));
  for (const name of ['a', 'b']) {
    agents.push(
      await spawnAgent({
        name,
        dir,
        controlPlaneUrl: cp.url,
        apiKeyFile: keyFile,
        namespace: ns,
        kubeconfig: testKubeconfigPath(),
        logLevel: 'info',
        env: fakeEnv,
        args: [
          '--poll-wait-seconds=5',
          '--heartbeat-interval-seconds=5',
          '--leader-election-lease-duration-seconds=6',
          '--leader-election-renew-deadline-seconds=4',
          '--leader-election-retry-period-seconds=1',
        ],
      }),
    );
  }
  trackPids();
});

afterAll(async () => {
  await removeWidePolicy?.();
  trackPids();
  for (const a of agents) await a.kill();
  removeFaketimeLeftovers();
  await cp?.close();
  await custom
    .deleteClusterCustomObject({
      group: 'clusteropt.io',
      version: 'v1alpha1',
      plural: 'hibernationschedules',
      name: scheduleName,
    })
    .catch(() => undefined);
  await deleteNodes(kc, allNodes).catch(() => undefined);
  await pool?.delete().catch(() => undefined);
  if (workNs) await deleteNamespace(kc, workNs).catch(() => undefined);
  if (ns) await deleteNamespace(kc, ns).catch(() => undefined);
  if (process.env.FAULTS_KEEP) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
});

it('libfaketime steps Date.now() of a node child process and leaves performance.now() alone', () => {
  requirePrerequisites();
  writeFileSync(join(dir, 'probe.rc'), '+7200\n');
  const r = spawnSync(
    process.execPath,
    ['-e', 'console.log(JSON.stringify({ wall: Date.now(), mono: performance.now() }))'],
    { encoding: 'utf8', env: { ...process.env, ...fakeEnv, FAKETIME_TIMESTAMP_FILE: join(dir, 'probe.rc') } },
  );
  if (r.pid) fakedPids.add(r.pid);
  expect(r.status, r.stderr).toBe(0);
  const { wall, mono } = JSON.parse(r.stdout) as { wall: number; mono: number };
  expect(Math.abs(wall - Date.now() - 2 * hour), 'Date.now() under libfaketime').toBeLessThan(60_000);
  expect(mono, 'performance.now() is not faked').toBeLessThan(60_000);
});

it('steps of +2 h, -2 h and +1 day: one leader, actions once, expiry and budgets on the control-plane clock, schedules follow, failover on time', async () => {
  requirePrerequisites();
  const planned: PlannedAction[] = [];
  const cordonTurns = new Map<string, number>();
  let offsetMs = 0;
  const enqueue = async (expiring = false) => {
    const i = planned.length;
    const p = nodeActionPlan(i, patchNodes, cordonNodes, cordonTurns);
    // Expires 30 min from now on the control plane's clock: already past on the agents' clock
    // at every step but the last (1 h to 27 h ahead), so it runs only if the agent judges it
    // on the control plane's clock (the measured skew), as it must.
    const expiresAt = expiring ? new Date(Date.now() + 30 * 60_000).toISOString() : undefined;
    const action = await cp.admin.enqueue(clusterId, {
      type: p.type,
      payload: p.payload,
      ...(expiresAt ? { expiresAt } : {}),
    });
    planned.push({
      id: action.id,
      type: p.type,
      node: p.node,
      step: i,
      expectExpired: false,
    });
  };
  let poolTurns = 0;
  const enqueuePool = async () => {
    const node = pool.nodes[poolTurns++ % pool.nodes.length]!;
    const next = pool.next(node);
    const action = await cp.admin.enqueue(clusterId, { type: next.type, payload: next.payload });
    planned.push({ id: action.id, type: next.type as PlannedAction['type'], node, step: planned.length });
  };
  /** 10 node actions (2 with an expiry) and one drain or uncordon of a pool node. */
  const burst = async () => {
    for (let k = 0; k < 10; k++) {
      await enqueue(k === 3 || k === 7);
      if (k === 4) await enqueuePool();
    }
    await waitAllTerminal(cp.admin, clusterId, planned.length, 90_000);
  };
  /** The leader's measured skew (agent − control plane) is its clock's offset, to the second. */
  const expectSkew = async (label: string) => {
    const leader = agents[(await leaders()).indexOf(true)]!;
    const skewS = (await leader.metric('clusteropt_agent_controlplane_clock_skew_seconds')) ?? Number.NaN;
    const want = (base + offsetMs) / 1000;
    expect(
      Math.abs(skewS - want),
      `${label}: measured skew ${skewS} s, clock ${want} s ahead`,
    ).toBeLessThanOrEqual(1.5);
  };

  // Sample leadership all along: never two leaders; count changes of who leads.
  const samples: string[] = [];
  let both = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const l = await leaders();
      if (l.filter(Boolean).length > 1) both++;
      const who = l.map((x, i) => (x ? agents[i]!.name : '')).join('') || '-';
      if (samples.at(-1) !== who) samples.push(who);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  await waitFor(async () => (await leaders()).filter(Boolean).length === 1, {
    timeoutMs: 30_000,
    what: 'one leader',
  });
  const replicas = async () =>
    (await apps.readNamespacedDeployment({ namespace: workNs, name: 'web' })).spec?.replicas;
  // Asleep in the hours h+2 and h+3 (UTC) of every day; awake now, a day later, 2 h earlier.
  const h = new Date(Date.now() + base).getUTCHours();
  const matrix = Array.from({ length: 168 }, (_, slot) =>
    [(h + 2) % 24, (h + 3) % 24].includes(slot % 24) ? '1' : '0',
  ).join('');
  await custom.createClusterCustomObject({
    group: 'clusteropt.io',
    version: 'v1alpha1',
    plural: 'hibernationschedules',
    body: {
      apiVersion: 'clusteropt.io/v1alpha1',
      kind: 'HibernationSchedule',
      metadata: { name: scheduleName, labels: { [agentNamespaceLabel]: ns } },
      spec: { timezone: 'UTC', matrix, namespaceSelector: { matchLabels: { 'clock-jump': run } } },
    },
  });

  const timings: Record<string, number> = {};
  const step = async (label: string, ms: number, wantReplicas?: number) => {
    offsetMs = ms;
    setOffset(ms);
    const t0 = performance.now();
    if (wantReplicas !== undefined) {
      await waitFor(async () => (await replicas()) === wantReplicas, {
        timeoutMs: 20_000,
        intervalMs: 100,
        what: `${label}: web at ${wantReplicas} replicas`,
      });
      timings[label] = Math.round(performance.now() - t0);
    } else {
      await new Promise((r) => setTimeout(r, 1_500)); // the step detector samples every second
    }
    await burst();
    await expectSkew(label);
  };

  await step('start', 0);
  expect(await replicas()).toBe(2);
  await step('+2h', 2 * hour, 0);
  await step('-2h', -2 * hour, 2);
  await step('+1d', 24 * hour);
  expect(await replicas(), 'awake a day later (same hour)').toBe(2);
  await step('0', 0);
  expect(both, 'samples with two leaders').toBe(0);
  expect(
    samples.filter((s) => s !== '-'),
    'leadership never changed hands during the steps',
  ).toHaveLength(1);

  // Clock 2 h behind, leader killed -9: the standby takes over within about a lease.
  setOffset(-2 * hour);
  offsetMs = -2 * hour;
  await new Promise((r) => setTimeout(r, 1_500));
  const leaderIndex = (await leaders()).indexOf(true);
  const standby = agents[1 - leaderIndex]!;
  const tKill = performance.now();
  await agents[leaderIndex]!.kill();
  await waitFor(async () => (await standby.metric('clusteropt_agent_leader')) === 1, {
    timeoutMs: 20_000,
    intervalMs: 100,
    what: 'the standby leads after the leader was killed (clock 2 h behind)',
  });
  const takeoverMs = Math.round(performance.now() - tKill);
  expect(takeoverMs).toBeLessThan(12_000);
  await burst();

  // A step to before the API server certificate's notBefore (2 h before real time; the
  // test cluster's certificates are minutes old): new TLS connections fail (pooled ones
  // keep working), so the agent is restarted under it: it cannot reach Kubernetes at all.
  // When the clock is right again, everything resumes without another restart.
  offsetMs = -base - 2 * hour;
  setOffset(offsetMs);
  trackPids();
  await standby.kill();
  await standby.start();
  trackPids();
  const tlsBurstFrom = planned.length;
  for (let k = 0; k < 6; k++) await enqueue();
  await new Promise((r) => setTimeout(r, 6_000));
  const doneWhileBroken = (await cp.admin.listActions(clusterId)).filter(
    (a) => planned.slice(tlsBurstFrom).some((p) => p.id === a.id) && a.state === 'succeeded',
  ).length;
  offsetMs = 0;
  setOffset(0);
  const tBack = performance.now();
  await waitAllTerminal(cp.admin, clusterId, planned.length, 90_000);
  const resumedMs = Math.round(performance.now() - tBack);
  await waitFor(async () => (await standby.metric('clusteropt_agent_leader')) === 1, {
    timeoutMs: 30_000,
    what: 'leading again after the clock is right',
  });
  sampling = false;
  await sampler;
  expect(both, 'samples with two leaders').toBe(0);

  const acc = await assertExactlyOnce({
    admin: cp.admin,
    clusterId,
    core,
    planned,
    patchNodes,
    cordonNodes,
    maxAlreadyDone: allNodes.length,
  });
  // None expired: 30 min left on the control plane's clock, whatever the agents' clock said.
  expect(acc.expired.size).toBe(0);
  // Drains: each one's effect once, never after its report; the budget held throughout.
  const reported = new Map((await cp.admin.listActions(clusterId)).map((a) => [a.id, a]));
  const drains = await drainEffects(kc, pool, planned, reported, { settleMs: 20_000 });
  const budget = await pool.budget.stop();
  const budgetFloor = `budget floor ${budget.floor} (minAvailable ${pool.minAvailable})`;
  const drainDetail = `${describeDrains(drains)}; ${budgetFloor}`;
  expect(drains.problems, drainDetail).toEqual([]);
  expect(budgetProblems(pool, budget), drainDetail).toEqual([]);

  // The journals agree (each replica has its own file; an action is in the one that ran it,
  // or in both after a failover): finished as reported somewhere, never left started.
  // The last leader ships what it queued before it stops (a row queued later, e.g. an
  // instances delta of the pool's teardown, stays in the file for its next start: durable).
  await waitFor(async () => (await standby.metric('clusteropt_agent_outbox_depth')) === 0, {
    timeoutMs: 30_000,
    what: "the last leader's outbox to drain",
  });
  await standby.stop();
  const finals = new Map<string, string>();
  for (const a of agents) {
    const store = StateStore.open({ path: join(a.stateDir, 'agent.db') });
    try {
      expect(store.integrityCheck()).toEqual(['ok']);
      if (a === standby) {
        expect(store.journal.interruptedActions()).toHaveLength(0);
        const pending = store.outbox.peek({ maxRows: 10_000 });
        expect(
          pending.filter((r) => r.kind === 'status').map((r) => r.idempotencyKey),
          'results the last leader did not deliver',
        ).toEqual([]);
      }
      for (const p of planned) {
        const e = store.journal.entry(p.id);
        if (e?.state === 'finished' && e.finalState) finals.set(p.id, e.finalState);
      }
    } finally {
      store.close();
    }
  }
  for (const p of planned) {
    const want = acc.expired.has(p.id) ? 'expired' : acc.superseded.has(p.id) ? 'rejected' : 'succeeded';
    expect(finals.get(p.id), `journal of ${p.id}`).toBe(want);
  }
  console.log(
    `clock-jump: ${planned.length} actions over steps 0, +2h, -2h, +1d, 0, -2h; expired ${acc.expired.size}; ` +
      `superseded ${acc.superseded.size}; redelivered ${acc.redelivered}; leaders seen ${samples.join(' > ')}; ` +
      `${drains.drains} drains evicted ${drains.evictions} pods (429s ${drains.tooManyRequests}), ${budgetFloor}; ` +
      `schedule asleep ${timings['+2h']} ms after +2h, awake ${timings['-2h']} ms after -2h; ` +
      `standby led ${takeoverMs} ms after the leader was killed (clock 2 h behind); ` +
      `clock before the certificates' notBefore: ${doneWhileBroken} of 6 done meanwhile, all done ${resumedMs} ms after it was right`,
  );
});
