/**
 * Inventory benchmark: the agent's memory and its time to the first full instance report
 * at N nodes, measured on the agent process as it ships: `node <Dockerfile ENTRYPOINT
 * flags> dist/cli.mjs run` (the bundle, `npm run bundle`), all of it running (leader election,
 * action and hibernation controllers, poller, heartbeat, inventory, outbox shipper).
 *
 *   npm run bundle && npm run bench -- inventory -- [--nodes 5000] [--no-aws]
 *     [--variant "NAME=DIR [flags] [ENV=value]"]... [--rounds 1] [--hours 1] [--churn-rate 200]
 *     [--kubeconfig PATH] [--heap-snapshot DIR] [--managed]
 *
 * `--variant NAME=DIR` (repeatable; default `current=.`) runs the agent built in DIR
 * (DIR/Dockerfile's ENTRYPOINT script under DIR, its flags and ENV) one after the other against
 * the same nodes, each with a fresh control-plane cluster, so versions compare back to back.
 * Words after DIR are Node flags added to the image's, NAME=value environment variables
 * (malloc settings, ...), or unset:X to take the image's variable or flag X away. `--rounds N` runs the variants N times in turn (A, B, A, B, ...).
 *
 * Per variant: a fresh agent process (fresh state dir, fresh Lease) against the reference
 * control plane (in this process, behind a small proxy that sees each instances batch):
 *  - first full report: from spawning the process until the control plane answered 200 to
 *    the first full snapshot; plus the agent's own milestones from its log;
 *  - RSS after sync (EC2 facts in the control plane for every node, then 10 s), with the
 *    heap breakdown from the agent's /metrics;
 *  - an hour of churn (see `churnPlan`): the changes a busy cluster of N nodes makes to
 *    its Node objects in `--hours` hours, replayed as fast as `--churn-rate` allows;
 *  - RSS after churn, peak RSS (VmHWM: the kernel's high-water mark, so no sample is
 *    missed), and whether the control plane's table equals the cluster at the end.
 *
 * EC2 on (default): nodes carry `aws:///<az>/<i-…>` providerIDs, a local EC2/STS Query-API
 * server answers for every instance (AWS_ENDPOINT_URL_EC2/_STS, static keys, AWS_REGION as
 * on EKS with IRSA: the SDK is loaded at start). `--no-aws`: a cluster not on AWS
 * (`gce://…` providerIDs, no AWS environment): the agent never loads the AWS SDK.
 * Last line: one JSON object.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, HttpMethod, RequestContext, type V1Node } from '@kubernetes/client-node';
import { pino } from 'pino';
import { type Dispatcher, fetch } from 'undici';
import { createKubeClients, type KubeClients } from '../../../src/kube/clients.ts';
import { installCrds } from '../../../src/kube/install-crds.ts';
import { startReferenceControlPlane } from '../../../src/reference-control-plane/index.ts';
import { freePort } from '../../cluster/launcher.ts';
import { AwsQueryServer, instanceIdFor, makeInstances } from '../../integration/aws-query-server.ts';
import { imageRuntime, scriptIn, withVariantWords } from '../../support/agent-image.ts';
import {
  eksInstanceTypes,
  eksNodeAnnotations,
  eksNodeIp,
  eksNodeLabels,
  eksNodeStatusParts,
  eksZones,
} from '../common/eks-node.ts';
import { forEachLimit, useCluster, waitFor } from '../common/kube.ts';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5000' },
    kubeconfig: { type: 'string' },
    variant: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '1' },
    /** Hours of a busy cluster's node churn to replay (see churnPlan). 0: no churn. */
    hours: { type: 'string', default: '1' },
    /** Upper bound on churn writes per second (the API server and this process set the real pace). */
    'churn-rate': { type: 'string', default: '200' },
    managed: { type: 'boolean', default: false },
    'no-aws': { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '32' },
    /** Write a heap snapshot of each agent after sync into this directory (adds --heapsnapshot-signal). */
    'heap-snapshot': { type: 'string' },
    /** Keep the agent logs here. */
    'log-dir': { type: 'string' },
  },
});
const nodeCount = Number(args.nodes);
const hours = Number(args.hours);
const churnRate = Number(args['churn-rate']);
const aws = !args['no-aws'];
const MiB = 1024 * 1024;
const t0 = Date.now();
const log = (line: string) =>
  process.stderr.write(`[bench +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);
const repoRoot = resolve(import.meta.dirname, '../../..');

const run = Math.random().toString(36).slice(2, 8);
const benchLabel = 'clusteropt.io/bench-inventory';
const selector = `${benchLabel}=${run}`;

const nodeName = (n: number) => `bench-inv-${run}-${n}`;

/**
 * What one hour of a busy cluster of `nodes` nodes does to its Node objects (what the
 * inventory's watch receives), scaled by `hours`:
 *  - status updates: a kubelet posts its node status every `nodeStatusReportFrequency`
 *    (5 min) even when nothing changed (heartbeats proper go to Leases, which the agent does
 *    not watch): 12 per node per hour. They change nothing the reports carry.
 *  - replacements: 5 % of the nodes per hour (autoscaler scale-up/down, spot
 *    interruptions, upgrades): as many nodes added as deleted, so the count stays N.
 *  - relabels and cordons/uncordons: 5 % of the nodes per hour each (instance-type label
 *    moves, cordon before drain): each one changes a report.
 * Plus whatever the controller-manager itself writes (unmanaged nodes get NotReady taints).
 */
function churnPlan(nodes: number, h: number) {
  return {
    statusUpdates: Math.round(nodes * 12 * h),
    adds: Math.round(nodes * 0.05 * h),
    deletes: Math.round(nodes * 0.05 * h),
    relabels: Math.round(nodes * 0.05 * h),
    cordons: Math.round(nodes * 0.05 * h),
  };
}

function nodeBody(n: number): V1Node {
  const name = nodeName(n);
  const zone = eksZones[n % 3]!;
  const ip = eksNodeIp(n);
  const now = new Date().toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: { [benchLabel]: run, ...eksNodeLabels(name, n, zone) },
      annotations: {
        ...(args.managed ? { 'kwok.x-k8s.io/node': 'fake' } : {}),
        ...eksNodeAnnotations(ip),
      },
    },
    spec: { providerID: aws ? `aws:///${zone}/${instanceIdFor(n)}` : `gce://bench-project/${zone}/${name}` },
    status: {
      capacity: { cpu: '4', memory: '16Gi', pods: '58', 'ephemeral-storage': '80Gi' },
      allocatable: { cpu: '3920m', memory: '15Gi', pods: '58', 'ephemeral-storage': '73Gi' },
      ...eksNodeStatusParts(ip, now),
    },
  };
}

/**
 * One write to the API server without client-node's model (de)serialisation, which would
 * cost this process more CPU per write than the API server spends: the churn must be paced
 * by the API server, not by the load generator. Returns the HTTP status.
 */
async function rawWrite(
  clients: KubeClients,
  method: 'PATCH' | 'POST' | 'DELETE',
  path: string,
  body: unknown,
  contentType = 'application/json',
): Promise<number> {
  const url = `${clients.server}${path}`;
  const ctx = new RequestContext(url, HttpMethod.GET);
  await clients.auth.applySecurityAuthentication(ctx);
  const res = await fetch(url, {
    method,
    headers: { ...ctx.getHeaders(), 'content-type': contentType },
    body: body === undefined ? undefined : JSON.stringify(body),
    dispatcher: ctx.getDispatcher() as Dispatcher | undefined,
  });
  await res.arrayBuffer();
  return res.status;
}

const mib = (bytes: number | undefined) => (bytes === undefined ? null : Number((bytes / MiB).toFixed(1)));

function procStatus(pid: number): { rss: number; hwm: number; rssAnon: number; rssFile: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), rssAnon: kb('RssAnon'), rssFile: kb('RssFile') };
}

/**
 * Resident memory by kind of mapping (/proc/PID/smaps): file-backed (the node binary, ICU,
 * native addons), the main malloc arena ([heap]), other anonymous mappings (V8's heap pages,
 * malloc's thread arenas and large chunks, thread stacks).
 */
function residentByKind(pid: number): Record<string, number | null> {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const kinds: Record<string, number> = { file: 0, mallocMainArena: 0, anonymous: 0, stack: 0 };
  let kind = 'anonymous';
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      const path = head[2] ?? '';
      kind =
        path === '[heap]'
          ? 'mallocMainArena'
          : path.startsWith('[stack')
            ? 'stack'
            : path.startsWith('/')
              ? 'file'
              : 'anonymous';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kinds[kind] = (kinds[kind] ?? 0) + Number(rss[1]) * 1024;
  }
  return Object.fromEntries(Object.entries(kinds).map(([k, v]) => [`${k}MiB`, mib(v)]));
}

/** The /metrics samples of the heap (prom-client's default Node metrics). */
function heapBreakdown(text: string): Record<string, number | null> {
  const value = (re: RegExp) => {
    const m = re.exec(text);
    return m ? mib(Number(m[1])) : null;
  };
  const out: Record<string, number | null> = {
    heapUsedMiB: value(/^nodejs_heap_size_used_bytes (\S+)/m),
    heapTotalMiB: value(/^nodejs_heap_size_total_bytes (\S+)/m),
    externalMiB: value(/^nodejs_external_memory_bytes (\S+)/m),
  };
  for (const m of text.matchAll(/^nodejs_heap_space_size_used_bytes\{space="([^"]+)"\} (\S+)/gm)) {
    out[`used_${m[1]}MiB`] = mib(Number(m[2]));
  }
  for (const m of text.matchAll(/^nodejs_heap_space_size_total_bytes\{space="([^"]+)"\} (\S+)/gm)) {
    out[`total_${m[1]}MiB`] = mib(Number(m[2]));
  }
  return out;
}

interface InstancesSeen {
  /** ms since the agent was spawned, when the first full snapshot was answered 200. */
  firstFullAt?: number;
  firstFullInstances?: number;
  firstFullWithEc2?: number;
  batches: number;
  fullBatches: number;
}

/**
 * A reverse proxy in front of the control plane that notes when the first full instances
 * snapshot was accepted (what the control plane saw, not what the agent believes).
 */
async function startInstancesProxy(target: string): Promise<{
  url: string;
  watch(spawnedAt: number): InstancesSeen;
  close(): Promise<void>;
}> {
  const upstream = new URL(target);
  let seen: InstancesSeen = { batches: 0, fullBatches: 0 };
  let spawnedAt = 0;
  const server: Server = createServer((req, res) => {
    const isInstances = req.method === 'POST' && (req.url ?? '').startsWith('/api/v1/agent/instances');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on('end', () => {
            if (!isInstances || answer.statusCode !== 200) return;
            const current = seen;
            current.batches += 1;
            const batch = JSON.parse(body.toString('utf8')) as {
              full?: boolean;
              instances?: Array<{ ec2?: unknown }>;
            };
            if (!batch.full) return;
            current.fullBatches += 1;
            if (current.firstFullAt === undefined) {
              current.firstFullAt = Date.now() - spawnedAt;
              current.firstFullInstances = batch.instances?.length ?? 0;
              current.firstFullWithEc2 = batch.instances?.filter((i) => i.ec2 !== undefined).length ?? 0;
            }
          });
        },
      );
      out.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      out.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    watch(at) {
      spawnedAt = at;
      seen = { batches: 0, fullBatches: 0 };
      return seen;
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

interface AgentLogLine {
  level: number;
  time: string;
  msg: string;
  [k: string]: unknown;
}

async function main(): Promise<void> {
  const variants = (args.variant?.length ? args.variant : ['current=.']).map((v) => {
    const eq = v.indexOf('=');
    const name = v.slice(0, eq);
    const [dir, ...words] = v
      .slice(eq + 1)
      .split(/\s+/)
      .filter(Boolean);
    const root = resolve(repoRoot, dir ?? '.');
    const image = imageRuntime(root);
    const cli = scriptIn(root, image);
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run bundle\` in ${root}`);
    return { name, root, cli, ...withVariantWords(image, words) };
  });
  const rounds = Number(args.rounds);
  const runs = Array.from({ length: rounds }, (_, r) => variants.map((v) => ({ ...v, round: r + 1 }))).flat();
  const uptimeBefore = readFileSync('/proc/loadavg', 'utf8').trim();
  const cluster = await useCluster({
    ...(args.kubeconfig ? { kubeconfig: args.kubeconfig } : {}),
    verbose: true,
  });
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const churnClients = createKubeClients(cluster.kc);
  const dir = mkdtempSync(join(tmpdir(), 'bench-inventory-'));
  const logDir = args['log-dir'] ? resolve(args['log-dir']) : dir;
  mkdirSync(logDir, { recursive: true });
  const awsServer = aws ? await new AwsQueryServer().start() : undefined;
  const cp = await startReferenceControlPlane({
    dbPath: join(dir, 'cp.db'),
    logger: pino({ level: 'silent' }),
  });
  const proxy = await startInstancesProxy(cp.url);
  const namespace = `clusteropt-bench-${run}`;
  const live = new Set<number>();
  let nextIndex = 0;
  let child: ChildProcess | undefined;
  const results: Record<string, unknown>[] = [];
  try {
    await installCrds(cluster.kc);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    // 1. Nodes (and their EC2 instances).
    const startCreate = Date.now();
    awsServer?.add(...makeInstances(nodeCount, { spotEvery: 3 }));
    let done = 0;
    await forEachLimit(
      Array.from({ length: nodeCount }, (_, i) => i),
      Number(args.concurrency),
      async (n) => {
        await core.createNode({ body: nodeBody(n) });
        live.add(n);
        if (++done % 1000 === 0) log(`created ${done}/${nodeCount} nodes`);
      },
    );
    nextIndex = nodeCount;
    const createSeconds = (Date.now() - startCreate) / 1000;
    log(`created ${nodeCount} nodes in ${createSeconds.toFixed(1)} s`);
    // Let the controller-manager's first pass over the new nodes (NotReady taints) settle.
    await new Promise((r) => setTimeout(r, 15_000));
    const allNodes = async () => (await core.listNode()).items.length;

    for (const variant of runs) {
      const tag = `${variant.name}-${variant.round}`;
      const created = await cp.admin.createCluster({ name: `bench-inventory-${tag}` });
      const keyFile = join(dir, `${tag}.key`);
      writeFileSync(keyFile, `${created.apiKey}\n`, { mode: 0o600 });
      const stateDir = join(dir, `state-${tag}`);
      const healthPort = await freePort();
      const heapDir = args['heap-snapshot'] ? resolve(args['heap-snapshot']) : undefined;
      if (heapDir) mkdirSync(heapDir, { recursive: true });
      const nodeArgs = [
        ...variant.nodeFlags,
        ...(heapDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${heapDir}`] : []),
        variant.cli,
        'run',
        `--control-plane-url=${proxy.url}`,
        '--allow-insecure-http',
        `--api-key-file=${keyFile}`,
        `--state-dir=${stateDir}`,
        `--namespace=${namespace}`,
        `--kubeconfig=${cluster.kubeconfigPath}`,
        `--listen-health=127.0.0.1:${healthPort}`,
        '--log-level=info',
        `--leader-election-lease-name=clusteropt-bench-${tag}`,
      ];
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: dir,
        ...variant.env,
        POD_NAME: `bench-${variant.name}`,
        // Hermetic AWS: nothing from this machine's files or metadata service.
        AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
        AWS_EC2_METADATA_DISABLED: 'true',
        ...(awsServer
          ? {
              AWS_REGION: 'us-east-1',
              AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
              AWS_SECRET_ACCESS_KEY: 'secret',
              AWS_ENDPOINT_URL_EC2: awsServer.url,
              AWS_ENDPOINT_URL_STS: awsServer.url,
            }
          : {}),
      };
      const logFile = join(logDir, `agent-${tag}.log`);
      const logStream = createWriteStream(logFile);
      const loadAtStart = loadavg();
      const describeBefore = awsServer?.calls('DescribeInstances').length ?? 0;
      const spawnedAt = Date.now();
      const seen = proxy.watch(spawnedAt);
      child = spawn(process.execPath, nodeArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const pid = child.pid!;
      const lines: AgentLogLine[] = [];
      let partial = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        logStream.write(chunk);
        partial += chunk.toString('utf8');
        let nl = partial.indexOf('\n');
        while (nl >= 0) {
          const line = partial.slice(0, nl);
          partial = partial.slice(nl + 1);
          nl = partial.indexOf('\n');
          try {
            lines.push(JSON.parse(line) as AgentLogLine);
          } catch {
            // not JSON
          }
        }
      });
      child.stderr!.pipe(logStream);
      const exited = new Promise<void>((r) => child!.once('exit', () => r()));
      const alive = () => {
        if (child!.exitCode !== null || child!.signalCode !== null)
          throw new Error(
            `agent ${variant.name} exited (${child!.exitCode ?? child!.signalCode}); see ${logFile}`,
          );
      };
      const metrics = async () => (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();

      log(
        `[${variant.name}] agent started: node ${nodeArgs.slice(0, variant.nodeFlags.length + 1).join(' ')} run`,
      );
      await waitFor(
        () => {
          alive();
          return seen.firstFullAt;
        },
        { timeoutMs: 300_000, intervalMs: 20, what: 'the first full report' },
      );
      const firstLine = lines.find((l) => l.msg === 'first full instance snapshot queued');
      const leadingLine = lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('leading'));
      log(
        `[${variant.name}] first full report accepted ${seen.firstFullAt} ms after spawn: ` +
          `${seen.firstFullInstances} instances, ${seen.firstFullWithEc2} with EC2 facts`,
      );
      // Sync: every node's EC2 facts are in the control plane (EC2 on), then 10 s.
      const expectedNodes = await allNodes();
      let ec2CompleteMs: number | null = null;
      if (awsServer) {
        await waitFor(
          async () => {
            alive();
            const list = await cp.admin.listInstances(created.cluster.id);
            return list.instances.length === expectedNodes &&
              list.instances.every((i) => i.report.ec2 !== undefined)
              ? true
              : undefined;
          },
          { timeoutMs: 180_000, intervalMs: 500, what: 'EC2 facts for every instance in the control plane' },
        );
        ec2CompleteMs = Date.now() - spawnedAt;
      }
      await new Promise((r) => setTimeout(r, 10_000));
      alive();
      const afterSync = procStatus(pid);
      const heapAfterSync = heapBreakdown(await metrics());
      const mappingsAfterSync = residentByKind(pid);
      log(
        `[${variant.name}] RSS after sync ${mib(afterSync.rss)} MiB (anon ${mib(afterSync.rssAnon)}, ` +
          `file ${mib(afterSync.rssFile)}), peak so far ${mib(afterSync.hwm)} MiB; ` +
          `heap used/total ${heapAfterSync.heapUsedMiB}/${heapAfterSync.heapTotalMiB} MiB, external ` +
          `${heapAfterSync.externalMiB} MiB; mappings ${JSON.stringify(mappingsAfterSync)}`,
      );
      if (heapDir) {
        child.kill('SIGUSR2');
        await new Promise((r) => setTimeout(r, 15_000));
        log(`[${variant.name}] heap snapshot requested into ${heapDir}`);
      }

      // Churn: the plan's writes, interleaved at random, at most churnRate per second.
      const plan = churnPlan(nodeCount, hours);
      const ops: Array<keyof typeof plan> = [];
      for (const [kind, count] of Object.entries(plan) as Array<[keyof typeof plan, number]>) {
        for (let i = 0; i < count; i++) ops.push(kind);
      }
      for (let i = ops.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [ops[i], ops[j]] = [ops[j]!, ops[i]!];
      }
      const doneOps = { statusUpdates: 0, adds: 0, deletes: 0, relabels: 0, cordons: 0, errors: 0 };
      const liveList = () => [...live];
      let snapshot = liveList();
      const pick = () => snapshot[Math.floor(Math.random() * snapshot.length)]!;
      const churnStart = Date.now();
      let lastLog = Date.now();
      let issued = 0;
      const merge = 'application/merge-patch+json';
      await forEachLimit(ops, 32, async (kind) => {
        // Pace: op k may start no earlier than k / churnRate seconds after the start.
        const k = issued++;
        const due = churnStart + (k * 1000) / churnRate;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
        if (k % 500 === 0) snapshot = liveList();
        let status = -1;
        try {
          if (kind === 'statusUpdates') {
            // What a kubelet's periodic status post changes: the conditions' heartbeat times.
            const now = new Date().toISOString();
            status = await rawWrite(
              churnClients,
              'PATCH',
              `/api/v1/nodes/${nodeName(pick())}/status`,
              {
                status: {
                  conditions: ['MemoryPressure', 'DiskPressure', 'PIDPressure'].map((type) => ({
                    type,
                    lastHeartbeatTime: now,
                  })),
                },
              },
              'application/strategic-merge-patch+json',
            );
          } else if (kind === 'adds') {
            const n = nextIndex++;
            awsServer?.add(...makeInstances(1, { offset: n, spotEvery: 3 }));
            status = await rawWrite(churnClients, 'POST', '/api/v1/nodes', nodeBody(n));
            if (status === 201) live.add(n);
          } else if (kind === 'deletes') {
            const n = pick();
            if (live.delete(n))
              status = await rawWrite(churnClients, 'DELETE', `/api/v1/nodes/${nodeName(n)}`, undefined);
          } else if (kind === 'relabels') {
            const type = eksInstanceTypes[Math.floor(Math.random() * eksInstanceTypes.length)]!;
            status = await rawWrite(
              churnClients,
              'PATCH',
              `/api/v1/nodes/${nodeName(pick())}`,
              { metadata: { labels: { 'node.kubernetes.io/instance-type': type } } },
              merge,
            );
          } else {
            const unschedulable = Math.random() < 0.5;
            status = await rawWrite(
              churnClients,
              'PATCH',
              `/api/v1/nodes/${nodeName(pick())}`,
              { spec: { unschedulable } },
              merge,
            );
          }
        } catch {
          // Connection errors count as errors; the churn goes on.
        }
        // A node picked for a patch may have been deleted meanwhile (404): expected now and then.
        if (status >= 200 && status < 300) doneOps[kind] += 1;
        else doneOps.errors += 1;
        if (Date.now() - lastLog > 30_000) {
          lastLog = Date.now();
          alive();
          log(
            `[${variant.name}] churn ${k}/${ops.length} (${(k / ((Date.now() - churnStart) / 1000)).toFixed(0)}/s); ` +
              `agent RSS ${mib(procStatus(pid).rss)} MiB`,
          );
        }
      });
      const churnSeconds = (Date.now() - churnStart) / 1000;
      // Quiet period: the last deltas go out; the control plane must then equal the cluster.
      const expected = new Set((await core.listNode()).items.map((n) => n.metadata?.name ?? ''));
      const converged = await waitFor(
        async () => {
          alive();
          const list = await cp.admin.listInstances(created.cluster.id);
          const names = list.instances.map((i) => i.nodeName);
          return names.length === expected.size && names.every((n) => expected.has(n)) ? true : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 1000, what: 'the control plane to equal the cluster after churn' },
      ).catch(() => false);
      await new Promise((r) => setTimeout(r, 10_000));
      alive();
      const afterChurn = procStatus(pid);
      const heapAfterChurn = heapBreakdown(await metrics());
      const mappingsAfterChurn = residentByKind(pid);
      const loadAtEnd = loadavg();
      log(`[${variant.name}] RSS after churn ${mib(afterChurn.rss)} MiB, peak ${mib(afterChurn.hwm)} MiB`);
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => child?.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(killTimer);
      logStream.end();
      const warnings = lines.filter((l) => l.level >= 40).map((l) => l.msg);
      results.push({
        variant: variant.name,
        round: variant.round,
        nodeFlags: variant.nodeFlags,
        imageEnv: variant.env,
        firstFullReportMs: seen.firstFullAt,
        firstFullInstances: seen.firstFullInstances,
        firstFullWithEc2: seen.firstFullWithEc2,
        agentMilestonesMs: {
          // From the agent's log: pino `time` against the spawn time.
          leading: leadingLine ? Date.parse(String(leadingLine.time)) - spawnedAt : null,
          firstSnapshotQueued: firstLine ? Date.parse(String(firstLine.time)) - spawnedAt : null,
          inventoryListMs: firstLine?.listMs ?? null,
          inventorySnapshotMs: firstLine?.snapshotMs ?? null,
        },
        ec2CompleteMs,
        describeInstancesCalls: (awsServer?.calls('DescribeInstances').length ?? 0) - describeBefore,
        rssAfterSyncMiB: mib(afterSync.rss),
        rssAnonAfterSyncMiB: mib(afterSync.rssAnon),
        rssFileAfterSyncMiB: mib(afterSync.rssFile),
        peakAtSyncMiB: mib(afterSync.hwm),
        heapAfterSync,
        mappingsAfterSync,
        churn: {
          hours,
          plan,
          done: doneOps,
          seconds: Number(churnSeconds.toFixed(1)),
          writesPerSecond: Number((ops.length / churnSeconds).toFixed(1)),
        },
        rssAfterChurnMiB: mib(afterChurn.rss),
        heapAfterChurn,
        mappingsAfterChurn,
        peakRssMiB: mib(afterChurn.hwm),
        controlPlaneConverged: converged === true,
        instanceBatches: { total: seen.batches, full: seen.fullBatches },
        warnings: [...new Set(warnings)].slice(0, 10),
        loadAverage: {
          atStart: loadAtStart.map((l) => Number(l.toFixed(2))),
          atEnd: loadAtEnd.map((l) => Number(l.toFixed(2))),
        },
        logFile,
      });
      child = undefined;
    }
    const result = {
      benchmark: 'inventory',
      nodes: nodeCount,
      managedByKwok: args.managed,
      aws,
      createNodesSeconds: Number(createSeconds.toFixed(1)),
      loadavgBefore: uptimeBefore,
      loadavgAfter: readFileSync('/proc/loadavg', 'utf8').trim(),
      variants: results,
      targets: { rssMiB: 150, firstReportMs: 10_000 },
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    log('deleting bench nodes');
    await core
      .deleteCollectionNode({ labelSelector: selector })
      .catch((err) =>
        log(`deleteCollection failed (${err instanceof Error ? err.message.slice(0, 200) : err})`),
      );
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
    await proxy.close();
    await cp.close();
    await awsServer?.close();
    await cluster.stop();
    if (!args['log-dir']) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
