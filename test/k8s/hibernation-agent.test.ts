/**
 * Hibernation inside the running agent (`startAgent`, the code `clusteropt-agent run` runs),
 * with the real clock: the control plane creates and updates a HibernationSchedule through
 * sync_hibernation_schedule, the agent's controller applies it, and schedules keep running
 * when the control plane is gone. Transitions at chosen instants come from `override.until`
 * (the matrix has hour granularity; an override ends at any instant).
 */
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncedByAnnotation } from '../../src/contract/marks.ts';
import { agentNamespaceLabel } from '../../src/controllers/hibernation/controller.ts';
import { hibernationRestoreAnnotation } from '../../src/controllers/hibernation/restore-record.ts';
import type { HibernationScheduleStatus } from '../../src/crds/hibernation-schedule.ts';
import { installCrds } from '../../src/kube/install-crds.ts';
import { type AgentStack, startAgentStack } from '../support/agent.ts';
import {
  createDeployment,
  createNamespace,
  deleteNamespace,
  loadTestKubeConfig,
  neverScheduledPodSpec,
  uniqueName,
  waitFor,
} from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const api = { group: 'clusteropt.io', version: 'v1alpha1', plural: 'hibernationschedules' };
const run = uniqueName('hib-agent');

type Schedule = {
  metadata: { name: string; generation?: number; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
  status?: HibernationScheduleStatus;
};

const getSchedule = async (name: string) =>
  (await custom.getClusterCustomObject({ ...api, name })) as Schedule;
const replicas = async (namespace: string, name: string) =>
  (await apps.readNamespacedDeployment({ namespace, name })).spec?.replicas;

async function waitForReplicas(namespace: string, name: string, expected: number, timeoutMs = 30_000) {
  await waitFor(async () => (await replicas(namespace, name)) === expected, {
    timeoutMs,
    what: `${namespace}/${name} at ${expected} replicas`,
  });
}

describe('hibernation in the running agent', () => {
  let stack: AgentStack;
  let agentNs = '';
  let ns = '';
  const schedules: string[] = [];

  beforeAll(async () => {
    await installCrds(kc);
    agentNs = await createNamespace(kc, 'hib-agent');
    ns = await createNamespace(kc, 'hib-work');
    await core.patchNamespace(
      { name: ns, body: { metadata: { labels: { 'hib-agent': run } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await createDeployment(kc, ns, 'web', { replicas: 3, podSpec: neverScheduledPodSpec });
    stack = await startAgentStack({ namespace: agentNs });
    await waitFor(() => stack.agent.isLeader(), { what: 'agent to lead', timeoutMs: 30_000 });
  });

  afterAll(async () => {
    await stack?.stop();
    await Promise.all(
      schedules.map((name) => custom.deleteClusterCustomObject({ ...api, name }).catch(() => undefined)),
    );
    await deleteNamespace(kc, ns);
    await deleteNamespace(kc, agentNs);
  });

  it('sync_hibernation_schedule from the control plane creates, keeps and updates the schedule', async () => {
    const name = uniqueName('hib-sync');
    schedules.push(name);
    const payload = {
      name,
      timezone: 'Europe/Berlin',
      // The control plane's form: 168 booleans (hibernation_schedules.schedule_matrix).
      matrix: new Array(168).fill(false),
      namespaceSelector: { matchLabels: { 'hib-agent': run } },
    };
    const created = await stack.enqueue('sync_hibernation_schedule', payload);
    expect(await stack.waitForState(created, ['succeeded', 'failed', 'rejected'])).toMatchObject({
      state: 'succeeded',
      result: { name, operation: 'created' },
    });
    const schedule = await getSchedule(name);
    expect(schedule.spec).toEqual({
      timezone: 'Europe/Berlin',
      matrix: '0'.repeat(168),
      namespaceSelector: { matchLabels: { 'hib-agent': run } },
      kinds: ['Deployment', 'StatefulSet'],
      suspended: false,
    });
    expect(schedule.metadata.annotations?.[syncedByAnnotation]).toBe(created);
    // The agent's own controller applies it.
    await waitFor(async () => (await getSchedule(name)).status?.state === 'Awake', { what: 'status Awake' });

    const again = await stack.enqueue('sync_hibernation_schedule', payload);
    expect(await stack.waitForState(again, ['succeeded', 'failed', 'rejected'])).toMatchObject({
      state: 'succeeded',
      result: { operation: 'unchanged', reason: 'already_done' },
    });
    expect((await getSchedule(name)).metadata.generation).toBe(schedule.metadata.generation);

    // An update: asleep now (override) for 15 s, then the matrix (always awake) again.
    const until = new Date(Date.now() + 15_000).toISOString();
    const updated = await stack.enqueue('sync_hibernation_schedule', {
      ...payload,
      override: { state: 'asleep', until, reason: 'test' },
    });
    expect(await stack.waitForState(updated, ['succeeded', 'failed', 'rejected'])).toMatchObject({
      state: 'succeeded',
      result: { operation: 'updated' },
    });
    await waitForReplicas(ns, 'web', 0);
    expect(
      JSON.parse(
        (await apps.readNamespacedDeployment({ namespace: ns, name: 'web' })).metadata?.annotations?.[
          hibernationRestoreAnnotation
        ] ?? '{}',
      ),
    ).toMatchObject({
      schedule: name,
      replicas: 3,
    });
    // Woken by the controller's timer at `until`, not by any further input.
    await waitForReplicas(ns, 'web', 3, 40_000);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(until));
  });

  it('runs schedules with the control plane stopped', async () => {
    await stack.cp.close();
    const name = uniqueName('hib-offline');
    schedules.push(name);
    const until = new Date(Date.now() + 12_000).toISOString();
    await custom.createClusterCustomObject({
      ...api,
      body: {
        apiVersion: 'clusteropt.io/v1alpha1',
        kind: 'HibernationSchedule',
        // Pinned to this agent: agents of other test files in this cluster leave it alone.
        metadata: { name, labels: { [agentNamespaceLabel]: agentNs } },
        spec: {
          timezone: 'Asia/Kolkata',
          matrix: '0'.repeat(168),
          namespaceSelector: { matchLabels: { 'hib-agent': run } },
          override: { state: 'asleep', until },
        },
      },
    });
    await waitForReplicas(ns, 'web', 0);
    await waitFor(async () => (await getSchedule(name)).status?.state === 'Asleep', {
      what: 'status Asleep',
    });
    expect((await getSchedule(name)).status?.nextTransition).toBe(new Date(until).toISOString());
    await waitForReplicas(ns, 'web', 3, 40_000);
    await waitFor(async () => (await getSchedule(name)).status?.state === 'Awake', { what: 'status Awake' });
    // What the agent did waits in its outbox for the control plane to come back.
    const audit = stack.agent.store.outbox
      .peek({ maxRows: 1000 })
      .filter((row) => row.kind === 'audit')
      .map((row) => row.body as { event?: string; resource?: string })
      .filter((event) => event.resource === `hibernationschedule/${name}`)
      .map((event) => event.event);
    expect(audit).toEqual(['hibernation.sleep', 'hibernation.wake']);
  });
});
