/**
 * Full disk under the state file: a clear error, nothing executed without its journal entry,
 * no result lost, automatic recovery when space returns, no corruption.
 *
 * The agent (`clusteropt-agent run`, a child process) keeps its state dir on a tmpfs of its
 * own (24 MiB, mounted by this test; root needed, as in CI). Node actions (patch_node step
 * labels on 4 kwok nodes, cordon/uncordon on 2) flow from the reference control plane (lease
 * 5 s) through the whole run:
 *   A  disk fine: 24 actions, all reported;
 *   B  a drain starts that cannot finish (its only pod is behind a budget allowing no
 *      disruption: it runs its whole 8 s budget); while it runs the file system is filled (a
 *      filler file) and actions keep coming: the agent turns not ready (/readyz names
 *      STATE_DISK_FULL, state_writable 0) and logs it ONCE; while full, every action that
 *      changed a node has its journal entry (read from the file, read-only); the drain ends
 *      (failed, budget exhausted) while the disk is full: its outcome is in the AgentAction's
 *      status and in memory, not journaled, not reported; then the filler is removed: the
 *      agent recovers by itself (no restart), reports the drain once with its real result,
 *      and finishes B; the guarded pod was never evicted (no budget violated);
 *   C  filled again while actions run, the agent is killed -9 while full, space returns, it
 *      is restarted on the same file and finishes everything.
 * Asserted at the end: every action reported exactly once (one terminal transition in the
 * control plane's status log), applied at most once (Node Events naming the action id), the
 * last action per node is what the node shows, journal finished for every action, nothing
 * left started, outbox drained, `PRAGMA integrity_check` ok; the log holds exactly one
 * "cannot be written" line per full episode. A second test checks the start-up error on a
 * full and on a read-only state dir: exit 1, one line naming the path, no stack trace.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { agentActionName } from '../../src/crds/agent-action.ts';
import { installCrds } from '../../src/kube/install-crds.ts';
import { createLogger } from '../../src/observability/logger.ts';
import {
  type ReferenceControlPlane,
  startReferenceControlPlane,
} from '../../src/reference-control-plane/index.ts';
import { shippedAgent } from '../support/agent-image.ts';
import {
  createPdb,
  createPoolDeployment,
  createPoolNodes,
  createReadyNamespace,
  deletePool,
  podsOnNode,
  waitForPodsRunning,
} from '../support/drain-fixture.ts';
import {
  assertExactlyOnce,
  assertJournal,
  nodeActionPlan,
  nodeEventsById,
  type PlannedAction,
  waitAllTerminal,
} from '../support/fault-checks.ts';
import { budgetProblems, createDrainPool, type DrainPool, drainEffects } from '../support/fault-drains.ts';
import {
  createKwokNodes,
  createNamespace,
  deleteNamespace,
  deleteNodes,
  loadTestKubeConfig,
  testKubeconfigPath,
  uniqueName,
  waitFor,
} from '../support/kube.ts';
import { applyWidePolicy } from '../support/policy.ts';
import { type AgentProcess, registerCluster, spawnAgent } from '../support/processes.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
// A drain that cannot finish (its only pod is guarded by a budget allowing no disruption):
// it runs for its whole 8 s budget, so the disk fills up WHILE it executes, and its result
// (failed: budget exhausted, the budget respected) has to wait for the disk.
const pool = uniqueName('df-pool');
const drainNode = `${pool}-n0`;
const dir = mkdtempSync(join(tmpdir(), 'clusteropt-disk-full-'));
const mnt = join(dir, 'mnt');
const smallMnt = join(dir, 'small');
const mounted: string[] = [];
const patchNodes = Array.from({ length: 4 }, () => uniqueName('df-p'));
const cordonNodes = Array.from({ length: 2 }, () => uniqueName('df-c'));
const allNodes = [...patchNodes, ...cordonNodes];

let ns = '';
/** Drains behind a budget (6 pods, minAvailable 5), as in every fault test: every 6th action. */
let drainPool: DrainPool;
let cp: ReferenceControlPlane;
let agent: AgentProcess;
let clusterId = '';
let keyFile = '';

function sh(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr || r.error?.message}`,
    );
}

/** A tmpfs of its own; a missing permission fails the test with a clear message (never a skip). */
function mountTmpfs(at: string, size: string): void {
  mkdirSync(at, { recursive: true });
  try {
    sh('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', at]);
  } catch (err) {
    throw new Error(
      `faults-disk-full needs to mount a tmpfs (run as root, as CI does): ${(err as Error).message}`,
    );
  }
  mounted.push(at);
}

/** Fills the file system holding `at` to the last byte. */
function fill(at: string): string {
  const file = join(at, 'filler');
  const fd = openSync(file, 'a');
  try {
    for (const chunk of [1 << 20, 4096, 512]) {
      const buf = Buffer.alloc(chunk, 1);
      for (;;) {
        try {
          writeSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

async function readyz(a: AgentProcess): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${a.healthPort}/readyz`);
  return { status: res.status, body: await res.text() };
}

/** Journal states straight from the file (read-only; works while the disk is full). */
function journalStates(path: string): Map<string, string> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT id, state FROM action_journal').all() as { id: string; state: string }[];
    return new Map(rows.map((r) => [r.id, r.state]));
  } finally {
    db.close();
  }
}

/**
 * A missing prerequisite (mount not permitted) fails every test of the file with its message:
 * thrown from beforeAll it would only show as "skipped" in the summary line.
 */
let prerequisite: Error | undefined;
function requirePrerequisites(): void {
  if (prerequisite) throw prerequisite;
}

let removeWidePolicy: (() => Promise<void>) | undefined;

beforeAll(async () => {
  try {
    mountTmpfs(mnt, '24m');
  } catch (err) {
    prerequisite = err as Error;
    return;
  }
  await installCrds(kc);
  // The agent's mechanics under test, not its guardrails: every one widened (test/support/policy.ts).
  removeWidePolicy = await applyWidePolicy(kc, `test-wide-${process.pid}-${Date.now()}`);
  ns = await createNamespace(kc, 'disk-full');
  await createKwokNodes(kc, allNodes, { managed: false });
  await createReadyNamespace(kc, pool);
  await createPoolNodes(kc, pool, [drainNode]);
  await createPoolDeployment(kc, pool, pool, 'guarded', { replicas: 1, terminationGracePeriodSeconds: 0 });
  await waitForPodsRunning(kc, pool, drainNode, 1);
  await createPdb(kc, pool, 'guarded', 'guarded', { minAvailable: 1 });
  drainPool = await createDrainPool(kc, { prefix: 'df-pdb' });
  cp = await startReferenceControlPlane({
    dbPath: join(dir, 'cp.db'),
    leaseSeconds: 5,
    logger: createLogger({ level: 'warn' }),
  });
  keyFile = join(dir, 'api-key');
  ({ clusterId } = await registerCluster(cp, 'disk-full', keyFile));
  agent = await spawnAgent({
    name: 'agent',
    dir,
    stateDir: join(mnt, 'state'),
    controlPlaneUrl: cp.url,
    apiKeyFile: keyFile,
    namespace: ns,
    kubeconfig: testKubeconfigPath(),
    logLevel: 'info',
    args: ['--poll-wait-seconds=5', '--heartbeat-interval-seconds=5', '--leader-election-enabled=false'],
  });
});

afterAll(async () => {
  await removeWidePolicy?.();
  await agent?.kill();
  await cp?.close();
  await deleteNodes(kc, allNodes).catch(() => undefined);
  await drainPool?.delete().catch(() => undefined);
  await deletePool(kc, { namespace: pool, source: drainNode, targets: [] }).catch(() => undefined);
  if (ns) await deleteNamespace(kc, ns).catch(() => undefined);
  for (const m of mounted.reverse()) spawnSync('umount', [m]);
  rmSync(dir, { recursive: true, force: true });
});

it('disk full while actions flow: not ready, logged once, nothing run unjournaled, recovers by itself; kill -9 while full', async () => {
  requirePrerequisites();
  const dbPath = join(agent.stateDir, 'agent.db');
  const planned: PlannedAction[] = [];
  const cordonTurns = new Map<string, number>();
  let poolTurns = 0;
  const enqueue = async () => {
    const i = planned.length;
    if (i % 6 === 5) {
      const node = drainPool.nodes[poolTurns++ % drainPool.nodes.length]!;
      const next = drainPool.next(node);
      const action = await cp.admin.enqueue(clusterId, { type: next.type, payload: next.payload });
      planned.push({ id: action.id, type: next.type as PlannedAction['type'], node, step: i });
      return;
    }
    const p = nodeActionPlan(i, patchNodes, cordonNodes, cordonTurns);
    const action = await cp.admin.enqueue(clusterId, { type: p.type, payload: p.payload });
    planned.push({ id: action.id, type: p.type, node: p.node, step: i });
  };
  const untilFull = async (phase: string) => {
    // Keep actions coming until the agent says the disk is full: SQLite first uses up the
    // room it already has (free pages, the WAL's own length), which takes a few writes.
    const t0 = performance.now();
    await waitFor(
      async () => {
        const r = await readyz(agent);
        if (r.status === 503 && r.body.includes('STATE_DISK_FULL')) return r;
        await enqueue();
        return undefined;
      },
      { timeoutMs: 60_000, intervalMs: 150, what: `${phase}: /readyz failing with STATE_DISK_FULL` },
    );
    expect(await agent.metric('clusteropt_agent_state_writable')).toBe(0);
    return Math.round(performance.now() - t0);
  };

  // A: disk fine.
  for (let i = 0; i < 24; i++) await enqueue();
  await waitAllTerminal(cp.admin, clusterId, planned.length, 60_000);
  expect((await readyz(agent)).status).toBe(200);

  // B: the guarded drain starts (journal 'started'), then the disk fills while it runs and
  // actions keep coming.
  const guardedPod = (await podsOnNode(kc, drainNode)).map((p) => p.metadata?.uid);
  expect(guardedPod).toHaveLength(1);
  const drain = await cp.admin.enqueue(clusterId, {
    type: 'drain_node',
    payload: { nodeName: drainNode, timeoutSeconds: 8 },
  });
  await waitFor(async () => journalStates(dbPath).get(drain.id) === 'started', {
    timeoutMs: 30_000,
    intervalMs: 50,
    what: 'the drain started (journal)',
  });
  let filler = fill(mnt);
  const fullAfterB = await untilFull('B');
  const fromB = planned.length;
  for (let i = 0; i < 12; i++) await enqueue();
  // While full: whatever changed a node was journaled first (node first, then the journal,
  // so a run that starts in between is no false alarm).
  let unjournaledChecks = 0;
  // Executed (the node changed) but the result not yet journaled: held in memory and retried.
  let resultsHeld = 0;
  for (let k = 0; k < 6; k++) {
    await new Promise((r) => setTimeout(r, 800));
    const events = await nodeEventsById(core, allNodes);
    const journal = journalStates(dbPath);
    for (const p of planned) {
      if ((events.get(p.id) ?? 0) === 0) continue;
      expect(
        ['started', 'finished'],
        `journal of ${p.id}, which changed its node while the disk was full`,
      ).toContain(journal.get(p.id));
      unjournaledChecks++;
    }
    resultsHeld = Math.max(
      resultsHeld,
      planned.filter((p) => (events.get(p.id) ?? 0) > 0 && journal.get(p.id) === 'started').length,
    );
  }
  expect((await readyz(agent)).status, 'still not ready while full').toBe(503);
  // The drain ended while the disk was full: its outcome is in the AgentAction's status (so a
  // restart would adopt it rather than run the drain again) and in memory, not yet journaled
  // or reported.
  const drainStatus = async (id = drain.id) =>
    (
      (await custom.getNamespacedCustomObject({
        group: 'clusteropt.io',
        version: 'v1alpha1',
        plural: 'agentactions',
        namespace: ns,
        name: agentActionName(id),
      })) as { status?: { phase?: string; message?: string } }
    ).status;
  await waitFor(async () => (await drainStatus())?.phase === 'Failed', {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: 'the drain ended (status Failed) while the disk is full',
  });
  expect(journalStates(dbPath).get(drain.id), 'drain result not journaled while full').toBe('started');
  expect((await cp.admin.listActions(clusterId)).find((a) => a.id === drain.id)?.state).not.toMatch(
    /succeeded|failed|rejected|expired/,
  );
  expect((await readyz(agent)).status, 'still not ready while full').toBe(503);
  const bActions = planned.length - fromB;
  // Not even taken: the agent does not poll while it cannot journal (no lease runs out,
  // nothing is redelivered for it).
  const takenWhileFull = (await cp.admin.listActions(clusterId)).filter(
    (a) => planned.slice(fromB).some((p) => p.id === a.id) && a.deliveredCount > 0,
  );
  expect(
    takenWhileFull.map((a) => a.id),
    'actions polled while the disk was full',
  ).toEqual([]);
  const heldWhileFull = planned.slice(fromB).filter((p) => !journalStates(dbPath).has(p.id)).length;
  // Space returns: recovery without a restart.
  rmSync(filler);
  const tRecover = performance.now();
  await waitFor(async () => (await readyz(agent)).status === 200, {
    timeoutMs: 15_000,
    intervalMs: 100,
    what: 'ready again after space returned',
  });
  const recoveredMs = Math.round(performance.now() - tRecover);
  expect(await agent.metric('clusteropt_agent_state_writable')).toBe(1);
  await waitAllTerminal(cp.admin, clusterId, planned.length + 1, 90_000);

  // C: full again while actions run (and a second guarded drain, started before the fill,
  // ends while full: its outcome is only in its status and in memory); kill -9 while full;
  // space returns; restart: the outcome is adopted from the status and reported once — the
  // drain is not run again.
  for (let i = 0; i < 6; i++) await enqueue();
  const drain2 = await cp.admin.enqueue(clusterId, {
    type: 'drain_node',
    payload: { nodeName: drainNode, timeoutSeconds: 8 },
  });
  await waitFor(async () => journalStates(dbPath).get(drain2.id) === 'started', {
    timeoutMs: 30_000,
    intervalMs: 50,
    what: 'the second drain started (journal)',
  });
  filler = fill(mnt);
  const fullAfterC = await untilFull('C');
  for (let i = 0; i < 8; i++) await enqueue();
  await waitFor(async () => (await drainStatus(drain2.id))?.phase === 'Failed', {
    timeoutMs: 30_000,
    intervalMs: 200,
    what: 'the second drain ended (status Failed) while the disk is full',
  });
  expect(journalStates(dbPath).get(drain2.id), 'second drain not journaled finished when killed').toBe(
    'started',
  );
  await agent.kill();
  rmSync(filler);
  await agent.start();
  for (let i = 0; i < 6; i++) await enqueue();
  await waitAllTerminal(cp.admin, clusterId, planned.length + 2, 90_000);
  const drain2Report = (await cp.admin.listActions(clusterId)).find((a) => a.id === drain2.id)!;
  expect(drain2Report.state).toBe('failed');
  expect(drain2Report.message).toBe((await drainStatus(drain2.id))?.message);
  const drainStarts = (
    await core.listNamespacedEvent({
      namespace: 'default',
      fieldSelector: `involvedObject.kind=Node,involvedObject.name=${drainNode},reason=ClusteroptDrainStarted`,
    })
  ).items.filter((e) => e.message?.includes(drain2.id));
  expect(
    drainStarts.reduce((n, e) => n + (e.count ?? 1), 0),
    'the second drain ran once (adopted after the restart, not re-run)',
  ).toBe(1);

  // The drain: reported once, as failed with the result it had (not a recovered placeholder),
  // and the budget held: the guarded pod was never evicted.
  const drainReport = (await cp.admin.listActions(clusterId)).find((a) => a.id === drain.id)!;
  expect(drainReport.state).toBe('failed');
  expect(drainReport.message).toBe((await drainStatus())?.message);
  expect(drainReport.message).not.toContain('recovered');
  const drainTerminal = (await cp.admin.clusterStatusLog(clusterId)).filter(
    (e) => e.actionId === drain.id && ['succeeded', 'failed', 'rejected', 'expired'].includes(e.toState),
  );
  expect(drainTerminal.map((e) => e.toState)).toEqual(['failed']);
  const drain2Terminal = (await cp.admin.clusterStatusLog(clusterId)).filter(
    (e) => e.actionId === drain2.id && ['succeeded', 'failed', 'rejected', 'expired'].includes(e.toState),
  );
  expect(drain2Terminal.map((e) => e.toState)).toEqual(['failed']);
  expect((await podsOnNode(kc, drainNode)).map((p) => p.metadata?.uid)).toEqual(guardedPod);

  const acc = await assertExactlyOnce({
    admin: cp.admin,
    clusterId,
    core,
    planned,
    patchNodes,
    cordonNodes,
    maxAlreadyDone: 3 * allNodes.length,
  });
  await agent.stop();
  assertJournal(dbPath, planned, acc);
  const reported = new Map((await cp.admin.listActions(clusterId)).map((a) => [a.id, a]));
  const drains = await drainEffects(kc, drainPool, planned, reported, { settleMs: 20_000 });
  expect(drains.problems).toEqual([]);
  const budget = await drainPool.budget.stop();
  expect(budgetProblems(drainPool, budget)).toEqual([]);
  {
    const store = journalStates(dbPath);
    expect(store.get(drain.id)).toBe('finished');
    expect(store.get(drain2.id)).toBe('finished');
  }

  // Logged once per state change, not once per row or retry.
  const lines = readFileSync(agent.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string; code?: string; err?: string });
  const cannotWrite = lines.filter((l) => l.msg.startsWith('state file cannot be written'));
  const writableAgain = lines.filter((l) => l.msg.startsWith('state file writable again'));
  // Two episodes (B, C); C ends with the kill. A probe can in principle succeed once on a
  // nearly full disk (WAL room) and the next write start a new episode: tolerated once each.
  expect(cannotWrite.length, 'one line per full episode').toBeGreaterThanOrEqual(2);
  expect(cannotWrite.length).toBeLessThanOrEqual(4);
  expect(new Set(cannotWrite.map((l) => l.code))).toEqual(new Set(['STATE_DISK_FULL']));
  expect(cannotWrite[0]?.err).toContain(dbPath);
  expect(writableAgain).toHaveLength(cannotWrite.length - 1);
  const fullMentions = lines.filter(
    (l) => l.level >= 40 && /STATE_DISK_FULL|disk full/.test(JSON.stringify(l)),
  );
  if (process.env.FAULTS_VERBOSE) for (const l of fullMentions) console.log(JSON.stringify(l));
  // One per episode from the agent, plus at most one per loop (poller, shipper, inventory).
  expect(fullMentions.length, fullMentions.map((l) => l.msg).join('\n')).toBeLessThanOrEqual(2 * 5);
  console.log(
    `disk-full: ${planned.length} actions; full after ${fullAfterB} ms (B) / ${fullAfterC} ms (C) of actions; ` +
      `B actions not even received in the journal while full ${heldWhileFull} of ${bActions}; node changes checked against the journal while full ${unjournaledChecks}; ` +
      `node actions caught between their node change and their journaled result while full ${resultsHeld}; ` +
      `ready again ${recoveredMs} ms after space returned; redelivered ${acc.redelivered}; resumed and found done ${acc.alreadyDone}; ` +
      `superseded ${acc.superseded.size}; warn/error lines about the full disk ${fullMentions.length}; ` +
      `pool: ${drains.drains} drains evicted ${drains.evictions} pods, budget floor ${budget.floor} (minAvailable ${drainPool.minAvailable})`,
  );
});

it('refuses to start on a full or read-only state dir with one clear line naming the path', () => {
  requirePrerequisites();
  mountTmpfs(smallMnt, '1m');
  const run = (stateDir: string) => {
    const image = shippedAgent();
    const r = spawnSync(
      process.execPath,
      [
        ...image.argv,
        'run',
        `--control-plane-url=${cp.url}`,
        '--allow-insecure-http',
        `--api-key-file=${keyFile}`,
        `--state-dir=${stateDir}`,
        `--namespace=${ns}`,
        `--kubeconfig=${testKubeconfigPath()}`,
        '--listen-health=127.0.0.1:0',
      ],
      { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...image.env } },
    );
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
  };
  const expectClear = (out: string, code: string, path: string) => {
    const fatal = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; code?: string; err?: string })
      .filter((l) => l.level >= 60);
    expect(fatal, out).toHaveLength(1);
    expect(fatal[0]).toMatchObject({ msg: 'agent cannot start', code });
    expect(fatal[0]?.err).toContain(path);
    expect(out, 'no stack trace').not.toMatch(/\n\s+at /);
  };

  const state = join(smallMnt, 'state');
  fill(smallMnt);
  const full = run(state);
  expect(full.status, full.out).toBe(1);
  expectClear(full.out, 'STATE_DISK_FULL', state);

  rmSync(join(smallMnt, 'filler'));
  sh('mount', ['-o', 'remount,ro', smallMnt]);
  const ro = run(join(smallMnt, 'state-ro'));
  expect(ro.status, ro.out).toBe(1);
  expectClear(ro.out, 'STATE_UNWRITABLE', join(smallMnt, 'state-ro'));
  // An existing file on a read-only volume: the same clear refusal.
  console.log(`disk-full start-up: full -> ${full.out.trim().split('\n').at(-1)}`);
});
