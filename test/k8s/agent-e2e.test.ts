/**
 * End to end: actions enqueued on the reference control plane become AgentActions, pass the
 * policy check, are executed against the real cluster, and their outcome reaches the
 * control plane — the same path `clusteropt-agent run` takes.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCrds } from '../../src/kube/install-crds.ts';
import { type AgentStack, startAgentStack } from '../support/agent.ts';
import {
  clusterBinDir,
  createDeployment,
  createKwokNodes,
  createNamespace,
  deleteNamespace,
  deleteNodes,
  loadTestKubeConfig,
  testKubeconfigPath,
  uniqueName,
  waitFor,
  waitForDeploymentReady,
} from '../support/kube.ts';
import { applyPolicy, deletePolicy } from '../support/policy.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);

function kubectl(args: string[]): string {
  return execFileSync(join(clusterBinDir(), 'kubectl'), ['--kubeconfig', testKubeconfigPath(), ...args], {
    encoding: 'utf8',
  });
}

describe('agent end to end', () => {
  let ns = '';
  let stack: AgentStack;
  const group = uniqueName('grp');
  const nodes = [uniqueName('e2e'), uniqueName('e2e'), uniqueName('e2e')];

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, 'agent');
    await createKwokNodes(kc, nodes, { labels: { 'clusteropt.io/group': group } });
    stack = await startAgentStack({ namespace: ns });
    await waitFor(() => stack.agent.isLeader(), { what: 'agent to lead', timeoutMs: 30_000 });
  });

  afterAll(async () => {
    await stack?.stop();
    await deleteNodes(kc, nodes);
    await deleteNamespace(kc, ns);
  });

  it('reports the cluster nodes as instances to the control plane', async () => {
    const list = await waitFor(
      async () => {
        const { instances } = await stack.cp.admin.listInstances(stack.clusterId);
        const names = instances.map((i) => i.nodeName);
        return nodes.every((n) => names.includes(n)) ? instances : undefined;
      },
      { timeoutMs: 30_000, what: 'instances at the control plane' },
    );
    expect(list.find((i) => i.nodeName === nodes[0])?.lifecycle).toBe('unknown');
  });

  it('cordons a node enqueued on the control plane and shows it in kubectl get aact', async () => {
    const id = await stack.enqueue('cordon_node', { nodeName: nodes[0] });
    const done = await stack.waitForState(id, ['succeeded', 'failed', 'rejected']);
    expect(done.state).toBe('succeeded');
    expect((await core.readNode({ name: nodes[0]! })).spec?.unschedulable).toBe(true);
    const table = kubectl(['get', 'aact', '-n', ns, '--no-headers', `act-${id}`]);
    expect(table).toMatch(new RegExp(`act-${id}\\s+cordon_node\\s+node/${nodes[0]}\\s+Succeeded`));
    // The control plane heard `running` once (the poller's acknowledgement), then the result.
    expect((await stack.cp.admin.actionStatusLog(id)).map((e) => e.toState)).toEqual([
      'queued',
      'leased',
      'running',
      'succeeded',
    ]);
    // Quick and never Running: no Started/Succeeded Events on the AgentAction (its Finished
    // condition says it), the node carries the Event of the change.
    const eventsOf = async (namespace: string, name: string) =>
      (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` })).items;
    await waitFor(async () => (await eventsOf('default', nodes[0]!)).some((e) => e.message?.includes(id)), {
      what: 'the ClusteroptCordon Event on the node',
      timeoutMs: 10_000,
    });
    expect((await eventsOf(ns, `act-${id}`)).map((e) => e.reason)).toEqual([]);
    const aact = (await custom.getNamespacedCustomObject({
      group: 'clusteropt.io',
      version: 'v1alpha1',
      namespace: ns,
      plural: 'agentactions',
      name: `act-${id}`,
    })) as { status?: { conditions?: { type: string; reason: string }[] } };
    expect(aact.status?.conditions).toEqual([
      expect.objectContaining({ type: 'Finished', reason: 'Succeeded' }),
    ]);
    // A failure still gets its Warning Event on the AgentAction.
    const missing = await stack.enqueue('cordon_node', { nodeName: `${nodes[0]}-missing` });
    expect((await stack.waitForState(missing, ['succeeded', 'failed', 'rejected'])).state).toBe('failed');
    await waitFor(
      async () =>
        (await eventsOf(ns, `act-${missing}`)).some((e) => e.type === 'Warning' && e.reason === 'Failed'),
      { what: 'the Failed Warning Event on the AgentAction', timeoutMs: 10_000 },
    );
    // uncordon restores it
    const undo = await stack.enqueue('uncordon_node', { nodeName: nodes[0] });
    expect((await stack.waitForState(undo, ['succeeded', 'failed', 'rejected'])).state).toBe('succeeded');
    expect((await core.readNode({ name: nodes[0]! })).spec?.unschedulable).toBeFalsy();
  });

  it('drains a node: its pods move to the other nodes and the control plane sees success', async () => {
    await createDeployment(kc, ns, 'web', {
      replicas: 6,
      podSpec: {
        nodeSelector: { 'clusteropt.io/group': group },
        containers: [{ name: 'web', image: 'registry.invalid/web:1' }],
      },
    });
    await waitForDeploymentReady(kc, ns, 'web', 6);
    const onNode = async (node: string) =>
      (await core.listNamespacedPod({ namespace: ns, fieldSelector: `spec.nodeName=${node}` })).items.filter(
        (p) => !p.metadata?.deletionTimestamp,
      );
    const victim = (await Promise.all(nodes.map(async (n) => [n, (await onNode(n)).length] as const))).sort(
      (a, b) => b[1] - a[1],
    )[0]![0];
    const podsBefore = (await onNode(victim)).length;
    expect(podsBefore).toBeGreaterThan(0);

    const id = await stack.enqueue('drain_node', { nodeName: victim, timeoutSeconds: 60 });
    const done = await stack.waitForState(id, ['succeeded', 'failed', 'rejected'], 90_000);
    expect(done.state, done.message).toBe('succeeded');
    expect(await onNode(victim)).toHaveLength(0);
    await waitForDeploymentReady(kc, ns, 'web', 6);
    const aact = (await custom.getNamespacedCustomObject({
      group: 'clusteropt.io',
      version: 'v1alpha1',
      plural: 'agentactions',
      namespace: ns,
      name: `act-${id}`,
    })) as {
      status?: {
        phase?: string;
        startedAt?: string;
        finishedAt?: string;
        progress?: { drain?: { evicted?: number } };
      };
    };
    expect(aact.status?.phase).toBe('Succeeded');
    expect(aact.status?.progress?.drain?.evicted).toBe(podsBefore);
    expect(aact.status?.startedAt).toBeTruthy();
    expect(aact.status?.finishedAt).toBeTruthy();
    // leave the node schedulable for the next tests
    const undo = await stack.enqueue('uncordon_node', { nodeName: victim });
    await stack.waitForState(undo, ['succeeded']);
  });

  it('scales a deployment through the scale subresource', async () => {
    const id = await stack.enqueue('scale_workload', {
      namespace: ns,
      kind: 'Deployment',
      name: 'web',
      replicas: 2,
    });
    expect((await stack.waitForState(id, ['succeeded', 'failed', 'rejected'])).state).toBe('succeeded');
    expect((await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).spec?.replicas).toBe(2);
  });

  it('rejects a malformed or unknown action with the reason, reported to the control plane', async () => {
    const bad = await stack.enqueue('drain_node', { nodeName: 'Not A Node', timeoutSeconds: -1 });
    const unknown = await stack.enqueue('reboot_node', { nodeName: nodes[1] });
    const a = await stack.waitForState(bad, ['rejected', 'succeeded', 'failed']);
    const b = await stack.waitForState(unknown, ['rejected', 'succeeded', 'failed']);
    expect(a.state).toBe('rejected');
    expect(a.message).toMatch(/invalid drain_node payload/);
    expect(b.state).toBe('rejected');
    expect(b.message).toMatch(/unknown action type "reboot_node"/);
  });

  it('refuses actions on a protected namespace and node, and only reports in dry run', async () => {
    const protectedNode = nodes[2]!;
    await core.patchNode({
      name: protectedNode,
      body: [{ op: 'add', path: '/metadata/labels/tier', value: 'critical' }],
    });
    await applyPolicy(kc, 'e2e-protect', {
      protectedNamespaces: [ns],
      protectedNodeSelector: { matchLabels: { tier: 'critical' } },
    });
    try {
      const scale = await stack.enqueue('scale_workload', {
        namespace: ns,
        kind: 'Deployment',
        name: 'web',
        replicas: 4,
      });
      const cordon = await stack.enqueue('cordon_node', { nodeName: protectedNode });
      const s = await stack.waitForState(scale, ['rejected', 'succeeded', 'failed']);
      const c = await stack.waitForState(cordon, ['rejected', 'succeeded', 'failed']);
      expect(s.state).toBe('rejected');
      expect(s.message).toMatch(/AgentPolicy e2e-protect \(protectedNamespaces\)/);
      expect(c.state).toBe('rejected');
      expect(c.message).toMatch(/AgentPolicy e2e-protect \(protectedNodeSelector\)/);
      expect((await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).spec?.replicas).toBe(2);
      expect((await core.readNode({ name: protectedNode })).spec?.unschedulable).toBeFalsy();
    } finally {
      await deletePolicy(kc, 'e2e-protect');
    }

    await applyPolicy(kc, 'e2e-dry', { dryRun: true });
    try {
      const cordon = await stack.enqueue('cordon_node', { nodeName: nodes[1] });
      const c = await stack.waitForState(cordon, ['rejected', 'succeeded', 'failed']);
      expect(c.state).toBe('rejected');
      expect(c.message).toMatch(/dry run \(AgentPolicy e2e-dry\)/);
      expect((await core.readNode({ name: nodes[1]! })).spec?.unschedulable).toBeFalsy();
    } finally {
      await deletePolicy(kc, 'e2e-dry');
    }
  });

  it('holds an action until an admin approves it, then runs it', async () => {
    await applyPolicy(kc, 'e2e-approval', { approval: 'required' });
    try {
      const id = await stack.enqueue('cordon_node', { nodeName: nodes[1] });
      const name = `act-${id}`;
      await waitFor(
        async () => {
          const obj = (await custom.getNamespacedCustomObject({
            group: 'clusteropt.io',
            version: 'v1alpha1',
            plural: 'agentactions',
            namespace: ns,
            name,
          })) as { status?: { phase?: string } };
          return obj.status?.phase === 'WaitingApproval';
        },
        { what: 'WaitingApproval' },
      );
      await new Promise((r) => setTimeout(r, 1_000));
      expect((await core.readNode({ name: nodes[1]! })).spec?.unschedulable).toBeFalsy();
      expect((await stack.cp.admin.getAction(id)).state).toBe('running');
      kubectl(['annotate', 'aact', '-n', ns, name, 'clusteropt.io/approved=true']);
      expect((await stack.waitForState(id, ['succeeded', 'failed', 'rejected'])).state).toBe('succeeded');
      expect((await core.readNode({ name: nodes[1]! })).spec?.unschedulable).toBe(true);
    } finally {
      await deletePolicy(kc, 'e2e-approval');
    }
  });
});
