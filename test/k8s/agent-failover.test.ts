/**
 * Two agent processes (`clusteropt-agent run`, each with its own state file, as two replicas
 * of the Deployment would have) against one cluster and one control plane. Only the Lease
 * holder executes; kill -9 of the leader in the middle of a stream of actions: the other
 * replica takes over within the lease duration and every action ends exactly once, in order
 * per node.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { installCrds } from '../../src/crds/install.ts';
import { createLogger } from '../../src/observability/logger.ts';
import {
  type ReferenceControlPlane,
  startReferenceControlPlane,
} from '../../src/reference-control-plane/index.ts';
import { freePort } from '../cluster/launcher.ts';
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
const coordination = kc.makeApiClient(CoordinationV1Api);
const cli = join(import.meta.dirname, '../../src/cli.ts');
const leaseSeconds = 4;

let ns = '';
let cp: ReferenceControlPlane;
let clusterId = '';
const dir = mkdtempSync(join(tmpdir(), 'clusteropt-failover-'));
const nodes = Array.from({ length: 6 }, () => uniqueName('fo'));
const agents = new Map<string, ChildProcess>();

async function startAgentProcess(name: string, keyFile: string): Promise<ChildProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      cli,
      'run',
      `--control-plane-url=${cp.url}`,
      '--allow-insecure-http',
      `--api-key-file=${keyFile}`,
      `--state-dir=${join(dir, name)}`,
      `--namespace=${ns}`,
      `--kubeconfig=${testKubeconfigPath()}`,
      `--listen-health=127.0.0.1:${port}`,
      '--poll-wait-seconds=5',
      `--leader-election-lease-duration-seconds=${leaseSeconds}`,
      '--leader-election-renew-deadline-seconds=3',
      '--leader-election-retry-period-seconds=1',
      '--log-level=warn',
    ],
    { env: { ...process.env, POD_NAME: name }, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  agents.set(name, child);
  // Up (and so already watching the Lease) once it serves /healthz.
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, {
    timeoutMs: 30_000,
    what: `${name} to serve /healthz`,
  });
  return child;
}

async function holder(): Promise<string | undefined> {
  const lease = await coordination
    .readNamespacedLease({ name: 'clusteropt-agent', namespace: ns })
    .catch(() => undefined);
  return lease?.spec?.holderIdentity?.split('_')[0] || undefined;
}

beforeAll(async () => {
  await installCrds(kc);
  ns = await createNamespace(kc, 'failover');
  await createKwokNodes(kc, nodes);
  cp = await startReferenceControlPlane({
    dbPath: join(dir, 'cp.db'),
    leaseSeconds: 10,
    logger: createLogger({ level: 'warn' }),
  });
  const created = await cp.admin.createCluster({ name: 'failover' });
  clusterId = created.cluster.id;
  const keyFile = join(dir, 'api-key');
  writeFileSync(keyFile, created.apiKey);
  await startAgentProcess('agent-a', keyFile);
  await waitFor(async () => (await holder()) === 'agent-a', { timeoutMs: 30_000, what: 'agent-a to lead' });
  await startAgentProcess('agent-b', keyFile);
});

afterAll(async () => {
  for (const child of agents.values()) child.kill('SIGKILL');
  await cp?.close();
  await deleteNodes(kc, nodes);
  await deleteNamespace(kc, ns);
});

it('fails over when the leader is killed and ends every action exactly once', async () => {
  const total = 48;
  const ids: { id: string; node: string; step: number }[] = [];
  let takeover: Promise<number> | undefined;
  for (let i = 0; i < total; i++) {
    const node = nodes[i % nodes.length]!;
    const action = await cp.admin.enqueue(clusterId, {
      type: 'patch_node',
      payload: { nodeName: node, labels: { 'clusteropt.io/step': String(i) } },
    });
    ids.push({ id: action.id, node, step: i });
    if (i === total / 3) {
      // Kill the leader mid-stream: no release, no cleanup.
      const leader = await holder();
      expect(leader === 'agent-a' || leader === 'agent-b').toBe(true);
      const survivor = leader === 'agent-a' ? 'agent-b' : 'agent-a';
      agents.get(leader!)!.kill('SIGKILL');
      const killedAt = Date.now();
      takeover = waitFor(async () => (await holder()) === survivor, {
        timeoutMs: (leaseSeconds + 4) * 1000,
        intervalMs: 100,
        what: `${survivor} to take over`,
      }).then(() => Date.now() - killedAt);
    }
    await new Promise((r) => setTimeout(r, 40));
  }
  // Takeover within the lease duration plus a retry period (and scheduling slack).
  const tookOverMs = await takeover!;
  expect(tookOverMs).toBeLessThan((leaseSeconds + 3) * 1000);

  await waitFor(
    async () => {
      const actions = await cp.admin.listActions(clusterId);
      return (
        actions.length === total && actions.every((a) => a.state === 'succeeded' || a.state === 'rejected')
      );
    },
    { timeoutMs: 60_000, what: `all ${total} actions finished` },
  );
  const actions = await cp.admin.listActions(clusterId);
  // An action the killed leader had received but not yet turned into an AgentAction is
  // redelivered after its lease; by then newer ones on its node ran, so it is superseded.
  const stateOf = new Map(actions.map((a) => [a.id, a]));
  for (const { id, node, step } of ids) {
    const a = stateOf.get(id)!;
    if (a.state === 'succeeded') continue;
    expect(a.message).toMatch(/^superseded/);
    // ... and only by a newer action on its node that succeeded.
    expect(
      ids.some((b) => b.node === node && b.step > step && stateOf.get(b.id)?.state === 'succeeded'),
    ).toBe(true);
  }
  // The newest action on each node is never superseded.
  for (const node of nodes)
    expect(stateOf.get(ids.filter((a) => a.node === node).at(-1)!.id)?.state).toBe('succeeded');
  const log = await cp.admin.clusterStatusLog(clusterId);
  const terminalStates = ['succeeded', 'failed', 'rejected', 'expired'];
  for (const { id } of ids) {
    const terminal = log.filter((e) => e.actionId === id && terminalStates.includes(e.toState));
    expect(terminal, `terminal transitions of ${id}`).toHaveLength(1);
  }
  // Per node, the last action applied wins: order per target survived the failover.
  for (const node of nodes) {
    const last = ids.filter((a) => a.node === node).at(-1)!;
    const labels = (await core.readNode({ name: node })).metadata?.labels ?? {};
    expect(labels['clusteropt.io/step']).toBe(String(last.step));
  }
});
