/**
 * The inventory reporter on the real test cluster: kwok nodes are added, relabelled,
 * cordoned, tainted and deleted; the reporter's batches go into a real SQLite outbox, the
 * real outbox shipper sends them to the reference control plane over HTTP, and its
 * instances table follows. EC2 facts come from the local Query-API server through the real
 * AWS SDK. Every batch is checked exactly (full/delta, upserts, removals, seq).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceReport, InstancesBatch } from '../../src/contract/reports.ts';
import {
  createInventory,
  type Inventory,
  type InventoryOutbox,
} from '../../src/controllers/inventory/index.ts';
import { ControlPlaneClient, OutboxShipper } from '../../src/controlplane/index.ts';
import { createKubeClients } from '../../src/kube/clients.ts';
import { NodeCache } from '../../src/kube/node-cache.ts';
import {
  type ReferenceControlPlane,
  startReferenceControlPlane,
} from '../../src/reference-control-plane/index.ts';
import { StateStore } from '../../src/store/index.ts';
import { AwsQueryServer, instanceIdFor, makeInstances } from '../integration/aws-query-server.ts';
import { createKwokNodes, deleteNodes, loadTestKubeConfig, uniqueName, waitFor } from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const silent = pino({ level: 'silent' });
const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' };
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

interface Harness {
  dir: string;
  store: StateStore;
  cp: ReferenceControlPlane;
  clusterId: string;
  aws: AwsQueryServer;
  inventory: Inventory;
  batches: InstancesBatch[];
  stop: () => Promise<void>;
}

/** Reporter + real outbox + real shipper + reference control plane + fake EC2. */
async function startHarness(options: {
  selector: string;
  aws: AwsQueryServer;
  coalesceMs?: number;
  fullSnapshotIntervalMs?: number;
  emitting?: boolean;
}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'inventory-k8s-'));
  const store = StateStore.open({ path: join(dir, 'agent.db') });
  const cp = await startReferenceControlPlane({ dbPath: join(dir, 'cp.db'), logger: silent });
  const created = await cp.admin.createCluster({ name: 'inventory-test' });
  const client = new ControlPlaneClient({
    baseUrl: cp.url,
    apiKey: { current: () => created.apiKey },
    allowInsecureHttp: true,
    env: {},
  });
  const batches: InstancesBatch[] = [];
  // The real outbox, with every instance batch the reporter queues recorded on the way in.
  const outbox: InventoryOutbox = {
    appendInstances: (batch) => {
      const result = store.outbox.appendInstances(batch);
      batches.push(structuredClone(batch));
      return result;
    },
    appendAudit: (event) => store.outbox.appendAudit(event),
    get fullSnapshotRequired() {
      return store.outbox.fullSnapshotRequired;
    },
  };
  // The agent's wiring: the reporter reads a NodeCache that its owner runs.
  const nodes = new NodeCache(createKubeClients(kc), { log: silent, labelSelector: options.selector });
  const inventory = createInventory({
    nodes,
    outbox,
    logger: silent,
    coalesceMs: options.coalesceMs ?? 250,
    fullSnapshotIntervalMs: options.fullSnapshotIntervalMs ?? 3_600_000,
    initialEc2WaitMs: 10_000,
    ...(options.emitting === undefined ? {} : { emitting: options.emitting }),
    aws: {
      region: 'us-east-1',
      credentials,
      ec2Endpoint: options.aws.url,
      stsEndpoint: options.aws.url,
      maxAttempts: 1,
      ttlMs: 1000,
      notFoundTtlMs: 1000,
      checkIntervalMs: 250,
      retry: { baseMs: 100, maxMs: 300 },
    },
  });
  const controller = new AbortController();
  const shipper = new OutboxShipper({ store, client, logger: silent, backoff: { baseMs: 50, maxMs: 500 } });
  const running = Promise.all([
    nodes.run(controller.signal),
    inventory.run(controller.signal),
    shipper.run(controller.signal),
  ]);
  return {
    dir,
    store,
    cp,
    clusterId: created.cluster.id,
    aws: options.aws,
    inventory,
    batches,
    stop: async () => {
      controller.abort();
      await running;
      store.close();
      await cp.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function cpInstances(
  h: Harness,
): Promise<{ lastSeq: number | null; byName: Map<string, InstanceReport> }> {
  const list = await h.cp.admin.listInstances(h.clusterId);
  return { lastSeq: list.lastSeq, byName: new Map(list.instances.map((i) => [i.nodeName, i.report])) };
}

/** Waits until the control plane holds exactly `expected` (by node name) and everything queued is shipped. */
async function waitForControlPlane(h: Harness, expected: Record<string, Partial<InstanceReport>>) {
  return waitFor(
    async () => {
      if (h.store.outbox.depth > 0) return false;
      const { byName } = await cpInstances(h);
      if ([...byName.keys()].sort().join() !== Object.keys(expected).sort().join()) return false;
      for (const [name, want] of Object.entries(expected)) {
        const got = byName.get(name);
        try {
          expect(got).toMatchObject(want);
        } catch {
          return false;
        }
      }
      return byName;
    },
    { timeoutMs: 30_000, what: `control plane instances ${JSON.stringify(expected)}` },
  );
}

/** Batches queued after `from`, once `count` are there and the window after them stayed quiet. */
async function nextBatches(h: Harness, from: number, count: number): Promise<InstancesBatch[]> {
  await waitFor(() => h.batches.length >= from + count, {
    timeoutMs: 30_000,
    what: `${count} new batch(es)`,
  });
  await new Promise((r) => setTimeout(r, 800));
  return h.batches.slice(from);
}

describe('inventory reporter on a real cluster', () => {
  const run = uniqueName('inv');
  const selector = `clusteropt.io/inventory-test=${run}`;
  const [n1, n2, n3, n4] = [
    uniqueName('inv-a'),
    uniqueName('inv-b'),
    uniqueName('inv-c'),
    uniqueName('inv-d'),
  ];
  const [id1, id2, id3, id4] = [0, 1, 2, 3].map((n) => instanceIdFor(0x5000 + n)) as [
    string,
    string,
    string,
    string,
  ];
  let h: Harness;

  beforeAll(async () => {
    const aws = await new AwsQueryServer({ accountId: '123456789012' }).start();
    // id1 is a spot instance in EC2; the others on-demand. id3 launched at a known time.
    aws.add(...makeInstances(4, { offset: 0x5000, spotEvery: 4 }));
    const label = { 'clusteropt.io/inventory-test': run };
    await Promise.all([
      createKwokNodes(kc, [n1], {
        providerId: `aws:///us-east-1a/${id1}`,
        labels: {
          ...label,
          'node.kubernetes.io/instance-type': 'm5.large',
          'karpenter.sh/capacity-type': 'spot',
        },
      }),
      createKwokNodes(kc, [n2], {
        providerId: `aws:///us-east-1b/${id2}`,
        labels: {
          ...label,
          'node.kubernetes.io/instance-type': 'c6i.xlarge',
          'eks.amazonaws.com/capacityType': 'ON_DEMAND',
        },
      }),
      // Not managed by kwok: never Ready (a dead kubelet); no type label (EC2 fills it).
      createKwokNodes(kc, [n3], { providerId: `aws:///us-east-1c/${id3}`, labels: label, managed: false }),
    ]);
    h = await startHarness({ selector, aws });
  });

  afterAll(async () => {
    await h?.stop();
    await h?.aws.close();
    await deleteNodes(kc, [n1, n2, n3, n4]);
  });

  it('starts with a full snapshot carrying node and EC2 facts', async () => {
    await waitForControlPlane(h, {
      [n1]: { instanceId: id1, lifecycle: 'spot' },
      [n2]: { instanceId: id2 },
      [n3]: { instanceId: id3 },
    });
    const first = h.batches[0]!;
    expect(first.full).toBe(true);
    expect(first.seq).toBe(0);
    expect(first.removed).toEqual([]);
    const byName = new Map(first.instances.map((r) => [r.nodeName, r]));
    expect(byName.size).toBe(3);
    expect(byName.get(n1)).toEqual({
      nodeName: n1,
      nodeUid: expect.any(String),
      providerId: `aws:///us-east-1a/${id1}`,
      instanceId: id1,
      zone: 'us-east-1a',
      instanceType: 'm5.large',
      lifecycle: 'spot',
      ready: true,
      schedulable: true,
      agentTaints: [],
      ec2: {
        state: 'running',
        launchTime: '2026-01-01T00:41:20.000Z',
        spotInstanceRequestId: 'sir-00005000',
      },
    });
    // EC2 says on-demand (no instanceLifecycle), matching the EKS label.
    expect(byName.get(n2)).toMatchObject({ instanceType: 'c6i.xlarge', lifecycle: 'on-demand', ready: true });
    // The unmanaged node: not Ready; type and lifecycle from EC2.
    expect(byName.get(n3)).toMatchObject({
      ready: false,
      instanceType: 'c6i.xlarge',
      lifecycle: 'on-demand',
      zone: 'us-east-1c',
      ec2: { state: 'running' },
    });
    const uid = (await core.readNode({ name: n1 })).metadata?.uid;
    expect(byName.get(n1)?.nodeUid).toBe(uid);
    expect(h.inventory.awsAccountId).toBe('123456789012');
    // Only the initial snapshot so far (EC2 facts were there before it was built).
    expect(h.batches).toHaveLength(1);
  });

  it('a relabel is one delta with exactly that node', async () => {
    const from = h.batches.length;
    await core.patchNode(
      { name: n2, body: { metadata: { labels: { 'node.kubernetes.io/instance-type': 'c6i.2xlarge' } } } },
      mergePatch,
    );
    const batches = await nextBatches(h, from, 1);
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ seq: from, full: false, removed: [] });
    expect(batches[0]?.instances.map((r) => [r.nodeName, r.instanceType])).toEqual([[n2, 'c6i.2xlarge']]);
    await waitForControlPlane(h, {
      [n1]: {},
      [n2]: { instanceType: 'c6i.2xlarge' },
      [n3]: {},
    });
  });

  it('changes the report does not carry queue nothing', async () => {
    const from = h.batches.length;
    const ignoredBefore = h.inventory.reporter.stats.ignoredEvents;
    await core.patchNode(
      { name: n1, body: { metadata: { labels: { team: 'payments' }, annotations: { note: 'x' } } } },
      mergePatch,
    );
    // Heartbeat-style status update: a condition's timestamps move, nothing else.
    const node = await core.readNodeStatus({ name: n3 });
    await core.patchNodeStatus(
      {
        name: n3,
        body: {
          status: {
            conditions: [
              ...(node.status?.conditions ?? []),
              {
                type: 'ClusteroptTestHeartbeat',
                status: 'False',
                lastHeartbeatTime: new Date(),
                lastTransitionTime: new Date(),
              },
            ],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    await waitFor(() => h.inventory.reporter.stats.ignoredEvents >= ignoredBefore + 2, {
      what: 'the two events to be seen',
    });
    await new Promise((r) => setTimeout(r, 1000)); // four coalescing windows
    expect(h.batches.length).toBe(from);
  });

  it("cordon and the agent's taint show as not schedulable with agentTaints", async () => {
    const from = h.batches.length;
    await core.patchNode(
      {
        name: n1,
        body: {
          spec: {
            unschedulable: true,
            taints: [
              { key: 'clusteropt.io/draining', value: 'act-1', effect: 'NoSchedule' },
              { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
            ],
          },
        },
      },
      mergePatch,
    );
    const batches = await nextBatches(h, from, 1);
    expect(batches).toHaveLength(1);
    expect(batches[0]?.instances).toHaveLength(1);
    expect(batches[0]?.instances[0]).toMatchObject({
      nodeName: n1,
      schedulable: false,
      agentTaints: ['clusteropt.io/draining=act-1:NoSchedule'],
    });
    await waitForControlPlane(h, { [n1]: { schedulable: false }, [n2]: {}, [n3]: {} });
  });

  it('a new node is upserted and a deleted one removed', async () => {
    const from = h.batches.length;
    await Promise.all([
      createKwokNodes(kc, [n4], {
        providerId: `aws:///us-east-1a/${id4}`,
        labels: { 'clusteropt.io/inventory-test': run, 'node.kubernetes.io/lifecycle': 'normal' },
        managed: false,
      }),
      deleteNodes(kc, [n3]),
    ]);
    await waitForControlPlane(h, {
      [n1]: {},
      [n2]: {},
      [n4]: { instanceId: id4, ec2: { state: 'running' } },
    });
    const batches = h.batches.slice(from);
    expect(batches.every((b) => !b.full)).toBe(true);
    expect(batches.flatMap((b) => b.removed)).toEqual([n3]);
    // n4 may be upserted twice: from node data, then again once its EC2 facts arrive.
    expect(new Set(batches.flatMap((b) => b.instances.map((r) => r.nodeName)))).toEqual(new Set([n4]));
    const last = batches.flatMap((b) => b.instances).at(-1);
    expect(last).toMatchObject({ nodeName: n4, lifecycle: 'on-demand', ec2: { state: 'running' } });
    expect(batches.map((b) => b.seq)).toEqual(batches.map((_, i) => from + i));
  });

  it('an EC2 state change is a delta once the cache entry expires', async () => {
    const from = h.batches.length;
    h.aws.instances.get(id2)!.state = 'stopping';
    const batches = await nextBatches(h, from, 1);
    expect(batches).toHaveLength(1);
    expect(batches[0]?.instances.map((r) => [r.nodeName, r.ec2?.state])).toEqual([[n2, 'stopping']]);
    await waitForControlPlane(h, { [n1]: {}, [n2]: { ec2: { state: 'stopping' } }, [n4]: {} });
  });

  it('when the control plane loses track (resync), a full snapshot follows and restores its table', async () => {
    // The control plane "restored a backup": it no longer knows the sequence.
    const db = new Database(join(h.dir, 'cp.db'));
    db.prepare('UPDATE clusters SET instances_last_seq = NULL WHERE id = ?').run(h.clusterId);
    db.prepare('DELETE FROM instances WHERE cluster_id = ?').run(h.clusterId);
    db.close();
    const from = h.batches.length;
    await core.patchNode(
      { name: n4, body: { metadata: { labels: { 'node.kubernetes.io/instance-type': 't3.small' } } } },
      mergePatch,
    );
    const byName = await waitForControlPlane(h, {
      [n1]: { schedulable: false },
      [n2]: { instanceType: 'c6i.2xlarge', ec2: { state: 'stopping' } },
      [n4]: { instanceType: 't3.small' },
    });
    const batches = h.batches.slice(from);
    expect(batches.map((b) => b.full)).toEqual([false, true]);
    expect(batches[1]?.instances).toHaveLength(3);
    expect(batches[1]?.seq).toBe(batches[0]!.seq + 1);
    expect(byName.size).toBe(3);
    const { lastSeq } = await cpInstances(h);
    expect(lastSeq).toBe(batches[1]?.seq);
  });
});

describe('inventory without working AWS', () => {
  const run = uniqueName('inv');
  const name = uniqueName('inv-x');
  let h: Harness;

  beforeAll(async () => {
    const aws = await new AwsQueryServer().start();
    aws.fail({
      action: 'DescribeInstances',
      status: 403,
      code: 'UnauthorizedOperation',
      message: 'You are not authorized to perform this operation.',
      times: 1_000_000,
    });
    await createKwokNodes(kc, [name], {
      providerId: `aws:///eu-west-1a/${instanceIdFor(0x6000)}`,
      labels: { 'clusteropt.io/inventory-test': run, 'eks.amazonaws.com/capacityType': 'SPOT' },
    });
    h = await startHarness({ selector: `clusteropt.io/inventory-test=${run}`, aws });
  });

  afterAll(async () => {
    await h?.stop();
    await h?.aws.close();
    await deleteNodes(kc, [name]);
  });

  it('reports from node data and sends one audit event, not one per retry', async () => {
    await waitForControlPlane(h, {
      [name]: { lifecycle: 'spot', instanceId: instanceIdFor(0x6000), ready: true },
    });
    expect(h.batches[0]?.instances[0]?.ec2).toBeUndefined();
    await waitFor(() => h.aws.calls('DescribeInstances').length >= 3, {
      what: 'several DescribeInstances attempts',
    });
    const events = await waitFor(async () => {
      const list = await h.cp.admin.listEvents(h.clusterId);
      return list.length > 0 && h.store.outbox.depth === 0 ? list : undefined;
    });
    expect(events.map((e) => [e.event, e.resource])).toEqual([
      ['inventory.aws_unavailable', 'aws:ec2:DescribeInstances'],
    ]);
    expect(events[0]?.details.details).toMatchObject({
      code: 'AWS_ACCESS_DENIED',
      awsCode: 'UnauthorizedOperation',
    });
  });
});

describe('inventory leadership and periodic snapshots', () => {
  const run = uniqueName('inv');
  const name = uniqueName('inv-l');
  let h: Harness;

  beforeAll(async () => {
    const aws = await new AwsQueryServer().start();
    aws.add(...makeInstances(1, { offset: 0x7000 }));
    await createKwokNodes(kc, [name], {
      providerId: `aws:///us-east-1a/${instanceIdFor(0x7000)}`,
      labels: { 'clusteropt.io/inventory-test': run },
      managed: false,
    });
    h = await startHarness({
      selector: `clusteropt.io/inventory-test=${run}`,
      aws,
      emitting: false,
      fullSnapshotIntervalMs: 2000,
    });
  });

  afterAll(async () => {
    await h?.stop();
    await h?.aws.close();
    await deleteNodes(kc, [name]);
  });

  it('a non-leader watches but queues nothing; becoming leader starts with a full snapshot', async () => {
    await waitFor(() => h.inventory.reporter.nodeCount === 1, { what: 'the node to be listed' });
    await core.patchNode({ name, body: { spec: { unschedulable: true } } }, mergePatch);
    await new Promise((r) => setTimeout(r, 1000));
    expect(h.batches).toHaveLength(0);
    h.inventory.reporter.setEmitting(true);
    await waitForControlPlane(h, { [name]: { schedulable: false, ec2: { state: 'running' } } });
    expect(h.batches[0]).toMatchObject({ seq: 0, full: true });
  });

  it('sends a full snapshot again every fullSnapshotIntervalMs, seq still counting up', async () => {
    const from = h.batches.length;
    const batches = await nextBatches(h, from, 1);
    expect(batches[0]).toMatchObject({ seq: from, full: true, removed: [] });
    expect(batches[0]?.instances.map((r) => r.nodeName)).toEqual([name]);
    h.inventory.reporter.setEmitting(false);
    const stopped = h.batches.length;
    await new Promise((r) => setTimeout(r, 2500));
    expect(h.batches.length).toBe(stopped);
  });
});

describe('inventory reporter lifecycle', () => {
  it('stops promptly when aborted during its first node list', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inventory-abort-'));
    const store = StateStore.open({ path: join(dir, 'agent.db') });
    try {
      for (const delayMs of [0, 5, 50]) {
        const nodes = new NodeCache(createKubeClients(kc));
        const inventory = createInventory({ nodes, outbox: store.outbox, aws: false });
        const controller = new AbortController();
        const running = Promise.all([nodes.run(controller.signal), inventory.run(controller.signal)]);
        await new Promise((r) => setTimeout(r, delayMs));
        controller.abort();
        const started = Date.now();
        await running;
        expect(Date.now() - started).toBeLessThan(2000);
      }
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
