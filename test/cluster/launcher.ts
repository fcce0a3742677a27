/**
 * The test cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
 * (the fake kubelet) as local processes, no Docker. Used by the vitest global setup, the
 * benchmarks and `npm run cluster:up|down`.
 *
 * Two modes:
 * - attached (tests, benchmarks): every process is started under `setpriv --pdeathsig KILL`,
 *   so it dies with the node process that started it, even on kill -9 of that process.
 * - detached (`cluster:up`): processes outlive the command; their pids are recorded in
 *   <stateDir>/pids.json and `cluster:down` stops them.
 * Either way, a start first stops whatever a previous start in the same stateDir left.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type RequestOptions, request } from 'node:https';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ClusterPki, createPki, writeKubeconfig } from './pki.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../..');
export const defaultStateDir = join(repoRoot, '.state', 'test-cluster');

export interface StartOptions {
  stateDir?: string;
  /** Folder with the binaries; default: build/lookup via build-binaries.sh. */
  binDir?: string;
  detached?: boolean;
  /** Print progress lines to stderr. */
  verbose?: boolean;
  /** Extra kube-controller-manager flags (e.g. a longer --node-monitor-grace-period). */
  controllerManagerFlags?: string[];
  /**
   * Opt-in, for a real kubelet node (real-node/): a non-loopback address of this machine.
   * The API server advertises it (the `kubernetes` Service's endpoint may not be loopback),
   * listens on it too, and has it in its certificate. Default: loopback only.
   */
  advertiseAddress?: string;
}

export interface TestCluster {
  stateDir: string;
  /** The CA and client certificates (real-node/ signs the node's certificates with it). */
  pki: ClusterPki;
  /** The address the API server advertises (127.0.0.1 unless advertiseAddress was given). */
  advertiseAddress: string;
  binDir: string;
  kubeconfigPath: string;
  server: string;
  /** Stops every process of the cluster (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>;
  /** Stops and restarts kube-apiserver alone (for outage tests); resolves when it is ready again. */
  restartApiServer(downMs?: number): Promise<void>;
}

export interface ProcessRecord {
  name: string;
  pid: number;
  binary: string;
}

interface ClusterState {
  mode: 'attached' | 'detached';
  server: string;
  kubeconfigPath: string;
  binDir: string;
  processes: ProcessRecord[];
}

// promtool is not part of the cluster but is built with it (the alert-rule tests run it).
const binaries = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
  'kubectl',
  'promtool',
];

/** The binaries folder: $CLUSTEROPT_CLUSTER_BIN_DIR, or built/cached by build-binaries.sh. */
export function resolveBinDir(log?: (line: string) => void): string {
  const cache = process.env.CLUSTEROPT_BIN_CACHE ?? join(repoRoot, '.cache', 'cluster-bin');
  const current = join(cache, 'current');
  if (process.env.CLUSTEROPT_CLUSTER_BIN_DIR) return process.env.CLUSTEROPT_CLUSTER_BIN_DIR;
  if (binaries.every((b) => existsSync(join(current, b)))) return current;
  log?.('cluster binaries missing: building them (first time only)');
  const out = execFileSync('bash', [join(here, 'build-binaries.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.trim().split('\n').pop()!;
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() =>
        typeof address === 'object' && address ? res(address.port) : rej(new Error('no port')),
      );
    });
  });
}

export function isAlive(record: ProcessRecord): boolean {
  try {
    // The pid may have been reused by another program: check it is still our binary.
    const cmdline = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8');
    return cmdline.includes(record.binary);
  } catch {
    return false;
  }
}

/**
 * Stops processes one at a time in reverse start order (kwok first, etcd last): stopping
 * etcd under a live API server makes the API server's own shutdown hang.
 */
export async function stopProcesses(records: ProcessRecord[], graceMs = 5_000): Promise<void> {
  for (const r of [...records].reverse()) {
    if (!isAlive(r)) continue;
    signal(r.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(r) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    if (isAlive(r)) signal(r.pid, 'SIGKILL');
    while (isAlive(r)) await new Promise((res) => setTimeout(res, 50));
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function readState(stateDir: string): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

/** Stops whatever a previous start left in this stateDir. */
export async function stopLeftovers(stateDir = defaultStateDir): Promise<void> {
  const state = readState(stateDir);
  if (state) await stopProcesses(state.processes);
}

/** GET a path on the API server with the admin certificate; resolves to [status, body]. */
export function apiGet(
  server: string,
  pki: Pick<ClusterPki, 'caCert'> & { admin: { certPath: string; keyPath: string } },
  path: string,
): Promise<[number, string]> {
  return httpsGet(new URL(path, server).toString(), {
    ca: readFileSync(pki.caCert),
    cert: readFileSync(pki.admin.certPath),
    key: readFileSync(pki.admin.keyPath),
  });
}

function httpsGet(url: string, tls: RequestOptions): Promise<[number, string]> {
  return new Promise((res, rej) => {
    const req = request(url, { ...tls, timeout: 5000 }, (resp) => {
      let body = '';
      resp.setEncoding('utf8');
      resp.on('data', (c: string) => {
        body += c;
      });
      resp.on('end', () => res([resp.statusCode ?? 0, body]));
    });
    req.on('error', rej);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number, logFile?: string) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  let tail = '';
  if (logFile && existsSync(logFile))
    tail = `\n--- last lines of ${logFile} ---\n${readFileSync(logFile, 'utf8').slice(-3000)}`;
  throw new Error(`test cluster: ${what} not ready after ${timeoutMs} ms${tail}`);
}

export async function startTestCluster(options: StartOptions = {}): Promise<TestCluster> {
  const t0 = Date.now();
  const log = (line: string) => {
    if (options.verbose)
      process.stderr.write(`[cluster +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);
  };
  const stateDir = options.stateDir ?? defaultStateDir;
  const binDir = options.binDir ?? resolveBinDir(log);
  const detached = options.detached ?? false;
  await stopLeftovers(stateDir);
  rmSync(stateDir, { recursive: true, force: true });
  const logs = join(stateDir, 'logs');
  mkdirSync(logs, { recursive: true });
  const advertise = options.advertiseAddress;
  const pki = createPki(join(stateDir, 'pki'), advertise ? [advertise] : []);
  const [etcdPort, etcdPeerPort, apiPort, kcmPort, schedPort, kwokPort] = await Promise.all(
    Array.from({ length: 6 }, freePort),
  );
  const server = `https://127.0.0.1:${apiPort}`;
  const kubeconfigPath = join(stateDir, 'admin.kubeconfig');
  const kcmKubeconfig = join(stateDir, 'controller-manager.kubeconfig');
  const schedKubeconfig = join(stateDir, 'scheduler.kubeconfig');
  writeKubeconfig(kubeconfigPath, server, pki.caCert, pki.admin, 'admin');
  writeKubeconfig(kcmKubeconfig, server, pki.caCert, pki.controllerManager, 'system:kube-controller-manager');
  writeKubeconfig(schedKubeconfig, server, pki.caCert, pki.scheduler, 'system:kube-scheduler');

  const processes: ProcessRecord[] = [];
  const state: ClusterState = {
    mode: detached ? 'detached' : 'attached',
    server,
    kubeconfigPath,
    binDir,
    processes,
  };
  const saveState = () => writeFileSync(join(stateDir, 'state.json'), JSON.stringify(state, null, 2));

  const launch = (name: string, args: string[], env: Record<string, string> = {}): ProcessRecord => {
    const binary = join(binDir, name);
    const out = openSync(join(logs, `${name}.log`), 'a');
    const [cmd, cmdArgs] = detached
      ? [binary, args]
      : ['setpriv', ['--pdeathsig', 'KILL', '--', binary, ...args]];
    const child = spawn(cmd, cmdArgs as string[], {
      stdio: ['ignore', out, out],
      detached,
      env: { ...process.env, ...env },
    });
    if (detached) child.unref();
    if (child.pid === undefined) throw new Error(`test cluster: could not start ${name}`);
    const record = { name, pid: child.pid, binary };
    const existing = processes.findIndex((p) => p.name === name);
    if (existing >= 0) processes[existing] = record;
    else processes.push(record);
    saveState();
    log(`started ${name} (pid ${child.pid})`);
    return record;
  };

  const etcdArgs = [
    '--name=test',
    `--data-dir=${join(stateDir, 'etcd')}`,
    `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
    `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
    `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
    `--initial-cluster=test=http://127.0.0.1:${etcdPeerPort}`,
    // A test cluster is thrown away at the end: durability is not worth the fsyncs.
    '--unsafe-no-fsync=true',
    '--quota-backend-bytes=8589934592',
    '--log-level=warn',
  ];
  const apiArgs = [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    // With a real node: all addresses (pods reach the advertised one through the `kubernetes`
    // Service; everything else keeps using 127.0.0.1).
    `--bind-address=${advertise ? '0.0.0.0' : '127.0.0.1'}`,
    `--advertise-address=${advertise ?? '127.0.0.1'}`,
    `--secure-port=${apiPort}`,
    // kubectl logs/exec on a real node: the kubelet wants a client certificate, and the node's
    // name does not resolve here, its InternalIP does.
    `--kubelet-client-certificate=${pki.kubeletClient.certPath}`,
    `--kubelet-client-key=${pki.kubeletClient.keyPath}`,
    ...(advertise ? ['--kubelet-preferred-address-types=InternalIP,Hostname'] : []),
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.caCert}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.saPublicKey}`,
    `--service-account-signing-key-file=${pki.saPrivateKey}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    '--authorization-mode=Node,RBAC',
    // The default admission chain (NamespaceLifecycle, ServiceAccount, PodSecurity,
    // Priority, DefaultTolerationSeconds, ResourceQuota, ...) plus what kubeadm adds.
    '--enable-admission-plugins=NodeRestriction',
    '--allow-privileged=true',
    '--profiling=false',
    '--max-requests-inflight=800',
    '--max-mutating-requests-inflight=400',
    '--v=1',
  ];
  const kcmArgs = [
    `--kubeconfig=${kcmKubeconfig}`,
    `--authentication-kubeconfig=${kcmKubeconfig}`,
    `--authorization-kubeconfig=${kcmKubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${kcmPort}`,
    '--leader-elect=false',
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${pki.saPrivateKey}`,
    `--root-ca-file=${pki.caCert}`,
    `--cluster-signing-cert-file=${pki.caCert}`,
    `--cluster-signing-key-file=${pki.caKey}`,
    '--kube-api-qps=200',
    '--kube-api-burst=400',
    '--concurrent-deployment-syncs=10',
    '--concurrent-replicaset-syncs=10',
    '--v=1',
    ...(options.controllerManagerFlags ?? []),
  ];
  const schedConfig = join(stateDir, 'scheduler.yaml');
  writeFileSync(
    schedConfig,
    `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: ${schedKubeconfig}
  qps: 200
  burst: 400
leaderElection:
  leaderElect: false
`,
  );
  const schedArgs = [
    `--config=${schedConfig}`,
    `--authentication-kubeconfig=${schedKubeconfig}`,
    `--authorization-kubeconfig=${schedKubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${schedPort}`,
    '--v=1',
  ];
  const kwokArgs = [
    `--kubeconfig=${kubeconfigPath}`,
    '--manage-all-nodes=false',
    '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
    '--node-lease-duration-seconds=40',
    '--cidr=10.0.0.1/16',
    '--node-ip=10.255.0.1',
    `--server-address=127.0.0.1:${kwokPort}`,
  ];

  try {
    launch('etcd', etcdArgs);
    await waitUntil(
      'etcd',
      async () => (await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok,
      30_000,
      join(logs, 'etcd.log'),
    );
    log('etcd healthy');
    const startApi = () => launch('kube-apiserver', apiArgs);
    const apiReady = () =>
      waitUntil(
        'kube-apiserver',
        async () => (await apiGet(server, pki, '/readyz'))[0] === 200,
        60_000,
        join(logs, 'kube-apiserver.log'),
      );
    startApi();
    await apiReady();
    log('kube-apiserver ready');
    launch('kube-controller-manager', kcmArgs);
    launch('kube-scheduler', schedArgs);
    // kwok keeps its config and cache under $HOME/.kwok: give it its own.
    launch('kwok', kwokArgs, { HOME: stateDir });
    // The controller-manager is working once it has created the default ServiceAccount.
    await waitUntil(
      'kube-controller-manager',
      async () =>
        (await apiGet(server, pki, '/api/v1/namespaces/default/serviceaccounts/default'))[0] === 200,
      60_000,
      join(logs, 'kube-controller-manager.log'),
    );
    await waitUntil(
      'kube-scheduler',
      // The scheduler serves /healthz with its own self-signed certificate.
      async () =>
        (await httpsGet(`https://127.0.0.1:${schedPort}/healthz`, { rejectUnauthorized: false }))[0] === 200,
      60_000,
      join(logs, 'kube-scheduler.log'),
    );
    log(`cluster ready at ${server} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    return {
      stateDir,
      pki,
      advertiseAddress: advertise ?? '127.0.0.1',
      binDir,
      kubeconfigPath,
      server,
      stop: () => stopProcesses(processes),
      async restartApiServer(downMs = 0) {
        const api = processes.find((p) => p.name === 'kube-apiserver');
        if (api) await stopProcesses([api]);
        if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
        startApi();
        await apiReady();
      },
    };
  } catch (err) {
    await stopProcesses(processes);
    throw err;
  }
}
