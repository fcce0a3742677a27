/**
 * Two agent processes (`clusteropt-agent run` via spawnAgent, each with its own state file, as
 * two replicas of the Deployment would have) against one cluster and one control plane. Only
 * the Lease holder executes; kill -9 of the leader in the middle of a stream of actions: the
 * other replica takes over within the lease duration, the killed one is started again (it
 * becomes the standby), and every action ends exactly once, in order per node.
 *
 * The stream: patch_node step labels on 6 kwok nodes, and drains/uncordons of nodes running
 * pods behind a PodDisruptionBudget (test/support/fault-drains.ts), so a failover can land in
 * the middle of a drain: the new leader resumes it from the AgentAction's Running status.
 * Sizes (test/support/faults.ts): FAULTS_SIZE=ci one failover over 48 actions;
 * FAULTS_SIZE=full 5 failovers over 240 (the leader of the moment is killed each time, at a
 * random, seeded point of its round of 48). Asserted besides: each drain's effect once, and
 * the budget's healthy pods never below minAvailable.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { installCrds } from '../../src/kube/install-crds.ts';
import { createLogger } from '../../src/observability/logger.ts';
import {
  type ReferenceControlPlane,
  startReferenceControlPlane,
} from '../../src/reference-control-plane/index.ts';
import { budgetProblems, createDrainPool, type DrainPool, drainEffects } from '../support/fault-drains.ts';
import { bySize, faultsSeed, faultsSize, seededRandom } from '../support/faults.ts';
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
const coordination = kc.makeApiClient(CoordinationV1Api);
const leaseSeconds = 4;
const failovers = bySize({ ci: 1, full: 5 });
const perRound = 48;
const total = failovers * perRound;
const seed = faultsSeed();
const random = seededRandom(seed);

let ns = '';
let cp: ReferenceControlPlane;
let clusterId = '';
let pool: DrainPool;
const dir = mkdtempSync(join(tmpdir(), 'clusteropt-failover-'));
const nodes = Array.from({ length: 6 }, () => uniqueName('fo'));
const agents = new Map<string, AgentProcess>();

async function holder(): Promise<string | undefined> {
  const lease = await coordination
    .readNamespacedLease({ name: 'clusteropt-agent', namespace: ns })
    .catch(() => undefined);
  return lease?.spec?.holderIdentity?.split('_')[0] || undefined;
}

let removeWidePolicy: (() => Promise<void>) | undefined;

beforeAll(async () => {
  await installCrds(kc);
  // The agent's mechanics under test, not its guardrails: every one widened (test/support/policy.ts).
  removeWidePolicy = await applyWidePolicy(kc, `test-wide-${process.pid}-${Date.now()}`);
  ns = await createNamespace(kc, 'failover');
  await createKwokNodes(kc, nodes);
  pool = await createDrainPool(kc, { prefix: 'fo-pdb' });
  cp = await startReferenceControlPlane({
    dbPath: join(dir, 'cp.db'),
    leaseSeconds: 10,
    logger: createLogger({ level: 'warn' }),
  });
  const keyFile = join(dir, 'api-key');
  ({ clusterId } = await registerCluster(cp, 'failover', keyFile));
  const spawn = (name: string) =>
    spawnAgent({
      name,
      dir,
      controlPlaneUrl: cp.url,
      apiKeyFile: keyFile,
      namespace: ns,
      kubeconfig: testKubeconfigPath(),
      args: [
        '--poll-wait-seconds=5',
        `--leader-election-lease-duration-seconds=${leaseSeconds}`,
        '--leader-election-renew-deadline-seconds=3',
        '--leader-election-retry-period-seconds=1',
      ],
    });
  agents.set('agent-a', await spawn('agent-a'));
  await waitFor(async () => (await holder()) === 'agent-a', { timeoutMs: 30_000, what: 'agent-a to lead' });
  agents.set('agent-b', await spawn('agent-b'));
});

afterAll(async () => {
  await removeWidePolicy?.();
  for (const agent of agents.values()) await agent.kill();
  await cp?.close();
  await deleteNodes(kc, nodes);
  await pool?.delete();
  await deleteNamespace(kc, ns);
  rmSync(dir, { recursive: true, force: true });
});

interface Planned {
  id: string;
  type: string;
  node: string;
  step: number;
}

it(
  `fails over ${failovers}x when the leader is killed and ends every action exactly once (${faultsSize()} size)`,
  async () => {
    console.log(
      `agent-failover: size ${faultsSize()}, seed ${seed} (FAULTS_SEED=${seed} replays the kill points)`,
    );
    const planned: Planned[] = [];
    const takeovers: number[] = [];
    const killedAt: number[] = [];
    let patches = 0;
    let poolTurns = 0;
    for (let round = 0; round < failovers; round++) {
      // Kill somewhere in the middle of the round (not in its first or last 8 actions).
      const killAt = 8 + Math.floor(random() * (perRound - 16));
      killedAt.push(killAt);
      let takeover: Promise<{ ms: number; killed: string }> | undefined;
      for (let j = 0; j < perRound; j++) {
        const i = round * perRound + j;
        let type: string;
        let node: string;
        let payload: Record<string, unknown>;
        if (i % 4 === 3) {
          node = pool.nodes[poolTurns++ % pool.nodes.length]!;
          ({ type, payload } = pool.next(node));
        } else {
          node = nodes[patches++ % nodes.length]!;
          type = 'patch_node';
          payload = { nodeName: node, labels: { 'clusteropt.io/step': String(i) } };
        }
        const action = await cp.admin.enqueue(clusterId, { type, payload });
        planned.push({ id: action.id, type, node, step: i });
        if (j === killAt) {
          // Kill the leader mid-stream: no release, no cleanup.
          const leader = await holder();
          expect(leader === 'agent-a' || leader === 'agent-b').toBe(true);
          const survivor = leader === 'agent-a' ? 'agent-b' : 'agent-a';
          await agents.get(leader!)!.kill();
          const t0 = Date.now();
          takeover = waitFor(async () => (await holder()) === survivor, {
            timeoutMs: (leaseSeconds + 4) * 1000,
            intervalMs: 100,
            what: `${survivor} to take over`,
          }).then(() => ({ ms: Date.now() - t0, killed: leader! }));
        }
        await new Promise((r) => setTimeout(r, 40));
      }
      // Takeover within the lease duration plus a retry period (and scheduling slack).
      const { ms, killed } = await takeover!;
      takeovers.push(ms);
      expect(ms).toBeLessThan((leaseSeconds + 3) * 1000);
      // The killed replica comes back on its state file and stands by.
      await agents.get(killed)!.start();
    }
    const ids = planned.map((p) => p.id);

    await waitFor(
      async () => {
        const actions = await cp.admin.listActions(clusterId);
        return (
          actions.length === total && actions.every((a) => a.state === 'succeeded' || a.state === 'rejected')
        );
      },
      { timeoutMs: bySize({ ci: 200_000, full: 300_000 }), what: `all ${total} actions finished` },
    );
    const actions = await cp.admin.listActions(clusterId);
    // An action the killed leader had received but not yet turned into an AgentAction is
    // redelivered after its lease; by then newer ones on its node ran, so it is superseded.
    const stateOf = new Map(actions.map((a) => [a.id, a]));
    let superseded = 0;
    for (const { id, node, step } of planned) {
      const a = stateOf.get(id)!;
      if (a.state === 'succeeded') continue;
      superseded++;
      expect(a.message).toMatch(/^superseded/);
      // ... and only by a newer action on its node that succeeded.
      expect(
        planned.some((b) => b.node === node && b.step > step && stateOf.get(b.id)?.state === 'succeeded'),
      ).toBe(true);
    }
    // The newest action on each node is never superseded.
    for (const node of [...nodes, ...pool.nodes]) {
      const last = planned.filter((a) => a.node === node).at(-1);
      if (last) expect(stateOf.get(last.id)?.state).toBe('succeeded');
    }
    const log = await cp.admin.clusterStatusLog(clusterId);
    const terminalStates = ['succeeded', 'failed', 'rejected', 'expired'];
    for (const id of ids) {
      const terminal = log.filter((e) => e.actionId === id && terminalStates.includes(e.toState));
      expect(terminal, `terminal transitions of ${id}`).toHaveLength(1);
    }
    // Per node, the last action applied wins: order per target survived the failovers.
    for (const node of nodes) {
      const last = planned.filter((a) => a.node === node).at(-1)!;
      const labels = (await core.readNode({ name: node })).metadata?.labels ?? {};
      expect(labels['clusteropt.io/step']).toBe(String(last.step));
    }
    // Drains: each one's effect once, never after its report; the budget held throughout.
    const drains = await drainEffects(kc, pool, planned, stateOf, { settleMs: 20_000 });
    expect(drains.problems).toEqual([]);
    const budget = await pool.budget.stop();
    expect(budgetProblems(pool, budget)).toEqual([]);
    const redelivered = actions.filter((a) => a.deliveredCount > 1).length;
    console.log(
      `agent-failover: ${total} actions, ${failovers} failovers (killed at action ${killedAt.join(', ')} of each round), ` +
        `takeover ${takeovers.join(', ')} ms; redelivered ${redelivered}; superseded ${superseded}; ` +
        `drains ${drains.drains}, pods evicted ${drains.evictions}, drains that evicted in more than one run ${drains.restartedDrains}; ` +
        `budget floor ${budget.floor} (minAvailable ${pool.minAvailable}) over ${budget.samples} pod events`,
    );
  },
  bySize({ ci: 360_000, full: 900_000 }),
);
