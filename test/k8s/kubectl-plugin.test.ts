/**
 * `kubectl clusteropt` (src/kubectl-plugin/, the bundle package.json's bin names) as a child
 * process against the real test cluster, with the agent (`clusteropt-agent run`) and the
 * reference control plane as child processes:
 * status, actions, explain, approve, and the pause switch — holding actions that are already
 * queued, surviving a kill -9 of the leader and a new agent taking over, and releasing them on
 * resume. Bad input exits non-zero with a message and changes nothing.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentAction, agentActionName } from '../../src/crds/agent-action.ts';
import { installCrds } from '../../src/kube/install-crds.ts';
import { shippedBin } from '../support/agent-image.ts';
import {
  createKwokNodes,
  createNamespace,
  deleteNamespace,
  deleteNodes,
  loadTestKubeConfig,
  readAgentAction,
  testKubeconfigPath,
  uniqueName,
  waitFor,
} from '../support/kube.ts';
import { applyPolicy, applyWidePolicy, deletePolicy } from '../support/policy.ts';
import {
  type AgentProcess,
  type ControlPlaneProcess,
  registerCluster,
  spawnAgent,
  spawnControlPlane,
} from '../support/processes.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const dir = mkdtempSync(join(tmpdir(), 'clusteropt-plugin-'));
const nodes = Array.from({ length: 3 }, () => uniqueName('plug'));
const approvalPolicy = uniqueName('approval');
// The plugin's mechanics under test, not the guardrails (three cordons exceed the default
// maxUnavailableNodes of 10%): every one widened (test/support/policy.ts).
const widePolicy = uniqueName('plugin-wide');

let ns = '';
let emptyNs = '';
let cp: ControlPlaneProcess;
let clusterId = '';
let keyFile = '';
const agents: AgentProcess[] = [];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `kubectl-clusteropt ARGS` against the test cluster in the agent's namespace. */
function plugin(args: string[], namespace = ns): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [shippedBin('kubectl-clusteropt'), '--kubeconfig', testKubeconfigPath(), '-n', namespace, ...args],
      { encoding: 'utf8', timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function startAgent(name: string): Promise<AgentProcess> {
  const agent = await spawnAgent({
    name,
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
  agents.push(agent);
  await waitFor(async () => (await agent.metric('clusteropt_agent_leader')) === 1, {
    what: `${name} to lead`,
    timeoutMs: 60_000,
  });
  return agent;
}

const action = (id: string) => readAgentAction(kc, ns, id);

async function waitPhase(id: string, phase: string, reason?: RegExp): Promise<AgentAction> {
  return waitFor(
    async () => {
      const a = await action(id);
      return a?.status?.phase === phase && (!reason || reason.test(a.status.reason ?? '')) ? a : undefined;
    },
    { what: `action ${id} ${phase}`, timeoutMs: 60_000 },
  );
}

const unschedulable = async (node: string) =>
  (await core.readNode({ name: node })).spec?.unschedulable === true;

beforeAll(async () => {
  await installCrds(kc);
  ns = await createNamespace(kc, 'plugin');
  emptyNs = await createNamespace(kc, 'plugin-none');
  await createKwokNodes(kc, nodes, { managed: false });
  await applyWidePolicy(kc, widePolicy);
  cp = await spawnControlPlane({ dir });
  keyFile = join(dir, 'api-key');
  ({ clusterId } = await registerCluster(cp, 'plugin', keyFile));
  await startAgent('agent-a');
});

afterAll(async () => {
  for (const a of agents) await a.kill().catch(() => undefined);
  await cp?.kill();
  for (const name of ['clusteropt-pause', approvalPolicy, widePolicy]) {
    await deletePolicy(kc, name);
  }
  await deleteNodes(kc, nodes);
  await deleteNamespace(kc, ns);
  await deleteNamespace(kc, emptyNs);
  rmSync(dir, { recursive: true, force: true });
});

describe('kubectl clusteropt', () => {
  it('status shows the leader, readiness, the control plane and the outbox', async () => {
    const run = await waitFor(
      async () => {
        const r = await plugin(['status']);
        return r.code === 0 && /Control plane: +reachable/.test(r.stdout) && /Ready: +yes/.test(r.stdout)
          ? r
          : undefined;
      },
      // Readiness is published with the Lease from a check run every 10 s.
      { what: 'status ready with a reachable control plane', timeoutMs: 30_000 },
    );
    expect(run.stdout).toMatch(/Leader: +agent-a_/);
    expect(run.stdout).toMatch(/Ready: +yes/);
    expect(run.stdout).toMatch(/Outbox: +\d+ record/);
    expect(run.stdout).toMatch(/Paused: +no/);
  });

  it('refuses bad input with a message and a non-zero exit', async () => {
    const none = await plugin(['status'], emptyNs);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`no clusteropt agent in namespace ${emptyNs}`);
    const unknownCommand = await plugin(['drain']);
    expect(unknownCommand.code).toBe(2);
    expect(unknownCommand.stderr).toContain('unknown command "drain"');
    const unknownAction = await plugin(['approve', 'act-00000000-0000-4000-8000-000000000000']);
    expect(unknownAction.code).toBe(1);
    expect(unknownAction.stderr).toContain('unknown action "act-00000000-0000-4000-8000-000000000000"');
    const explainUnknown = await plugin(['explain', 'nope']);
    expect(explainUnknown.code).toBe(1);
    expect(explainUnknown.stderr).toContain('unknown action "nope"');
    const badState = await plugin(['actions', '--state', 'Sleeping']);
    expect(badState.code).toBe(2);
    expect(badState.stderr).toContain('unknown state "Sleeping"');
  });

  it('pause holds queued actions through a leader change; resume releases them', async () => {
    const paused = await plugin(['pause', '--reason', 'incident 42']);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toContain('paused: no new action starts');
    expect((await plugin(['pause'])).stdout).toContain('already paused');

    const ids: string[] = [];
    for (const node of nodes) {
      const a = await cp.admin.enqueue(clusterId, { type: 'cordon_node', payload: { nodeName: node } });
      ids.push(a.id);
    }
    for (const id of ids) await waitPhase(id, 'Pending', /clusteropt-pause:paused/);
    const listed = await plugin(['actions', '--state', 'pending']);
    expect(listed.code).toBe(0);
    for (const id of ids) expect(listed.stdout).toContain(agentActionName(id));
    const status = await plugin(['status']);
    expect(status.stdout).toMatch(
      /Paused: +yes, by AgentPolicy clusteropt-pause since \S+ ago \(incident 42\)/,
    );

    // Approving a paused action: it is not waiting for approval, so nothing changes.
    const approveHeld = await plugin(['approve', agentActionName(ids[0] as string)]);
    expect(approveHeld.code).toBe(1);
    expect(approveHeld.stderr).toContain(
      'does not need approval: it is Pending; AgentPolicy/clusteropt-pause:paused',
    );
    expect(
      (await action(ids[0] as string))?.metadata.annotations?.['clusteropt.io/approved'],
    ).toBeUndefined();

    const explained = await plugin(['explain', ids[0] as string]);
    expect(explained.code).toBe(0);
    expect(explained.stdout).toMatch(/Policy check now: WAIT for AgentPolicy clusteropt-pause \(paused\)/);
    expect(explained.stdout).toContain('clusteropt-pause paused: kubectl clusteropt resume');

    // The leader dies; a new agent (its own state) takes over and the pause still holds.
    await agents[0]?.kill();
    await startAgent('agent-b');
    await new Promise((r) => setTimeout(r, 3_000));
    for (const id of ids) expect((await action(id))?.status?.phase).toBe('Pending');
    for (const node of nodes) expect(await unschedulable(node)).toBe(false);

    const resumed = await plugin(['resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain('resumed');
    for (const id of ids) await waitPhase(id, 'Succeeded');
    for (const node of nodes) expect(await unschedulable(node)).toBe(true);
    expect((await plugin(['resume'])).stdout).toContain('not paused; nothing changed');
  });

  it('approve runs an action that waits for approval, once', async () => {
    await applyPolicy(kc, approvalPolicy, { approval: 'required' });
    const { id } = await cp.admin.enqueue(clusterId, {
      type: 'uncordon_node',
      payload: { nodeName: nodes[0] },
    });
    await waitPhase(id, 'WaitingApproval');
    const explained = await plugin(['explain', id]);
    expect(explained.stdout).toMatch(new RegExp(`${approvalPolicy} +approval +wait`));
    expect(explained.stdout).toContain(`kubectl clusteropt approve ${agentActionName(id)}`);

    const approved = await plugin(['approve', id]);
    expect(approved.code, approved.stderr).toBe(0);
    await waitPhase(id, 'Succeeded');
    expect(await unschedulable(nodes[0] as string)).toBe(false);
    const again = await plugin(['approve', id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('has finished (Succeeded): there is nothing to approve; nothing changed');
  });
});
