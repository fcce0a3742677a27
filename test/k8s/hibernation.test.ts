/**
 * The HibernationSchedule controller against the real test cluster, with the clock injected:
 * each step sets the controller's `now` and reconciles, then reads the workloads back. The
 * controller runs without any control plane (it needs none). Covered: the CRD's validation
 * and columns, sleep/wake restoring exact values (0, HPA-managed, CronJobs), what is left
 * alone (excluded, do-not-disrupt, protected, owned, created or changed while asleep), a
 * controller restart while hibernating, and transitions across DST (Europe/Berlin) and on a
 * half-hour offset (Asia/Kolkata).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import {
  AppsV1Api,
  AutoscalingV2Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentNamespaceLabel, HibernationController } from '../../src/controllers/hibernation/controller.ts';
import {
  hibernatedByLabel,
  hibernationRestoreAnnotation,
} from '../../src/controllers/hibernation/restore-record.ts';
import type { HibernationScheduleStatus } from '../../src/crds/hibernation-schedule.ts';
import { apiErrorMessage } from '../../src/kube/api-errors.ts';
import { createKubeClients, type KubeClients } from '../../src/kube/clients.ts';
import type { EventSink, EventSubject } from '../../src/kube/events.ts';
import { installCrds } from '../../src/kube/install-crds.ts';
import { createLogger } from '../../src/observability/logger.ts';
import {
  clusterBinDir,
  createDeployment,
  createNamespace,
  deleteNamespace,
  loadTestKubeConfig,
  neverScheduledPodSpec,
  testKubeconfigPath,
  uniqueName,
  waitFor,
} from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const batch = kc.makeApiClient(BatchV1Api);
const autoscaling = kc.makeApiClient(AutoscalingV2Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const api = { group: 'clusteropt.io', version: 'v1alpha1' };
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** Label on this run's namespaces; the schedules select by it, so nothing else is touched. */
const run = uniqueName('hib');

// ---- a controller with a hand-driven clock ------------------------------------------------

interface Recorded {
  subject: EventSubject;
  type: string;
  reason: string;
  message: string;
}

class CapturingSink implements EventSink {
  readonly events: Recorded[] = [];
  emit(subject: EventSubject, type: string, reason: string, message: string): void {
    this.events.push({ subject, type, reason, message });
  }
  async flush(): Promise<void> {}
}

const clock = { ms: Date.parse('2026-06-01T00:30:00Z') };
const setClock = (iso: string) => {
  clock.ms = Date.parse(iso);
};

interface Harness {
  controller: HibernationController;
  events: CapturingSink;
  stop(): Promise<void>;
}

let clients: KubeClients;

async function startController(): Promise<Harness> {
  const events = new CapturingSink();
  const controller = new HibernationController({
    clients,
    events,
    log: createLogger({ level: process.env.AGENT_LOG_LEVEL ?? 'warn', name: 'hibernation-test' }),
    now: () => clock.ms,
    agentNamespace: run,
  });
  const abort = new AbortController();
  const running = controller.run(abort.signal);
  await controller.ready;
  return {
    controller,
    events,
    async stop() {
      abort.abort();
      await running;
    },
  };
}

// ---- objects --------------------------------------------------------------------------------

async function createStatefulSet(namespace: string, name: string, replicas: number) {
  await apps.createNamespacedStatefulSet({
    namespace,
    body: {
      metadata: { name },
      spec: {
        replicas,
        serviceName: name,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: neverScheduledPodSpec },
      },
    },
  });
}

async function createCronJob(namespace: string, name: string, suspend: boolean) {
  await batch.createNamespacedCronJob({
    namespace,
    body: {
      metadata: { name },
      spec: {
        schedule: '0 3 * * *',
        suspend,
        jobTemplate: { spec: { template: { spec: { ...neverScheduledPodSpec, restartPolicy: 'Never' } } } },
      },
    },
  });
}

async function replicas(namespace: string, name: string, kind: 'Deployment' | 'StatefulSet' = 'Deployment') {
  const obj =
    kind === 'Deployment'
      ? await apps.readNamespacedDeployment({ namespace, name })
      : await apps.readNamespacedStatefulSet({ namespace, name });
  return obj.spec?.replicas;
}

async function suspended(namespace: string, name: string) {
  return (await batch.readNamespacedCronJob({ namespace, name })).spec?.suspend;
}

async function marks(
  namespace: string,
  name: string,
  kind: 'Deployment' | 'StatefulSet' | 'CronJob' = 'Deployment',
) {
  const obj =
    kind === 'Deployment'
      ? await apps.readNamespacedDeployment({ namespace, name })
      : kind === 'StatefulSet'
        ? await apps.readNamespacedStatefulSet({ namespace, name })
        : await batch.readNamespacedCronJob({ namespace, name });
  const record = obj.metadata?.annotations?.[hibernationRestoreAnnotation];
  return {
    record: record === undefined ? undefined : (JSON.parse(record) as Record<string, unknown>),
    label: obj.metadata?.labels?.[hibernatedByLabel],
  };
}

type Schedule = { metadata: { name: string; generation?: number }; status?: HibernationScheduleStatus };

async function schedule(name: string): Promise<Schedule> {
  return (await custom.getClusterCustomObject({ ...api, plural: 'hibernationschedules', name })) as Schedule;
}

/**
 * Creates a schedule pinned to this file's controllers: agents other test files run in this
 * cluster at the same time (with the real clock) leave it alone.
 */
async function createSchedule(name: string, spec: Record<string, unknown>) {
  await custom.createClusterCustomObject({
    ...api,
    plural: 'hibernationschedules',
    body: {
      apiVersion: 'clusteropt.io/v1alpha1',
      kind: 'HibernationSchedule',
      metadata: { name, labels: { [agentNamespaceLabel]: run } },
      spec,
    },
  });
}

async function deleteSchedule(name: string) {
  await custom
    .deleteClusterCustomObject({ ...api, plural: 'hibernationschedules', name })
    .catch(() => undefined);
}

/** Waits until the controller has written a status for the current generation. */
async function settled(name: string, state: string): Promise<Schedule> {
  return waitFor(
    async () => {
      const s = await schedule(name);
      return s.status?.state === state && s.status.observedGeneration === s.metadata.generation
        ? s
        : undefined;
    },
    { timeoutMs: 20_000, what: `HibernationSchedule ${name} ${state}` },
  );
}

async function namespaceFor(prefix: string, labels: Record<string, string> = { 'hib-run': run }) {
  const ns = await createNamespace(kc, prefix);
  await core.patchNamespace({ name: ns, body: { metadata: { labels } } }, mergePatch);
  return ns;
}

function kubectl(args: string[]): string {
  return execFileSync(join(clusterBinDir(), 'kubectl'), ['--kubeconfig', testKubeconfigPath(), ...args], {
    encoding: 'utf8',
  });
}

// ---- tests ----------------------------------------------------------------------------------

const namespaces: string[] = [];
const schedules: string[] = [];

beforeAll(async () => {
  await installCrds(kc);
  clients = createKubeClients(kc);
});

afterAll(async () => {
  await Promise.all(schedules.map(deleteSchedule));
  await Promise.all(namespaces.map((ns) => deleteNamespace(kc, ns)));
  await clients?.close();
});

describe('the HibernationSchedule CRD', () => {
  const validWindows = [
    { days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], from: '19:00', to: '07:00' },
    { days: ['Sat'], from: '07:00', to: '24:00' },
    { days: ['Sun'], from: '00:00', to: '24:00' },
    { days: ['Mon'], from: '00:00', to: '07:00' },
  ];

  async function refusal(spec: Record<string, unknown>): Promise<string> {
    try {
      await custom.createClusterCustomObject({
        ...api,
        plural: 'hibernationschedules',
        dryRun: 'All',
        body: {
          apiVersion: 'clusteropt.io/v1alpha1',
          kind: 'HibernationSchedule',
          metadata: { name: 'x' },
          spec,
        },
      });
    } catch (err) {
      return apiErrorMessage(err);
    }
    return 'accepted';
  }

  it('accepts a valid schedule and refuses overlaps, empty windows, bad matrices and offsets', async () => {
    const base = { timezone: 'Europe/Berlin', namespaceSelector: {} };
    expect(await refusal({ ...base, windows: validWindows })).toBe('accepted');
    expect(await refusal({ ...base, matrix: '01'.repeat(84) })).toBe('accepted');
    expect(
      await refusal({
        ...base,
        windows: [validWindows[0], { days: ['Sat', 'Sun'], from: '00:00', to: '24:00' }],
      }),
    ).toMatch(/windows must not overlap/);
    expect(
      await refusal({
        ...base,
        windows: [
          { days: ['Mon'], from: '01:00', to: '03:00' },
          { days: ['Mon'], from: '01:00', to: '03:00' },
        ],
      }),
    ).toMatch(/windows must not overlap/);
    expect(await refusal({ ...base, windows: [{ days: ['Mon'], from: '19:00', to: '19:00' }] })).toMatch(
      /an empty window/,
    );
    expect(await refusal({ ...base, windows: [{ days: ['Mon'], from: '19:30', to: '20:00' }] })).toMatch(
      /windows\[0\]\.from/,
    );
    expect(await refusal({ ...base, matrix: '01'.repeat(83) })).toMatch(/spec\.matrix/);
    expect(await refusal({ ...base, timezone: '+05:30', windows: validWindows })).toMatch(/spec\.timezone/);
    expect(await refusal({ ...base, windows: validWindows, matrix: '0'.repeat(168) })).toMatch(
      /exactly one of matrix or windows/,
    );
  });

  it('reports what the API server cannot check (an unknown zone) in status, with printer columns', async () => {
    const h = await startController();
    try {
      const name = uniqueName('hib-badzone');
      schedules.push(name);
      await createSchedule(name, { timezone: 'Mars/Olympus', namespaceSelector: {}, windows: validWindows });
      const s = await settled(name, 'Error');
      expect(s.status?.lastError).toMatch(/timezone: must be an IANA time zone name known to the agent/);
      expect(s.status?.conditions?.[0]).toMatchObject({
        type: 'Ready',
        status: 'False',
        reason: 'InvalidSpec',
      });
      const table = kubectl(['get', 'hsched', name]);
      expect(table.split('\n')[0]).toMatch(/^NAME\s+STATE\s+NEXT TRANSITION\s+TIMEZONE\s+AGE/);
      // No next transition: the date column stays empty.
      expect(table).toMatch(new RegExp(`${name}\\s+Error\\s+Mars/Olympus\\s`));
      await deleteSchedule(name);
    } finally {
      await h.stop();
    }
  });
});

describe('pinning', () => {
  it('a schedule pinned to another agent namespace is left to that agent', async () => {
    const h = await startController();
    const name = uniqueName('hib-pinned');
    const mine = uniqueName('hib-mine');
    schedules.push(name, mine);
    try {
      await custom.createClusterCustomObject({
        ...api,
        plural: 'hibernationschedules',
        body: {
          apiVersion: 'clusteropt.io/v1alpha1',
          kind: 'HibernationSchedule',
          metadata: { name, labels: { [agentNamespaceLabel]: `${run}-elsewhere` } },
          spec: { timezone: 'UTC', matrix: '0'.repeat(168), namespaceSelector: {} },
        },
      });
      // Created after the pinned one: once this one has a status, the controller saw both.
      await createSchedule(mine, { timezone: 'UTC', matrix: '0'.repeat(168), namespaceSelector: {} });
      await settled(mine, 'Awake');
      await h.controller.reconcileNow();
      expect((await schedule(name)).status).toBeUndefined();
    } finally {
      await Promise.all([deleteSchedule(name), deleteSchedule(mine)]);
      await h.stop();
    }
  });
});

describe('sleep and wake', () => {
  let h: Harness;
  let ns = '';
  let other = '';
  let protectedNs = '';
  const name = uniqueName('hib-nights');
  const policy = uniqueName('hib-protect');

  beforeAll(async () => {
    ns = await namespaceFor('hib');
    other = await namespaceFor('hib-other', { 'hib-run': `${run}-not` });
    protectedNs = await namespaceFor('hib-prot');
    namespaces.push(ns, other, protectedNs);
    await custom.createClusterCustomObject({
      ...api,
      plural: 'agentpolicies',
      body: {
        apiVersion: 'clusteropt.io/v1alpha1',
        kind: 'AgentPolicy',
        metadata: { name: policy },
        spec: { protectedNamespaces: [protectedNs] },
      },
    });
    const owner = await core.createNamespacedConfigMap({
      namespace: ns,
      body: { metadata: { name: 'owner' } },
    });
    await Promise.all([
      createDeployment(kc, ns, 'web', { replicas: 3, podSpec: neverScheduledPodSpec }),
      createDeployment(kc, ns, 'zero', { replicas: 0, podSpec: neverScheduledPodSpec }),
      createDeployment(kc, ns, 'changed', { replicas: 0, podSpec: neverScheduledPodSpec }),
      createDeployment(kc, ns, 'hpa-web', { replicas: 1, podSpec: neverScheduledPodSpec }),
      createDeployment(kc, ns, 'dnd', {
        replicas: 2,
        podSpec: neverScheduledPodSpec,
        annotations: { 'clusteropt.io/do-not-disrupt': 'true' },
      }),
      createDeployment(kc, ns, 'excluded', { replicas: 2, podSpec: neverScheduledPodSpec }),
      createDeployment(kc, ns, 'db', { replicas: 2, podSpec: neverScheduledPodSpec, labels: { tier: 'db' } }),
      createDeployment(kc, ns, 'owned', {
        replicas: 2,
        podSpec: neverScheduledPodSpec,
        ownerReferences: [
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            name: 'owner',
            uid: owner.metadata?.uid as string,
            controller: true,
          },
        ],
      }),
      createStatefulSet(ns, 'cache', 2),
      createCronJob(ns, 'report', false),
      createCronJob(ns, 'paused', true),
      createDeployment(kc, other, 'elsewhere', { replicas: 2, podSpec: neverScheduledPodSpec }),
      createDeployment(kc, protectedNs, 'guarded', { replicas: 2, podSpec: neverScheduledPodSpec }),
    ]);
    await autoscaling.createNamespacedHorizontalPodAutoscaler({
      namespace: ns,
      body: {
        metadata: { name: 'hpa-web' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'hpa-web' },
          minReplicas: 2,
          maxReplicas: 5,
          metrics: [
            {
              type: 'Resource',
              resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } },
            },
          ],
        },
      },
    });
    h = await startController();
  });

  afterAll(async () => {
    await h?.stop();
    await custom
      .deleteClusterCustomObject({ ...api, plural: 'agentpolicies', name: policy })
      .catch(() => undefined);
  });

  it('the HPA controller is live here: it raises a target below minReplicas (no metrics needed for that)', async () => {
    await waitFor(async () => (await replicas(ns, 'hpa-web')) === 2, {
      timeoutMs: 60_000,
      what: 'HPA to scale hpa-web to its minReplicas 2',
    });
  });

  it('awake: a new schedule changes nothing and says when it sleeps', async () => {
    setClock('2026-06-01T00:30:00Z'); // Monday 00:30 UTC
    schedules.push(name);
    await createSchedule(name, {
      timezone: 'UTC',
      windows: [{ days: ['Mon'], from: '01:00', to: '05:00' }],
      namespaceSelector: { matchLabels: { 'hib-run': run } },
      workloadSelector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] },
      exclude: [{ namespace: ns, kind: 'Deployment', name: 'excluded' }],
      kinds: ['Deployment', 'StatefulSet', 'CronJob'],
    });
    const s = await settled(name, 'Awake');
    expect(s.status).toMatchObject({
      nextTransition: '2026-06-01T01:00:00.000Z',
      nextState: 'Asleep',
      summary: 'Mon 01:00-05:00',
    });
    expect(await replicas(ns, 'web')).toBe(3);
  });

  it('asleep: records every covered workload on the workload itself and scales it to zero', async () => {
    setClock('2026-06-01T01:00:00Z');
    await h.controller.reconcileNow();
    const at = '2026-06-01T01:00:00.000Z';
    expect(await replicas(ns, 'web')).toBe(0);
    expect(await marks(ns, 'web')).toEqual({ record: { schedule: name, replicas: 3, at }, label: name });
    expect(await replicas(ns, 'zero')).toBe(0);
    expect((await marks(ns, 'zero')).record).toEqual({ schedule: name, replicas: 0, at });
    expect(await replicas(ns, 'hpa-web')).toBe(0);
    expect((await marks(ns, 'hpa-web')).record).toEqual({
      schedule: name,
      replicas: 2,
      at,
      hpa: { name: 'hpa-web', minReplicas: 2 },
    });
    expect(await replicas(ns, 'cache', 'StatefulSet')).toBe(0);
    expect((await marks(ns, 'cache', 'StatefulSet')).record).toMatchObject({ replicas: 2 });
    expect(await suspended(ns, 'report')).toBe(true);
    expect((await marks(ns, 'report', 'CronJob')).record).toMatchObject({ suspend: false });
    expect((await marks(ns, 'paused', 'CronJob')).record).toMatchObject({ suspend: true });

    // Left alone: do-not-disrupt, excluded, not selected, owned by a controller, other
    // namespaces, namespaces an AgentPolicy protects.
    for (const [namespace, deployment] of [
      [ns, 'dnd'],
      [ns, 'excluded'],
      [ns, 'db'],
      [ns, 'owned'],
      [other, 'elsewhere'],
      [protectedNs, 'guarded'],
    ] as const) {
      expect(await replicas(namespace, deployment), `${namespace}/${deployment}`).toBe(2);
      expect(await marks(namespace, deployment), `${namespace}/${deployment}`).toEqual({
        record: undefined,
        label: undefined,
      });
    }
    const skipped = h.events.events
      .filter((e) => e.reason === 'HibernationSkipped')
      .map((e) => e.subject.name);
    expect(skipped.sort()).toEqual(['dnd', 'guarded', 'owned']);
    expect(h.events.events.find((e) => e.subject.name === 'guarded')?.message).toMatch(
      new RegExp(`AgentPolicy ${policy} protects namespace`),
    );

    const s = await settled(name, 'Asleep');
    expect(s.status).toMatchObject({
      nextTransition: '2026-06-01T05:00:00.000Z',
      nextState: 'Awake',
      lastTransition: '2026-06-01T01:00:00Z',
      counts: { scaled: 7, restored: 0, skipped: 3 },
      conditions: [expect.objectContaining({ type: 'Ready', status: 'True', reason: 'Applied' })],
    });
  });

  it('the HPA (minReplicas 2) does not scale the hibernated Deployment back up', async () => {
    // The HPA controller syncs every 15 s; once it has looked at the zero-replica target it
    // reports ScalingActive=False/ScalingDisabled and leaves it alone.
    const hpa = await waitFor(
      async () => {
        const current = await autoscaling.readNamespacedHorizontalPodAutoscaler({
          namespace: ns,
          name: 'hpa-web',
        });
        const active = current.status?.conditions?.find((c) => c.type === 'ScalingActive');
        return active?.reason === 'ScalingDisabled' ? current : undefined;
      },
      { timeoutMs: 60_000, what: 'HPA to report ScalingDisabled' },
    );
    expect(hpa.status?.conditions?.find((c) => c.type === 'ScalingActive')?.status).toBe('False');
    await new Promise((r) => setTimeout(r, 16_000)); // one more HPA sync period
    expect(await replicas(ns, 'hpa-web')).toBe(0);
  });

  it('while asleep: new workloads and changes people make are left alone; nothing is applied twice', async () => {
    await createDeployment(kc, ns, 'late', { replicas: 2, podSpec: neverScheduledPodSpec });
    await apps.patchNamespacedDeployment(
      { namespace: ns, name: 'changed', body: { spec: { replicas: 1 } } },
      mergePatch,
    );
    const before = await schedule(name);
    setClock('2026-06-01T03:00:00Z');
    await h.controller.reconcileNow();
    expect(await replicas(ns, 'late')).toBe(2);
    expect(await marks(ns, 'late')).toEqual({ record: undefined, label: undefined });
    expect(await replicas(ns, 'changed')).toBe(1);
    // Status unchanged: edge-triggered, no second sleep pass.
    expect((await schedule(name)).status).toEqual(before.status);
  });

  it('awake: restores exactly what was recorded and removes the marks', async () => {
    setClock('2026-06-01T05:00:00Z');
    await h.controller.reconcileNow();
    expect(await replicas(ns, 'web')).toBe(3);
    expect(await replicas(ns, 'zero')).toBe(0);
    expect(await replicas(ns, 'hpa-web')).toBe(2);
    expect(await replicas(ns, 'cache', 'StatefulSet')).toBe(2);
    expect(await suspended(ns, 'report')).toBe(false);
    expect(await suspended(ns, 'paused')).toBe(true);
    // Scaled up by someone while asleep: keeps their value.
    expect(await replicas(ns, 'changed')).toBe(1);
    expect(await replicas(ns, 'late')).toBe(2);
    for (const [n, kind] of [
      ['web', 'Deployment'],
      ['zero', 'Deployment'],
      ['changed', 'Deployment'],
      ['hpa-web', 'Deployment'],
      ['cache', 'StatefulSet'],
      ['report', 'CronJob'],
      ['paused', 'CronJob'],
    ] as const) {
      expect(await marks(ns, n, kind), n).toEqual({ record: undefined, label: undefined });
    }
    expect(
      h.events.events.find((e) => e.subject.name === 'changed' && e.reason === 'HibernationReleased'),
    ).toBeDefined();
    const s = await settled(name, 'Awake');
    expect(s.status).toMatchObject({
      nextTransition: '2026-06-08T01:00:00.000Z',
      lastTransition: '2026-06-01T05:00:00Z',
      counts: { scaled: 0, restored: 6, skipped: 0 },
    });
  });
});

describe('a controller restarted while hibernating', () => {
  let ns = '';
  const name = uniqueName('hib-restart');

  beforeAll(async () => {
    ns = await namespaceFor('hib-restart', { 'hib-restart': run });
    namespaces.push(ns);
    await Promise.all([
      createDeployment(kc, ns, 'api', { replicas: 4, podSpec: neverScheduledPodSpec }),
      createDeployment(kc, ns, 'idle', { replicas: 0, podSpec: neverScheduledPodSpec }),
      createStatefulSet(ns, 'queue', 1),
    ]);
  });

  it('wakes to the recorded numbers, from the cluster alone', async () => {
    setClock('2026-06-02T18:59:00Z'); // Tuesday
    const first = await startController();
    schedules.push(name);
    await createSchedule(name, {
      timezone: 'UTC',
      matrix: `${'0'.repeat(24)}${'0'.repeat(19)}${'1'.repeat(5)}${'1'.repeat(7)}${'0'.repeat(17)}${'0'.repeat(96)}`,
      namespaceSelector: { matchLabels: { 'hib-restart': run } },
    });
    await settled(name, 'Awake');
    setClock('2026-06-02T19:00:00Z');
    await first.controller.reconcileNow();
    expect(await replicas(ns, 'api')).toBe(0);
    const asleep = await settled(name, 'Asleep');
    await first.stop();

    // A new instance: nothing in memory. Still asleep: it must not sleep anything again.
    setClock('2026-06-03T02:00:00Z');
    const second = await startController();
    try {
      await second.controller.reconcileNow();
      expect(second.controller.counters.sleepPasses).toBe(0);
      expect((await schedule(name)).status).toEqual(asleep.status);
      expect((await marks(ns, 'api')).record).toEqual({
        schedule: name,
        replicas: 4,
        at: '2026-06-02T19:00:00.000Z',
      });
      setClock('2026-06-03T07:00:00Z');
      await second.controller.reconcileNow();
      expect(await replicas(ns, 'api')).toBe(4);
      expect(await replicas(ns, 'idle')).toBe(0);
      expect(await replicas(ns, 'queue', 'StatefulSet')).toBe(1);
      expect(await marks(ns, 'api')).toEqual({ record: undefined, label: undefined });
      await settled(name, 'Awake');
    } finally {
      await second.stop();
    }
  });

  it('a deleted schedule does not leave its workloads asleep', async () => {
    const h = await startController();
    try {
      setClock('2026-06-09T20:00:00Z'); // asleep again
      await h.controller.reconcileNow();
      expect(await replicas(ns, 'api')).toBe(0);
      await deleteSchedule(name);
      await waitFor(async () => (await replicas(ns, 'api')) === 4, {
        timeoutMs: 20_000,
        what: 'orphans woken',
      });
      expect(await marks(ns, 'api')).toEqual({ record: undefined, label: undefined });
    } finally {
      await h.stop();
    }
  });
});

describe('transitions at the right instants', () => {
  let h: Harness;
  let ns = '';

  beforeAll(async () => {
    ns = await namespaceFor('hib-tz', { 'hib-tz': run });
    namespaces.push(ns);
    await createDeployment(kc, ns, 'berlin', {
      replicas: 2,
      podSpec: neverScheduledPodSpec,
      labels: { zone: 'berlin' },
    });
    await createDeployment(kc, ns, 'kolkata', {
      replicas: 3,
      podSpec: neverScheduledPodSpec,
      labels: { zone: 'kolkata' },
    });
    h = await startController();
  });

  afterAll(async () => {
    await h?.stop();
  });

  /** Sets the clock, reconciles, returns the replicas and the status. */
  async function at(iso: string, name: string, deployment: string) {
    setClock(iso);
    await h.controller.reconcileNow();
    return { replicas: await replicas(ns, deployment), status: (await schedule(name)).status };
  }

  it('Europe/Berlin, Sunday 01:00-04:00 across both DST changes of 2026', async () => {
    const name = uniqueName('hib-berlin');
    schedules.push(name);
    setClock('2026-03-28T23:00:00Z');
    await createSchedule(name, {
      timezone: 'Europe/Berlin',
      windows: [{ days: ['Sun'], from: '01:00', to: '04:00' }],
      namespaceSelector: { matchLabels: { 'hib-tz': run } },
      workloadSelector: { matchLabels: { zone: 'berlin' } },
    });
    await settled(name, 'Awake');
    // Spring forward (29 March, 02:00 CET -> 03:00 CEST): 01:00 CET = 00:00Z, 04:00 CEST = 02:00Z.
    let step = await at('2026-03-28T23:59:59.999Z', name, 'berlin');
    expect(step).toMatchObject({
      replicas: 2,
      status: { state: 'Awake', nextTransition: '2026-03-29T00:00:00.000Z' },
    });
    step = await at('2026-03-29T00:00:00.000Z', name, 'berlin');
    expect(step).toMatchObject({
      replicas: 0,
      status: { state: 'Asleep', nextTransition: '2026-03-29T02:00:00.000Z' },
    });
    step = await at('2026-03-29T01:59:59.999Z', name, 'berlin');
    expect(step.replicas).toBe(0);
    step = await at('2026-03-29T02:00:00.000Z', name, 'berlin');
    // Next: Sunday 5 April 01:00 CEST = Saturday 23:00Z.
    expect(step).toMatchObject({
      replicas: 2,
      status: { state: 'Awake', nextTransition: '2026-04-04T23:00:00.000Z' },
    });

    // Fall back (25 October, 03:00 CEST -> 02:00 CET): 01:00 CEST = 23:00Z the day before,
    // 04:00 CET = 03:00Z: four real hours.
    step = await at('2026-10-24T22:59:59.999Z', name, 'berlin');
    expect(step).toMatchObject({ replicas: 2, status: { nextTransition: '2026-10-24T23:00:00.000Z' } });
    step = await at('2026-10-24T23:00:00.000Z', name, 'berlin');
    expect(step).toMatchObject({
      replicas: 0,
      status: { state: 'Asleep', nextTransition: '2026-10-25T03:00:00.000Z' },
    });
    step = await at('2026-10-25T01:30:00.000Z', name, 'berlin'); // the repeated 02:xx hour
    expect(step.replicas).toBe(0);
    step = await at('2026-10-25T02:59:59.999Z', name, 'berlin');
    expect(step.replicas).toBe(0);
    step = await at('2026-10-25T03:00:00.000Z', name, 'berlin');
    expect(step).toMatchObject({ replicas: 2, status: { state: 'Awake' } });
    await deleteSchedule(name);
  });

  it('Asia/Kolkata (+05:30), weeknights 19:00-07:00: transitions at :30 UTC', async () => {
    const name = uniqueName('hib-kolkata');
    schedules.push(name);
    setClock('2026-06-01T13:00:00Z'); // Monday 18:30 IST
    await createSchedule(name, {
      timezone: 'Asia/Kolkata',
      windows: [{ days: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri'], from: '19:00', to: '07:00' }],
      namespaceSelector: { matchLabels: { 'hib-tz': run } },
      workloadSelector: { matchLabels: { zone: 'kolkata' } },
    });
    await settled(name, 'Awake');
    let step = await at('2026-06-01T13:29:59.999Z', name, 'kolkata');
    expect(step).toMatchObject({ replicas: 3, status: { nextTransition: '2026-06-01T13:30:00.000Z' } });
    step = await at('2026-06-01T13:30:00.000Z', name, 'kolkata');
    expect(step).toMatchObject({
      replicas: 0,
      status: { state: 'Asleep', nextTransition: '2026-06-02T01:30:00.000Z' },
    });
    step = await at('2026-06-02T01:29:59.999Z', name, 'kolkata');
    expect(step.replicas).toBe(0);
    step = await at('2026-06-02T01:30:00.000Z', name, 'kolkata');
    expect(step).toMatchObject({
      replicas: 3,
      status: { state: 'Awake', nextTransition: '2026-06-02T13:30:00.000Z' },
    });
    await deleteSchedule(name);
  });
});
