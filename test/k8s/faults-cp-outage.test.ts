/**
 * Control-plane outage: nothing lost, nothing twice.
 *
 * The reference control plane runs as a child process (`control-plane serve --db F --listen
 * 127.0.0.1:PORT`) so it can be killed -9 and started again on the same database and port;
 * the agent runs as a child process too (`clusteropt-agent run`). Per 5 actions: 3 patch_node
 * labels (4 unmanaged nodes), 1 cordon/uncordon (2 nodes), 1 drain/uncordon of a node
 * running pods behind a PodDisruptionBudget (test/support/fault-drains.ts). Sizes
 * (test/support/faults.ts): FAULTS_SIZE=ci 200 actions, control plane down >= 15 s;
 * FAULTS_SIZE=full 500 actions, down >= 5 minutes. Three phases (25% / 35% / 40%):
 *   A  control plane up: every result lands;
 *   B  actions delivered to the agent while status reports stall (fault: held requests),
 *      then the control plane is KILLED: the agent executes them anyway and buffers every
 *      result in its outbox (asserted on /metrics `clusteropt_agent_outbox_depth` > 0);
 *   C  actions written to the control plane's database while it is down (as the
 *      `control-plane enqueue --db` CLI does), then the server comes back on the same port.
 * Then: every action ends succeeded, each was delivered exactly once (lease 600 s, so a
 * redelivery would show), the status log has exactly one lease and one terminal transition
 * per action, the agent's journal has each finished once, and the nodes show the last
 * action per node (order per target survived); each drain's effect happened once, and the
 * budget's healthy pods never dropped below minAvailable at any moment of the run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { installCrds } from '../../src/kube/install-crds.ts';
import { ActionsRepo } from '../../src/reference-control-plane/actions-repo.ts';
import { openDatabase } from '../../src/reference-control-plane/db.ts';
import { StateStore } from '../../src/store/index.ts';
import { assertLastActionWins } from '../support/fault-checks.ts';
import { budgetProblems, createDrainPool, type DrainPool, drainEffects } from '../support/fault-drains.ts';
import { bySize, faultsSize } from '../support/faults.ts';
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
import {
  type AgentProcess,
  type ControlPlaneProcess,
  registerCluster,
  spawnAgent,
  spawnControlPlane,
} from '../support/processes.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const dir = mkdtempSync(join(tmpdir(), 'clusteropt-cp-outage-'));
const patchNodes = Array.from({ length: 4 }, () => uniqueName('cpo-p'));
const cordonNodes = Array.from({ length: 2 }, () => uniqueName('cpo-c'));
const total = bySize({ ci: 200, full: 500 });
/** Phase boundaries: A [0, endA), B [endA, endB), C [endB, total). */
const endA = Math.round(total * 0.25);
const endB = Math.round(total * 0.6);
/** The control plane stays down at least this long. */
const minOutageMs = bySize({ ci: 15_000, full: 300_000 });

let ns = '';
let pool: DrainPool;
let cp: ControlPlaneProcess;
let agent: AgentProcess;
let clusterId = '';

interface Planned {
  type: 'patch_node' | 'cordon_node' | 'uncordon_node' | 'drain_node';
  node: string;
  payload: Record<string, unknown>;
  step: number;
}

let patches = 0;
let poolTurns = 0;
/** Action i of the run (called once per i, in order): patches, a cordon or uncordon, a drain or uncordon. */
function plan(i: number): Planned {
  if (i % 5 === 4) {
    const node = pool.nodes[poolTurns++ % pool.nodes.length]!;
    return { ...pool.next(node), node, step: i };
  }
  if (i % 5 === 2) {
    const k = Math.floor(i / 5);
    const node = cordonNodes[k % cordonNodes.length]!;
    const type = Math.floor(k / cordonNodes.length) % 2 === 0 ? 'cordon_node' : 'uncordon_node';
    return { type, node, payload: { nodeName: node }, step: i };
  }
  const node = patchNodes[patches++ % patchNodes.length]!;
  return {
    type: 'patch_node',
    node,
    payload: { nodeName: node, labels: { 'clusteropt.io/step': String(i) } },
    step: i,
  };
}

let removeWidePolicy: (() => Promise<void>) | undefined;

beforeAll(async () => {
  await installCrds(kc);
  // The agent's mechanics under test, not its guardrails: every one widened (test/support/policy.ts).
  removeWidePolicy = await applyWidePolicy(kc, `test-wide-${process.pid}-${Date.now()}`);
  ns = await createNamespace(kc, 'cp-outage');
  // Unmanaged kwok nodes: patch/cordon do not need a Ready node, and they cost kwok nothing.
  await createKwokNodes(kc, [...patchNodes, ...cordonNodes], { managed: false });
  pool = await createDrainPool(kc, { prefix: 'cpo-pdb' });
  cp = await spawnControlPlane({ dir, leaseSeconds: 600 });
  const keyFile = join(dir, 'api-key');
  ({ clusterId } = await registerCluster(cp, 'cp-outage', keyFile));
  agent = await spawnAgent({
    name: 'agent',
    dir,
    controlPlaneUrl: cp.url,
    apiKeyFile: keyFile,
    namespace: ns,
    kubeconfig: testKubeconfigPath(),
    args: [
      '--poll-wait-seconds=5',
      '--heartbeat-interval-seconds=5',
      '--leader-election-lease-duration-seconds=4',
      '--leader-election-renew-deadline-seconds=3',
      '--leader-election-retry-period-seconds=1',
    ],
  });
});

afterAll(async () => {
  await removeWidePolicy?.();
  await agent?.kill();
  await cp?.kill();
  await deleteNodes(kc, [...patchNodes, ...cordonNodes]);
  await pool?.delete();
  await deleteNamespace(kc, ns);
  rmSync(dir, { recursive: true, force: true });
});

it(
  `buffers results while the control plane is down and delivers each exactly once (${faultsSize()} size: ${total} actions)`,
  async () => {
    const planned: (Planned & { id: string })[] = [];
    const enqueueOverHttp = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const p = plan(i);
        const action = await cp.admin.enqueue(clusterId, { type: p.type, payload: p.payload });
        planned.push({ ...p, id: action.id });
      }
    };
    const allTerminal = async (ids: string[]) => {
      const actions = await cp.admin.listActions(clusterId);
      const byId = new Map(actions.map((a) => [a.id, a]));
      return ids.every((id) =>
        ['succeeded', 'failed', 'rejected', 'expired'].includes(byId.get(id)?.state ?? ''),
      );
    };

    // Phase A: the control plane is up.
    const startedAt = Date.now();
    await enqueueOverHttp(0, endA);
    await waitFor(() => allTerminal(planned.map((p) => p.id)), {
      timeoutMs: bySize({ ci: 90_000, full: 300_000 }),
      what: 'phase A terminal',
    });

    // Phase B: status reports stall (held for 120 s), then the server dies.
    await cp.admin.addFault({ routes: ['status'], delayMs: 120_000, count: 100_000 });
    await enqueueOverHttp(endA, endB);
    const phaseB = planned.slice(endA).map((p) => p.id);
    await waitFor(
      async () => {
        const byId = new Map((await cp.admin.listActions(clusterId)).map((a) => [a.id, a]));
        return phaseB.every((id) => (byId.get(id)?.deliveredCount ?? 0) >= 1);
      },
      { timeoutMs: 60_000, what: 'phase B delivered to the agent' },
    );
    await cp.kill();
    const downAt = Date.now();

    // Phase C: queued while the server is down, straight into its database (like the CLI).
    const db = openDatabase(cp.dbPath);
    try {
      const repo = new ActionsRepo(db);
      for (let i = endB; i < total; i++) {
        const p = plan(i);
        const result = repo.enqueue({ clusterId, type: p.type, payload: p.payload });
        if (!result.ok) throw new Error(`enqueue failed: ${result.reason}`);
        planned.push({ ...p, id: result.action.id });
      }
    } finally {
      db.close();
    }

    // The agent keeps executing what it received; the results wait in its outbox.
    const depthWhileDown = await waitFor(
      async () => {
        const depth = (await agent.metric('clusteropt_agent_outbox_depth')) ?? 0;
        return depth > 0 ? depth : undefined;
      },
      {
        timeoutMs: 25_000,
        intervalMs: 500,
        what: 'outbox depth > 0 on /metrics while the control plane is down',
      },
    );
    expect(depthWhileDown).toBeGreaterThan(0);
    // Phase B was executed during the outage (the cluster does not need the control plane).
    await waitFor(
      async () => {
        const nodes = await Promise.all(patchNodes.map((name) => core.readNode({ name })));
        const lastB = (node: string) =>
          planned
            .slice(endA, endB)
            .filter((p) => p.node === node && p.type === 'patch_node')
            .at(-1);
        return nodes.every(
          (n) => n.metadata?.labels?.['clusteropt.io/step'] === String(lastB(n.metadata!.name!)!.step),
        );
      },
      { timeoutMs: 30_000, what: 'phase B applied while the control plane is down' },
    );
    // Down for a while (ci: at least 15 s, full: 5 minutes): the agent's loops are deep in
    // their backoff, and the drains of phase B go on without the control plane.
    await new Promise((r) => setTimeout(r, Math.max(0, minOutageMs - (Date.now() - downAt))));
    const outageMs = Date.now() - downAt;

    // The server comes back on the same database and port.
    await cp.start();
    const ids = planned.map((p) => p.id);
    await waitFor(() => allTerminal(ids), {
      timeoutMs: bySize({ ci: 120_000, full: 300_000 }),
      intervalMs: 500,
      what: `all ${total} actions terminal`,
    });
    const terminalAfterMs = Date.now() - downAt - outageMs;

    const actions = await cp.admin.listActions(clusterId);
    expect(actions).toHaveLength(total);
    expect(
      actions.filter((a) => a.state !== 'succeeded').map((a) => `${a.id} ${a.state}: ${a.message}`),
    ).toEqual([]);
    // Received once: no action was delivered (leased) twice.
    expect(
      actions.filter((a) => a.deliveredCount !== 1).map((a) => `${a.id} delivered ${a.deliveredCount}x`),
    ).toEqual([]);
    const log = await cp.admin.clusterStatusLog(clusterId);
    for (const { id } of planned) {
      const entries = log.filter((e) => e.actionId === id);
      expect(
        entries.filter((e) => e.source === 'lease'),
        `leases of ${id}`,
      ).toHaveLength(1);
      expect(
        entries.filter((e) => e.toState === 'succeeded'),
        `terminal transitions of ${id}`,
      ).toHaveLength(1);
      expect(entries.filter((e) => ['failed', 'rejected', 'expired'].includes(e.toState))).toHaveLength(0);
    }

    // The backlog replay skipped the `running` reports of actions that had finished by then
    // (the final report supersedes them): phase B went leased -> succeeded, mostly.
    const phaseBRunning = log.filter((e) => phaseB.includes(e.actionId) && e.toState === 'running').length;
    expect(phaseBRunning).toBeLessThan(phaseB.length / 2);

    // Per node, the last action wins (patches: the last step label; cordon: the last type).
    await assertLastActionWins(core, planned, { patchNodes, cordonNodes });

    // Drains: each one's effect once, never after its report; the budget held throughout.
    const drains = await drainEffects(kc, pool, planned, new Map(actions.map((a) => [a.id, a])), {
      settleMs: 20_000,
    });
    expect(drains.problems).toEqual([]);
    const budget = await pool.budget.stop();
    expect(budgetProblems(pool, budget)).toEqual([]);

    // Everything shipped: the outbox drains to 0 (the gauge refreshes every 10 s).
    await waitFor(async () => (await agent.metric('clusteropt_agent_outbox_depth')) === 0, {
      timeoutMs: 25_000,
      intervalMs: 500,
      what: 'outbox depth back to 0',
    });
    // The journal: each action received and finished exactly once, nothing left running.
    await agent.stop();
    const store = StateStore.open({ path: join(agent.stateDir, 'agent.db') });
    try {
      for (const { id } of planned)
        expect(store.journal.entry(id)?.finalState, `journal ${id}`).toBe('succeeded');
      expect(store.journal.interruptedActions()).toHaveLength(0);
      expect(store.journal.receivedActions()).toHaveLength(0);
      expect(store.stats().depth).toBe(0);
    } finally {
      store.close();
    }
    console.log(
      `cp-outage: size ${faultsSize()}, ${total} actions (A ${endA}, B ${endB - endA}, C ${total - endB}), each delivered once; ` +
        `outage ${outageMs} ms, outbox depth seen while down ${depthWhileDown}; all terminal ${terminalAfterMs} ms after the control plane returned; ` +
        `${phaseB.length - phaseBRunning}/${phaseB.length} running reports of the backlog superseded; ` +
        `drains ${drains.drains}, pods evicted ${drains.evictions}, budget 429s ${drains.tooManyRequests}; ` +
        `budget floor ${budget.floor} (minAvailable ${pool.minAvailable}) over ${budget.samples} pod events; ` +
        `whole run ${Date.now() - startedAt} ms`,
    );
  },
  bySize({ ci: 300_000, full: 1_500_000 }),
);
