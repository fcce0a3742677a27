/**
 * The probe and metrics endpoint (plain node:http, one port):
 * - /healthz: liveness. Fails when the event loop was blocked longer than maxEventLoopLagMs
 *   within the last lagWindowMs (a fully stuck loop cannot answer at all; the kubelet's probe
 *   timeout covers that), or when a liveness check fails.
 * - /readyz: readiness. Runs the named checks (state store open, kube API reachable
 *   recently, ...); 503 naming every failing check.
 * - /metrics: the agent's Prometheus registry.
 * Bodies follow kube-apiserver's probe style: `[+]name ok` / `[-]name failed: reason`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.ts';

/** A check passes by returning true / {ok: true}; false, {ok: false}, a throw or a timeout fail it. */
export interface HealthCheck {
  name: string;
  check: () =>
    | boolean
    | { ok: boolean; message?: string }
    | Promise<boolean | { ok: boolean; message?: string }>;
}

export interface HealthServerOptions {
  registry?: Registry;
  readinessChecks?: HealthCheck[];
  livenessChecks?: HealthCheck[];
  /** Event-loop blocking that makes /healthz fail; default 5000 ms. */
  maxEventLoopLagMs?: number;
  /** How long a seen blockage keeps /healthz failing; default 30000 ms. */
  lagWindowMs?: number;
  /** Per-check time limit; default 2000 ms. */
  checkTimeoutMs?: number;
  log?: Logger;
}

export interface HealthServer {
  server: Server;
  /** Listens on `[host]:port` (`:8080`, `127.0.0.1:0`, `[::1]:8080`); resolves with the bound address. */
  listen(address: string): Promise<{ host: string; port: number }>;
  /** Adds a readiness check later (e.g. once the state store is open). */
  addReadinessCheck(check: HealthCheck): void;
  /** Runs the readiness checks as /readyz does; `failing` names each failed check with its message. */
  readiness(): Promise<{ ok: boolean; failing: string[] }>;
  close(): Promise<void>;
}

/** `[host]:port` -> parts; an empty host means all interfaces. */
export function parseListenAddress(address: string): { host: string | undefined; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (!m || port > 65_535) throw new Error(`invalid listen address "${address}", expected [host]:port`);
  const host = m[1] ?? m[2];
  return { host: host ? host : undefined, port };
}

/**
 * A readiness check that passes while `markSuccess()` was called within `maxAgeMs`, e.g.
 * "kube API reachable recently": every successful API call or watch event marks it. Ages are
 * measured on the monotonic clock: a wall-clock step must not make the agent unready.
 */
export function recencyCheck(name: string, maxAgeMs: number, now: () => number = () => performance.now()) {
  let last: number | undefined;
  return {
    name,
    markSuccess(): void {
      last = now();
    },
    check: () => {
      if (last === undefined) return { ok: false, message: 'never succeeded' };
      const age = now() - last;
      return age <= maxAgeMs
        ? { ok: true }
        : { ok: false, message: `last success ${Math.round(age / 1000)}s ago` };
    },
  } satisfies HealthCheck & { markSuccess(): void };
}

/** Watches the event loop: a 250 ms ticker whose lateness is the loop's lag. */
function startLagMonitor(windowMs: number) {
  const tickMs = 250;
  const samples: { at: number; lag: number }[] = [];
  let expected = performance.now() + tickMs;
  const timer = setInterval(() => {
    const now = performance.now();
    samples.push({ at: now, lag: Math.max(0, now - expected) });
    expected = now + tickMs;
    while (samples.length && (samples[0] as { at: number }).at < now - windowMs) samples.shift();
  }, tickMs);
  timer.unref();
  return {
    /** Largest lag in the window, including a blockage still going on (a late tick). */
    maxLag(): number {
      const pending = Math.max(0, performance.now() - expected);
      return samples.reduce((max, s) => Math.max(max, s.lag), pending);
    },
    stop: () => clearInterval(timer),
  };
}

async function runCheck(check: HealthCheck, timeoutMs: number): Promise<{ ok: boolean; message?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ ok: false; message: string }>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, message: `timed out after ${timeoutMs} ms` }), timeoutMs);
  });
  try {
    const result = await Promise.race([Promise.resolve().then(check.check), timeout]);
    return typeof result === 'boolean' ? { ok: result } : result;
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

export function createHealthServer(options: HealthServerOptions = {}): HealthServer {
  const readiness = [...(options.readinessChecks ?? [])];
  const liveness = [...(options.livenessChecks ?? [])];
  const maxLagMs = options.maxEventLoopLagMs ?? 5000;
  const timeoutMs = options.checkTimeoutMs ?? 2000;
  const lag = startLagMonitor(options.lagWindowMs ?? 30_000);

  const runAll = (checks: HealthCheck[]) =>
    Promise.all(checks.map(async (c) => ({ name: c.name, ...(await runCheck(c, timeoutMs)) })));

  async function probe(checks: HealthCheck[], res: ServerResponse, extra: string[] = [], extraOk = true) {
    const results = await runAll(checks);
    const lines = [
      ...extra,
      ...results.map((r) =>
        r.ok ? `[+]${r.name} ok` : `[-]${r.name} failed${r.message ? `: ${r.message}` : ''}`,
      ),
    ];
    const failed = results.filter((r) => !r.ok).map((r) => r.name);
    const ok = extraOk && failed.length === 0;
    if (!ok) options.log?.warn({ failed, path: res.req.url }, 'health probe failed');
    res.writeHead(ok ? 200 : 503, {
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
    });
    res.end(`${lines.join('\n')}${lines.length ? '\n' : ''}${ok ? 'ok' : `failed: ${failed.join(', ')}`}\n`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz' || path === '/livez') {
      const worst = lag.maxLag();
      const loopOk = worst <= maxLagMs;
      const line = loopOk
        ? '[+]event-loop ok'
        : `[-]event-loop failed: blocked for ${Math.round(worst)} ms (limit ${maxLagMs} ms)`;
      await probe(liveness, res, [line], loopOk);
    } else if (path === '/readyz') {
      await probe(readiness, res);
    } else if (path === '/metrics' && options.registry) {
      const body = await options.registry.metrics();
      res.writeHead(200, { 'content-type': options.registry.contentType }).end(body);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      options.log?.error({ err }, 'health server request failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  // Probes must not keep connections (or the process) alive.
  server.keepAliveTimeout = 5_000;

  return {
    server,
    listen(address: string) {
      const { host, port } = parseListenAddress(address);
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const bound = server.address() as AddressInfo;
          resolve({ host: bound.address, port: bound.port });
        });
      });
    },
    addReadinessCheck(check: HealthCheck) {
      readiness.push(check);
    },
    async readiness() {
      const failing = (await runAll(readiness))
        .filter((r) => !r.ok)
        .map((r) => (r.message ? `${r.name}: ${r.message}` : r.name));
      return { ok: failing.length === 0, failing };
    },
    close() {
      lag.stop();
      if (!server.listening) return Promise.resolve();
      return new Promise((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
