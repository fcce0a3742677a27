/**
 * scale_workload against the real cluster: built-in kinds, a CRD with /scale found through
 * discovery, expectedReplicas preconditions, a concurrent writer (409), do-not-disrupt, replays.
 * Pods of these workloads target a pool with no nodes: they stay Pending, nothing runs.
 */
import {
  ApiextensionsV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scaleWorkloadExecutor } from '../../src/actions/scale-workload.ts';
import { createKubeClients } from '../../src/kube/clients.ts';
import {
  actionContext,
  createPoolDeployment,
  createReadyNamespace,
  makeAction,
  poolPlacement,
} from '../support/drain-fixture.ts';
import { deleteNamespace, loadTestKubeConfig, uniqueName, waitFor } from '../support/kube.ts';

/** The scale limits widened (an AgentPolicy would hand these over); without them the defaults apply. */
const wideScaleLimits = { limits: { maxReplicas: 100_000, maxScaleUpFactor: 10_000 } };

const kc: KubeConfig = loadTestKubeConfig();
const apps = kc.makeApiClient(AppsV1Api);
const core = kc.makeApiClient(CoreV1Api);
const ns = uniqueName('scale');
const group = `${ns}.clusteropt-test.io`;
const nowhere = uniqueName('nowhere');

const replicasOf = async (name: string) =>
  (await apps.readNamespacedDeployment({ name, namespace: ns })).spec?.replicas;
const scale = (payload: Record<string, unknown>) =>
  makeAction('scale_workload', { namespace: ns, ...payload });

beforeAll(async () => {
  await createReadyNamespace(kc, ns);
  await createPoolDeployment(kc, ns, nowhere, 'web', { replicas: 2 });
  await createPoolDeployment(kc, ns, nowhere, 'precious', {
    replicas: 3,
    annotations: { 'clusteropt.io/do-not-disrupt': 'true' },
  });
  await apps.createNamespacedStatefulSet({
    namespace: ns,
    body: {
      metadata: { name: 'db' },
      spec: {
        replicas: 1,
        serviceName: 'db',
        selector: { matchLabels: { app: 'db' } },
        template: {
          metadata: { labels: { app: 'db' } },
          spec: { ...poolPlacement(nowhere), containers: [{ name: 'db', image: 'registry.invalid/db:1' }] },
        },
      },
    },
  });
  const crds = kc.makeApiClient(ApiextensionsV1Api);
  for (const [plural, kind, withScale] of [
    ['widgets', 'Widget', true],
    ['gadgets', 'Gadget', false],
  ] as const) {
    await crds.createCustomResourceDefinition({
      body: {
        metadata: { name: `${plural}.${group}` },
        spec: {
          group,
          scope: 'Namespaced',
          names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: { type: 'object', properties: { replicas: { type: 'integer' } } },
                    status: { type: 'object', properties: { replicas: { type: 'integer' } } },
                  },
                },
              },
              ...(withScale
                ? {
                    subresources: {
                      scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' },
                    },
                  }
                : {}),
            },
          ],
        },
      },
    });
  }
  const custom = kc.makeApiClient(CustomObjectsApi);
  await waitFor(
    () =>
      custom
        .createNamespacedCustomObject({
          group,
          version: 'v1',
          namespace: ns,
          plural: 'widgets',
          body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name: 'w' }, spec: { replicas: 1 } },
        })
        .then(() => true),
    { what: 'Widget CRD served', timeoutMs: 30_000 },
  );
}, 120_000);

afterAll(async () => {
  const crds = kc.makeApiClient(ApiextensionsV1Api);
  await Promise.all(
    ['widgets', 'gadgets'].map((p) =>
      crds.deleteCustomResourceDefinition({ name: `${p}.${group}` }).catch(() => undefined),
    ),
  );
  await deleteNamespace(kc, ns);
}, 60_000);

describe('scale_workload', () => {
  it('scales a Deployment up and down, with and without expectedReplicas, and replays as a no-op', async () => {
    const ctx = actionContext(kc);
    const up = scale({ kind: 'Deployment', name: 'web', replicas: 4, expectedReplicas: 2 });
    expect(await scaleWorkloadExecutor.execute(up, ctx)).toMatchObject({
      outcome: 'succeeded',
      details: { from: 2, to: 4, apiVersion: 'apps/v1' },
    });
    expect(await replicasOf('web')).toBe(4);
    // The same action again after a crash: nothing to do, even though 2 != 4 now.
    // generation (not resourceVersion: the controller keeps writing status) counts spec changes.
    const generation = async () =>
      (await apps.readNamespacedDeployment({ name: 'web', namespace: ns })).metadata?.generation;
    const before = await generation();
    expect(await scaleWorkloadExecutor.execute(up, actionContext(kc))).toMatchObject({
      outcome: 'succeeded',
      reason: 'already_done',
    });
    expect(await generation()).toBe(before);

    // A stale expectation is a conflict and changes nothing.
    const stale = await scaleWorkloadExecutor.execute(
      scale({ kind: 'Deployment', name: 'web', replicas: 1, expectedReplicas: 3 }),
      ctx,
    );
    expect(stale).toMatchObject({ outcome: 'failed', reason: 'conflict' });
    expect(stale.message).toContain('expected 3 replicas but found 4');
    expect(await replicasOf('web')).toBe(4);

    const down = await scaleWorkloadExecutor.execute(
      scale({ kind: 'Deployment.apps', name: 'web', replicas: 1 }),
      ctx,
    );
    expect(down).toMatchObject({ outcome: 'succeeded', details: { from: 4, to: 1 } });
    expect(await replicasOf('web')).toBe(1);

    await ctx.events.flush();
    const events = await core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: 'reason=ClusteroptScaled',
    });
    expect(events.items.filter((e) => e.message?.includes(up.id))).toHaveLength(1);
    expect(
      events.items.every((e) => e.involvedObject.kind === 'Deployment' && e.involvedObject.name === 'web'),
    ).toBe(true);
  });

  it('never overwrites a change made between its read and its write (409 -> conflict)', async () => {
    const clients = createKubeClients(kc);
    // A concurrent writer strikes right after the executor read the scale.
    const racingApps = new Proxy(clients.apps, {
      get(target, prop, receiver) {
        if (prop === 'readNamespacedDeploymentScale') {
          return async (args: { name: string; namespace: string }) => {
            const scaleRead = await target.readNamespacedDeploymentScale(args);
            await apps.patchNamespacedDeploymentScale(
              { name: args.name, namespace: args.namespace, body: { spec: { replicas: 7 } } },
              setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
            );
            return scaleRead;
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    const ctx = actionContext(kc, { kube: { ...clients, apps: racingApps }, ...wideScaleLimits });
    const result = await scaleWorkloadExecutor.execute(
      scale({ kind: 'Deployment', name: 'web', replicas: 3 }),
      ctx,
    );
    expect(result).toMatchObject({ outcome: 'failed', reason: 'conflict', retryable: true });
    expect(await replicasOf('web')).toBe(7);
  });

  it('refuses a scale-up past the limits on the replicas it reads itself (defaults: 100, twice)', async () => {
    const before = (await replicasOf('web')) ?? 0;
    for (const replicas of [before * 2 + 1, 100_000]) {
      const r = await scaleWorkloadExecutor.execute(
        scale({ kind: 'Deployment', name: 'web', replicas }),
        actionContext(kc),
      );
      expect(r, String(replicas)).toMatchObject({ outcome: 'failed', reason: 'policy_limit' });
    }
    expect(await replicasOf('web')).toBe(before);
  });

  it('refuses to scale a do-not-disrupt workload down, but scales it up', async () => {
    const down = await scaleWorkloadExecutor.execute(
      scale({ kind: 'Deployment', name: 'precious', replicas: 0 }),
      actionContext(kc),
    );
    expect(down).toMatchObject({ outcome: 'failed', reason: 'do_not_disrupt' });
    expect(await replicasOf('precious')).toBe(3);
    const up = await scaleWorkloadExecutor.execute(
      scale({ kind: 'Deployment', name: 'precious', replicas: 4 }),
      actionContext(kc),
    );
    expect(up.outcome).toBe('succeeded');
    expect(await replicasOf('precious')).toBe(4);
  });

  it('scales a StatefulSet and a CRD found through discovery (Kind.group)', async () => {
    const sts = await scaleWorkloadExecutor.execute(
      scale({ kind: 'StatefulSet', name: 'db', replicas: 0, expectedReplicas: 1 }),
      actionContext(kc),
    );
    expect(sts).toMatchObject({ outcome: 'succeeded', details: { from: 1, to: 0 } });
    expect((await apps.readNamespacedStatefulSet({ name: 'db', namespace: ns })).spec?.replicas).toBe(0);

    const widget = await scaleWorkloadExecutor.execute(
      scale({ kind: `Widget.${group}`, name: 'w', replicas: 3, expectedReplicas: 1 }),
      actionContext(kc, wideScaleLimits),
    );
    expect(widget).toMatchObject({
      outcome: 'succeeded',
      details: { from: 1, to: 3, apiVersion: `${group}/v1` },
    });
    const obj = (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
      group,
      version: 'v1',
      namespace: ns,
      plural: 'widgets',
      name: 'w',
    })) as { spec: { replicas: number } };
    expect(obj.spec.replicas).toBe(3);
    const mismatch = await scaleWorkloadExecutor.execute(
      scale({ kind: `Widget.${group}`, name: 'w', replicas: 5, expectedReplicas: 1 }),
      actionContext(kc),
    );
    expect(mismatch).toMatchObject({ outcome: 'failed', reason: 'conflict' });
  });

  it('explains what it cannot scale', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ kind: `Gadget.${group}`, name: 'g', replicas: 1 }, 'unsupported_kind'],
      [{ kind: 'Widget.nothing.example.com', name: 'w', replicas: 1 }, 'unsupported_kind'],
      [{ kind: 'Pod', name: 'p', replicas: 1 }, 'unsupported_kind'],
      [{ kind: 'Deployment', name: 'missing', replicas: 1 }, 'workload_not_found'],
      [{ kind: `Widget.${group}`, name: 'missing', replicas: 1 }, 'workload_not_found'],
    ];
    for (const [payload, reason] of cases) {
      const r = await scaleWorkloadExecutor.execute(scale(payload), actionContext(kc));
      expect(r, JSON.stringify(payload)).toMatchObject({ outcome: 'failed', reason });
    }
  });
});
