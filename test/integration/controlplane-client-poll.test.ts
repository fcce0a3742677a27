/**
 * PollLoop against real HTTP servers on 127.0.0.1: backoff on 5xx, Retry-After honoured,
 * a long backoff on 401 with one log line (and an immediate retry when the key file
 * changes), no hot loop against a server that ignores `wait`, prompt shutdown, and the API
 * key never in logs. Timing tests run concurrently to keep the file fast.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, it } from 'vitest';
import {
  ApiKeySource,
  ControlPlaneAccess,
  ControlPlaneClient,
  PollLoop,
  type PollLoopOptions,
} from '../../src/controlplane/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'cp-poll-'));
const cleanups: Array<() => void | Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.splice(0)) await c();
  rmSync(dir, { recursive: true, force: true });
});

const envelope = {
  id: '7d7f5f0e-3c1e-4a4b-8f45-2b0d1d3a9e10',
  type: 'uncordon_node',
  payload: { nodeName: 'n2' },
  createdAt: '2026-01-01T00:00:00Z',
};

async function startServer(
  handler: (req: IncomingMessage, res: ServerResponse, n: number) => void,
): Promise<{ url: string; arrivals: number[]; auth: string[] }> {
  const arrivals: number[] = [];
  const auth: string[] = [];
  const server: Server = createServer((req, res) => {
    arrivals.push(performance.now());
    auth.push(req.headers.authorization ?? '');
    handler(req, res, arrivals.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    server.close();
  });
  const address = server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}`, arrivals, auth };
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function capturedLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

function setup(url: string, key = `co_${randomBytes(4).toString('hex')}_${randomBytes(20).toString('hex')}`) {
  const keyDir = mkdtempSync(join(dir, 'key-'));
  const keyPath = join(keyDir, 'api-key');
  writeFileSync(keyPath, key);
  const { logger, lines } = capturedLogger();
  const apiKey = new ApiKeySource({ path: keyPath, logger });
  const client = new ControlPlaneClient({
    baseUrl: url,
    apiKey,
    allowInsecureHttp: true,
    env: {},
    longPollMarginMs: 2000,
  });
  cleanups.push(
    () => apiKey.close(),
    () => client.close(),
  );
  const replaceKey = (k: string) => {
    writeFileSync(`${keyPath}.new`, k);
    renameSync(`${keyPath}.new`, keyPath);
  };
  return { key, keyPath, apiKey, client, logger, lines, replaceKey };
}

function runFor(loop: PollLoop, ms: number): Promise<void> {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), ms);
  return loop.run(controller.signal);
}

describe('PollLoop', () => {
  it.concurrent('backs off on 503, then delivers the batch and logs one failure and one recovery', async ({
    expect,
  }) => {
    const srv = await startServer((_req, res, n) =>
      n === 1
        ? json(res, 503, { error: { code: 'unavailable', message: 'db down' } })
        : json(res, 200, { actions: [envelope] }),
    );
    const { client, logger, lines } = setup(srv.url);
    const controller = new AbortController();
    const batches: unknown[][] = [];
    const loop = new PollLoop({
      client,
      logger,
      waitSeconds: 1,
      backoff: { baseMs: 200, maxMs: 400 },
      onActions: (actions) => {
        batches.push(actions);
        controller.abort();
      },
    });
    await loop.run(controller.signal);
    expect(batches).toEqual([[envelope]]);
    expect(loop.counters).toEqual({
      requests: 2,
      successes: 1,
      actionsReceived: 1,
      errors: { CP_SERVER_ERROR: 1 },
    });
    const levels = lines.map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(levels.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([
      expect.stringMatching(/failing: .*HTTP 503 \(unavailable: db down\)/),
    ]);
    expect(levels.filter((l) => l.level === 30).map((l) => l.msg)).toEqual([
      expect.stringMatching(/recovered/),
    ]);
  });

  it.concurrent('tells ControlPlaneAccess what each answer says: denied on 403/401, allowed again after', async ({
    expect,
  }) => {
    const srv = await startServer((req, res, n) => {
      if (n === 1) return json(res, 200, { actions: [] });
      if (n <= 3)
        return json(res, 403, { error: { code: 'CLUSTER_DISABLED', message: 'the cluster is disabled' } });
      if (n === 4) return json(res, 401, { error: { code: 'unauthenticated', message: 'no' } });
      json(res, 200, { actions: [envelope] });
      void req;
    });
    const { client } = setup(srv.url);
    const access = new ControlPlaneAccess();
    const seen: string[] = [];
    access.onChange((state) => seen.push(state.kind === 'denied' ? `denied ${state.status}` : state.kind));
    expect(access.holdReason()).toMatch(/first answer/);
    const controller = new AbortController();
    const waits: string[] = [];
    const loop = new PollLoop({
      client,
      access,
      waitSeconds: 5,
      minIntervalMs: 0,
      unauthorizedBackoff: { minMs: 10, maxMs: 20 },
      onActions: () => controller.abort(),
    });
    const original = client.pollActions.bind(client);
    client.pollActions = (wait, signal, limit) => {
      waits.push(String(wait));
      return original(wait, signal, limit);
    };
    await loop.run(controller.signal);
    expect(seen).toEqual(['allowed', 'denied 403', 'denied 401', 'allowed']);
    // The term's first poll asks for no wait, so access is known in one round trip.
    expect(waits[0]).toBe('0');
    expect(waits[1]).toBe('5');
    expect(access.holdReason()).toBeUndefined();
  });

  it.concurrent('takes no new actions while pausedBecause gives a reason (outbox over capacity)', async ({
    expect,
  }) => {
    const srv = await startServer((_req, res) => json(res, 200, { actions: [envelope] }));
    const { client, logger, lines } = setup(srv.url);
    let full = true;
    const controller = new AbortController();
    const loop = new PollLoop({
      client,
      logger,
      waitSeconds: 1,
      pausedBecause: () => (full ? 'the outbox is over capacity' : undefined),
      pausedRecheckMs: 50,
      onActions: () => controller.abort(),
    });
    const running = loop.run(controller.signal);
    await new Promise((r) => setTimeout(r, 400));
    expect(srv.arrivals).toHaveLength(0);
    full = false;
    await running;
    expect(srv.arrivals).toHaveLength(1);
    const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(msgs.filter((m) => m.startsWith('not taking new actions'))).toHaveLength(1);
  });

  it.concurrent('honours Retry-After on 429 (measured delay >= 1 s)', async ({ expect }) => {
    const srv = await startServer((_req, res, n) =>
      n === 1
        ? json(res, 429, { error: { code: 'slow_down', message: '' } }, { 'retry-after': '1' })
        : json(res, 200, { actions: [envelope] }),
    );
    const { client } = setup(srv.url);
    const controller = new AbortController();
    // random() = 0: without Retry-After the jittered delay would be 0 ms.
    const loop = new PollLoop({
      client,
      random: () => 0,
      waitSeconds: 1,
      onActions: () => controller.abort(),
    });
    await loop.run(controller.signal);
    expect(srv.arrivals).toHaveLength(2);
    expect(srv.arrivals[1]! - srv.arrivals[0]!).toBeGreaterThanOrEqual(995);
    expect(loop.counters.errors).toEqual({ CP_RATE_LIMITED: 1 });
  });

  it.concurrent('401: backs off long with one error log line, key never logged; a new key file retries at once', async ({
    expect,
  }) => {
    let goodKey = '';
    const srv = await startServer((req, res) => {
      if (req.headers.authorization === `Bearer ${goodKey}`) return json(res, 200, { actions: [] });
      // A hostile/buggy server echoing the credential back in its error message.
      json(res, 401, { error: { code: 'bad_key', message: `key ${req.headers.authorization} is revoked` } });
    });
    const { client, apiKey, logger, lines, key, replaceKey } = setup(srv.url);
    const loop = new PollLoop({
      client,
      logger,
      waitSeconds: 1,
      onActions: () => {},
      wakeOn: (wake) => apiKey.onChange(wake),
    });
    const controller = new AbortController();
    const done = loop.run(controller.signal);
    await new Promise((r) => setTimeout(r, 3000));
    // Over 3 s: one request, not a retry storm (the floor after 401 is 30 s).
    expect(srv.arrivals.length).toBeLessThanOrEqual(3);
    expect(loop.failing).toBe('CP_UNAUTHORIZED');
    const errors = lines.filter((l) => JSON.parse(l).level === 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/CP_UNAUTHORIZED/);
    expect(errors[0]).toContain('[REDACTED]');

    goodKey = `co_${randomBytes(4).toString('hex')}_${randomBytes(20).toString('hex')}`;
    const rotatedAt = performance.now();
    replaceKey(goodKey);
    await expect.poll(() => loop.counters.successes, { timeout: 3000, interval: 20 }).toBeGreaterThan(0);
    // Far below the 30 s floor: the key change woke the loop.
    expect(srv.arrivals.at(-1)! - rotatedAt).toBeLessThan(2500);
    expect(loop.failing).toBeUndefined();
    controller.abort();
    await done;

    const logText = lines.join('\n');
    for (const k of [key, goodKey]) {
      expect(logText).not.toContain(k);
      expect(logText).not.toContain(k.split('_').at(-1));
    }
    expect(logText).toMatch(/API key changed/);
    expect(logText).toMatch(/recovered/);
  });

  it.concurrent('never hot-loops against a server that ignores wait and answers at once', async ({
    expect,
  }) => {
    const srv = await startServer((_req, res) => json(res, 200, { actions: [] }));
    const { client } = setup(srv.url);
    const loop = new PollLoop({ client, waitSeconds: 20, onActions: () => {} });
    await runFor(loop, 3200);
    // Starts at ~0, 1, 2, 3 s with the default 1 s minimum interval; a hot loop would make
    // hundreds. Server-side arrival gaps jitter with transit time on a loaded machine, so the
    // gap bound is loose; the count is the property.
    expect(loop.counters.requests).toBeLessThanOrEqual(4);
    expect(srv.arrivals.length).toBeLessThanOrEqual(4);
    expect(srv.arrivals.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < srv.arrivals.length; i++) {
      expect(srv.arrivals[i]! - srv.arrivals[i - 1]!).toBeGreaterThanOrEqual(500);
    }
    expect(srv.auth.every((a) => a.startsWith('Bearer co_'))).toBe(true);
  });

  it.concurrent('a failing callback is counted and backed off; actions are polled again', async ({
    expect,
  }) => {
    const srv = await startServer((_req, res) => json(res, 200, { actions: [envelope] }));
    const { client, logger, lines } = setup(srv.url);
    let calls = 0;
    const controller = new AbortController();
    const loop = new PollLoop({
      client,
      logger,
      minIntervalMs: 50,
      backoff: { baseMs: 100, maxMs: 100 },
      onActions: () => {
        calls++;
        if (calls === 3) controller.abort();
        throw new Error('cannot create AgentAction');
      },
    } satisfies PollLoopOptions);
    await loop.run(controller.signal);
    expect(calls).toBe(3);
    expect(loop.counters.errors).toEqual({ CALLBACK_FAILED: 2 });
    expect(lines.filter((l) => /CALLBACK_FAILED/.test(l) && JSON.parse(l).level === 40)).toHaveLength(1);
  });

  it.concurrent('stops promptly when aborted in the middle of a long poll', async ({ expect }) => {
    const srv = await startServer(() => {
      // holds the long poll open
    });
    const { client } = setup(srv.url);
    const loop = new PollLoop({ client, waitSeconds: 20, onActions: () => {} });
    const controller = new AbortController();
    const done = loop.run(controller.signal);
    await expect.poll(() => srv.arrivals.length).toBe(1);
    const t0 = performance.now();
    controller.abort();
    await done;
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(loop.counters.errors).toEqual({});
  });
});
