/**
 * A cluster the platform disabled: the reference control plane answers 403 on every agent
 * route (over real HTTP), and the agent stops acting. An action from the control plane that was
 * waiting (here for approval) does not start even once approved, a schedule puts nothing to
 * sleep, readiness says why and clusteropt_agent_paused{reason="controlplane_forbidden"} is 1;
 * an admin's own AgentAction still runs. Enabled again, everything resumes.
 */
import { randomUUID } from 'node:crypto';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentActionFor } from '../../src/contract/action-object.ts';
import { parseEnvelope } from '../../src/contract/envelope.ts';
import { agentNamespaceLabel } from '../../src/controllers/hibernation/controller.ts';
import { agentActionName, agentActionPlural, approvedAnnotation } from '../../src/crds/agent-action.ts';
import { apiGroup, apiVersionName } from '../../src/crds/common.ts';
import { installCrds } from '../../src/kube/install-crds.ts';
import { type AgentStack, startAgentStack } from '../support/agent.ts';
import {
  createDeployment,
  createKwokNodes,
  createNamespace,
  deleteNamespace,
  deleteNodes,
  loadTestKubeConfig,
  uniqueName,
  waitFor,
  waitForDeploymentReady,
} from '../support/kube.ts';
import { applyPolicy, widePolicySpec } from '../support/policy.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const schedulesApi = { group: apiGroup, version: apiVersionName, plural: 'hibernationschedules' };
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe('a cluster the control plane disabled', () => {
  const nodes = [uniqueName('disabled'), uniqueName('disabled')];
  const schedule = uniqueName('disabled-hib');
  let ns = '';
  let work = '';
  let stack: AgentStack;
  let removeApproval: () => Promise<void> = async () => undefined;

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, 'disabled');
    work = await createNamespace(kc, 'disabled-work');
    await core.patchNamespace(
      { name: work, body: { metadata: { labels: { 'disabled-hib': schedule } } } },
      mergePatch,
    );
    await createKwokNodes(kc, nodes);
    // Cordons wait for approval, so one is still waiting when the cluster is disabled.
    removeApproval = await applyPolicy(kc, `test-approval-${ns}`, {
      ...widePolicySpec,
      requireApprovalFor: ['cordon_node'],
    });
    stack = await startAgentStack({
      namespace: ns,
      config: { pollWaitSeconds: 2, deniedRetrySeconds: 1 },
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await removeApproval();
    await custom.deleteClusterCustomObject({ ...schedulesApi, name: schedule }).catch(() => undefined);
    await deleteNodes(kc, nodes);
    await deleteNamespace(kc, ns);
    await deleteNamespace(kc, work);
  });

  const health = (path: string) =>
    fetch(`http://127.0.0.1:${stack.agent.healthAddress.port}${path}`).then(async (r) => ({
      status: r.status,
      text: await r.text(),
    }));
  const paused = async () =>
    /clusteropt_agent_paused\{reason="controlplane_forbidden"\} (\d)/.exec(
      (await health('/metrics')).text,
    )?.[1];
  const agentAction = (id: string) =>
    custom.getNamespacedCustomObject({
      group: apiGroup,
      version: apiVersionName,
      namespace: ns,
      plural: agentActionPlural,
      name: agentActionName(id),
    }) as Promise<{ status?: { phase?: string; message?: string; reason?: string } }>;
  const unschedulable = async (node: string) =>
    (await core.readNode({ name: node })).spec?.unschedulable === true;

  it('stops acting while it answers 403, says why, and resumes when enabled again', async () => {
    const [held, local] = nodes as [string, string];
    // A control-plane action waiting for approval when the cluster is disabled.
    const cordon = await stack.enqueue('cordon_node', { nodeName: held });
    await waitFor(async () => (await agentAction(cordon)).status?.phase === 'WaitingApproval', {
      what: 'the cordon waiting for approval',
    });
    expect(await health('/readyz')).toMatchObject({ status: 200 });
    expect(await paused()).toBe('0');

    await stack.cp.admin.setClusterStatus(stack.clusterId, 'disabled');
    const notReady = await waitFor(
      async () => {
        const r = await health('/readyz');
        return r.status === 503 ? r.text : undefined;
      },
      { what: 'readiness to fail', timeoutMs: 30_000 },
    );
    expect(notReady).toMatch(
      /\[-\]control-plane-access failed: the control plane refuses this agent \(HTTP 403/,
    );
    expect(notReady).toMatch(/CLUSTER_DISABLED/);
    expect(await paused()).toBe('1');

    // Approved now: still not started, and it says why.
    await custom.patchNamespacedCustomObject(
      {
        group: apiGroup,
        version: apiVersionName,
        namespace: ns,
        plural: agentActionPlural,
        name: agentActionName(cordon),
        body: { metadata: { annotations: { [approvedAnnotation]: 'true' } } },
      },
      mergePatch,
    );
    const waiting = await waitFor(
      async () => {
        const s = (await agentAction(cordon)).status;
        return s?.reason === 'ControlPlaneDenied' ? s : undefined;
      },
      { what: 'the approved cordon held' },
    );
    expect(waiting).toMatchObject({ phase: 'Pending', message: expect.stringMatching(/HTTP 403/) });

    // A schedule asleep now puts nothing to sleep.
    await createDeployment(kc, work, 'web', {
      replicas: 2,
      podSpec: { containers: [{ name: 'web', image: 'registry.invalid/web:1' }] },
    });
    await waitForDeploymentReady(kc, work, 'web', 2);
    await custom.createClusterCustomObject({
      ...schedulesApi,
      body: {
        apiVersion: `${apiGroup}/${apiVersionName}`,
        kind: 'HibernationSchedule',
        metadata: { name: schedule, labels: { [agentNamespaceLabel]: ns } },
        spec: {
          timezone: 'UTC',
          matrix: '1'.repeat(168),
          namespaceSelector: { matchLabels: { 'disabled-hib': schedule } },
        },
      },
    });
    const scheduleStatus = async () =>
      (
        (await custom.getClusterCustomObject({ ...schedulesApi, name: schedule })) as {
          status?: { state?: string; conditions?: { type: string; reason: string }[] };
        }
      ).status;
    await waitFor(
      async () => (await scheduleStatus())?.conditions?.some((c) => c.reason === 'ControlPlaneDenied'),
      { what: 'the schedule held' },
    );
    // An admin's own AgentAction is not held.
    const localId = randomUUID();
    const parsed = parseEnvelope({
      id: localId,
      type: 'patch_node',
      payload: { nodeName: local, labels: { 'example.com/by-admin': 'yes' } },
      createdAt: new Date().toISOString(),
    });
    if (!parsed.ok) throw new Error(parsed.reason);
    await custom.createNamespacedCustomObject({
      group: apiGroup,
      version: apiVersionName,
      namespace: ns,
      plural: agentActionPlural,
      body: agentActionFor(parsed.action, ns, 'local'),
    });
    await waitFor(async () => (await agentAction(localId)).status?.phase === 'Succeeded', {
      what: "the admin's patch_node",
    });
    // Nothing from the control plane happened meanwhile.
    expect(await unschedulable(held)).toBe(false);
    expect((await apps.readNamespacedDeployment({ name: 'web', namespace: work })).spec?.replicas).toBe(2);

    await stack.cp.admin.setClusterStatus(stack.clusterId, 'active');
    await waitFor(async () => (await health('/readyz')).status === 200, {
      what: 'ready again',
      timeoutMs: 30_000,
    });
    expect(await paused()).toBe('0');
    const done = await stack.waitForState(cordon, ['succeeded', 'failed', 'rejected'], 30_000);
    expect(done.state, done.message).toBe('succeeded');
    expect(await unschedulable(held)).toBe(true);
    await waitFor(
      async () =>
        (await apps.readNamespacedDeployment({ name: 'web', namespace: work })).spec?.replicas === 0,
      { what: 'the schedule applied once enabled', timeoutMs: 30_000 },
    );
    expect((await scheduleStatus())?.state).toBe('Asleep');
  }, 180_000);
});
