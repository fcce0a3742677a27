/**
 * Inventory benchmark: `node test/bench/inventory/run.ts [--nodes 5000] [--kubeconfig PATH]
 * [--churn-seconds 180] [--churn-rate 20] [--managed] [--no-aws]
 * [--node-options=--max-semi-space-size=1] [--compile-cache]`.
 * Without --kubeconfig it starts its own test cluster (test/bench/common/kube.ts).
 *
 * Creates N Nodes (parallel batches) carrying AWS providerIDs, instance-type and
 * capacity-type labels, and a realistic status (30 images, addresses, conditions: the
 * size of a real EKS node object, so the trimming is measured, not assumed). By default
 * they are NOT managed by kwok (no kubelet heartbeats for N nodes on a 2-core machine);
 * `--managed` hands them to kwok. A local EC2/STS Query-API server answers DescribeInstances
 * for every node's instance. The reporter runs in a child process with the real outbox and
 * shipper, talking to the reference control plane; this process measures the child:
 * time to the first full report (from the child's start), RSS after sync, RSS after a
 * period of churn (relabel / add / delete nodes), its peak RSS, and checks that the control
 * plane's instances table ends equal to the cluster. Last line: one JSON object.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Node } from '@kubernetes/client-node';
import { pino } from 'pino';
import { startReferenceControlPlane } from '../../../src/reference-control-plane/index.ts';
import { AwsQueryServer, instanceIdFor, makeInstances } from '../../integration/aws-query-server.ts';
import { forEachLimit, useCluster, waitFor } from '../common/kube.ts';
import type { ChildSample, ChildSettings } from './reporter-child.ts';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5000' },
    kubeconfig: { type: 'string' },
    'churn-seconds': { type: 'string', default: '180' },
    'churn-rate': { type: 'string', default: '20' },
    managed: { type: 'boolean', default: false },
    'no-aws': { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '32' },
    /** Extra node flags for the reporter process, e.g. "--max-semi-space-size=1". */
    'node-options': { type: 'string', default: '' },
    /** Run the reporter with NODE_COMPILE_CACHE (a warm V8 code cache, as an image could ship). */
    'compile-cache': { type: 'boolean', default: false },
    /** Write a heap snapshot of the reporter after sync to this file (for analysis). */
    'heap-snapshot': { type: 'string' },
  },
});
const nodeCount = Number(args.nodes);
const churnSeconds = Number(args['churn-seconds']);
const churnRate = Number(args['churn-rate']);
const MiB = 1024 * 1024;
const log = (line: string) =>
  process.stderr.write(`[bench +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);
const t0 = Date.now();

const run = Math.random().toString(36).slice(2, 8);
const benchLabel = 'clusteropt.io/bench-inventory';
const selector = `${benchLabel}=${run}`;
const types = ['m5.large', 'c6i.xlarge', 'r6g.2xlarge', 'm7i.4xlarge'];

function nodeBody(n: number, zone: string): V1Node {
  const name = `bench-inv-${run}-${n}`;
  const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  const now = new Date().toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        [benchLabel]: run,
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node.kubernetes.io/instance-type': types[n % types.length]!,
        'topology.kubernetes.io/zone': zone,
        'topology.kubernetes.io/region': 'us-east-1',
        'karpenter.sh/capacity-type': n % 3 === 0 ? 'spot' : 'on-demand',
        'karpenter.sh/nodepool': 'default',
        'eks.amazonaws.com/nodegroup-image': 'ami-0123456789abcdef0',
      },
      annotations: {
        ...(args.managed ? { 'kwok.x-k8s.io/node': 'fake' } : {}),
        'node.alpha.kubernetes.io/ttl': '0',
        'alpha.kubernetes.io/provided-node-ip': ip,
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
      },
    },
    spec: { providerID: `aws:///${zone}/${instanceIdFor(n)}` },
    status: {
      capacity: { cpu: '4', memory: '16Gi', pods: '58', 'ephemeral-storage': '80Gi' },
      allocatable: { cpu: '3920m', memory: '15Gi', pods: '58', 'ephemeral-storage': '73Gi' },
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'InternalDNS', address: `ip-${ip.replace(/\./g, '-')}.ec2.internal` },
        { type: 'Hostname', address: `ip-${ip.replace(/\./g, '-')}.ec2.internal` },
      ],
      conditions: ['MemoryPressure', 'DiskPressure', 'PIDPressure'].map((type) => ({
        type,
        status: 'False',
        lastHeartbeatTime: now as unknown as Date,
        lastTransitionTime: now as unknown as Date,
        reason: `KubeletHasNo${type}`,
        message: `kubelet has no ${type}`,
      })),
      images: Array.from({ length: 30 }, (_, i) => ({
        names: [
          `123456789012.dkr.ecr.us-east-1.amazonaws.com/team/service-${i}@sha256:${'ab'.repeat(32)}`,
          `123456789012.dkr.ecr.us-east-1.amazonaws.com/team/service-${i}:v1.${i}.0`,
        ],
        sizeBytes: 100_000_000 + i,
      })),
      nodeInfo: {
        architecture: 'amd64',
        bootID: '00000000-0000-0000-0000-000000000000',
        containerRuntimeVersion: 'containerd://1.7.27',
        kernelVersion: '6.1.0',
        kubeProxyVersion: 'v1.34.4',
        kubeletVersion: 'v1.34.4',
        machineID: 'ec2'.padEnd(32, '0'),
        operatingSystem: 'linux',
        osImage: 'Amazon Linux 2023',
        systemUUID: 'ec2'.padEnd(32, '0'),
      },
    },
  };
}

interface Measured {
  rssBytes: number;
  heapUsedBytes: number;
  retainedHeapBytes: number;
  rssAfterGcBytes: number;
}

const mib = (bytes: number) => Number((bytes / MiB).toFixed(1));

function procStatus(pid: number): { rss: number; hwm: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function main(): Promise<void> {
  const cluster = await useCluster({
    ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}),
    verbose: true,
  });
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const dir = mkdtempSync(join(tmpdir(), 'bench-inventory-'));
  const aws = args['no-aws'] ? undefined : await new AwsQueryServer({ record: false }).start();
  const cp = await startReferenceControlPlane({
    dbPath: join(dir, 'cp.db'),
    logger: pino({ level: 'silent' }),
  });
  let child: ChildProcess | undefined;
  const zones = ['us-east-1a', 'us-east-1b', 'us-east-1c'];
  const live = new Set<number>();
  let nextIndex = 0;
  try {
    const created = await cp.admin.createCluster({ name: 'bench-inventory' });
    // 1. Nodes (and their EC2 instances).
    const startCreate = Date.now();
    const indexes = Array.from({ length: nodeCount }, (_, i) => i);
    aws?.add(...makeInstances(nodeCount, { spotEvery: 3 }));
    let done = 0;
    await forEachLimit(indexes, Number(args.concurrency), async (n) => {
      await core.createNode({ body: nodeBody(n, zones[n % 3]!) });
      live.add(n);
      if (++done % 1000 === 0) log(`created ${done}/${nodeCount} nodes`);
    });
    nextIndex = nodeCount;
    const createSeconds = (Date.now() - startCreate) / 1000;
    log(`created ${nodeCount} nodes in ${createSeconds.toFixed(1)} s`);

    // 2. The reporter in its own process.
    const settings: ChildSettings = {
      kubeconfig: cluster.kubeconfigPath,
      labelSelector: selector,
      stateDir: join(dir, 'agent'),
      controlPlaneUrl: cp.url,
      apiKey: created.apiKey,
      ...(aws ? { awsEndpoint: aws.url } : {}),
      coalesceMs: 1000,
      fullSnapshotIntervalMs: 600_000,
    };
    const samples: ChildSample[] = [];
    let firstFull:
      | {
          sinceStartMs: number;
          instances: number;
          modulesLoadedMs: number;
          listDoneMs: number;
          ec2Calls: number;
          rssBeforeNodes: number;
        }
      | undefined;
    const nodeFlags = args['node-options'].split(/\s+/).filter(Boolean);
    const compileCacheDir = join(import.meta.dirname, '../../../.cache/node-compile-cache');
    const spawnedAt = Date.now();
    child = fork(join(import.meta.dirname, 'reporter-child.ts'), [], {
      env: {
        ...process.env,
        BENCH_CHILD: JSON.stringify(settings),
        ...(args['compile-cache'] ? { NODE_COMPILE_CACHE: compileCacheDir } : {}),
      },
      // --expose-gc only lets the parent ask for a GC at the two measuring points.
      execArgv: [...process.execArgv, '--expose-gc', ...nodeFlags],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const pid = child.pid!;
    let peak = 0;
    const peakTimer = setInterval(() => {
      try {
        peak = Math.max(peak, procStatus(pid).hwm);
      } catch {
        // exited
      }
    }, 250);
    let measured: Measured | undefined;
    const measure = async (): Promise<Measured> => {
      measured = undefined;
      child!.send('measure');
      return waitFor(() => measured, { timeoutMs: 30_000, intervalMs: 50, what: 'a memory measurement' });
    };
    child.on('message', (msg: { type: string } & Record<string, unknown>) => {
      if (msg.type === 'measured') measured = msg as unknown as Measured;
      if (msg.type === 'sample') samples.push(msg as unknown as ChildSample);
      if (msg.type === 'first-full') firstFull = msg as unknown as NonNullable<typeof firstFull>;
    });
    await waitFor(() => firstFull, { timeoutMs: 300_000, what: 'the first full report' });
    const firstFullWallMs = Date.now() - spawnedAt;
    const f = firstFull!;
    log(
      `first full report: ${f.instances} instances, ${f.sinceStartMs.toFixed(0)} ms after the child started ` +
        `(${firstFullWallMs} ms wall; modules loaded at ${f.modulesLoadedMs.toFixed(0)} ms, ` +
        `node list done at ${f.listDoneMs.toFixed(0)} ms, ${f.ec2Calls} DescribeInstances calls before it)`,
    );
    const shippedFirst = await waitFor(
      async () => {
        const list = await cp.admin.listInstances(created.cluster.id);
        return list.instances.length === nodeCount ? Date.now() - spawnedAt : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250, what: 'the control plane to hold every instance' },
    );
    log(`control plane holds all ${nodeCount} instances ${shippedFirst} ms after start`);
    // Let EC2 facts and their deltas settle, then sample.
    await new Promise((r) => setTimeout(r, 10_000));
    const afterSync = procStatus(pid);
    const syncMeasured = await measure();
    if (args['heap-snapshot']) {
      let written: string | undefined;
      const onSnapshot = (msg: { type: string; path?: string }) => {
        if (msg.type === 'heap-snapshot') written = msg.path;
      };
      child.on('message', onSnapshot);
      child.send(`heap-snapshot:${args['heap-snapshot']}`);
      await waitFor(() => written, { timeoutMs: 300_000, what: 'the heap snapshot' });
      child.off('message', onSnapshot);
      log(`heap snapshot written to ${written}`);
    }
    log(
      `RSS after sync: ${(afterSync.rss / MiB).toFixed(1)} MiB (peak so far ${(Math.max(peak, afterSync.hwm) / MiB).toFixed(1)} MiB)`,
    );

    // 3. Churn: relabel (half), add (a quarter), delete (a quarter).
    const churnEnd = Date.now() + churnSeconds * 1000;
    const ops = { relabel: 0, add: 0, delete: 0, errors: 0 };
    const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    let lastLog = Date.now();
    while (Date.now() < churnEnd) {
      const tickStart = Date.now();
      const batch = Array.from({ length: Math.max(1, Math.round(churnRate / 4)) }, () => Math.random());
      await Promise.all(
        batch.map(async (r) => {
          const pick = [...live][Math.floor(Math.random() * live.size)];
          try {
            if (r < 0.5 && pick !== undefined) {
              await core.patchNode(
                {
                  name: `bench-inv-${run}-${pick}`,
                  body: {
                    metadata: {
                      labels: {
                        'node.kubernetes.io/instance-type': types[Math.floor(Math.random() * types.length)]!,
                      },
                    },
                  },
                },
                mergePatch,
              );
              ops.relabel += 1;
            } else if (r < 0.75) {
              const n = nextIndex++;
              aws?.add(...makeInstances(1, { offset: n, spotEvery: 3 }));
              await core.createNode({ body: nodeBody(n, zones[n % 3]!) });
              live.add(n);
              ops.add += 1;
            } else if (pick !== undefined) {
              live.delete(pick);
              await core.deleteNode({ name: `bench-inv-${run}-${pick}` });
              ops.delete += 1;
            }
          } catch {
            ops.errors += 1;
          }
        }),
      );
      await new Promise((r) => setTimeout(r, Math.max(0, 250 - (Date.now() - tickStart))));
      if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        const s = samples.at(-1);
        log(
          `churn: ${JSON.stringify(ops)}; child RSS ${(procStatus(pid).rss / MiB).toFixed(1)} MiB, seq ${s?.seq}, outbox ${s?.outboxDepth}`,
        );
      }
    }
    // Quiet period: the last deltas go out; the control plane must then equal the cluster.
    const expected = new Set([...live].map((n) => `bench-inv-${run}-${n}`));
    const converged = await waitFor(
      async () => {
        const list = await cp.admin.listInstances(created.cluster.id);
        const names = list.instances.map((i) => i.nodeName);
        return names.length === expected.size && names.every((n) => expected.has(n)) ? true : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: 'the control plane to equal the cluster after churn' },
    ).catch(() => false);
    await new Promise((r) => setTimeout(r, 3000));
    const afterChurn = procStatus(pid);
    const churnMeasured = await measure();
    peak = Math.max(peak, afterChurn.hwm);
    clearInterval(peakTimer);
    const last = samples.at(-1);
    log(`RSS after churn: ${(afterChurn.rss / MiB).toFixed(1)} MiB, peak ${(peak / MiB).toFixed(1)} MiB`);

    const result = {
      benchmark: 'inventory',
      nodes: nodeCount,
      managedByKwok: args.managed,
      aws: !args['no-aws'],
      createNodesSeconds: Number(createSeconds.toFixed(1)),
      firstFullReportMs: Math.round(firstFull!.sinceStartMs),
      firstFullReportWallMs: firstFullWallMs,
      firstReportMilestonesMs: {
        modulesLoaded: Math.round(firstFull!.modulesLoadedMs),
        nodeListDone: Math.round(firstFull!.listDoneMs),
        describeCallsBefore: firstFull!.ec2Calls,
      },
      nodeFlags,
      compileCache: args['compile-cache'],
      controlPlaneHasAllMs: shippedFirst,
      rssBeforeNodesMiB: mib(firstFull!.rssBeforeNodes),
      rssAfterSyncMiB: Number((afterSync.rss / MiB).toFixed(1)),
      heapUsedAfterSyncMiB: mib(syncMeasured.heapUsedBytes),
      retainedHeapAfterSyncMiB: mib(syncMeasured.retainedHeapBytes),
      rssAfterSyncAndGcMiB: mib(syncMeasured.rssAfterGcBytes),
      rssAfterChurnMiB: Number((afterChurn.rss / MiB).toFixed(1)),
      retainedHeapAfterChurnMiB: mib(churnMeasured.retainedHeapBytes),
      rssAfterChurnAndGcMiB: mib(churnMeasured.rssAfterGcBytes),
      peakRssMiB: Number((peak / MiB).toFixed(1)),
      churnSeconds,
      churnOps: ops,
      nodesAtEnd: live.size,
      controlPlaneConverged: converged === true,
      batches: last ? { full: last.fullSnapshots, deltas: last.deltas, lastSeq: last.seq - 1 } : null,
      ignoredEvents: last?.ignoredEvents ?? null,
      describeInstancesCalls: last?.describeCalls ?? null,
      awsFailing: last?.failing ?? null,
      targets: { rssMiB: 150, firstReportMs: 10_000 },
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    if (child && child.exitCode === null) {
      child.send('stop');
      await new Promise((r) => {
        const timer = setTimeout(() => child?.kill('SIGKILL'), 10_000);
        child?.once('exit', () => {
          clearTimeout(timer);
          r(undefined);
        });
      });
    }
    log('deleting bench nodes');
    await core
      .deleteCollectionNode({ labelSelector: selector })
      .catch((err) =>
        log(
          `deleteCollection failed (${err instanceof Error ? err.message.slice(0, 200) : err}); deleting one by one`,
        ),
      );
    const left = (await core.listNode({ labelSelector: selector })).items.map((n) => n.metadata?.name ?? '');
    await forEachLimit(left, 32, async (name) => {
      await core.deleteNode({ name }).catch(() => undefined);
    });
    await cp.close();
    await aws?.close();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
