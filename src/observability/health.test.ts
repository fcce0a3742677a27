import { afterEach, describe, expect, it } from 'vitest';
import { createHealthServer, type HealthServer, parseListenAddress, recencyCheck } from './health.ts';
import { createMetrics } from './metrics.ts';

let server: HealthServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: Parameters<typeof createHealthServer>[0]) {
  server = createHealthServer(options);
  const { port } = await server.listen('127.0.0.1:0');
  return async (path: string, method = 'GET') => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
    return { status: res.status, body: await res.text(), type: res.headers.get('content-type') };
  };
}

function blockEventLoop(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // Busy wait: nothing else may run.
  }
}

describe('health server', () => {
  it('/readyz lists checks and fails with 503 naming the failing ones', async () => {
    let storeOpen = false;
    const kubeApi = recencyCheck('kube-api', 60_000);
    const get = await start({
      readinessChecks: [
        { name: 'state-store', check: () => storeOpen },
        kubeApi,
        { name: 'throws', check: () => (storeOpen ? true : Promise.reject(new Error('boom'))) },
      ],
    });
    const before = await get('/readyz');
    expect(before.status).toBe(503);
    expect(before.body).toContain('[-]state-store failed');
    expect(before.body).toContain('[-]kube-api failed: never succeeded');
    expect(before.body).toContain('[-]throws failed: boom');
    expect(before.body).toMatch(/failed: state-store, kube-api, throws\n$/);

    storeOpen = true;
    kubeApi.markSuccess();
    const after = await get('/readyz');
    expect(after.status).toBe(200);
    expect(after.body).toBe('[+]state-store ok\n[+]kube-api ok\n[+]throws ok\nok\n');
  });

  it('a check that hangs fails on its timeout instead of hanging the probe', async () => {
    const get = await start({
      checkTimeoutMs: 100,
      readinessChecks: [{ name: 'slow', check: () => new Promise<boolean>(() => undefined) }],
    });
    const res = await get('/readyz');
    expect(res.status).toBe(503);
    expect(res.body).toContain('[-]slow failed: timed out after 100 ms');
  });

  it('checks added later count', async () => {
    const get = await start({});
    expect((await get('/readyz')).status).toBe(200);
    server?.addReadinessCheck({ name: 'late', check: () => ({ ok: false, message: 'not yet' }) });
    expect((await get('/readyz')).body).toContain('[-]late failed: not yet');
  });

  it('/healthz fails after the event loop was blocked, and recovers after the window', async () => {
    const get = await start({ maxEventLoopLagMs: 300, lagWindowMs: 1500 });
    expect((await get('/healthz')).status).toBe(200);
    blockEventLoop(800);
    const blocked = await get('/healthz');
    expect(blocked.status).toBe(503);
    expect(blocked.body).toMatch(/\[-\]event-loop failed: blocked for \d+ ms \(limit 300 ms\)/);
    await new Promise((r) => setTimeout(r, 1800));
    const healthy = await get('/healthz');
    expect(healthy.status).toBe(200);
    expect(healthy.body).toContain('[+]event-loop ok');
  });

  it('/healthz also runs liveness checks', async () => {
    const get = await start({ livenessChecks: [{ name: 'controllers', check: () => false }] });
    const res = await get('/healthz');
    expect(res.status).toBe(503);
    expect(res.body).toContain('[-]controllers failed');
  });

  it('/metrics serves the registry; other paths and methods are refused', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.leader.set(1);
    const get = await start({ registry: metrics.registry });
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain');
    expect(res.body).toContain('clusteropt_agent_leader 1');
    expect((await get('/nope')).status).toBe(404);
    expect((await get('/readyz', 'POST')).status).toBe(405);
  });
});

describe('parseListenAddress / recencyCheck', () => {
  it('parses [host]:port forms', () => {
    expect(parseListenAddress(':8080')).toEqual({ host: undefined, port: 8080 });
    expect(parseListenAddress('127.0.0.1:9')).toEqual({ host: '127.0.0.1', port: 9 });
    expect(parseListenAddress('[::1]:80')).toEqual({ host: '::1', port: 80 });
    expect(() => parseListenAddress('8080')).toThrow(/invalid listen address/);
    expect(() => parseListenAddress(':70000')).toThrow();
  });

  it('recencyCheck passes only within maxAge of the last success', () => {
    let now = 0;
    const c = recencyCheck('x', 1000, () => now);
    expect(c.check()).toEqual({ ok: false, message: 'never succeeded' });
    c.markSuccess();
    now = 1000;
    expect(c.check()).toEqual({ ok: true });
    now = 3000;
    expect(c.check()).toEqual({ ok: false, message: 'last success 3s ago' });
  });
});
