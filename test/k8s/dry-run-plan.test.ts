/**
 * Dry run shows the plan: with an AgentPolicy `dryRun: true`, actions from the reference
 * control plane end Rejected (reason AgentPolicy/<name>:dryRun) with nothing changed in the
 * real test cluster, and the plan — per-pod drain verdicts, scale from/to, the patch diff, the
 * workloads a hibernation schedule would put to sleep — is in the AgentAction's status.plan,
 * in the result the control plane receives, and in `kubectl clusteropt explain`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type V1PodSpec } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCrds } from '../../src/kube/install-crds.ts';
import { type AgentStack, startAgentStack } from '../support/agent.ts';
import { shippedBin } from '../support/agent-image.ts';
import {
  createDeployment,
  createKwokNodes,
  createNamespace,
  deleteNamespace,
  deleteNodes,
  loadTestKubeConfig,
  readAgentAction,
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
const crd = { group: 'clusteropt.io', version: 'v1alpha1' };
const dryPolicy = uniqueName('dry');
const node = uniqueName('dry-node');
const hibernationLabel = uniqueName('hib');

let ns = '';
/** The hibernation schedule's namespace: schedules never cover the agent's own. */
let appsNs = '';
let stack: AgentStack;

/** Pods that run on `nodeName`, or stay Pending (never scheduled) without one. */
function podSpec(nodeName?: string): V1PodSpec {
  return {
    ...(nodeName ? { nodeName } : { nodeSelector: { 'example.com/nowhere': 'true' } }),
    tolerations: [{ operator: 'Exists' }],
    containers: [{ name: 'c', image: 'registry.invalid/none:1' }],
  };
}

async function finished(id: string) {
  const cp = await stack.waitForState(id, ['rejected', 'succeeded', 'failed']);
  const object = await readAgentAction(kc, ns, id);
  if (!object) throw new Error(`no AgentAction for action ${id}`);
  return { cp, object };
}

beforeAll(async () => {
  await installCrds(kc);
  ns = await createNamespace(kc, 'dry');
  appsNs = await createNamespace(kc, 'dry-apps');
  await core.patchNamespace({
    name: appsNs,
    body: [{ op: 'add', path: '/metadata/labels/hibernation', value: hibernationLabel }],
  });
  await createKwokNodes(kc, [node], { labels: { 'example.com/team': 'infra' } });
  await createDeployment(kc, ns, 'web', { replicas: 1, labels: { app: 'web' }, podSpec: podSpec(node) });
  await waitForDeploymentReady(kc, ns, 'web', 1);
  await createDeployment(kc, appsNs, 'shop', { replicas: 2, podSpec: podSpec() });
  // A pod with no controller blocks a drain without force.
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: 'loner' },
      spec: {
        nodeName: node,
        tolerations: [{ operator: 'Exists' }],
        containers: [{ name: 'c', image: 'registry.invalid/none:1' }],
      },
    },
  });
  await applyPolicy(kc, dryPolicy, { dryRun: true });
  stack = await startAgentStack({ namespace: ns });
  await waitFor(() => stack.agent.isLeader(), { what: 'agent to lead', timeoutMs: 30_000 });
});

afterAll(async () => {
  await stack?.stop();
  await deletePolicy(kc, dryPolicy);
  await deleteNodes(kc, [node]);
  await deleteNamespace(kc, ns);
  await deleteNamespace(kc, appsNs);
});

describe('dry run', () => {
  it('drain: each pod with its verdict, the drain refused as a whole, nothing touched', async () => {
    const id = await stack.enqueue('drain_node', { nodeName: node, timeoutSeconds: 60 });
    const { cp, object } = await finished(id);
    expect(cp.state).toBe('rejected');
    expect(object.status?.reason).toBe(`AgentPolicy/${dryPolicy}:dryRun`);
    const plan = object.status?.plan;
    expect(plan?.wouldFail).toBe(true);
    expect(plan?.summary).toContain(`the drain of node ${node} would be refused`);
    expect(plan?.summary).toMatch(new RegExp(`evict ${ns}/web-\\S+`));
    expect(plan?.summary).toContain(`block ${ns}/loner: pod declares no controller; needs force`);
    const pods = (plan?.details.pods ?? []) as { name: string; verdict: string }[];
    expect(pods.find((p) => p.name === 'loner')?.verdict).toBe('block');
    expect(pods.filter((p) => p.verdict === 'evict')).toHaveLength(1);
    // The control plane gets the same plan in the result.
    expect((cp.result as { plan?: unknown; dryRun?: boolean }).dryRun).toBe(true);
    expect((cp.result as { plan?: unknown }).plan).toEqual(plan);
    expect((await core.readNode({ name: node })).spec?.unschedulable).toBeFalsy();

    // Asynchronously: the agent runs in this process, and a synchronous child would block its
    // event loop past the Lease's renew deadline.
    const { stdout: explained } = await promisify(execFile)(
      process.execPath,
      [shippedBin('kubectl-clusteropt'), '--kubeconfig', testKubeconfigPath(), '-n', ns, 'explain', id],
      { encoding: 'utf8' },
    );
    expect(explained).toContain('Plan (dry run, nothing was changed):');
    expect(explained).toContain(`block ${ns}/loner`);
    expect(explained).toMatch(new RegExp(`${dryPolicy} +dryRun +dryRun`));
  });

  it('scale: from and to; patch: the diff; nothing changed', async () => {
    // Outside the agent's own namespace and with no reserved key: the built-in guardrails
    // refuse those before any dry run (protectSystemNamespaces, reservedKeys).
    const scale = await stack.enqueue('scale_workload', {
      namespace: appsNs,
      kind: 'Deployment',
      name: 'shop',
      replicas: 3,
    });
    const patch = await stack.enqueue('patch_node', {
      nodeName: node,
      labels: { 'example.com/pool': 'batch', 'example.com/team': null },
    });
    const s = await finished(scale);
    expect(s.object.status?.plan?.summary).toBe(`would scale Deployment ${appsNs}/shop from 2 to 3 replicas`);
    expect(s.object.status?.plan?.details).toMatchObject({ from: 2, to: 3 });
    const p = await finished(patch);
    expect(p.object.status?.plan?.summary).toBe(
      [
        `would patch node ${node}: 2 change(s)`,
        'label example.com/pool: (none) -> "batch"',
        'label example.com/team: "infra" -> (none)',
      ].join('\n'),
    );
    expect((await apps.readNamespacedDeployment({ name: 'shop', namespace: appsNs })).spec?.replicas).toBe(2);
    const labels = (await core.readNode({ name: node })).metadata?.labels;
    expect(labels?.['example.com/pool']).toBeUndefined();
    expect(labels?.['example.com/team']).toBe('infra');
  });

  it('hibernation schedule: the workloads and replicas it would put to sleep', async () => {
    const name = uniqueName('sched');
    const id = await stack.enqueue('sync_hibernation_schedule', {
      name,
      timezone: 'UTC',
      windows: [{ days: ['Sat', 'Sun'], from: '00:00', to: '24:00' }],
      namespaceSelector: { matchLabels: { hibernation: hibernationLabel } },
    });
    const { object } = await finished(id);
    expect(object.status?.plan?.summary).toContain(
      `would create or update HibernationSchedule ${name}; in its hibernation hours it would put 1 workload(s) to sleep`,
    );
    expect(object.status?.plan?.summary).toContain(
      `Deployment ${appsNs}/shop: 2 -> 0 replicas (restored to 2 on wake)`,
    );
    const schedules = (await custom.listClusterCustomObject({ ...crd, plural: 'hibernationschedules' })) as {
      items: { metadata: { name: string } }[];
    };
    expect(schedules.items.map((s) => s.metadata.name)).not.toContain(name);
  });
});
