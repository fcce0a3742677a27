/**
 * Control-plane outage: nothing lost, nothing twice.
 *
 * The reference control plane runs as a child process (`control-plane serve --db F --listen
 * 127.0.0.1:PORT`) so it can be killed -9 and started again on the same database and port;
 * the agent runs as a child process too (`clusteropt-agent run`). 200 cheap actions
 * (patch_node labels, cordon/uncordon) in three phases:
 *   A  control plane up: 50 actions, every result lands;
 *   B  70 actions delivered to the agent while status reports stall (fault: held requests),
 *      then the control plane is KILLED: the agent executes them anyway and buffers every
 *      result in its outbox (asserted on /metrics `clusteropt_agent_outbox_depth` > 0);
 *   C  80 actions written to the control plane's database while it is down (as the
 *      `control-plane enqueue --db` CLI does), then the server comes back on the same port.
 * Then: every action ends succeeded, each was delivered exactly once (lease 600 s, so a
 * redelivery would show), the status log has exactly one lease and one terminal transition
 * per action, the agent's journal has each finished once, and the nodes show the last
 * action per node (order per target survived).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { installCrds } from '../../src/crds/install.ts';
import { ActionsRepo } from '../../src/reference-control-plane/actions-repo.ts';
import { openDatabase } from '../../src/reference-control-plane/db.ts';
import { StateStore } from '../../src/store/index.ts';
import {
  type AgentProcess,
  type ControlPlaneProcess,
  spawnAgent,
  spawnControlPlane,
} from '../bench/common/processes.ts';
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

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const dir = mkdtempSync(join(tmpdir(), 'clusteropt-cp-outage-'));
const patchNodes = Array.from({ length: 4 }, () => uniqueName('cpo-p'));
const cordonNodes = Array.from({ length: 2 }, () => uniqueName('cpo-c'));

let ns = '';
let cp: ControlPlaneProcess;
let agent: AgentProcess;
let clusterId = '';

interface Planned {
  type: 'patch_node' | 'cordon_node' | 'uncordon_node';
  node: string;
  payload: Record<string, unknown>;
  step: number;
}

/** Action i of the run: two patches, then a cordon or uncordon (alternating per node). */
function plan(i: number): Planned {
  if (i % 3 === 2) {
    const k = Math.floor(i / 3);
    const node = cordonNodes[k % cordonNodes.length]!;
    const type = Math.floor(k / cordonNodes.length) % 2 === 0 ? 'cordon_node' : 'uncordon_node';
    return { type, node, payload: { nodeName: node }, step: i };
  }
  const node = patchNodes[i % patchNodes.length]!;
  return {
    type: 'patch_node',
    node,
    payload: { nodeName: node, labels: { 'clusteropt.io/step': String(i) } },
    step: i,
  };
}

beforeAll(async () => {
  await installCrds(kc);
  ns = await createNamespace(kc, 'cp-outage');
  // Unmanaged kwok nodes: patch/cordon do not need a Ready node, and they cost kwok nothing.
  await createKwokNodes(kc, [...patchNodes, ...cordonNodes], { managed: false });
  cp = await spawnControlPlane({ dir, leaseSeconds: 600 });
  const created = await cp.admin.createCluster({ name: 'cp-outage' });
  clusterId = created.cluster.id;
  const keyFile = join(dir, 'api-key');
  writeFileSync(keyFile, created.apiKey, { mode: 0o600 });
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
  await agent?.kill();
  await cp?.kill();
  await deleteNodes(kc, [...patchNodes, ...cordonNodes]);
  await deleteNamespace(kc, ns);
  rmSync(dir, { recursive: true, force: true });
});

it('buffers results while the control plane is down and delivers each exactly once', async () => {
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
  await enqueueOverHttp(0, 50);
  await waitFor(() => allTerminal(planned.map((p) => p.id)), { timeoutMs: 60_000, what: 'phase A terminal' });

  // Phase B: status reports stall (held for 120 s), then the server dies.
  await cp.admin.addFault({ routes: ['status'], delayMs: 120_000, count: 100_000 });
  await enqueueOverHttp(50, 120);
  const phaseB = planned.slice(50).map((p) => p.id);
  await waitFor(
    async () => {
      const byId = new Map((await cp.admin.listActions(clusterId)).map((a) => [a.id, a]));
      return phaseB.every((id) => (byId.get(id)?.deliveredCount ?? 0) >= 1);
    },
    { timeoutMs: 30_000, what: 'phase B delivered to the agent' },
  );
  await cp.kill();
  const downAt = Date.now();

  // Phase C: queued while the server is down, straight into its database (like the CLI).
  const db = openDatabase(cp.dbPath);
  try {
    const repo = new ActionsRepo(db);
    for (let i = 120; i < 200; i++) {
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
          .slice(50, 120)
          .filter((p) => p.node === node && p.type === 'patch_node')
          .at(-1);
      return nodes.every(
        (n) => n.metadata?.labels?.['clusteropt.io/step'] === String(lastB(n.metadata!.name!)!.step),
      );
    },
    { timeoutMs: 30_000, what: 'phase B applied while the control plane is down' },
  );
  // Down for a while (at least 15 s): the agent's loops are deep in their backoff.
  await new Promise((r) => setTimeout(r, Math.max(0, 15_000 - (Date.now() - downAt))));
  const outageMs = Date.now() - downAt;

  // The server comes back on the same database and port.
  await cp.start();
  const ids = planned.map((p) => p.id);
  await waitFor(() => allTerminal(ids), {
    timeoutMs: 90_000,
    intervalMs: 500,
    what: 'all 200 actions terminal',
  });

  const actions = await cp.admin.listActions(clusterId);
  expect(actions).toHaveLength(200);
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
  for (const node of patchNodes) {
    const last = planned.filter((p) => p.node === node).at(-1)!;
    expect((await core.readNode({ name: node })).metadata?.labels?.['clusteropt.io/step']).toBe(
      String(last.step),
    );
  }
  for (const node of cordonNodes) {
    const last = planned.filter((p) => p.node === node).at(-1)!;
    expect((await core.readNode({ name: node })).spec?.unschedulable === true).toBe(
      last.type === 'cordon_node',
    );
  }

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
    `cp-outage: outage ${outageMs} ms, outbox depth seen while down ${depthWhileDown}, 200 actions, each delivered once; ` +
      `${phaseB.length - phaseBRunning}/${phaseB.length} running reports of the backlog superseded`,
  );
});
