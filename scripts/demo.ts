#!/usr/bin/env node
/**
 * `npm run demo`: the whole product on one machine, in well under a minute once the cluster
 * binaries exist. It starts a local cluster (etcd, kube-apiserver, controller-manager,
 * scheduler, kwok; test/cluster/launcher.ts) or uses `--kubeconfig FILE`, installs the CRDs,
 * runs the reference control plane (`control-plane serve`, real HTTP, temp database) and the
 * agent (`clusteropt-agent run`) as child processes, creates three kwok nodes and a Deployment,
 * enqueues cordon, drain and scale on the control plane, and shows their progress as the
 * control plane and the AgentActions see it until all are done. Then it tears everything
 * down (also on Ctrl-C), unless `--keep`; `--down` stops what a `--keep` run left.
 *
 *   npm run demo [-- --kubeconfig FILE] [-- --keep] [-- --down]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { installCrds } from '../src/kube/install-crds.ts';
import { ReferenceControlPlaneAdmin } from '../src/reference-control-plane/admin-client.ts';
import type { AdminAction } from '../src/reference-control-plane/admin-schemas.ts';
import { resolveAdminToken } from '../src/reference-control-plane/admin-token.ts';
import { freePort, repoRoot, startTestCluster, stopLeftovers } from '../test/cluster/launcher.ts';

const usage = `usage: npm run demo -- [--kubeconfig FILE] [--keep] [--down]

  (no flags)         start a local cluster in .state/demo-cluster, run the demo, tear down
  --kubeconfig FILE  use that cluster instead (kwok must manage nodes annotated
                     kwok.x-k8s.io/node=fake for the pods to run); only the demo's own
                     nodes and namespaces are created and deleted there
  --keep             leave cluster, control plane and agent running; stop them with --down
  --down             stop what a --keep run left running
`;

const cli = join(repoRoot, 'src', 'cli.ts');
const demoStateDir = join(repoRoot, '.state', 'demo');
const demoClusterDir = join(repoRoot, '.state', 'demo-cluster');
const keptStatePath = join(demoStateDir, 'state.json');
const agentNamespace = 'clusteropt-demo';
const appNamespace = 'demo-apps';
const nodeNames = ['demo-node-a', 'demo-node-b', 'demo-node-c'];
const demoLabel = 'clusteropt.io/demo';
const replicas = 6;
const scaledTo = 9;

const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
const say = (line: string) => process.stdout.write(`[${elapsed()}] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a --keep run leaves, so --down can stop it. */
interface KeptState {
  ownCluster: boolean;
  kubeconfig: string;
  dir: string;
  pids: { name: string; pid: number }[];
}

/** Teardown steps, run in reverse order once (normal end, error or Ctrl-C). */
const cleanups: { what: string; run: () => Promise<void> | void }[] = [];
let tearingDown: Promise<void> | undefined;
function teardown(): Promise<void> {
  tearingDown ??= (async () => {
    for (const step of cleanups.reverse()) {
      try {
        await step.run();
      } catch (err) {
        process.stderr.write(`teardown: ${step.what}: ${err instanceof Error ? err.message : String(err)}\n`);
      }
    }
  })();
  return tearingDown;
}

async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await sleep(200);
  }
  throw new Error(`${what}: not after ${timeoutMs / 1000}s${last ? ` (${String(last)})` : ''}`);
}

function alive(pid: number): boolean {
  try {
    // Our process only: the pid may have been reused by another program since.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(cli);
  } catch {
    return false;
  }
}

/** SIGTERM (the agent releases its Lease and closes its state file), SIGKILL after 10 s. */
async function stopPid(pid: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/**
 * A `clusteropt-agent` child process. Attached children run under setpriv --pdeathsig, so they
 * die with the demo even if it is killed; kept ones are detached and outlive it.
 */
function startCli(
  args: string[],
  options: { log: string; env?: NodeJS.ProcessEnv; keep: boolean },
): ChildProcess {
  const out = openSync(options.log, 'a');
  const usePdeathsig = !options.keep && existsSync('/usr/bin/setpriv');
  const [cmd, cmdArgs] = usePdeathsig
    ? ['setpriv', ['--pdeathsig', 'KILL', '--', process.execPath, cli, ...args]]
    : [process.execPath, [cli, ...args]];
  const child = spawn(cmd, cmdArgs, {
    stdio: ['ignore', out, out],
    env: { ...process.env, ...options.env },
    detached: options.keep,
  });
  if (options.keep) child.unref();
  return child;
}

/** Runs a short `clusteropt-agent` command (the control-plane CLI) and returns its stdout. */
function runCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(stdout.trim())
        : reject(new Error(`${args.slice(0, 2).join(' ')}: ${stderr.trim()}`)),
    );
  });
}

const tail = (file: string, chars = 2000) =>
  existsSync(file) ? readFileSync(file, 'utf8').slice(-chars) : '';

function kwokNode(name: string): V1Node {
  return {
    metadata: {
      name,
      labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', [demoLabel]: 'true' },
      // kwok plays the kubelet for nodes with this annotation: Ready, pods Running.
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
    },
    spec: { providerID: `aws:///eu-west-1a/i-0demo${name.slice(-1)}00000000000` },
    status: {
      allocatable: { cpu: '16', memory: '64Gi', pods: '110' },
      capacity: { cpu: '16', memory: '64Gi', pods: '110' },
    },
  };
}

const ignore404 = (err: { code?: number }) => {
  if (err.code !== 404) throw err;
};

/** Deletes the demo's own objects (used on a --kubeconfig cluster, and before a new run there). */
async function deleteDemoObjects(kc: KubeConfig, options: { wait: boolean }): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await Promise.all([
    ...nodeNames.map((name) => core.deleteNode({ name }).catch(ignore404)),
    ...[agentNamespace, appNamespace].map((name) => core.deleteNamespace({ name }).catch(ignore404)),
  ]);
  // A namespace takes a while to go; only a new run must wait (no objects in a dying one).
  if (!options.wait) return;
  await waitUntil(
    'demo namespaces deleted',
    async () => {
      const left = await Promise.all(
        [agentNamespace, appNamespace].map((name) =>
          core.readNamespace({ name }).then(
            () => 1,
            () => 0,
          ),
        ),
      );
      return left.every((n) => n === 0) ? true : undefined;
    },
    120_000,
  );
}

async function down(): Promise<number> {
  if (!existsSync(keptStatePath)) {
    say('nothing to stop (no kept demo)');
    return 0;
  }
  const state = JSON.parse(readFileSync(keptStatePath, 'utf8')) as KeptState;
  for (const { name, pid } of state.pids) {
    say(`stopping ${name} (pid ${pid})`);
    await stopPid(pid);
  }
  if (state.ownCluster) {
    say('stopping the demo cluster');
    await stopLeftovers(demoClusterDir);
    rmSync(demoClusterDir, { recursive: true, force: true });
  } else {
    const kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfig);
    say('deleting the demo nodes and namespaces');
    await deleteDemoObjects(kc, { wait: false });
  }
  rmSync(state.dir, { recursive: true, force: true });
  rmSync(keptStatePath, { force: true });
  say('demo stopped');
  return 0;
}

interface Row {
  label: string;
  id: string;
}

/** One refresh of the progress view: the control plane's and the cluster's side of each action. */
async function progressView(
  admin: ReferenceControlPlaneAdmin,
  clusterId: string,
  kc: KubeConfig,
  rows: Row[],
): Promise<{ text: string; done: boolean; actions: AdminAction[] }> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const [actions, aacts, pods, nodes, web] = await Promise.all([
    admin.listActions(clusterId),
    custom.listNamespacedCustomObject({
      group: 'clusteropt.io',
      version: 'v1alpha1',
      namespace: agentNamespace,
      plural: 'agentactions',
    }) as Promise<{
      items: {
        spec: { id: string };
        status?: {
          phase?: string;
          progress?: { drain?: { total: number; evicted: number; blocked: number } };
        };
      }[];
    }>,
    core.listNamespacedPod({ namespace: appNamespace }),
    core.listNode({ labelSelector: `${demoLabel}=true` }),
    apps.readNamespacedDeployment({ name: 'web', namespace: appNamespace }),
  ]);
  const terminal = ['succeeded', 'failed', 'rejected', 'expired'];
  const byId = new Map(actions.map((a) => [a.id, a]));
  const aactById = new Map(aacts.items.map((a) => [a.spec.id, a]));
  const table = [['ACTION', 'CONTROL PLANE', 'AGENTACTION', 'DETAIL']];
  for (const row of rows) {
    const cp = byId.get(row.id);
    const aact = aactById.get(row.id);
    const drain = aact?.status?.progress?.drain;
    const final = terminal.includes(cp?.state ?? '');
    const detail =
      drain && !final
        ? `evicted ${drain.evicted}/${drain.total}${drain.blocked ? `, ${drain.blocked} blocked` : ''}`
        : (cp?.message ?? '').slice(0, 72);
    table.push([row.label, cp?.state ?? '?', aact?.status?.phase ?? (aact ? 'Pending' : '-'), detail]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
  const lines = table.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  const running = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
  lines.push('');
  for (const node of nodes.items) {
    const name = node.metadata?.name ?? '';
    const count = running.filter((p) => p.spec?.nodeName === name).length;
    const state = node.spec?.unschedulable ? 'cordoned ' : 'ready    ';
    lines.push(`node ${name.padEnd(14)} ${state} ${'■'.repeat(count)}${count ? ` ${count}` : ' 0'} pods`);
  }
  lines.push(
    `deployment ${appNamespace}/web: spec ${web.spec?.replicas}, ready ${web.status?.readyReplicas ?? 0}, pending ${running.filter((p) => !p.spec?.nodeName).length}`,
  );
  const done = rows.every((r) => terminal.includes(byId.get(r.id)?.state ?? ''));
  return { text: lines.join('\n'), done, actions: rows.map((r) => byId.get(r.id)!).filter(Boolean) };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: 'string' },
      keep: { type: 'boolean', default: false },
      down: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  if (values.down) return down();
  if (existsSync(keptStatePath)) {
    process.stderr.write('a kept demo is still running: stop it first with `npm run demo -- --down`\n');
    return 2;
  }
  const keep = values.keep;

  // 1. The cluster (started in parallel with the control plane below).
  const ownCluster = values.kubeconfig === undefined;
  const clusterReady = (async () => {
    if (!ownCluster) {
      const kc = new KubeConfig();
      kc.loadFromFile(values.kubeconfig!);
      say(`using the cluster of ${values.kubeconfig} (${kc.getCurrentCluster()?.server})`);
      await deleteDemoObjects(kc, { wait: true }); // leftovers of an interrupted run
      cleanups.push({
        what: 'delete demo nodes and namespaces',
        run: () => (keep ? undefined : deleteDemoObjects(kc, { wait: false })),
      });
      return { kc, kubeconfigPath: values.kubeconfig! };
    }
    say('starting a local cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok)');
    const cluster = await startTestCluster({ stateDir: demoClusterDir, detached: keep });
    cleanups.push({
      what: 'stop the cluster',
      run: async () => {
        if (keep) return;
        await cluster.stop();
        rmSync(demoClusterDir, { recursive: true, force: true });
      },
    });
    say(`cluster ready at ${cluster.server}`);
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfigPath);
    return { kc, kubeconfigPath: cluster.kubeconfigPath };
  })();
  clusterReady.catch(() => undefined);

  // 2. The reference control plane: real HTTP, a fresh database.
  if (keep) mkdirSync(demoStateDir, { recursive: true });
  const dir = mkdtempSync(join(keep ? demoStateDir : tmpdir(), 'run-'));
  cleanups.push({
    what: 'remove the demo files',
    run: () => (keep ? undefined : rmSync(dir, { recursive: true, force: true })),
  });
  const db = join(dir, 'cp.db');
  const cpLog = join(dir, 'control-plane.log');
  const cpPort = await freePort();
  const cp = startCli(['control-plane', 'serve', '--db', db, '--listen', `127.0.0.1:${cpPort}`], {
    log: cpLog,
    keep,
  });
  cleanups.push({ what: 'stop the control plane', run: () => (keep ? undefined : stopPid(cp.pid!)) });
  const cpUrl = `http://127.0.0.1:${cpPort}`;
  await waitUntil(
    'control plane listening',
    async () => (tail(cpLog).includes('listening on') ? true : undefined),
    30_000,
  );
  say(`reference control plane at ${cpUrl} (log: ${cpLog})`);
  const created = JSON.parse(
    await runCli(['control-plane', 'create-cluster', 'demo', '--server', cpUrl, '--db', db, '--json']),
  ) as {
    cluster: { id: string };
    apiKey: string;
  };
  const clusterId = created.cluster.id;
  const keyFile = join(dir, 'api-key');
  writeFileSync(keyFile, `${created.apiKey}\n`, { mode: 0o600 });
  say(`control-plane create-cluster demo -> cluster ${clusterId}, API key in ${keyFile}`);
  const admin = new ReferenceControlPlaneAdmin({
    url: cpUrl,
    adminToken: resolveAdminToken({ dbPath: db, create: false }).token,
  });

  // 3. CRDs, namespaces, nodes, a Deployment.
  const { kc, kubeconfigPath } = await clusterReady;
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const crds = await installCrds(kc);
  say(`CRDs installed: ${crds.join(', ')}`);
  for (const name of [agentNamespace, appNamespace])
    await core.createNamespace({ body: { metadata: { name } } });
  await Promise.all(nodeNames.map((name) => core.createNode({ body: kwokNode(name) })));
  await apps.createNamespacedDeployment({
    namespace: appNamespace,
    body: {
      metadata: { name: 'web' },
      spec: {
        replicas,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            nodeSelector: { [demoLabel]: 'true' },
            // Spread over the three nodes, so the drain has pods to move.
            topologySpreadConstraints: [
              {
                maxSkew: 1,
                topologyKey: 'kubernetes.io/hostname',
                whenUnsatisfiable: 'ScheduleAnyway',
                labelSelector: { matchLabels: { app: 'web' } },
              },
            ],
            containers: [{ name: 'web', image: 'registry.invalid/demo/web:1' }],
          },
        },
      },
    },
  });
  say(
    `3 kwok nodes (${nodeNames.join(', ')}) and deployment ${appNamespace}/web (${replicas} replicas) created`,
  );

  // 4. The agent, as `clusteropt-agent run` with CLUSTEROPT_* settings.
  const agentLog = join(dir, 'agent.log');
  const healthPort = await freePort();
  const agent = startCli(['run'], {
    log: agentLog,
    keep,
    env: {
      CLUSTEROPT_CONTROL_PLANE_URL: cpUrl,
      CLUSTEROPT_ALLOW_INSECURE_HTTP: 'true',
      CLUSTEROPT_API_KEY_FILE: keyFile,
      CLUSTEROPT_STATE_DIR: join(dir, 'agent-state'),
      CLUSTEROPT_NAMESPACE: agentNamespace,
      CLUSTEROPT_KUBECONFIG: kubeconfigPath,
      CLUSTEROPT_LISTEN_HEALTH: `127.0.0.1:${healthPort}`,
      CLUSTEROPT_HEARTBEAT_INTERVAL_SECONDS: '10',
    },
  });
  let agentExited = false;
  agent.on('exit', () => {
    agentExited = true;
  });
  cleanups.push({ what: 'stop the agent', run: () => (keep ? undefined : stopPid(agent.pid!)) });
  // Only the Lease holder sends heartbeats: the first one means "leading and connected".
  const heartbeat = await waitUntil(
    'agent leading and connected',
    async () => {
      if (agentExited) throw new Error(`the agent exited:\n${tail(agentLog)}`);
      return admin.lastHeartbeat(clusterId);
    },
    60_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n--- ${agentLog} ---\n${tail(agentLog)}`);
  });
  say(
    `agent running (pid ${agent.pid}, health http://127.0.0.1:${healthPort}/readyz, log ${agentLog}), leader ${heartbeat.heartbeat.leader ?? '?'}, Kubernetes ${heartbeat.heartbeat.kubernetesVersion ?? '?'}`,
  );
  await waitUntil(
    'deployment web ready',
    async () => {
      const d = await apps.readNamespacedDeployment({ name: 'web', namespace: appNamespace });
      return (d.status?.readyReplicas ?? 0) === replicas ? true : undefined;
    },
    60_000,
  );

  // 5. Actions, enqueued through the control plane's admin API (what `control-plane enqueue
  //    --server` does); the agent's long poll returns them at once.
  const busiest = await mostPods(core);
  const enqueue = async (label: string, type: string, payload: unknown) => {
    const action = await admin.enqueue(clusterId, { type, payload, expiresInSeconds: 600 });
    say(`enqueued ${type} ${JSON.stringify(payload)} -> ${action.id}`);
    return { label, id: action.id };
  };
  // In this order: actions on one node run in the order they arrive, so the cordon comes
  // first; the scale-up then only finds room on the other nodes.
  const rows = [
    await enqueue(`cordon_node ${busiest}`, 'cordon_node', { nodeName: busiest }),
    await enqueue(`drain_node ${busiest}`, 'drain_node', { nodeName: busiest, timeoutSeconds: 60 }),
    await enqueue(`scale_workload ${appNamespace}/web -> ${scaledTo}`, 'scale_workload', {
      namespace: appNamespace,
      kind: 'Deployment',
      name: 'web',
      replicas: scaledTo,
      expectedReplicas: replicas,
    }),
  ];

  // 6. Progress until every action is final.
  process.stdout.write('\n');
  const tty = process.stdout.isTTY === true;
  let shownLines = 0;
  let lastText = '';
  let view: Awaited<ReturnType<typeof progressView>>;
  const deadline = Date.now() + 120_000;
  for (;;) {
    view = await progressView(admin, clusterId, kc, rows);
    if (tty) {
      if (shownLines) process.stdout.write(`\x1b[${shownLines}F\x1b[J`);
      process.stdout.write(`${view.text}\n`);
      shownLines = view.text.split('\n').length;
    } else if (view.text !== lastText) {
      process.stdout.write(`--- ${elapsed()}\n${view.text}\n`);
    }
    lastText = view.text;
    if (view.done || Date.now() > deadline) break;
    await sleep(500);
  }
  process.stdout.write('\n');
  const failed = view.actions.filter((a) => a.state !== 'succeeded');
  if (!view.done) say('timed out waiting for the actions');
  for (const a of failed) say(`${a.type} ${a.state}: ${a.message}`);
  say(view.done && failed.length === 0 ? 'all actions succeeded' : 'some actions did not succeed');
  say(`control-plane actions --cluster ${clusterId}:`);
  process.stdout.write(`${await runCli(['control-plane', 'actions', '--db', db, '--cluster', clusterId])}\n`);
  say(`kubectl: KUBECONFIG=${kubeconfigPath} kubectl -n ${agentNamespace} get agentactions`);

  if (keep) {
    const state: KeptState = {
      ownCluster,
      kubeconfig: kubeconfigPath,
      dir,
      pids: [
        { name: 'agent', pid: agent.pid! },
        { name: 'control plane', pid: cp.pid! },
      ],
    };
    writeFileSync(keptStatePath, JSON.stringify(state, null, 2));
    say(`left running (--keep). Control plane ${cpUrl}, admin token in ${db}.admin-token.`);
    say(`  node src/cli.ts control-plane actions --server ${cpUrl} --db ${db} --cluster ${clusterId}`);
    say('stop everything with: npm run demo -- --down');
  }
  return view.done && failed.length === 0 ? 0 : 1;
}

/** The demo node with the most web pods (the drain's target). */
async function mostPods(core: CoreV1Api): Promise<string> {
  const pods = await core.listNamespacedPod({ namespace: appNamespace });
  const count = (n: string) => pods.items.filter((p) => p.spec?.nodeName === n).length;
  return [...nodeNames].sort((a, b) => count(b) - count(a))[0]!;
}

const keepRequested = process.argv.includes('--keep');
let exiting = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (exiting) return;
    exiting = true;
    process.stdout.write(`\n${signal}: tearing down\n`);
    teardown().finally(() => process.exit(130));
  });
}

main().then(
  async (code) => {
    if (exiting) return;
    if (cleanups.length > 0) {
      say(keepRequested ? 'done' : 'tearing down');
      await teardown();
      say(`finished in ${elapsed()}`);
    }
    process.exit(code);
  },
  async (err: unknown) => {
    if (exiting) return;
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await teardown();
    process.exit(1);
  },
);
