/**
 * The reference control plane and the agent as CHILD processes, as the image runs them (the
 * bundle with the Dockerfile's node flags and ENV: agent-image.ts): they can be killed with
 * SIGKILL and restarted on the same files and port. Shared by the fault tests (test/k8s/faults-*.test.ts) and the benchmarks; no vitest
 * imports here, so plain `node` scripts can use it.
 *
 * Children run under `setpriv --pdeathsig KILL` when available, so they die with the
 * process that started them even if that one is killed -9 (no orphans holding ports).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ReferenceControlPlaneAdmin } from '../../src/reference-control-plane/admin-client.ts';
import { freePort } from '../cluster/launcher.ts';
import { shippedAgent } from './agent-image.ts';

const hasSetpriv = existsSync('/usr/bin/setpriv');

/** `clusteropt-agent ARGS` as the image runs it. */
function spawnCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; logFile: string; pipeStdout?: boolean },
): ChildProcess {
  const out = openSync(options.logFile, 'a');
  const image = shippedAgent();
  const argv = [...image.argv, ...args];
  const [cmd, cmdArgs] = hasSetpriv
    ? ['setpriv', ['--pdeathsig', 'KILL', '--', process.execPath, ...argv]]
    : [process.execPath, argv];
  const child = spawn(cmd, cmdArgs, {
    stdio: ['ignore', options.pipeStdout ? 'pipe' : out, out],
    env: { ...process.env, ...image.env, ...options.env },
  });
  child.once('exit', () => closeSync(out));
  return child;
}

/** Resolves with the exit code (or signal name) once the child is gone. */
export function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
}

async function killAndWait(child: ChildProcess, signal: NodeJS.Signals, timeoutMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = exited(child);
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await gone;
  clearTimeout(timer);
}

async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  child?: ChildProcess,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && (child.exitCode !== null || child.signalCode !== null))
      throw new Error(`${what}: process exited (${child.exitCode ?? child.signalCode})`);
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export interface ControlPlaneProcess {
  url: string;
  port: number;
  dbPath: string;
  admin: ReferenceControlPlaneAdmin;
  adminToken: string;
  child: ChildProcess;
  /** Starts it (again) on the same database and port; resolves once it listens. */
  start(): Promise<void>;
  /** SIGKILL (no clean shutdown) and wait until it is gone. */
  kill(): Promise<void>;
  /** SIGTERM and wait until it is gone. */
  stop(): Promise<void>;
}

/**
 * `clusteropt-agent control-plane serve --db DB --listen 127.0.0.1:PORT` as a child
 * process. The admin token is written to `<dir>/admin-token` so every incarnation uses the
 * same one.
 */
export async function spawnControlPlane(options: {
  dir: string;
  leaseSeconds?: number;
  port?: number;
}): Promise<ControlPlaneProcess> {
  const dbPath = join(options.dir, 'cp.db');
  const tokenFile = join(options.dir, 'admin-token');
  if (!existsSync(tokenFile))
    writeFileSync(tokenFile, `adm_${Math.random().toString(36).slice(2)}x\n`, { mode: 0o600 });
  const adminToken = readFileSync(tokenFile, 'utf8').trim();
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const logFile = join(options.dir, 'control-plane.log');
  const cp: ControlPlaneProcess = {
    url,
    port,
    dbPath,
    adminToken,
    admin: new ReferenceControlPlaneAdmin({ url, adminToken }),
    child: undefined as unknown as ChildProcess,
    async start() {
      const child = spawnCli(
        [
          'control-plane',
          'serve',
          '--db',
          dbPath,
          '--listen',
          `127.0.0.1:${port}`,
          '--admin-token-file',
          tokenFile,
          ...(options.leaseSeconds === undefined ? [] : ['--lease-seconds', String(options.leaseSeconds)]),
        ],
        { logFile, pipeStdout: true },
      );
      cp.child = child;
      let stdout = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`control plane did not start; see ${logFile}`)),
          30_000,
        );
        child.stdout?.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('listening on')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`control plane exited with ${code} before listening; see ${logFile}`));
        });
      });
    },
    kill: () => killAndWait(cp.child, 'SIGKILL'),
    stop: () => killAndWait(cp.child, 'SIGTERM'),
  };
  await cp.start();
  return cp;
}

export interface RegisteredCluster {
  clusterId: string;
  apiKey: string;
  keyFile: string;
}

/**
 * Registers cluster `name` at a reference control plane and writes its API key to `keyFile`
 * (mode 0600), which is what `clusteropt-agent run --api-key-file` reads: every agent test starts so.
 */
export async function registerCluster(
  cp: { admin: ReferenceControlPlaneAdmin },
  name: string,
  keyFile: string,
): Promise<RegisteredCluster> {
  const created = await cp.admin.createCluster({ name });
  writeFileSync(keyFile, created.apiKey, { mode: 0o600 });
  return { clusterId: created.cluster.id, apiKey: created.apiKey, keyFile };
}

export interface AgentProcess {
  name: string;
  stateDir: string;
  healthPort: number;
  child: ChildProcess;
  logFile: string;
  /** Starts it (again) with the same state dir and health port; resolves once /healthz answers. */
  start(): Promise<void>;
  kill(): Promise<void>;
  stop(): Promise<void>;
  /** The text of /metrics. */
  metrics(): Promise<string>;
  /** One unlabelled gauge/counter value from /metrics (undefined when absent). */
  metric(name: string): Promise<number | undefined>;
}

export interface AgentProcessOptions {
  name: string;
  dir: string;
  controlPlaneUrl: string;
  apiKeyFile: string;
  namespace: string;
  kubeconfig: string;
  /** Extra `--flag=value` arguments (override the defaults below by repeating them later). */
  args?: string[];
  logLevel?: string;
  /** State dir (default `dir/<name>`), e.g. on a small file system of its own. */
  stateDir?: string;
  /** Extra environment of the child (e.g. LD_PRELOAD of libfaketime). */
  env?: NodeJS.ProcessEnv;
}

/** `clusteropt-agent run ...` as a child process with its own state dir under `dir/<name>`. */
export async function spawnAgent(options: AgentProcessOptions): Promise<AgentProcess> {
  const healthPort = await freePort();
  const stateDir = options.stateDir ?? join(options.dir, options.name);
  const logFile = join(options.dir, `${options.name}.log`);
  const agent: AgentProcess = {
    name: options.name,
    stateDir,
    healthPort,
    logFile,
    child: undefined as unknown as ChildProcess,
    async start() {
      const child = spawnCli(
        [
          'run',
          `--control-plane-url=${options.controlPlaneUrl}`,
          '--allow-insecure-http',
          `--api-key-file=${options.apiKeyFile}`,
          `--state-dir=${stateDir}`,
          `--namespace=${options.namespace}`,
          `--kubeconfig=${options.kubeconfig}`,
          `--listen-health=127.0.0.1:${healthPort}`,
          `--log-level=${options.logLevel ?? 'warn'}`,
          ...(options.args ?? []),
        ],
        { env: { POD_NAME: options.name, ...options.env }, logFile },
      );
      agent.child = child;
      await waitUntil(
        `agent ${options.name} /healthz`,
        async () => (await fetch(`http://127.0.0.1:${healthPort}/healthz`)).ok,
        60_000,
        child,
      );
    },
    kill: () => killAndWait(agent.child, 'SIGKILL'),
    stop: () => killAndWait(agent.child, 'SIGTERM'),
    async metrics() {
      const res = await fetch(`http://127.0.0.1:${healthPort}/metrics`);
      return res.text();
    },
    async metric(name: string) {
      return metricValue(await agent.metrics(), name);
    },
  };
  await agent.start();
  return agent;
}

/** The value of an unlabelled sample `name` in Prometheus text format. */
export function metricValue(text: string, name: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1).split(' ')[0]);
  }
  return undefined;
}
