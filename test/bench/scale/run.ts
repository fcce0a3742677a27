/**
 * Scale benchmark (issue 9): the agent's memory and CPU at 5,000 nodes and 50,000 pods.
 *
 *   npm run bench -- scale [--nodes 5000] [--pods 50000] [--managed-nodes 250] [--rounds 3]
 *     [--idle-seconds 30] [--churn-seconds 30] [--churn-rate 20] [--cordons 200] [--drains 3]
 *     [--big-replicas 2000] [--scale-by 500] [--aws local|off] [--source head|worktree]
 *     [--node-flags "..."] [--extra-node-flags "..."] [--no-reference] [--heap-snapshot DIR]
 *     [--kubeconfig PATH] [--variant "label=[@commit] flags ENV=value unset:X"] [--variant-rounds N]
 *     [--rounds-per-life 1]
 *
 * The agent runs as it ships: `node <flags of the Dockerfile's ENTRYPOINT> dist/cli.mjs run`
 * (the bundle) with the image's ENV, built from the committed HEAD (`--source head`,
 * default) or the work tree; leader election, the inventory (with EC2 enrichment against a
 * local EC2/STS server unless `--aws off`) and the hibernation controller on; talking to the
 * reference control plane as a child process over HTTP. Without --kubeconfig a test cluster
 * of its own is started (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok).
 *
 * The cluster (fixture.ts, bulk-pods.ts): `--managed-nodes` kwok-managed nodes carry every pod
 * (a big Deployment placed by the scheduler, the rest bare pods with nodeName set, which the
 * bench starts Running itself before kwok takes their node over); the other nodes are
 * unmanaged with a real node's status (the node lifecycle controller marks them Unknown and
 * taints them unreachable; no pod is on them, so none is evicted).
 *
 * Each round is one agent process (start, sync, then the phases; `--rounds-per-life` for
 * more); variants take turns with the default agent round by round. Phases, measured from
 * /proc (RSS, utime+stime):
 *   idle   nothing asked of the agent (kwok heartbeats, lease renewals, long polls)
 *   burst  enqueued at once on the control plane: cordon of cordons/2 nodes, uncordon of the
 *          cordons/2 of the round before, `--drains` drains of pod-carrying nodes (force; ~200
 *          pods each), one scale of the big Deployment (±scale-by); ends when all are terminal
 *   churn  node objects relabelled / added / deleted at `--churn-rate` per second
 * Between burst and churn the bench restores the drained nodes (uncordon, recreate their bare
 * pods) outside the measured phases. The same is measured for reference processes over the
 * same cluster: `kubectl get nodes -w`, `kubectl get pods -A -w`, kube-scheduler (caches
 * every node and pod), kube-controller-manager, kube-apiserver, etcd, kwok. Prints tables and
 * one JSON line last.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { createKubeClients, type KubeClients } from '../../../src/kube/clients.ts';
import { AwsQueryServer, makeInstances } from '../../integration/aws-query-server.ts';
import { withVariantWords } from '../../support/agent-image.ts';
import { applyWidePolicy } from '../../support/policy.ts';
import { registerCluster, spawnControlPlane } from '../../support/processes.ts';
import { forEachLimit, waitFor } from '../common/kube.ts';
import { machineNote, printJsonLine, printTable, round, summarize } from '../common/stats.ts';
import { type AgentBuild, buildAgent, imageRuntime } from './agent-build.ts';
import { countPodStates, nodesHeldByKwok, type PlacedNode, placeNodesWithPods } from './bulk-pods.ts';
import {
  appsNamespace,
  benchLabel,
  bigDeployment,
  bulkNamespace,
  bulkPodBody,
  bulkPodsOn,
  createBigDeployment,
  ensureNamespace,
  instanceTypes,
  managedName,
  nodeBody,
  restoreNode,
  roleLabel,
  setUnschedulable,
  unmanagedName,
} from './fixture.ts';
import { cpuSeconds, type PhaseUse, ProcessMeter, rssBreakdown } from './procfs.ts';
import { type AgentHeap, type LifeResult, roundUse, summarizeVariant } from './summary.ts';

const { values: args } = parseArgs({
  // `npm run bench -- scale -- --nodes 500` passes the second `--` through: skip it.
  args: process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--')),
  options: {
    nodes: { type: 'string', default: '5000' },
    pods: { type: 'string', default: '50000' },
    'managed-nodes': { type: 'string', default: '250' },
    rounds: { type: 'string', default: '3' },
    'idle-seconds': { type: 'string', default: '30' },
    'churn-seconds': { type: 'string', default: '30' },
    'churn-rate': { type: 'string', default: '20' },
    cordons: { type: 'string', default: '200' },
    drains: { type: 'string', default: '3' },
    'big-replicas': { type: 'string', default: '2000' },
    'scale-by': { type: 'string', default: '500' },
    aws: { type: 'string', default: 'local' },
    /** head, worktree, or a commit to build (the Dockerfile's flags and ENV of that commit). */
    source: { type: 'string', default: 'head' },
    /** Replaces the Dockerfile's Node flags (e.g. "--max-semi-space-size=1"); "" for none. */
    'node-flags': { type: 'string' },
    /** Added after the Dockerfile's Node flags. */
    'extra-node-flags': { type: 'string', default: '' },
    'no-reference': { type: 'boolean', default: false },
    /** Diagnostic: adds --heapsnapshot-signal=SIGUSR2 and writes a snapshot after the rounds. */
    'heap-snapshot': { type: 'string' },
    concurrency: { type: 'string', default: '48' },
    kubeconfig: { type: 'string' },
    'log-level': { type: 'string', default: 'info' },
    /**
     * More agent runs on the same cluster after the first, each `label=flags` (Node flags added
     * to the image's), e.g. --variant "semi1=--max-semi-space-size=1". Analysis only.
     */
    variant: { type: 'string', multiple: true, default: [] },
    /** Rounds of each --variant (default: --rounds). */
    'variant-rounds': { type: 'string' },
    /** Rounds per agent process; each process is a sample of after-sync and peak RSS. */
    'rounds-per-life': { type: 'string', default: '1' },
  },
});
const nodeCount = Number(args.nodes);
const podCount = Number(args.pods);
const managedCount = Math.min(Number(args['managed-nodes']), nodeCount);
const unmanagedCount = nodeCount - managedCount;
const rounds = Number(args.rounds);
const idleSeconds = Number(args['idle-seconds']);
const churnSeconds = Number(args['churn-seconds']);
const churnRate = Number(args['churn-rate']);
const halfCordons = Math.floor(Number(args.cordons) / 2);
const drainsPerRound = Number(args.drains);
const bigReplicas = Math.min(Number(args['big-replicas']), podCount);
const scaleBy = Number(args['scale-by']);
const bulkCount = podCount - bigReplicas;
const concurrency = Number(args.concurrency);
const withAws = args.aws !== 'off';
const MiB = 1024 * 1024;

const t0 = Date.now();
const log = (line: string) =>
  process.stderr.write(`[scale +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const run = Math.random().toString(36).slice(2, 7);
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

const variantsCount = 1 + (args.variant?.length ?? 0);
const variantRounds = Number(args['variant-rounds'] ?? rounds);
const roundsPerLife = Math.max(1, Number(args['rounds-per-life']));
const spread = (x: { median: number; min: number; max: number }) => `${x.median} [${x.min}-${x.max}]`;
/** Rounds over all variants: each round cordons a new set of nodes and drains new ones. */
const totalRounds = rounds + (variantsCount - 1) * variantRounds;

/** Prometheus text: the value of `name` (optionally with a label containing `labelPart`). */
function metricValue(text: string, name: string, labelPart?: string): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (labelPart === undefined ? !rest.startsWith(' ') : !(rest.startsWith('{') && rest.includes(labelPart)))
      continue;
    return Number(rest.slice(rest.indexOf(' ') + 1).split(' ')[0]);
  }
  return undefined;
}

function heapFromMetrics(text: string): AgentHeap {
  const mib = (v: number | undefined) => (v === undefined ? undefined : round(v / MiB));
  return {
    rssMiB: mib(metricValue(text, 'process_resident_memory_bytes')),
    heapUsedMiB: mib(metricValue(text, 'nodejs_heap_size_used_bytes')),
    heapTotalMiB: mib(metricValue(text, 'nodejs_heap_size_total_bytes')),
    externalMiB: mib(metricValue(text, 'nodejs_external_memory_bytes')),
    oldSpaceUsedMiB: mib(metricValue(text, 'nodejs_heap_space_size_used_bytes', 'space="old"')),
    newSpaceUsedMiB: mib(metricValue(text, 'nodejs_heap_space_size_used_bytes', 'space="new"')),
    codeSpaceUsedMiB: mib(metricValue(text, 'nodejs_heap_space_size_used_bytes', 'space="code"')),
    largeObjectSpaceUsedMiB: mib(
      metricValue(text, 'nodejs_heap_space_size_used_bytes', 'space="large_object"'),
    ),
  };
}

function uptimeLine(): string {
  return `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')}`;
}

/** A reference client whose stdout lines are counted (to know when its initial list is in). */
function spawnCounted(
  cmd: string,
  argv: string[],
  logFile: string,
): { child: ChildProcess; lines: () => number } {
  const err = openSync(logFile, 'a');
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', cmd, ...argv], {
    stdio: ['ignore', 'pipe', err],
  });
  let lines = 0;
  child.stdout?.on('data', (chunk: Buffer) => {
    for (const b of chunk) if (b === 10) lines++;
  });
  return { child, lines: () => lines };
}

async function main(): Promise<void> {
  const startMachine = { ...(await machineNote()), uptime: uptimeLine() };
  log(`machine: ${startMachine.cpus} cpus, ${startMachine.uptime}`);
  log(
    `scenario: ${nodeCount} nodes (${managedCount} kwok-managed), ${podCount} pods (${bigReplicas} in Deployment ` +
      `${bigDeployment}, ${bulkCount} bare), ${rounds} rounds, aws ${withAws ? 'local EC2/STS' : 'off'}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'clusteropt-bench-scale-'));

  // 1. The agent as it ships (and any variants).
  const build = buildAgent(args.source, log);
  const builds = new Map<string, AgentBuild>([[build.commit, build]]);
  const image = imageRuntime(build);
  const split = (flags: string) => flags.split(/\s+/).filter(Boolean);
  const baseFlags = [
    ...(args['node-flags'] !== undefined ? split(args['node-flags']) : image.nodeFlags),
    ...split(args['extra-node-flags']),
  ];
  const variants: Variant[] = [
    {
      label: args['node-flags'] !== undefined || args['extra-node-flags'] ? 'custom flags' : 'as shipped',
      build,
      nodeFlags: baseFlags,
      env: image.env,
    },
    ...(args.variant ?? []).map((v) => {
      const eq = v.indexOf('=');
      let words = split(eq < 0 ? '' : v.slice(eq + 1));
      // "@commit" first: that commit built on its own, with its own Dockerfile's flags and ENV.
      let vBuild = build;
      let vImage = image;
      let vBase = baseFlags;
      if (words[0]?.startsWith('@')) {
        const commit = words[0].slice(1);
        words = words.slice(1);
        const b = buildAgent(commit, log);
        vBuild = builds.get(b.commit) ?? b;
        builds.set(vBuild.commit, vBuild);
        vImage = imageRuntime(vBuild);
        vBase = vImage.nodeFlags;
      }
      return {
        label: eq < 0 ? v : v.slice(0, eq),
        build: vBuild,
        ...withVariantWords({ nodeFlags: vBase, env: vImage.env }, words),
      };
    }),
  ];
  for (const v of variants)
    log(
      `agent "${v.label}" (${v.build.commit.slice(0, 10)}): node ${v.nodeFlags.join(' ')} ${v.build.cliPath} run; env ${JSON.stringify(v.env)}`,
    );

  // 2. The cluster.
  let kubeconfigPath = args.kubeconfig;
  let clusterStop: (() => Promise<void>) | undefined;
  let clusterPids: Record<string, number> = {};
  let binDir: string;
  if (!kubeconfigPath) {
    const { startTestCluster } = await import('../../cluster/launcher.ts');
    const stateDir = join(dir, 'cluster');
    const cluster = await startTestCluster({ stateDir, verbose: true });
    kubeconfigPath = cluster.kubeconfigPath;
    binDir = cluster.binDir;
    clusterStop = () => cluster.stop();
    const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as {
      processes: { name: string; pid: number }[];
    };
    clusterPids = Object.fromEntries(state.processes.map((p) => [p.name, p.pid]));
  } else {
    const { resolveBinDir } = await import('../../cluster/launcher.ts');
    binDir = resolveBinDir();
  }
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  // Pooled keep-alive connections (client-node's own clients open a TLS connection per request).
  const clients = createKubeClients(kc);
  const { core, apps, custom } = clients;

  const managed = Array.from({ length: managedCount }, (_, i) => managedName(run, i));
  const unmanaged = Array.from({ length: unmanagedCount }, (_, n) => unmanagedName(run, n));
  const aws = withAws ? await new AwsQueryServer({ record: false }).start() : undefined;
  aws?.add(...makeInstances(nodeCount, { spotEvery: 3 }));

  const referenceMeters: ProcessMeter[] = [];
  const references: ChildProcess[] = [];
  const live: { agent?: AgentRun; cp?: Awaited<ReturnType<typeof spawnControlPlane>> } = {};
  const setup: Record<string, number> = {};
  try {
    const { installCrds } = await import('../../../src/kube/install-crds.ts');
    await installCrds(kc);
    // Measures the agent's mechanics, not its guardrails: every one widened (an explicit admin act).
    await applyWidePolicy(kc, 'bench-wide');
    await Promise.all([ensureNamespace(clients, bulkNamespace), ensureNamespace(clients, appsNamespace)]);

    // 3. Nodes and pods. The pod-carrying ("managed") nodes each come with their bare pods
    // already Running (bulk-pods.ts: the bench writes their status, then hands the node to
    // kwok); the unmanaged nodes are created side by side.
    const t = performance.now();
    let done = 0;
    const unmanagedNodes = forEachLimit(unmanaged, Math.ceil(concurrency / 4), async (name, n) => {
      await core.createNode({
        body: nodeBody(run, name, managedCount + n, { managed: false, aws: withAws }),
      });
      if (++done % 1000 === 0) log(`created ${done}/${unmanagedCount} unmanaged nodes`);
    });
    const placed: PlacedNode[] = managed.map((name, i) => ({ name, instance: i, pods: [] }));
    for (let i = 0; i < bulkCount; i++) placed[i % managedCount]!.pods.push([`bulk-${i}`, i]);
    let nodesPlaced = 0;
    let lastLog = performance.now();
    await placeNodesWithPods(clients, run, placed, {
      aws: withAws,
      nodeConcurrency: 3,
      podConcurrency: Math.ceil(concurrency / 3),
      onNode: () => {
        nodesPlaced++;
        if (performance.now() - lastLog < 15_000) return;
        lastLog = performance.now();
        const pods = Math.round((nodesPlaced / managedCount) * bulkCount);
        log(
          `placed ${nodesPlaced}/${managedCount} pod-carrying nodes, ~${pods} bare pods Running ` +
            `(${(pods / ((performance.now() - t) / 1000)).toFixed(0)} pods/s)`,
        );
      },
    });
    setup.createPodsSeconds = (performance.now() - t) / 1000;
    log(`created ${bulkCount} bare pods, Running, in ${setup.createPodsSeconds.toFixed(1)} s`);
    await unmanagedNodes;
    setup.createNodesSeconds = (performance.now() - t) / 1000;
    log(`created ${nodeCount} nodes in ${setup.createNodesSeconds.toFixed(1)} s`);
    // kwok holds a Lease for every pod-carrying node: it heartbeats them like kubelets.
    await waitFor(async () => (await nodesHeldByKwok(clients, managed)) === managedCount, {
      timeoutMs: 180_000,
      intervalMs: 2000,
      what: `kwok to hold the Leases of ${managedCount} nodes`,
    });

    // 4. The big Deployment (scheduler, ReplicaSet controller, kwok starts its pods).
    await createBigDeployment(clients, run, bigReplicas);
    await waitFor(
      async () => {
        const big = await apps.readNamespacedDeployment({ name: bigDeployment, namespace: appsNamespace });
        return (big.status?.availableReplicas ?? 0) === bigReplicas;
      },
      { timeoutMs: 600_000, intervalMs: 3000, what: `${bigDeployment} available` },
    );
    setup.bigAvailableSeconds = (performance.now() - t) / 1000;
    // What the agent will find: every bare pod Running and Ready, none marked NotReady by the
    // node lifecycle controller (which would mean a node went unheard during setup).
    const states = await countPodStates(clients, bulkNamespace);
    setup.bulkRunningReadyAtAgentStart = states.runningReady;
    log(`${bigDeployment} available; bare pods: ${JSON.stringify(states)}`);
    if (states.runningReady !== bulkCount)
      throw new Error(`only ${states.runningReady}/${bulkCount} bare pods Running and Ready`);

    // The unmanaged nodes' first (and only) big change: Ready -> Unknown by the lifecycle controller.
    await waitFor(
      async () => {
        let stillReady = 0;
        let cont: string | undefined;
        do {
          const res = await core.listNode({
            labelSelector: `${benchLabel}=${run},${roleLabel}=unmanaged`,
            limit: 500,
            ...(cont ? { _continue: cont } : {}),
          });
          stillReady += res.items.filter((n) =>
            n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          ).length;
          cont = res.metadata?._continue;
        } while (cont);
        if (stillReady > 0)
          log(`${stillReady} unmanaged nodes not yet marked Unknown by the node lifecycle controller`);
        return stillReady === 0;
      },
      {
        timeoutMs: 300_000,
        intervalMs: 10_000,
        what: 'the node lifecycle controller to mark unmanaged nodes',
      },
    );

    // 5. A hibernation schedule (awake for the next 3 hours, asleep otherwise) over a small
    // dev namespace, so the hibernation controller has a schedule, a timer and workloads.
    const devNamespace = 'scale-dev';
    await ensureNamespace(clients, devNamespace, { env: 'dev' });
    const now = new Date();
    const slot = ((now.getUTCDay() + 6) % 7) * 24 + now.getUTCHours();
    const matrix = Array.from({ length: 168 }, (_, s) => ((s - slot + 168) % 168 < 3 ? '0' : '1')).join('');
    await custom.createClusterCustomObject({
      group: 'clusteropt.io',
      version: 'v1alpha1',
      plural: 'hibernationschedules',
      body: {
        apiVersion: 'clusteropt.io/v1alpha1',
        kind: 'HibernationSchedule',
        metadata: { name: 'scale-dev-nights' },
        spec: { timezone: 'UTC', matrix, namespaceSelector: { matchLabels: { env: 'dev' } } },
      },
    });
    for (let i = 0; i < 5; i++) {
      await apps.createNamespacedDeployment({
        namespace: devNamespace,
        body: {
          metadata: { name: `dev-${i}` },
          spec: {
            replicas: 0,
            selector: { matchLabels: { app: `dev-${i}` } },
            template: {
              metadata: { labels: { app: `dev-${i}` } },
              spec: { containers: [{ name: 'app', image: 'registry.invalid/dev:1' }] },
            },
          },
        },
      });
    }

    // Cordon set 0 now, so the first round has nodes to uncordon.
    await setUnschedulable(clients, unmanaged.slice(0, halfCordons), true);

    // 6. Reference processes over the same cluster.
    if (!args['no-reference']) {
      const kubectl = join(binDir, 'kubectl');
      const nodesW = spawnCounted(
        kubectl,
        ['--kubeconfig', kubeconfigPath, 'get', 'nodes', '-w'],
        join(dir, 'kubectl-nodes.log'),
      );
      const podsW = spawnCounted(
        kubectl,
        ['--kubeconfig', kubeconfigPath, 'get', 'pods', '-A', '-w'],
        join(dir, 'kubectl-pods.log'),
      );
      references.push(nodesW.child, podsW.child);
      referenceMeters.push(
        new ProcessMeter('kubectl get nodes -w', nodesW.child.pid!),
        new ProcessMeter('kubectl get pods -A -w', podsW.child.pid!),
      );
      const listStarted = performance.now();
      await waitFor(() => nodesW.lines() >= nodeCount && podsW.lines() >= podCount, {
        timeoutMs: 240_000,
        intervalMs: 500,
        what: 'the kubectl watches to print their initial lists',
      }).catch((err) =>
        log(
          `reference: ${err instanceof Error ? err.message : err} (nodes ${nodesW.lines()}, pods ${podsW.lines()})`,
        ),
      );
      setup.referenceInitialListSeconds = (performance.now() - listStarted) / 1000;
      log(`kubectl watches listed in ${setup.referenceInitialListSeconds.toFixed(1)} s`);
    }
    for (const name of ['kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd', 'kwok']) {
      if (clusterPids[name]) referenceMeters.push(new ProcessMeter(name, clusterPids[name]));
    }
    live.cp = await spawnControlPlane({ dir, leaseSeconds: 120 });

    // 7. The agent, once per variant, each on its own namespace and control-plane cluster.
    const world: World = {
      clients,
      kubeconfigPath,
      dir,
      cp: live.cp,
      aws,
      managed,
      unmanaged,
      nextInstance: nodeCount,
      cordonIndex: 0,
      round: 0,
      drainIndex: 0,
      replicas: bigReplicas,
      churnable: new Set(unmanaged.slice(halfCordons * (totalRounds + 1))),
      churnAdded: 0,
      referenceMeters,
    };
    if (halfCordons * (totalRounds + 1) > unmanagedCount)
      throw new Error('not enough unmanaged nodes for the cordons');
    if (drainsPerRound * totalRounds > managedCount)
      throw new Error('not enough managed nodes for the drains');
    // Each agent process (a "life") runs --rounds-per-life rounds; the variants take turns life
    // by life (A, B, A, B, ...), so machine load and cluster drift fall on all of them alike,
    // and after-sync and peak RSS get one sample per life.
    const lives: LifeResult[][] = variants.map(() => []);
    const left = variants.map((_, i) => (i === 0 ? rounds : variantRounds));
    for (let k = 0; left.some((n) => n > 0); ) {
      for (const [i, v] of variants.entries()) {
        if (left[i]! <= 0) continue;
        const n = Math.min(roundsPerLife, left[i]!);
        left[i]! -= n;
        lives[i]!.push(await runLife(world, v, k++, n, live));
      }
    }
    const results = variants.map((v, i) =>
      summarizeVariant(
        referenceMeters.map((m) => m.label),
        { ...v, commit: v.build.commit },
        lives[i]!,
      ),
    );
    const endMachine = { ...(await machineNote()), uptime: uptimeLine() };
    const endStates = await countPodStates(clients, bulkNamespace);
    setup.bulkRunningReadyAtEnd = endStates.runningReady;
    log(`machine at the end: ${endMachine.uptime}; bare pods ${JSON.stringify(endStates)}`);

    // 8. Tables and the JSON line.
    console.log(
      `\nscale: ${nodeCount} nodes (${managedCount} kwok-managed), ${podCount} pods (${bigReplicas} in a Deployment, ` +
        `${bulkCount} bare), ${rounds} rounds of idle ${idleSeconds} s / burst / churn ${churnSeconds} s; ` +
        `${startMachine.cpus} cpus, ${startMachine.uptime} at the start, ${endMachine.uptime} at the end`,
    );
    console.log('RSS: mean over the phase, MiB; CPU: CPU seconds per wall second (cores)');
    for (const r of results) {
      console.log(
        `\nagent "${r.label}" (node ${r.nodeFlags.join(' ') || '(no flags)'}` +
          `${Object.keys(r.env).length ? `, env ${JSON.stringify(r.env)}` : ''}), commit ${r.commit.slice(0, 10)}`,
      );
      printTable([
        [
          'process',
          'phase',
          'n',
          'RSS median',
          'RSS min',
          'RSS max',
          'highest sample',
          'VmHWM in phase median',
          'VmHWM in phase max',
          'CPU median',
          'CPU min',
          'CPU max',
        ],
        ...r.rows,
      ]);
      console.log(`ratio agent / reference (idle medians; < 1: the agent uses less)`);
      printTable([
        ['reference', 'RSS ratio', 'idle CPU ratio'],
        ...Object.entries(r.ratiosIdle).map(([k, x]) => [k, x.rss, x.cpuIdle]),
      ]);
      console.log(
        `agent (${r.lives} processes, median [min-max]): RSS after sync ${spread(r.afterSyncRssMiB)} MiB, ` +
          `peak over the whole process (VmHWM) ${spread(r.peakRssMiB)} MiB; target (after sync ` +
          `${r.target.afterSyncMiB}, idle ${r.target.idleMeanMiB}, burst peak ${r.target.burstPeakMiB} MiB, ` +
          `medians) < 150 MiB ${r.targetMet ? 'met' : 'MISSED'}; ` +
          `first full report ${spread(r.firstFullReportSeconds)} s after start`,
      );
    }
    console.log('\npeak RSS (VmHWM) of the reference processes, MiB');
    printTable([['process', 'peak'], ...referenceMeters.map((m) => [m.label, round(m.peakMiB())])]);
    printJsonLine('scale', {
      nodes: nodeCount,
      pods: podCount,
      managedNodes: managedCount,
      bigDeploymentReplicas: bigReplicas,
      rounds,
      idleSeconds,
      churnSeconds,
      churnRate,
      cordonsPerBurst: halfCordons * 2,
      drainsPerBurst: drainsPerRound,
      aws: withAws,
      agentBuild: {
        commit: build.commit,
        source: build.source,
        dirty: build.dirty,
        env: image.env,
        logLevel: args['log-level'],
      },
      setup: Object.fromEntries(Object.entries(setup).map(([k, v]) => [k, round(v)])),
      loadAverage1mAtPhaseEnds: (() => {
        const loads = results.flatMap((r) => r.perLife.flatMap((l) => l.heapByPhase.map((h) => h.load1)));
        return loads.length ? summarize(loads) : undefined;
      })(),
      variants: results.map(({ rows: _rows, ...rest }) => rest),
      referencePeakRssMiB: Object.fromEntries(referenceMeters.map((m) => [m.label, round(m.peakMiB())])),
      targetRssMiB: 150,
      targetMet: results[0]?.targetMet ?? false,
      machineStart: startMachine,
      machineEnd: endMachine,
      ownCluster: !args.kubeconfig,
    });
  } finally {
    for (const m of referenceMeters) m.stop();
    for (const c of references) if (c.exitCode === null) c.kill('SIGTERM');
    await live.agent?.stop();
    await live.cp?.stop().catch(() => undefined);
    await aws?.close();
    await clients.close();
    if (clusterStop) {
      await clusterStop();
    } else {
      log('deleting the bench objects');
      await core.deleteCollectionNode({ labelSelector: `${benchLabel}=${run}` }).catch(() => undefined);
      for (const ns of [
        bulkNamespace,
        appsNamespace,
        'scale-dev',
        ...Array.from({ length: livesStarted }, (_, k) => agentNamespace(k)),
      ])
        await core.deleteNamespace({ name: ns }).catch(() => undefined);
      await custom
        .deleteClusterCustomObject({
          group: 'clusteropt.io',
          version: 'v1alpha1',
          plural: 'hibernationschedules',
          name: 'scale-dev-nights',
        })
        .catch(() => undefined);
    }
    for (const b of builds.values())
      if (b.source === 'head') rmSync(b.root, { recursive: true, force: true });
    if (!process.env.SCALE_KEEP) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  }
}

interface Variant {
  label: string;
  build: AgentBuild;
  nodeFlags: string[];
  /** Environment of the agent process: the image's ENV plus the variant's. */
  env: Record<string, string>;
}

/** What the variants share: the cluster, the control plane, and where the rounds left off. */
interface World {
  clients: KubeClients;
  kubeconfigPath: string;
  dir: string;
  cp: Awaited<ReturnType<typeof spawnControlPlane>>;
  aws: AwsQueryServer | undefined;
  managed: string[];
  unmanaged: string[];
  nextInstance: number;
  /** Cordon set k = unmanaged[k*half, (k+1)*half); set cordonIndex is cordoned now. */
  cordonIndex: number;
  /** Rounds run so far, over all lives. */
  round: number;
  drainIndex: number;
  replicas: number;
  churnable: Set<string>;
  churnAdded: number;
  referenceMeters: ProcessMeter[];
}

interface AgentRun {
  pid: number;
  child: ChildProcess;
  metricsText(): Promise<string>;
  stop(): Promise<void>;
}

/** Pods still on each node (all namespaces), and how many of them are terminating. */
async function podsLeftOn(
  clients: KubeClients,
  nodes: readonly string[],
): Promise<Record<string, { pods: number; terminating: number; notDaemonSet: number }>> {
  const out: Record<string, { pods: number; terminating: number; notDaemonSet: number }> = {};
  for (const n of nodes) {
    const res = await clients.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${n}` });
    out[n] = {
      pods: res.items.length,
      terminating: res.items.filter((p) => p.metadata?.deletionTimestamp).length,
      notDaemonSet: res.items.filter((p) => !p.metadata?.ownerReferences?.some((o) => o.kind === 'DaemonSet'))
        .length,
    };
  }
  return out;
}

/** Agent processes started so far (each has its own namespace). */
let livesStarted = 0;
const agentNamespace = (k: number) => (k === 0 ? 'clusteropt-system' : `clusteropt-system-${k}`);

async function spawnShippedAgent(
  w: World,
  v: Variant,
  options: { namespace: string; keyFile: string; stateDir: string; logFile: string; cwd: string },
): Promise<AgentRun> {
  const { freePort } = await import('../../cluster/launcher.ts');
  const healthPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...v.env,
    POD_NAME: 'clusteropt-agent-0',
    ...(w.aws
      ? {
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
          AWS_SECRET_ACCESS_KEY: 'secret',
          AWS_ENDPOINT_URL_EC2: w.aws.url,
          AWS_ENDPOINT_URL_STS: w.aws.url,
          AWS_EC2_METADATA_DISABLED: 'true',
        }
      : {}),
  };
  const out = openSync(options.logFile, 'a');
  const child = spawn(
    'setpriv',
    [
      '--pdeathsig',
      'KILL',
      '--',
      process.execPath,
      ...v.nodeFlags,
      v.build.cliPath,
      'run',
      `--control-plane-url=${w.cp.url}`,
      '--allow-insecure-http',
      `--api-key-file=${options.keyFile}`,
      `--state-dir=${options.stateDir}`,
      `--namespace=${options.namespace}`,
      `--kubeconfig=${w.kubeconfigPath}`,
      `--listen-health=127.0.0.1:${healthPort}`,
      `--log-level=${args['log-level']}`,
    ],
    { stdio: ['ignore', out, out], env, cwd: options.cwd },
  );
  return {
    pid: child.pid!,
    child,
    metricsText: async () => (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text(),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** One agent process: start, sync, then `roundsInLife` rounds of idle / burst / churn. */
async function runLife(
  w: World,
  v: Variant,
  k: number,
  roundsInLife: number,
  live: { agent?: AgentRun },
): Promise<LifeResult> {
  const { clients } = w;
  const { core } = clients;
  const namespace = agentNamespace(k);
  livesStarted = Math.max(livesStarted, k + 1);
  await ensureNamespace(clients, namespace);
  const keyFile = join(w.dir, `api-key-${k}`);
  const { clusterId } = await registerCluster(w.cp, `bench-scale-${k}`, keyFile);
  // Only the first run: a snapshot of 5,000 nodes takes a minute to write.
  const snapshotDir = k === 0 ? args['heap-snapshot'] : undefined;
  if (snapshotDir) mkdirSync(snapshotDir, { recursive: true });
  const logFile = join(w.dir, `agent-${k}.log`);
  const flags = snapshotDir ? [...v.nodeFlags, '--heapsnapshot-signal=SIGUSR2'] : v.nodeFlags;
  const spawnedAt = performance.now();
  const agent = await spawnShippedAgent(
    w,
    { ...v, nodeFlags: flags },
    {
      namespace,
      keyFile,
      stateDir: join(w.dir, `agent-state-${k}`),
      logFile,
      cwd: snapshotDir ?? w.dir,
    },
  );
  live.agent = agent;
  const agentMeter = new ProcessMeter('agent', agent.pid, 250);
  const meters = [agentMeter, ...w.referenceMeters];
  const exitedCheck = () => {
    if (agent.child.exitCode !== null)
      throw new Error(`agent exited (${agent.child.exitCode}); see ${logFile}`);
  };
  await waitFor(
    async () => {
      exitedCheck();
      return metricValue(await agent.metricsText(), 'clusteropt_agent_leader') === 1;
    },
    { timeoutMs: 120_000, intervalMs: 250, what: 'the agent to lead' },
  );
  const leaderSeconds = (performance.now() - spawnedAt) / 1000;
  const rssAtLeaderMiB = agentMeter.rssMiB();
  const expectedNames = () =>
    new Set([...w.managed, ...w.unmanaged.slice(0, halfCordons * (totalRounds + 1)), ...w.churnable]);
  const firstReportAt = await waitFor(
    async () => {
      exitedCheck();
      const list = await w.cp.admin.listInstances(clusterId);
      return list.instances.length === expectedNames().size ? performance.now() : undefined;
    },
    { timeoutMs: 300_000, intervalMs: 1000, what: 'the control plane to hold every instance' },
  );
  const firstFullReportSeconds = (firstReportAt - spawnedAt) / 1000;
  log(
    `agent "${v.label}" leads after ${leaderSeconds.toFixed(1)} s (RSS ${rssAtLeaderMiB.toFixed(1)} MiB); control plane ` +
      `holds all ${expectedNames().size} instances after ${firstFullReportSeconds.toFixed(1)} s`,
  );
  await sleep(15_000); // EC2 facts follow as deltas; let them go out.
  const afterSync = {
    rssMiB: round(agentMeter.rssMiB()),
    peakMiB: round(agentMeter.peakMiB()),
    ...heapFromMetrics(await agent.metricsText()),
    ...rssBreakdown(agent.pid),
  };
  log(`agent after sync: ${JSON.stringify(afterSync)}`);
  // Where in the start the peak falls: the highest sample of each second since spawn.
  log(
    `agent start-up RSS, highest sample per second since spawn (MiB; leader at ${leaderSeconds.toFixed(0)} s, ` +
      `all instances at ${firstFullReportSeconds.toFixed(0)} s): ` +
      Array.from(agentMeter.perSecondMaxMiB, (v) => (v === undefined ? '-' : v.toFixed(0))).join(' '),
  );

  const heapByPhase: ({ phase: string; load1: number } & AgentHeap)[] = [];
  const phase = async (name: string, body: () => Promise<void>) => {
    for (const m of meters) m.begin(name);
    await body();
    for (const m of meters) m.end();
    const a = agentMeter.phases.at(-1)!;
    const heap = { ...heapFromMetrics(await agent.metricsText()), ...rssBreakdown(agent.pid) };
    heapByPhase.push({ phase: name, load1: round(loadavg()[0]!), ...heap });
    log(
      `${name}: ${a.seconds.toFixed(1)} s, agent CPU ${a.cpuCores.toFixed(3)} cores, RSS mean ${a.rssMeanMiB.toFixed(1)} / ` +
        `highest sample ${a.rssMaxMiB.toFixed(1)}, peak (VmHWM) ${a.peakMiB.toFixed(1)} MiB; heapUsed ${heap.heapUsedMiB} MiB, heapTotal ${heap.heapTotalMiB} MiB, ` +
        `external ${heap.externalMiB} MiB; ${uptimeLine()}`,
    );
  };
  const cordonSet = (i: number) => w.unmanaged.slice(i * halfCordons, (i + 1) * halfCordons);
  const bursts: Record<string, unknown>[] = [];
  const churns: Record<string, number>[] = [];
  const firstPhaseIndex = w.referenceMeters.map((m) => m.phases.length);
  for (let i = 0; i < roundsInLife; i++) {
    const r = ++w.round;
    await phase('idle', () => sleep(idleSeconds * 1000));
    await sleep(3000);

    const drainTargets = w.managed.slice(w.drainIndex, w.drainIndex + drainsPerRound);
    w.drainIndex += drainsPerRound;
    const before = new Map<string, string[]>();
    for (const n of drainTargets) before.set(n, await bulkPodsOn(clients, n));
    const goingUp = w.replicas - bigReplicas < scaleBy / 2;
    const target = goingUp ? w.replicas + scaleBy : w.replicas - scaleBy;
    const envelopes = [
      ...cordonSet(w.cordonIndex + 1).map((nodeName) => ({ type: 'cordon_node', payload: { nodeName } })),
      ...cordonSet(w.cordonIndex).map((nodeName) => ({ type: 'uncordon_node', payload: { nodeName } })),
      ...drainTargets.map((nodeName) => ({
        type: 'drain_node',
        payload: {
          nodeName,
          timeoutSeconds: 300,
          force: true,
          deleteEmptyDirData: true,
          ignoreDaemonSets: true,
        },
      })),
      {
        type: 'scale_workload',
        payload: {
          namespace: appsNamespace,
          kind: 'Deployment',
          name: bigDeployment,
          replicas: target,
          expectedReplicas: w.replicas,
        },
      },
    ];
    w.cordonIndex += 1;
    let burstInfo: Record<string, unknown> = {};
    await phase('burst', async () => {
      const started = performance.now();
      const ids: string[] = [];
      await forEachLimit(envelopes, 16, async (e) => {
        ids.push((await w.cp.admin.enqueue(clusterId, e as never)).id);
      });
      const enqueueMs = performance.now() - started;
      const wanted = new Set(ids);
      const final = await waitFor(
        async () => {
          const all = await w.cp.admin.listActions(clusterId);
          const mine = all.filter((a) => wanted.has(a.id));
          const pending = mine.filter((a) => ['queued', 'leased', 'running'].includes(a.state));
          return pending.length === 0 && mine.length === wanted.size ? mine : undefined;
        },
        { timeoutMs: 600_000, intervalMs: 500, what: `burst ${r} to finish` },
      );
      const states: Record<string, number> = {};
      for (const a of final) states[`${a.type}:${a.state}`] = (states[`${a.type}:${a.state}`] ?? 0) + 1;
      burstInfo = {
        round: r,
        actions: ids.length,
        enqueueMs: round(enqueueMs),
        totalMs: round(performance.now() - started),
        states,
      };
      for (const a of final.filter((x) => x.state !== 'succeeded').slice(0, 3))
        log(`  not succeeded: ${a.type} ${a.state}: ${a.message}`);
      // The agent's own summaries of the drains, and what is really left on the drained nodes
      // (a drain is only done when its pods are gone, not when their deletion was accepted).
      burstInfo.drainMessages = final
        .filter((a) => a.type === 'drain_node')
        .map((a) => `${a.state}: ${String(a.message ?? '').slice(0, 240)}`);
    });
    burstInfo.podsLeftOnDrainedNodes = await podsLeftOn(clients, drainTargets);
    bursts.push(burstInfo);
    log(`burst ${r}: ${JSON.stringify(burstInfo)}`);
    w.replicas = target;

    // Restore (outside the measured phases): uncordon the drained nodes, recreate their bare pods.
    const restoreStarted = performance.now();
    for (const n of drainTargets) await restoreNode(clients, n);
    const missing: { name: string; node: string }[] = [];
    for (const n of drainTargets) {
      const now = new Set(await bulkPodsOn(clients, n));
      for (const p of before.get(n) ?? []) if (!now.has(p)) missing.push({ name: p, node: n });
    }
    // New names: kwok deletes by name (no UID precondition), and a pod-delete job of its left
    // over from the evicted pod deleted a new pod of the same name (the 11:00 run lost 287 of
    // round 1's recreated pods that way).
    let recreateErrors = 0;
    await forEachLimit(missing, 16, async ({ name, node }) => {
      await core
        .createNamespacedPod({ namespace: bulkNamespace, body: bulkPodBody(run, `${name}-r${r}`, node) })
        .catch(() => recreateErrors++);
    });
    // kwok starts the recreated pods (its pod-ready stage): wait, so the next phases start from
    // a cluster at rest again.
    const running = await waitFor(
      async () => {
        for (const n of drainTargets) {
          const started = await core.listNamespacedPod({
            namespace: bulkNamespace,
            fieldSelector: `spec.nodeName=${n},status.phase=Running`,
          });
          if (started.items.length < (before.get(n)?.length ?? 0)) return false;
        }
        return true;
      },
      { timeoutMs: 180_000, intervalMs: 2000, what: 'recreated bare pods to be Running' },
    ).catch((err) => {
      log(`restore ${r}: ${err instanceof Error ? err.message : err}`);
      return false;
    });
    const restoreSeconds = (performance.now() - restoreStarted) / 1000;
    burstInfo.restore = {
      recreated: missing.length,
      errors: recreateErrors,
      allRunning: running,
      seconds: round(restoreSeconds),
    };
    log(
      `restore ${r}: recreated ${missing.length} bare pods in ${restoreSeconds.toFixed(1)} s, ${running ? 'all' : 'NOT all'} Running`,
    );
    await sleep(3000);

    const ops = { relabel: 0, add: 0, delete: 0, errors: 0 };
    await phase('churn', async () => {
      const end = performance.now() + churnSeconds * 1000;
      while (performance.now() < end) {
        const tick = performance.now();
        const batch = Array.from({ length: Math.max(1, Math.round(churnRate / 4)) }, () => Math.random());
        await Promise.all(
          batch.map(async (x) => {
            const pool = [...w.churnable];
            const pick = pool[Math.floor(Math.random() * pool.length)];
            try {
              if (x < 0.5 && pick) {
                const type = instanceTypes[Math.floor(Math.random() * instanceTypes.length)]!;
                await core.patchNode(
                  {
                    name: pick,
                    body: { metadata: { labels: { 'node.kubernetes.io/instance-type': type } } },
                  },
                  mergePatch,
                );
                ops.relabel++;
              } else if (x < 0.75) {
                const instance = w.nextInstance++;
                const name = `scale-${run}-c${w.churnAdded++}`;
                w.aws?.add(...makeInstances(1, { offset: instance, spotEvery: 3 }));
                await core.createNode({
                  body: nodeBody(run, name, instance, { managed: false, aws: withAws }),
                });
                w.churnable.add(name);
                ops.add++;
              } else if (pick) {
                w.churnable.delete(pick);
                await core.deleteNode({ name: pick });
                ops.delete++;
              }
            } catch {
              ops.errors++;
            }
          }),
        );
        await sleep(Math.max(0, 250 - (performance.now() - tick)));
      }
    });
    churns.push({ round: r, ...ops });
    await sleep(3000);
  }

  // The control plane's table equals the cluster; peak; optional heap snapshot.
  const converged = await waitFor(
    async () => {
      const expected = expectedNames();
      const list = await w.cp.admin.listInstances(clusterId);
      const names = list.instances.map((i) => i.nodeName);
      return names.length === expected.size && names.every((n) => expected.has(n));
    },
    { timeoutMs: 120_000, intervalMs: 1000, what: 'the control plane to equal the cluster' },
  ).catch(() => false);
  const finalHeap = heapFromMetrics(await agent.metricsText());
  // Before the snapshot: writing one costs memory of its own.
  const peakRssMiB = round(agentMeter.peakMiB());
  let heapSnapshot: string | undefined;
  if (snapshotDir) {
    const beforeFiles = new Set(readdirSync(snapshotDir));
    process.kill(agent.pid, 'SIGUSR2');
    heapSnapshot = await waitFor(
      () => {
        const f = readdirSync(snapshotDir).find((x) => x.endsWith('.heapsnapshot') && !beforeFiles.has(x));
        if (!f) return undefined;
        const size = statSync(join(snapshotDir, f)).size;
        return size > 0 && size === lastSize(f, size) ? join(snapshotDir, f) : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 2000, what: 'the heap snapshot' },
    );
    log(`heap snapshot: ${heapSnapshot}`);
  }
  agentMeter.stop();
  const agentCpuAtStop = cpuSeconds(agent.pid) ?? 0;
  await agent.stop();
  live.agent = undefined;

  // This life's phases only (the reference meters run across lives).
  const referencePhases: Record<string, PhaseUse[]> = {};
  for (const [j, m] of w.referenceMeters.entries())
    referencePhases[m.label] = m.phases.slice(firstPhaseIndex[j]);
  return {
    life: k,
    label: v.label,
    agentNamespace: namespace,
    nodeFlags: flags,
    leaderSeconds: round(leaderSeconds),
    firstFullReportSeconds: round(firstFullReportSeconds),
    rssAtLeaderMiB: round(rssAtLeaderMiB),
    afterSync,
    heapByPhase,
    finalHeap,
    peakRssMiB,
    /** CPU seconds over the agent's whole life (start and sync included). */
    cpuSecondsTotal: round(agentCpuAtStop),
    agentPhases: agentMeter.phases.map(roundUse),
    referencePhases: Object.fromEntries(
      Object.entries(referencePhases).map(([label, uses]) => [label, uses.map(roundUse)]),
    ),
    bursts,
    churns,
    controlPlaneConverged: converged === true,
    heapSnapshot,
  };
}

const sizes = new Map<string, number>();
/** The previous size seen for `file` (records `size` as the new one): stable twice = written. */
function lastSize(file: string, size: number): number | undefined {
  const prev = sizes.get(file);
  sizes.set(file, size);
  return prev;
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
