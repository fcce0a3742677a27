/**
 * Real kubelet nodes in the test cluster, opt-in: per node containerd + runc + a CNI bridge
 * + a kubelet, registered as Node `real-node-N` and running pods from images imported from
 * the local Docker engine (no registry is reachable); one kube-proxy for the machine. The
 * cluster must have been started with `advertiseAddress` (the `kubernetes` Service needs an
 * endpoint that is not loopback).
 *
 * Network rule: no packet from a pod leaves the machine. The bridges do not masquerade, and
 * FORWARD rejects everything from a pod bridge to any interface that is not a pod bridge (and
 * into a pod bridge from one), ahead of kube-proxy's rules; a mangle POSTROUTING rule drops,
 * and counts, anything from the pod range that would still go out another interface (the
 * tripwire the egress test reads: it must stay 0).
 *
 * Needs root, containerd, runc, the CNI plugins (/usr/lib/cni), iptables, gcc and Docker.
 * Everything started is stopped by its PID; iptables, sysctls, mounts, links, cgroups and
 * folders are put back (host-state.ts). One set of real nodes per machine (a lock says whose).
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, isAlive, type ProcessRecord, stopProcesses, type TestCluster } from '../launcher.ts';
import { clientExt, signed, writeKubeconfig } from '../pki.ts';
import {
  deleteLink,
  loadSnapshot,
  removeCniNetns,
  restoreSnapshot,
  saveSnapshot,
  takeSnapshot,
  unmountBelow,
} from './host-state.ts';
import {
  bridgePattern,
  containerdSocket,
  dataRoot,
  type NodeLayout,
  nodeLayout,
  podsCidr,
  runRoot,
  sandboxImage,
  writeCniConfig,
  writeContainerdConfig,
  writeKubeletConfig,
  writeKubeProxyConfig,
} from './node-config.ts';

export { primaryAddress } from './host-state.ts';

const here = dirname(fileURLToPath(import.meta.url));
const lockFile = '/run/clusteropt-node.lock';
const snapshotFile = '/var/lib/clusteropt-node-host-before.json';
const forwardChain = 'CLUSTEROPT-PODS';
const tripwireChain = 'CLUSTEROPT-PODS-OUT';
const tripwirePrefix = 'clusteropt-tripwire: ';
const cgroupBase = '/sys/fs/cgroup';

export interface RealNodesOptions {
  /** How many nodes (real-node-0 …); default 1. */
  count?: number;
  /** Docker images to import into every node's containerd (e.g. the agent image). */
  images?: string[];
  /** Leave the processes running after this process exits (`npm run cluster:up -- --real-node`). */
  detached?: boolean;
  verbose?: boolean;
}

export interface RealNode {
  name: string;
  address: string;
  containerdSocket: string;
  /** Runs `ctr` against this node's containerd (namespace k8s.io), e.g. to kill a container. */
  ctr(args: string[]): string;
  importImages(images: string[]): Promise<void>;
}

export interface RealNodes {
  nodes: RealNode[];
  /** Milliseconds from the start: firewall and containerd up, images imported, nodes Ready. */
  timings: Record<string, number>;
  /** Packets the FORWARD rule rejected from pods, and packets from pods that reached the tripwire. */
  egressCounters(): { rejected: number; escaped: number };
  stop(): Promise<void>;
}

type ClusterFiles = Pick<TestCluster, 'stateDir' | 'binDir' | 'kubeconfigPath'>;

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** The live process other than this one that holds the node lock, if any. */
function lockHolder(): number | undefined {
  if (!existsSync(lockFile)) return undefined;
  const pid = Number(readFileSync(lockFile, 'utf8'));
  return pid !== process.pid && existsSync(`/proc/${pid}`) ? pid : undefined;
}

function takeLock(): void {
  const holder = lockHolder();
  if (holder)
    throw new Error(`real node: process ${holder} runs real nodes on this machine already (${lockFile})`);
  writeFileSync(lockFile, String(process.pid));
}

function checkPrerequisites(binDir: string): void {
  if (process.getuid?.() !== 0) throw new Error('real node: needs root (containerd, kubelet, iptables)');
  const missing = [
    '/usr/bin/containerd',
    '/usr/bin/ctr',
    '/usr/sbin/runc',
    '/usr/lib/cni/bridge',
    '/usr/lib/cni/host-local',
    '/usr/lib/cni/loopback',
    join(binDir, 'kubelet'),
    join(binDir, 'kube-proxy'),
  ].filter((p) => !existsSync(p));
  if (missing.length)
    throw new Error(
      `real node: missing ${missing.join(', ')} (apt-get install containerd runc containernetworking-plugins; ` +
        'kubelet and kube-proxy come from test/cluster/build-binaries.sh)',
    );
}

/** The interface that carries this machine's address (where a forwarded packet would leave). */
function uplink(address: string): string {
  const m = new RegExp(`^\\d+: (\\S+)\\s+inet ${address.replaceAll('.', '\\.')}/`, 'm').exec(
    sh('ip', ['-4', '-o', 'addr', 'show']),
  );
  if (!m?.[1]) throw new Error(`real node: no interface has ${address}`);
  return m[1];
}

/**
 * Forwarding is on while the nodes run (pod -> Service -> pod is routed): nothing forwarded
 * may leave through the uplink, whatever its source (pods, or containers of another engine).
 */
function firewallUp(address: string): void {
  sh('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.bridge.bridge-nf-call-iptables=1']);
  sh('iptables', ['-N', forwardChain]);
  sh('iptables', ['-A', forwardChain, '-o', uplink(address), '-j', 'REJECT']);
  sh('iptables', ['-A', forwardChain, '-i', bridgePattern, '-o', bridgePattern, '-j', 'ACCEPT']);
  sh('iptables', ['-A', forwardChain, '-i', bridgePattern, '-j', 'REJECT']);
  sh('iptables', ['-A', forwardChain, '-o', bridgePattern, '-j', 'REJECT']);
  sh('iptables', ['-I', 'FORWARD', '1', '-j', forwardChain]);
  sh('iptables', ['-t', 'mangle', '-N', tripwireChain]);
  const fromPodsOut = ['-t', 'mangle', '-A', tripwireChain, '-s', podsCidr, '!', '-o', bridgePattern];
  // Logged first, so a packet the tripwire catches is named (interface, addresses, ports) in
  // the kernel log: tripwireLog() reads it back for the test's failure message.
  sh('iptables', [
    ...fromPodsOut,
    '-m',
    'limit',
    '--limit',
    '20/min',
    '-j',
    'LOG',
    '--log-prefix',
    tripwirePrefix,
  ]);
  sh('iptables', [...fromPodsOut, '-j', 'DROP']);
  sh('iptables', ['-t', 'mangle', '-A', 'POSTROUTING', '-j', tripwireChain]);
}

/** kube-proxy prepends its FORWARD jumps; ours goes back in front of them. */
function forwardRuleFirst(): void {
  sh('iptables', ['-D', 'FORWARD', '-j', forwardChain]);
  sh('iptables', ['-I', 'FORWARD', '1', '-j', forwardChain]);
}

/** The kernel log's lines for packets the tripwire caught (empty when none). */
export function tripwireLog(): string[] {
  return sh('dmesg', [])
    .split('\n')
    .filter((l) => l.includes(tripwirePrefix.trim()));
}

export function egressCounters(): { rejected: number; escaped: number } {
  const packets = (table: string, chain: string, target: string) =>
    sh('iptables', ['-t', table, '-L', chain, '-v', '-x', '-n'])
      .split('\n')
      .filter((l) => l.includes(target))
      .reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[0] ?? 0), 0);
  return {
    rejected: packets('filter', forwardChain, 'REJECT'),
    escaped: packets('mangle', tripwireChain, 'DROP'),
  };
}

/**
 * The kubelet's cgroup root in every v1 hierarchy (the kubelet checks that it exists). A new
 * cpuset cgroup starts with no CPUs and no memory nodes: give it the parent's.
 */
function makeCgroupRoot(root: string): void {
  for (const controller of readdirSync(cgroupBase)) {
    const dir = join(cgroupBase, controller, root);
    mkdirSync(dir, { recursive: true });
    if (controller === 'cpuset')
      for (const file of ['cpuset.cpus', 'cpuset.mems'])
        writeFileSync(join(dir, file), readFileSync(join(cgroupBase, controller, file)));
  }
}

/** Removes the kubelets' cgroup roots (empty once every pod is gone), deepest first. */
function removeCgroupRoots(): void {
  if (!existsSync(cgroupBase)) return;
  for (const controller of readdirSync(cgroupBase)) {
    const base = join(cgroupBase, controller);
    for (const root of readdirSync(base).filter((d) => d.startsWith('clusteropt-real-node-'))) {
      try {
        execFileSync('find', [join(base, root), '-depth', '-type', 'd', '-exec', 'rmdir', '{}', '+'], {
          stdio: 'ignore',
        });
      } catch {
        // a process still in it; the next start tries again
      }
    }
  }
}

/** The sandbox image, built from pause/pause.c when Docker does not have it yet. */
function ensurePauseImage(workDir: string): void {
  try {
    sh('docker', ['image', 'inspect', sandboxImage]);
    return;
  } catch {
    // build it
  }
  const ctx = join(workDir, 'pause-build');
  mkdirSync(ctx, { recursive: true });
  sh('gcc', ['-Os', '-static', '-s', '-o', join(ctx, 'pause'), join(here, 'pause', 'pause.c')]);
  sh('docker', [
    'build',
    '-q',
    '--network',
    'none',
    '-t',
    sandboxImage,
    '-f',
    join(here, 'pause', 'Dockerfile'),
    ctx,
  ]);
}

/** `docker save` of the images, once, into a tar every node's containerd imports. */
function saveImages(images: string[], tar: string): void {
  sh('docker', ['save', '-o', tar, ...images]);
}

function importTar(socket: string, tar: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ctr', ['-a', socket, '-n', 'k8s.io', 'images', 'import', tar], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`real node: ctr import of ${tar} failed (${code}): ${err.trim()}`)),
    );
  });
}

function ctrOk(socket: string): boolean {
  try {
    sh('ctr', ['-a', socket, 'version']);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(what: string, probe: () => boolean, timeoutMs: number, logDir: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (probe()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  const logs = existsSync(logDir)
    ? readdirSync(logDir)
        .map(
          (f) =>
            `--- last lines of ${join(logDir, f)} ---\n${readFileSync(join(logDir, f), 'utf8').slice(-2000)}`,
        )
        .join('\n')
    : '';
  throw new Error(`real node: ${what} not reached after ${timeoutMs} ms\n${logs}`);
}

function realNode(layout: NodeLayout, address: string, workDir: string): RealNode {
  const socket = containerdSocket(layout);
  return {
    name: layout.name,
    address,
    containerdSocket: socket,
    ctr: (args) => sh('ctr', ['-a', socket, '-n', 'k8s.io', ...args]),
    async importImages(images) {
      const tar = join(workDir, `images-${layout.name}.tar`);
      saveImages(images, tar);
      await importTar(socket, tar).finally(() => rmSync(tar, { force: true }));
    },
  };
}

export async function startRealNodes(
  cluster: TestCluster,
  options: RealNodesOptions = {},
): Promise<RealNodes> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const log = (line: string) => {
    if (options.verbose)
      process.stderr.write(`[real-node +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}\n`);
  };
  if (cluster.advertiseAddress.startsWith('127.'))
    throw new Error('real node: start the test cluster with advertiseAddress (a non-loopback address)');
  checkPrerequisites(cluster.binDir);
  takeLock();
  await cleanUp(cluster.stateDir);
  saveSnapshot(snapshotFile, takeSnapshot());

  const workDir = join(cluster.stateDir, 'real-node');
  const logDir = join(workDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const kubectl = (args: string[]) =>
    sh(join(cluster.binDir, 'kubectl'), ['--kubeconfig', cluster.kubeconfigPath, ...args]);
  const processes: ProcessRecord[] = [];
  const launch = (name: string, binary: string, args: string[]) => {
    const out = openSync(join(logDir, `${name}.log`), 'a');
    const [cmd, cmdArgs] = options.detached
      ? [binary, args]
      : ['setpriv', ['--pdeathsig', 'KILL', '--', binary, ...args]];
    const child = spawn(cmd, cmdArgs as string[], {
      stdio: ['ignore', out, out],
      detached: !!options.detached,
    });
    if (options.detached) child.unref();
    if (child.pid === undefined) throw new Error(`real node: could not start ${name}`);
    processes.push({ name, pid: child.pid, binary });
    writeFileSync(join(workDir, 'pids.json'), JSON.stringify(processes));
    log(`started ${name} (pid ${child.pid})`);
  };
  const stop = () => stopRealNodes(cluster);

  try {
    const address = cluster.advertiseAddress;
    const layouts = Array.from({ length: options.count ?? 1 }, (_, i) => nodeLayout(cluster.stateDir, i));
    firewallUp(address);
    timings.firewall = Date.now() - t0;
    ensurePauseImage(workDir);
    for (const layout of layouts) {
      for (const dir of [layout.config, layout.data, layout.run]) mkdirSync(dir, { recursive: true });
      writeCniConfig(layout);
      makeCgroupRoot(layout.cgroupRoot);
      launch(`containerd@${layout.name}`, '/usr/bin/containerd', ['--config', writeContainerdConfig(layout)]);
    }
    for (const layout of layouts)
      await waitFor(`containerd of ${layout.name}`, () => ctrOk(containerdSocket(layout)), 30_000, logDir);
    timings.containerd = Date.now() - t0;
    const nodes = layouts.map((l) => realNode(l, address, workDir));
    const images = [sandboxImage, ...(options.images ?? [])];
    const tar = join(workDir, 'images.tar');
    saveImages(images, tar);
    await Promise.all(nodes.map((n) => importTar(n.containerdSocket, tar)));
    rmSync(tar, { force: true });
    timings.images = Date.now() - t0;
    log(`images imported into ${nodes.length} node(s): ${images.join(', ')}`);

    for (const layout of layouts) {
      const cert = signed(
        cluster.pki.dir,
        layout.name,
        `/O=system:nodes/CN=system:node:${layout.name}`,
        clientExt,
      );
      const kubeconfig = join(layout.config, 'kubelet.kubeconfig');
      writeKubeconfig(kubeconfig, cluster.server, cluster.pki.caCert, cert, `system:node:${layout.name}`);
      const config = writeKubeletConfig(layout, {
        nodeIp: address,
        caFile: cluster.pki.caCert,
        healthzPort: await freePort(),
      });
      launch(`kubelet@${layout.name}`, join(cluster.binDir, 'kubelet'), [
        `--config=${config}`,
        `--kubeconfig=${kubeconfig}`,
        `--hostname-override=${layout.name}`,
        `--node-ip=${address}`,
        `--root-dir=${join(layout.data, 'kubelet')}`,
        `--cert-dir=${join(layout.data, 'kubelet', 'pki')}`,
        '--node-labels=clusteropt.io/test-node=real',
        '--v=1',
      ]);
    }
    const proxyCert = signed(cluster.pki.dir, 'kube-proxy', '/CN=system:kube-proxy', clientExt);
    const proxyKubeconfig = join(workDir, 'kube-proxy.kubeconfig');
    writeKubeconfig(proxyKubeconfig, cluster.server, cluster.pki.caCert, proxyCert, 'system:kube-proxy');
    const [metricsPort, healthzPort] = await Promise.all([freePort(), freePort()]);
    const proxyConfig = writeKubeProxyConfig(workDir, {
      kubeconfig: proxyKubeconfig,
      metricsPort,
      healthzPort,
    });
    launch('kube-proxy', join(cluster.binDir, 'kube-proxy'), [
      `--config=${proxyConfig}`,
      `--hostname-override=${layouts[0]?.name}`,
      '--v=1',
    ]);
    const ready = (name: string) => {
      try {
        const path = '{.status.conditions[?(@.type=="Ready")].status}';
        return kubectl(['get', 'node', name, '-o', `jsonpath=${path}`]).trim() === 'True';
      } catch {
        return false;
      }
    };
    for (const layout of layouts)
      await waitFor(`node ${layout.name} Ready`, () => ready(layout.name), 90_000, logDir);
    timings.ready = Date.now() - t0;
    // kube-proxy has written its rules once KUBE-FORWARD exists; then ours go first again.
    await waitFor(
      'kube-proxy rules',
      () => sh('iptables-save', ['-t', 'filter']).includes('KUBE-FORWARD'),
      60_000,
      logDir,
    );
    forwardRuleFirst();
    timings.total = Date.now() - t0;
    log(
      `${nodes.map((n) => n.name).join(', ')} Ready at ${address} in ${(timings.total / 1000).toFixed(1)} s`,
    );
    return { nodes, timings, egressCounters, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}

/**
 * Stops the nodes (pods first, through the API, so each kubelet unmounts their volumes and
 * tears down their network), then their processes by PID, then puts the machine back. Safe
 * to call when nothing runs; the test cluster must still be up for the first step.
 */
export async function stopRealNodes(cluster: ClusterFiles): Promise<void> {
  // Another live process's nodes (a parallel run) are not ours to stop.
  if (lockHolder()) return;
  const workDir = join(cluster.stateDir, 'real-node');
  const pidsFile = join(workDir, 'pids.json');
  const processes: ProcessRecord[] = existsSync(pidsFile) ? JSON.parse(readFileSync(pidsFile, 'utf8')) : [];
  const kubelets = processes.filter((r) => r.name.startsWith('kubelet@') && isAlive(r));
  const kubectl = (args: string[]) =>
    execFileSync(join(cluster.binDir, 'kubectl'), ['--kubeconfig', cluster.kubeconfigPath, ...args], {
      stdio: 'ignore',
      timeout: 90_000,
    });
  for (const kubelet of kubelets) {
    const node = kubelet.name.slice('kubelet@'.length);
    try {
      kubectl([
        'delete',
        'pods',
        '-A',
        '--field-selector',
        `spec.nodeName=${node}`,
        '--grace-period=5',
        '--timeout=60s',
      ]);
    } catch {
      // API down or pods stuck: the runtime clean-up below still removes them
    }
    try {
      kubectl(['delete', 'node', node, '--wait=false']);
    } catch {
      // already gone
    }
  }
  await stopProcesses(processes.filter((r) => !r.name.startsWith('containerd@')));
  for (const containerd of processes.filter((r) => r.name.startsWith('containerd@') && isAlive(r))) {
    const socket = join(runRoot, containerd.name.slice('containerd@'.length), 'containerd.sock');
    const ctr = (args: string[]) => {
      try {
        return sh('ctr', ['-a', socket, '-n', 'k8s.io', ...args]);
      } catch {
        return '';
      }
    };
    for (const id of ctr(['tasks', 'ls', '-q']).split('\n').filter(Boolean))
      ctr(['tasks', 'kill', '-s', 'KILL', id]);
    for (const id of ctr(['containers', 'ls', '-q']).split('\n').filter(Boolean)) {
      ctr(['tasks', 'delete', '-f', id]);
      ctr(['containers', 'rm', id]);
    }
  }
  await stopProcesses(processes.filter((r) => r.name.startsWith('containerd@')));
  rmSync(pidsFile, { force: true });
  await cleanUp(cluster.stateDir);
  rmSync(lockFile, { force: true });
}

/** Shims of the nodes' containerds that outlived them (a run killed half-way). */
async function stopOrphanShims(): Promise<void> {
  const shims: ProcessRecord[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes('containerd-shim') && cmdline.includes(`${runRoot}/`))
        shims.push({ name: 'containerd-shim', pid: Number(pid), binary: 'containerd-shim' });
    } catch {
      // exited meanwhile
    }
  }
  await stopProcesses(shims, 2_000);
}

/** Undoes what nodes left on the machine: shims, mounts, netns, bridges, cgroups, iptables, sysctls, folders. */
async function cleanUp(stateDir: string): Promise<void> {
  await stopOrphanShims();
  unmountBelow([dataRoot, runRoot]);
  removeCniNetns();
  for (const link of sh('ip', ['-o', 'link', 'show']).matchAll(/^\d+: (cni-co\d+)[@:]/gm))
    if (link[1]) deleteLink(link[1]);
  removeCgroupRoots();
  const snapshot = loadSnapshot(snapshotFile);
  if (snapshot) restoreSnapshot(snapshot);
  rmSync(dataRoot, { recursive: true, force: true });
  rmSync(runRoot, { recursive: true, force: true });
  rmSync(join(stateDir, 'real-node', 'pause-build'), { recursive: true, force: true });
  rmSync(snapshotFile, { force: true });
  // Links the kubelets made to their pod logs (/var/log/containers is not configurable).
  if (existsSync('/var/log/containers'))
    for (const f of readdirSync('/var/log/containers')) {
      const link = join('/var/log/containers', f);
      try {
        if (readlinkSync(link).startsWith(dataRoot)) unlinkSync(link);
      } catch {
        // not a link
      }
    }
}
