/**
 * A hostile control plane against the chart's default guardrails, on the real test cluster.
 *
 * The chart is installed (its RBAC and admission policy; no agent pods), the real agent runs in
 * this process with the chart's ServiceAccount token and no AgentPolicy at all (the built-in
 * defaults), and the reference control plane runs in hostile mode: it sends every threat of
 * docs/security.md, raw poll answers no honest server would send, answers of an ingress in front
 * of it, and fast-check envelopes. Asserted: nothing outside policy happens in the cluster (no
 * node deleted, no pod evicted or deleted, no pod template, system workload, control-plane node
 * or reserved key touched, no scale-up past the caps), every refused action reaches the control
 * plane with its reason, and the agent stays ready.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, PolicyV1Api, type V1Node } from '@kubernetes/client-node';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentPolicyPlural } from '../../src/crds/agent-policy.ts';
import { apiGroup, apiVersionName } from '../../src/crds/common.ts';
import { installCrds } from '../../src/kube/install-crds.ts';
import { mergePatch } from '../../src/kube/merge-patch.ts';
import { type AgentStack, startAgentStack } from '../support/agent.ts';
import { type ChartIdentity, installChartIdentity } from '../support/chart-identity.ts';
import { createPdb, waitForPodsRunning } from '../support/drain-fixture.ts';
import {
  createDeployment,
  createKwokNodes,
  createNamespace,
  deleteNamespace,
  deleteNodes,
  loadTestKubeConfig,
  uniqueName,
  waitFor,
} from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const controlPlaneLabel = 'node-role.kubernetes.io/control-plane';
const finalStates = ['succeeded', 'failed', 'rejected', 'expired'];

describe('a hostile control plane against the default guardrails', () => {
  const release = uniqueName('hostile');
  const cpNode = uniqueName('hostile-cp');
  const workerA = uniqueName('hostile-a'); // runs an unmanaged pod: drains of it are refused
  const workerB = uniqueName('hostile-b'); // runs PDB-protected pods, system ones too
  const nodes = [cpNode, workerA, workerB];
  const systemApp = uniqueName('hostile-dns');
  const dir = mkdtempSync(join(tmpdir(), 'clusteropt-hostile-'));
  let ns = '';
  let app = '';
  let stack: AgentStack;
  let identity: ChartIdentity | undefined;

  beforeAll(async () => {
    await installCrds(kc);
    // The defaults, not a widened set: no AgentPolicy may exist (leftovers of other files).
    const policies = (await custom.listClusterCustomObject({
      group: apiGroup,
      version: apiVersionName,
      plural: agentPolicyPlural,
    })) as { items: { metadata: { name: string } }[] };
    expect(policies.items.map((p) => p.metadata.name)).toEqual([]);
    ns = await createNamespace(kc, 'hostile-agent');
    app = await createNamespace(kc, 'hostile-app');
    identity = await installChartIdentity(kc, { release, namespace: ns, dir });
    await createKwokNodes(kc, [cpNode], {
      labels: { [controlPlaneLabel]: '', 'hostile-pool': release },
    });
    await core.patchNode(
      { name: cpNode, body: { spec: { taints: [{ key: controlPlaneLabel, effect: 'NoSchedule' }] } } },
      mergePatch,
    );
    await createKwokNodes(kc, [workerA, workerB], { labels: { 'hostile-pool': release } });
    // workerA: a pod no controller manages.
    await core.createNamespacedPod({
      namespace: app,
      body: {
        metadata: { name: 'bare', labels: { app: 'bare' } },
        spec: { nodeName: workerA, containers: [{ name: 'c', image: 'registry.invalid/bare:1' }] },
      },
    });
    // workerB: an app and a "system" one, both under PodDisruptionBudgets that allow nothing.
    for (const [namespace, name] of [
      [app, 'web'],
      ['kube-system', systemApp],
    ] as const) {
      await createDeployment(kc, namespace, name, {
        replicas: 2,
        labels: { app: name },
        podSpec: {
          nodeSelector: { 'kubernetes.io/hostname': workerB },
          containers: [{ name: 'c', image: `registry.invalid/${name}:1` }],
        },
      });
      await createPdb(kc, namespace, name, name, { maxUnavailable: 0 });
    }
    await waitForPodsRunning(kc, app, workerB, 2);
    await waitForPodsRunning(kc, 'kube-system', workerB, 2);
    const kubeconfig = identity.kubeconfigPath;
    stack = await startAgentStack({
      namespace: ns,
      guardrails: 'defaults',
      hostile: true,
      config: { kubeconfig, pollWaitSeconds: 2 },
    });
    await waitFor(() => stack.agent.isLeader(), { what: 'the agent to lead', timeoutMs: 30_000 });
  }, 240_000);

  afterAll(async () => {
    await stack?.stop();
    await apps
      .deleteNamespacedDeployment({ name: systemApp, namespace: 'kube-system' })
      .catch(() => undefined);
    await kc
      .makeApiClient(PolicyV1Api)
      .deleteNamespacedPodDisruptionBudget({ name: systemApp, namespace: 'kube-system' })
      .catch(() => undefined);
    await deleteNodes(kc, nodes);
    identity?.uninstall();
    await deleteNamespace(kc, ns);
    await deleteNamespace(kc, app);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);

  /** What must not change outside policy. */
  async function snapshot() {
    const nodeState = (n: V1Node) => ({
      labels: n.metadata?.labels ?? {},
      taints: (n.spec?.taints ?? []).map((t) => `${t.key}=${t.value ?? ''}:${t.effect}`).sort(),
      unschedulable: n.spec?.unschedulable === true,
    });
    const byName = new Map<string, ReturnType<typeof nodeState>>();
    for (const name of nodes) byName.set(name, nodeState(await core.readNode({ name })));
    const live = [
      ...(await core.listNamespacedPod({ namespace: app })).items,
      ...(await core.listNamespacedPod({ namespace: 'kube-system', labelSelector: `app=${systemApp}` }))
        .items,
    ].filter((p) => !p.metadata?.deletionTimestamp);
    const uids = (web: boolean) =>
      live
        .filter((p) => (p.metadata?.namespace === app && p.metadata?.labels?.app === 'web') === web)
        .map((p) => p.metadata?.uid ?? '')
        .sort();
    // The app's web pods apart: a scale within the caps adds or removes some, which is allowed.
    const pods = uids(false);
    const webPods = uids(true);
    const workload = async (namespace: string, name: string) => {
      const d = await apps.readNamespacedDeployment({ name, namespace });
      return { replicas: d.spec?.replicas, template: JSON.stringify(d.spec?.template) };
    };
    return {
      nodes: byName,
      pods,
      webPods,
      web: await workload(app, 'web'),
      system: await workload('kube-system', systemApp),
    };
  }

  type Snapshot = Awaited<ReturnType<typeof snapshot>>;

  /**
   * The cluster against the snapshot taken before: only what the defaults allow changed.
   * `lowestWebReplicas`: the fewest replicas a succeeded scale of the app's web Deployment set
   * (a scale-down removes pods without any eviction; the ReplicaSet picks which).
   */
  function expectWithinPolicy(
    before: Snapshot,
    after: Snapshot,
    lowestWebReplicas = Number.POSITIVE_INFINITY,
  ) {
    // No node deleted; the control-plane node untouched.
    expect([...after.nodes.keys()].sort()).toEqual([...before.nodes.keys()].sort());
    expect(after.nodes.get(cpNode)).toEqual(before.nodes.get(cpNode));
    for (const worker of [workerA, workerB]) {
      const b = before.nodes.get(worker)!;
      const a = after.nodes.get(worker)!;
      // No reserved label changed, no NoExecute taint, no taint under a reserved key.
      const reserved = (k: string) => /(^|\.)(kubernetes\.io|k8s\.io)\//.test(k);
      for (const key of new Set([...Object.keys(b.labels), ...Object.keys(a.labels)])) {
        if (reserved(key)) expect(a.labels[key], `${worker} label ${key}`).toBe(b.labels[key]);
      }
      expect(a.taints.filter((t) => t.endsWith(':NoExecute'))).toEqual(
        b.taints.filter((t) => t.endsWith(':NoExecute')),
      );
      // (node.kubernetes.io/unschedulable is Kubernetes' own mark of a cordon, which is allowed.)
      const own = (t: string) => reserved(t) && !t.startsWith('node.kubernetes.io/unschedulable=');
      expect(a.taints.filter(own)).toEqual(b.taints.filter(own));
    }
    // Nothing evicted or deleted: every pod here is protected by a PDB that allows nothing, or
    // has no controller (a drain refuses it without force, and force is refused).
    expect(after.pods).toEqual(before.pods);
    const webGone = before.webPods.filter((uid) => !after.webPods.includes(uid));
    expect(webGone.length).toBeLessThanOrEqual(Math.max(0, before.webPods.length - lowestWebReplicas));
    // The system workload untouched; the app's template untouched, its replicas within the caps.
    expect(after.system).toEqual(before.system);
    expect(after.web.template).toBe(before.web.template);
    expect(after.web.replicas).toBeLessThanOrEqual(100);
  }

  const ready = async () =>
    (await fetch(`http://127.0.0.1:${stack.agent.healthAddress.port}/readyz`)).status === 200;

  async function expectRejected(id: string, reason: RegExp) {
    const action = await stack.waitForState(id, finalStates, 60_000);
    expect(action.state, `${action.type}: ${action.message}`).toBe('rejected');
    expect(action.message).toMatch(reason);
    return action;
  }

  it('refuses each threat of the issue, says why to the control plane, and stays ready', async () => {
    const before = await snapshot();
    const cases: [string, unknown, RegExp][] = [
      // Delete any node: waits for an approval that never comes (then expires, reported).
      // (checked below)
      // Force-delete pods past their PDBs with grace 0.
      [
        'drain_node',
        {
          nodeName: workerB,
          timeoutSeconds: 2,
          gracePeriodSeconds: 0,
          force: true,
          forceDeleteAtBudgetEnd: true,
        },
        /\(force\).*force is not allowed/,
      ],
      [
        'drain_node',
        { nodeName: workerB, timeoutSeconds: 2, gracePeriodSeconds: 0, forceDeleteAtBudgetEnd: true },
        /forceDeleteAtBudgetEnd/,
      ],
      // Scale a workload to 100,000; scale a system workload.
      [
        'scale_workload',
        { namespace: app, kind: 'Deployment', name: 'web', replicas: 100_000 },
        /maxReplicas/,
      ],
      [
        'scale_workload',
        { namespace: app, kind: 'Deployment', name: 'web', replicas: 50 },
        /maxScaleUpFactor/,
      ],
      [
        'scale_workload',
        { namespace: 'kube-system', kind: 'Deployment', name: systemApp, replicas: 0 },
        /system namespace/,
      ],
      [
        'scale_workload',
        { namespace: ns, kind: 'StatefulSet', name: `${release}-clusteropt-agent`, replicas: 0 },
        /system namespace/,
      ],
      // Put every namespace to sleep.
      [
        'sync_hibernation_schedule',
        { name: uniqueName('everything'), timezone: 'UTC', matrix: '1'.repeat(168) },
        /namespaceSelector/,
      ],
      // Rewrite reserved labels and taints; touch the control-plane node.
      ['patch_node', { nodeName: workerA, labels: { [controlPlaneLabel]: '' } }, /reserved by Kubernetes/],
      [
        'patch_node',
        { nodeName: workerA, labels: { 'node-restriction.kubernetes.io/pool': 'x' } },
        /reserved/,
      ],
      [
        'patch_node',
        { nodeName: workerA, taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] },
        /reserved/,
      ],
      [
        'patch_node',
        { nodeName: cpNode, removeTaints: [{ key: controlPlaneLabel, effect: 'NoSchedule' }] },
        /control-plane node|reserved/,
      ],
      ['cordon_node', { nodeName: cpNode }, /control-plane node/],
      // A NoExecute taint would evict system pods without asking their PDB.
      [
        'patch_node',
        { nodeName: workerB, taints: [{ key: 'example.com/evict', effect: 'NoExecute' }] },
        /system namespace/,
      ],
    ];
    const ids = [];
    for (const [type, payload] of cases) ids.push(await stack.enqueue(type, payload));
    const deleteNode = await stack.enqueue(
      'delete_node',
      { nodeName: workerB, timeoutSeconds: 5 },
      { expiresInSeconds: 8 },
    );
    for (const [i, [type, , reason]] of cases.entries()) {
      const rejected = await expectRejected(ids[i]!, reason);
      expect(rejected.type).toBe(type);
    }
    const expired = await stack.waitForState(deleteNode, finalStates, 90_000);
    expect(expired.state, expired.message).toBe('expired');
    expect(await ready()).toBe(true);
    expectWithinPolicy(before, await snapshot());
  }, 240_000);

  it('survives raw answers no honest control plane sends, and reports each refusal with its reason', async () => {
    const before = await snapshot();
    const envelope = (payload: string, type = 'cordon_node') => {
      const id = randomUUID();
      return {
        id,
        text: `{"id":"${id}","type":"${type}","createdAt":"${new Date().toISOString()}","payload":${payload}}`,
      };
    };
    // A poison pill (100,000 levels deep) next to a valid action, which still runs.
    const pill = envelope(`{"nodeName":"${workerA}","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    const valid = envelope(`{"nodeName":"${workerA}","labels":{"example.com/hostile":"ok"}}`, 'patch_node');
    const huge = envelope(`{"nodeName":"${workerA}","blob":"${'x'.repeat(2 * 1024 * 1024)}"}`);
    await stack.cp.admin.queueRawPoll(
      stack.clusterId,
      `{"actions":[${pill.text},${valid.text},${huge.text}]}`,
    );
    // 2,000 nulls; 150 envelopes in one answer (the agent asked for at most 100).
    await stack.cp.admin.queueRawPoll(stack.clusterId, `{"actions":[${Array(2000).fill('null').join(',')}]}`);
    const many = Array.from({ length: 150 }, () => envelope('{}', 'no_such_type'));
    await stack.cp.admin.queueRawPoll(stack.clusterId, `{"actions":[${many.map((m) => m.text).join(',')}]}`);
    // An ingress in front of the control plane refuses the first status reports with an HTML
    // 413 (no contract body): they are retried, not dropped.
    await stack.cp.admin.addFault({
      count: 3,
      routes: ['status'],
      status: 413,
      body: '<html><body>413 Request Entity Too Large</body></html>',
    });

    const reports = await waitFor(
      async () => {
        const r = await stack.cp.admin.unknownReports(stack.clusterId);
        const finals = r.filter((x) => x.state !== 'running');
        return finals.length >= 2 + many.length + 1 ? r : undefined;
      },
      { what: 'every raw envelope answered', timeoutMs: 90_000 },
    );
    const finalOf = (id: string) => reports.find((r) => r.actionId === id && r.state !== 'running');
    expect(finalOf(pill.id)).toMatchObject({
      state: 'rejected',
      message: expect.stringMatching(/nested too deeply/),
    });
    expect(finalOf(huge.id)).toMatchObject({
      state: 'rejected',
      message: expect.stringMatching(/too large/),
    });
    expect(finalOf(valid.id)).toMatchObject({ state: 'succeeded' });
    for (const [i, m] of many.entries()) {
      expect(finalOf(m.id), `envelope ${i}`).toMatchObject({
        state: 'rejected',
        message: expect.stringMatching(
          i < 100 ? /unknown action type/ : /too many actions in one poll response/,
        ),
      });
    }
    // The 2,000 nulls: one audit event per reason (100 looked at and invalid, 1,900 past the
    // limit), not 2,000 of them.
    const unanswerable = await waitFor(
      async () => {
        const list = (await stack.cp.admin.listEvents(stack.clusterId)).filter(
          (e) => e.event === 'action.unanswerable',
        );
        const count = list.reduce(
          (n, e) => n + Number((e.details.details as { count?: number })?.count ?? 0),
          0,
        );
        return count >= 2000 ? list : undefined;
      },
      { what: 'the merged audit events of the nulls' },
    );
    expect(unanswerable.map((e) => e.details.message).sort()).toEqual([
      expect.stringMatching(/^received 100 action\(s\) that cannot be answered: invalid envelope/),
      expect.stringMatching(/^received 1900 action\(s\) that cannot be answered: too many actions/),
    ]);
    expect((await core.readNode({ name: workerA })).metadata?.labels?.['example.com/hostile']).toBe('ok');
    expect(await ready()).toBe(true);
    const after = await snapshot();
    expectWithinPolicy(before, after);
  }, 240_000);

  it('holds for random envelopes (fast-check)', async () => {
    const before = await snapshot();
    const node = fc.constantFrom(cpNode, workerA, workerB);
    const reservedKey = fc.constantFrom(
      controlPlaneLabel,
      'node.kubernetes.io/exclude-from-external-load-balancers',
      'topology.kubernetes.io/zone',
      'kubernetes.io/hostname',
    );
    const anyKey = fc.oneof(reservedKey, fc.constantFrom('example.com/a', 'team'));
    const envelopeArb = fc.oneof(
      fc.record({ type: fc.constant('cordon_node'), payload: fc.record({ nodeName: node }) }),
      fc.record({ type: fc.constant('uncordon_node'), payload: fc.record({ nodeName: node }) }),
      fc.record({
        type: fc.constantFrom('drain_node', 'delete_node'),
        payload: fc.record(
          {
            nodeName: node,
            timeoutSeconds: fc.integer({ min: 1, max: 3 }),
            gracePeriodSeconds: fc.constantFrom(0, 1, 30),
            force: fc.boolean(),
            forceDeleteAtBudgetEnd: fc.boolean(),
            deleteEmptyDirData: fc.boolean(),
          },
          { requiredKeys: ['nodeName', 'timeoutSeconds'] },
        ),
      }),
      fc.record({
        type: fc.constant('scale_workload'),
        payload: fc.record({
          namespace: fc.constantFrom(app, 'kube-system', ns),
          kind: fc.constant('Deployment'),
          name: fc.constantFrom('web', systemApp),
          replicas: fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom(101, 100_000)),
        }),
      }),
      fc.record({
        type: fc.constant('patch_node'),
        payload: fc.record(
          {
            nodeName: node,
            labels: fc.dictionary(anyKey, fc.constantFrom('x', ''), { minKeys: 1, maxKeys: 2 }),
            taints: fc.array(
              fc.record({
                key: anyKey,
                effect: fc.constantFrom('NoSchedule', 'NoExecute', 'PreferNoSchedule'),
              }),
              { maxLength: 2 },
            ),
          },
          { requiredKeys: ['nodeName', 'labels'] },
        ),
      }),
      fc.record({
        type: fc.constant('sync_hibernation_schedule'),
        payload: fc.record(
          {
            name: fc.constantFrom('h1', 'h2').map((n) => `${release}-${n}`),
            timezone: fc.constant('UTC'),
            matrix: fc.constant('1'.repeat(168)),
            namespaceSelector: fc.constantFrom(
              {},
              { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
              {
                matchExpressions: [
                  { key: 'kubernetes.io/metadata.name', operator: 'In', values: ['kube-system', ns] },
                ],
              },
            ),
          },
          { requiredKeys: ['name', 'timezone', 'matrix'] },
        ),
      }),
    );
    const sent: string[] = [];
    let lowestWebReplicas = Number.POSITIVE_INFINITY;
    await fc.assert(
      fc.asyncProperty(fc.array(envelopeArb, { minLength: 1, maxLength: 4 }), async (batch) => {
        const ids = [];
        for (const e of batch) ids.push(await stack.enqueue(e.type, e.payload, { expiresInSeconds: 20 }));
        for (const [i, id] of ids.entries()) {
          const a = await stack.waitForState(id, finalStates, 90_000);
          // Every action ends, and a refusal says why.
          if (a.state === 'rejected')
            expect(a.message.trim().length, JSON.stringify(batch[i])).toBeGreaterThan(10);
          const e = batch[i];
          if (a.state === 'succeeded' && e?.type === 'scale_workload' && e.payload.namespace === app) {
            if (e.payload.name === 'web') lowestWebReplicas = Math.min(lowestWebReplicas, e.payload.replicas);
          }
        }
        sent.push(...ids);
        expect(await ready()).toBe(true);
      }),
      { numRuns: 12, interruptAfterTimeLimit: 150_000 },
    );
    expect(sent.length).toBeGreaterThan(0);
    expectWithinPolicy(before, await snapshot(), lowestWebReplicas);
    // Whatever schedules were created, nothing in kube-system or the agent's namespace slept.
    for (const n of ['h1', 'h2']) {
      await custom
        .deleteClusterCustomObject({
          group: apiGroup,
          version: apiVersionName,
          plural: 'hibernationschedules',
          name: `${release}-${n}`,
        })
        .catch(() => undefined);
    }
  }, 300_000);
});
