/**
 * ControlPlaneClient against real node:http(s) servers on 127.0.0.1 that misbehave on
 * purpose: slow, truncated, oversized, non-JSON, wrong status codes, gzip, TLS with a private
 * CA, an HTTPS proxy, and a Kubernetes-style Secret rotation of the key file.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKeySource,
  ControlPlaneClient,
  type ControlPlaneClientOptions,
} from '../../src/controlplane/index.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  url: string;
  port: number;
  seen: Array<{
    method: string;
    url: string;
    authorization: string | undefined;
    acceptEncoding: string | undefined;
  }>;
  server: Server;
}

const servers: Server[] = [];
const clients: ControlPlaneClient[] = [];
const keySources: ApiKeySource[] = [];
const dir = mkdtempSync(join(tmpdir(), 'cp-client-'));

async function listen(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function startServer(handler: Handler): Promise<TestServer> {
  const seen: TestServer['seen'] = [];
  const server = createServer((req, res) => {
    seen.push({
      method: req.method ?? '',
      url: req.url ?? '',
      authorization: req.headers.authorization,
      acceptEncoding: req.headers['accept-encoding'],
    });
    handler(req, res);
  });
  const port = await listen(server);
  return { url: `http://127.0.0.1:${port}`, port, seen, server };
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function newKey(): string {
  return `co_${randomBytes(4).toString('hex')}_${randomBytes(24).toString('hex')}`;
}

function keyFile(key = newKey()): { path: string; key: string } {
  const path = join(mkdtempSync(join(dir, 'key-')), 'api-key');
  writeFileSync(path, `${key}\n`);
  return { path, key };
}

function client(
  baseUrl: string,
  keyPath: string,
  extra: Partial<ControlPlaneClientOptions> = {},
): ControlPlaneClient {
  const apiKey = new ApiKeySource({ path: keyPath });
  keySources.push(apiKey);
  const c = new ControlPlaneClient({ baseUrl, apiKey, allowInsecureHttp: true, env: {}, ...extra });
  clients.push(c);
  return c;
}

async function caught(
  p: Promise<unknown>,
): Promise<Error & { code: string; retryable: boolean; retryAfterMs?: number }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code: string; retryable: boolean };
  }
  throw new Error('expected a rejection');
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  for (const k of keySources.splice(0)) k.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const envelope = {
  id: '5b0c7a52-4e62-4a53-9d4f-5d2a2b1f4c11',
  type: 'cordon_node',
  payload: { nodeName: 'n1' },
  createdAt: '2026-01-01T00:00:00Z',
};

describe('ControlPlaneClient requests', () => {
  it('polls with the bearer key, wait parameter, gzip accepted, under the base path', async () => {
    const srv = await startServer((_req, res) => json(res, 200, { actions: [envelope] }));
    const { path, key } = keyFile();
    const polled = await client(`${srv.url}/prefix`, path).pollActions(7);
    expect(polled).toEqual({ actions: [envelope], clockSkewMs: 0 }); // same machine: no skew
    expect(srv.seen[0]).toEqual({
      method: 'GET',
      url: '/prefix/api/v1/agent/actions?wait=7',
      authorization: `Bearer ${key}`,
      acceptEncoding: 'gzip',
    });
  });

  it('posts status reports, instances, events and heartbeats as JSON', async () => {
    const bodies: unknown[] = [];
    const srv = await startServer((req, res) => {
      let text = '';
      req.on('data', (c) => {
        text += c;
      });
      req.on('end', () => {
        bodies.push({ url: req.url, type: req.headers['content-type'], body: JSON.parse(text) });
        if (req.url?.endsWith('/instances')) json(res, 200, { accepted: true, resync: true });
        else if (req.url?.endsWith('/heartbeat')) json(res, 200, { settings: { pollWait: 10 } });
        else res.writeHead(204).end();
      });
    });
    const c = client(srv.url, keyFile().path);
    await c.reportStatus(envelope.id, { state: 'succeeded', message: 'ok' });
    expect(
      await c.sendInstances({
        seq: 3,
        full: true,
        instances: [
          { nodeName: 'n', nodeUid: 'u', lifecycle: 'spot', ready: true, schedulable: true, agentTaints: [] },
        ],
        removed: [],
      }),
    ).toEqual({ accepted: true, resync: true });
    const ev = {
      id: envelope.id,
      timestamp: '2026-01-01T00:00:00Z',
      event: 'drained',
      resource: 'node/n',
      message: '',
    };
    await c.sendEvents([ev]);
    expect(await c.heartbeat({ agentVersion: '0.1.0', outboxDepth: 0 })).toEqual({ pollWait: 10 });
    expect(bodies).toEqual([
      {
        url: `/api/v1/agent/actions/${envelope.id}/status`,
        type: 'application/json',
        body: { state: 'succeeded', message: 'ok' },
      },
      expect.objectContaining({ url: '/api/v1/agent/instances', body: expect.objectContaining({ seq: 3 }) }),
      { url: '/api/v1/agent/events', type: 'application/json', body: { events: [ev] } },
      expect.objectContaining({ url: '/api/v1/agent/heartbeat' }),
    ]);
  });

  it('refuses to send a body that does not match the contract', async () => {
    const srv = await startServer((_req, res) => res.writeHead(204).end());
    const err = await caught(client(srv.url, keyFile().path).reportStatus('x', { state: 'nope' } as never));
    expect(err.code).toBe('CP_INVALID_REQUEST');
    expect(srv.seen).toHaveLength(0);
  });

  it('decodes a gzip response', async () => {
    const srv = await startServer((_req, res) => {
      const body = gzipSync(JSON.stringify({ actions: [envelope, envelope] }));
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'content-length': body.length,
      });
      res.end(body);
    });
    expect((await client(srv.url, keyFile().path).pollActions(0)).actions).toHaveLength(2);
  });

  it("measures the agent's clock skew from the poll response's Date header", async () => {
    // A control plane whose clock is 3 h behind this machine's: the agent is 3 h ahead.
    const behind = 3 * 3_600_000;
    const srv = await startServer((_req, res) => {
      res.setHeader('date', new Date(Date.now() - behind).toUTCString());
      json(res, 200, { actions: [envelope] });
    });
    const { clockSkewMs } = await client(srv.url, keyFile().path).pollActions(0);
    expect(Math.abs(clockSkewMs - behind)).toBeLessThanOrEqual(1_000);
  });

  it('caps the decompressed size too (gzip bomb)', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const srv = await startServer((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': bomb.length });
      res.end(bomb);
    });
    const err = await caught(
      client(srv.url, keyFile().path, { maxResponseBytes: 2 * 1024 * 1024 }).pollActions(0),
    );
    expect(err.code).toBe('CP_RESPONSE_TOO_LARGE');
    expect(err.message).toMatch(/decompression/);
  });

  it('times out a server that never answers (headers timeout) and long-polls get wait + margin', async () => {
    const srv = await startServer(() => {
      // never answers
    });
    const c = client(srv.url, keyFile().path, { requestTimeoutMs: 300, longPollMarginMs: 400 });
    let t0 = performance.now();
    const err = await caught(c.reportStatus(envelope.id, { state: 'running', message: '' }));
    expect(err.code).toBe('CP_TIMEOUT');
    expect(performance.now() - t0).toBeLessThan(3000);

    t0 = performance.now();
    const pollErr = await caught(c.pollActions(1));
    const elapsed = performance.now() - t0;
    expect(pollErr.code).toBe('CP_TIMEOUT');
    expect(elapsed).toBeGreaterThanOrEqual(1300);
    expect(elapsed).toBeLessThan(5000);
  });

  it('times out a body that stalls mid-way', async () => {
    const srv = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 100 });
      res.write('{"actions":');
    });
    const t0 = performance.now();
    const c = client(srv.url, keyFile().path, { requestTimeoutMs: 400, longPollMarginMs: 400 });
    const err = await caught(c.pollActions(0));
    expect(err.code).toBe('CP_TIMEOUT');
    expect(err.message).toMatch(/body/);
    expect(performance.now() - t0).toBeLessThan(4000);
  });

  it('reports a truncated body (Content-Length larger than what was sent, then the socket dies)', async () => {
    const srv = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1000 });
      res.write('{"actions":[', () => res.socket?.destroy());
    });
    const err = await caught(client(srv.url, keyFile().path).pollActions(0));
    expect(err.code).toBe('CP_BAD_RESPONSE');
    expect(err.message).toMatch(/truncated/);
  });

  describe('oversized bodies are refused without buffering them', () => {
    const total = 100 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x61);

    async function streamingServer(declareLength: boolean) {
      const state = { written: 0, closed: false };
      const srv = await startServer((_req, res) => {
        res.writeHead(200, declareLength ? { 'content-length': total } : {});
        res.on('close', () => {
          state.closed = true;
        });
        const pump = () => {
          while (state.written < total && !res.destroyed) {
            state.written += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          if (state.written >= total) res.end();
        };
        pump();
      });
      return { srv, state };
    }

    for (const declareLength of [false, true]) {
      it(`100 MiB ${declareLength ? 'with' : 'without'} Content-Length → CP_RESPONSE_TOO_LARGE, fast, connection dropped`, async () => {
        const { srv, state } = await streamingServer(declareLength);
        const c = client(srv.url, keyFile().path);
        const memBefore = process.memoryUsage();
        const t0 = performance.now();
        const err = await caught(c.pollActions(0));
        const elapsed = performance.now() - t0;
        const memAfter = process.memoryUsage();
        expect(err.code).toBe('CP_RESPONSE_TOO_LARGE');
        expect(elapsed).toBeLessThan(5000);
        // The client stopped reading: the server could not push the 100 MiB through.
        await expect.poll(() => state.closed, { timeout: 3000 }).toBe(true);
        expect(state.written).toBeLessThan(40 * 1024 * 1024);
        // Nothing near 100 MiB was held (the cap is 10 MiB).
        expect(memAfter.arrayBuffers - memBefore.arrayBuffers).toBeLessThan(40 * 1024 * 1024);
        expect(memAfter.heapUsed - memBefore.heapUsed).toBeLessThan(40 * 1024 * 1024);
      });
    }
  });

  it('non-JSON and contract-mismatched responses → CP_BAD_RESPONSE', async () => {
    let mode = 'html';
    const srv = await startServer((_req, res) => {
      if (mode === 'html') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html><body>Proxy login required</body></html>');
      } else if (mode === 'shape') json(res, 200, { actions: 'nope' });
      else res.writeHead(200).end();
    });
    const c = client(srv.url, keyFile().path);
    let err = await caught(c.pollActions(0));
    expect(err.code).toBe('CP_BAD_RESPONSE');
    expect(err.message).toMatch(/not JSON.*text\/html.*Proxy login required/);
    mode = 'shape';
    err = await caught(c.pollActions(0));
    expect(err.code).toBe('CP_BAD_RESPONSE');
    expect(err.message).toMatch(/contract.*actions/);
    mode = 'empty';
    err = await caught(c.pollActions(0));
    expect(err.code).toBe('CP_BAD_RESPONSE');
  });

  it('maps HTTP statuses to stable codes', async () => {
    let status = 0;
    let headers: Record<string, string> = {};
    const srv = await startServer((_req, res) => {
      if (status === 302) {
        res.writeHead(302, { location: 'https://elsewhere.example/' }).end();
        return;
      }
      json(res, status, { error: { code: `server_${status}`, message: 'explained' } }, headers);
    });
    const c = client(srv.url, keyFile().path);
    const cases: Array<[number, string, boolean]> = [
      [401, 'CP_UNAUTHORIZED', true],
      [403, 'CP_UNAUTHORIZED', true],
      [404, 'CP_NOT_FOUND', false],
      [409, 'CP_CONFLICT', false],
      [400, 'CP_REJECTED', false],
      [422, 'CP_REJECTED', false],
      [408, 'CP_TIMEOUT', true],
      [500, 'CP_SERVER_ERROR', true],
      [503, 'CP_SERVER_ERROR', true],
      [302, 'CP_BAD_RESPONSE', true],
    ];
    for (const [s, code, retryable] of cases) {
      status = s;
      const err = await caught(c.reportStatus(envelope.id, { state: 'running', message: '' }));
      expect([s, err.code, err.retryable]).toEqual([s, code, retryable]);
      if (s !== 302) expect(err.message).toContain(`server_${s}: explained`);
    }
    status = 429;
    headers = { 'retry-after': '7' };
    const limited = await caught(c.pollActions(0));
    expect(limited.code).toBe('CP_RATE_LIMITED');
    expect(limited.retryAfterMs).toBe(7000);
    // Redirects are not followed: the key must not travel to another host.
    expect(srv.seen.every((r) => r.url.startsWith('/api/'))).toBe(true);
  });

  it('never puts the key into an error, even when the server echoes it back', async () => {
    let mode = 0;
    const srv = await startServer((req, res) => {
      const echoed = `you sent ${req.headers.authorization}`;
      if (mode === 0) json(res, 401, { error: { code: 'bad_key', message: echoed } });
      else if (mode === 1) res.writeHead(200, { 'content-type': 'text/plain' }).end(echoed);
      else if (mode === 2) res.writeHead(500, { 'content-type': 'text/plain' }).end(echoed);
      else json(res, 200, { actions: echoed });
    });
    const { path, key } = keyFile();
    const secret = key.split('_').at(-1)!;
    const c = client(srv.url, path);
    for (mode = 0; mode < 4; mode++) {
      const err = await caught(c.pollActions(0));
      const everything = [err.message, err.stack, String(err.cause), JSON.stringify(err)].join('\n');
      expect(everything).not.toContain(secret);
      if (mode < 3) expect(err.message).toContain('[REDACTED]');
    }
  });

  it('connection refused → CP_NETWORK', async () => {
    const srv = await startServer(() => {});
    srv.server.close();
    await new Promise((r) => setTimeout(r, 50));
    const err = await caught(client(srv.url, keyFile().path).pollActions(0));
    expect(err.code).toBe('CP_NETWORK');
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('a caller abort rejects with the abort reason, not a control-plane error', async () => {
    const srv = await startServer(() => {});
    const controller = new AbortController();
    const p = client(srv.url, keyFile().path).pollActions(20, controller.signal);
    setTimeout(() => controller.abort(new Error('leadership lost')), 100);
    const err = await caught(p);
    expect(err.message).toBe('leadership lost');
  });

  it('refuses plain http unless allowInsecureHttp is set, and bad URLs', () => {
    const { path } = keyFile();
    const apiKey = new ApiKeySource({ path, watch: false });
    expect(() => new ControlPlaneClient({ baseUrl: 'http://cp.example.com', apiKey })).toThrow(
      expect.objectContaining({
        code: 'CP_INSECURE_URL',
        message: expect.stringMatching(/allowInsecureHttp/),
      }),
    );
    expect(() => new ControlPlaneClient({ baseUrl: 'ftp://cp.example.com', apiKey })).toThrow(
      expect.objectContaining({ code: 'CP_CONFIG' }),
    );
    expect(() => new ControlPlaneClient({ baseUrl: 'not a url', apiKey })).toThrow(
      expect.objectContaining({ code: 'CP_CONFIG' }),
    );
    expect(
      () =>
        new ControlPlaneClient({ baseUrl: 'https://cp.example.com', apiKey, caFile: join(dir, 'none.pem') }),
    ).toThrow(expect.objectContaining({ code: 'CP_CONFIG', message: expect.stringContaining('none.pem') }));
  });
});

describe('TLS and proxy', () => {
  let ca: string;
  let tlsKey: string;
  let tlsCert: string;

  /** A private CA and a server certificate for 127.0.0.1 signed by it. */
  function privateCa(name: string): { ca: string; key: string; cert: string } {
    const d = mkdtempSync(join(dir, `tls-${name}-`));
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: d, stdio: 'pipe' });
    const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    run([
      'req',
      '-x509',
      ...ecKey,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      `/CN=${name}-ca`,
    ]);
    run(['req', ...ecKey, '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1']);
    writeFileSync(join(d, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
    run([
      'x509',
      '-req',
      '-in',
      'srv.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'srv.pem',
      '-days',
      '1',
      '-extfile',
      'ext.cnf',
    ]);
    return {
      ca: join(d, 'ca.pem'),
      key: readFileSync(join(d, 'srv.key'), 'utf8'),
      cert: readFileSync(join(d, 'srv.pem'), 'utf8'),
    };
  }

  beforeAll(() => {
    ({ ca, key: tlsKey, cert: tlsCert } = privateCa('test'));
  });

  async function httpsServer(
    identity: { key: string; cert: string } = { key: tlsKey, cert: tlsCert },
  ): Promise<{ url: string; port: number; hits: () => number }> {
    let hits = 0;
    const server = createHttpsServer({ key: identity.key, cert: identity.cert }, (_req, res) => {
      hits++;
      json(res, 200, { actions: [] });
    });
    const port = await listen(server as unknown as Server);
    return { url: `https://127.0.0.1:${port}`, port, hits: () => hits };
  }

  it('trusts the CA bundle file, and only it', async () => {
    const srv = await httpsServer();
    const { path } = keyFile();
    const noCa = await caught(client(srv.url, path, { allowInsecureHttp: false }).pollActions(0));
    expect(noCa.code).toBe('CP_TLS');
    expect(
      (await client(srv.url, path, { allowInsecureHttp: false, caFile: ca }).pollActions(0)).actions,
    ).toEqual([]);
  });

  it('appends the CA bundle to the default CAs instead of replacing them', async () => {
    // Another CA among the process's default ones (as a public CA is): a server it signed must
    // stay trusted when caFile names a private CA (e.g. a TLS-inspecting proxy's).
    const other = privateCa('default');
    const defaults = getCACertificates('default');
    setDefaultCACertificates([...defaults, readFileSync(other.ca, 'utf8')]);
    try {
      const publicish = await httpsServer(other);
      const privateSrv = await httpsServer();
      const { path } = keyFile();
      const c = client(publicish.url, path, { allowInsecureHttp: false, caFile: ca });
      expect((await c.pollActions(0)).actions).toEqual([]);
      const p = client(privateSrv.url, path, { allowInsecureHttp: false, caFile: ca });
      expect((await p.pollActions(0)).actions).toEqual([]);
    } finally {
      setDefaultCACertificates(defaults);
    }
  });

  it('goes through HTTPS_PROXY with CONNECT, and not for NO_PROXY hosts', async () => {
    const srv = await httpsServer();
    const connects: string[] = [];
    const proxy = createServer((_req, res) => res.writeHead(405).end());
    proxy.on('connect', (req, socket, head) => {
      connects.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = netConnect(Number(port), host, () => {
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    });
    const proxyPort = await listen(proxy);
    const { path } = keyFile();
    const proxied = client(srv.url, path, {
      caFile: ca,
      env: { HTTPS_PROXY: `http://127.0.0.1:${proxyPort}` },
    });
    expect((await proxied.pollActions(0)).actions).toEqual([]);
    expect(connects).toEqual([`127.0.0.1:${srv.port}`]);
    const direct = client(srv.url, path, {
      caFile: ca,
      env: { HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`, NO_PROXY: '127.0.0.1' },
    });
    expect((await direct.pollActions(0)).actions).toEqual([]);
    expect(connects).toHaveLength(1);
    expect(srv.hits()).toBe(2);
  });
});

describe('ApiKeySource', () => {
  /** The layout kubelet writes for a Secret volume, and its atomic update. */
  function secretVolume(key: string) {
    const volume = mkdtempSync(join(dir, 'secret-'));
    let n = 0;
    const writeVersion = (k: string) => {
      const version = `..2026_01_01_00_00_0${n++}.${randomBytes(3).toString('hex')}`;
      mkdirSync(join(volume, version));
      writeFileSync(join(volume, version, 'api-key'), k);
      return version;
    };
    symlinkSync(writeVersion(key), join(volume, '..data'));
    symlinkSync('..data/api-key', join(volume, 'api-key'));
    return {
      path: join(volume, 'api-key'),
      rotate(k: string) {
        const version = writeVersion(k);
        symlinkSync(version, join(volume, '..data_tmp'));
        renameSync(join(volume, '..data_tmp'), join(volume, '..data'));
      },
    };
  }

  it('picks up a Kubernetes-style Secret rotation: watch event and next request', async () => {
    const first = newKey();
    const second = newKey();
    const volume = secretVolume(first);
    const srv = await startServer((_req, res) => json(res, 200, { actions: [] }));
    const c = client(srv.url, volume.path);
    const source = keySources.at(-1)!;
    await c.pollActions(0);
    const changed = new Promise<void>((resolve) => source.onChange(resolve));
    volume.rotate(second);
    await changed; // fs.watch saw the ..data rename and re-read the file
    await c.pollActions(0);
    expect(srv.seen.map((r) => r.authorization)).toEqual([`Bearer ${first}`, `Bearer ${second}`]);
  });

  it('falls back to a stat check when watching is off', () => {
    const first = newKey();
    const second = newKey();
    const volume = secretVolume(first);
    const source = new ApiKeySource({ path: volume.path, watch: false });
    expect(source.current()).toBe(first);
    volume.rotate(second);
    expect(source.current()).toBe(second);
    expect(source.describe()).toBe(`${second.slice(0, 11)}_…`);
  });

  it('errors name the file, never its content; a later failure keeps the last good key', () => {
    const volume = mkdtempSync(join(dir, 'bad-'));
    const path = join(volume, 'api-key');
    const secret = `co_abcdefgh_${randomBytes(16).toString('hex')}`;
    writeFileSync(path, `${secret} with spaces`);
    const source = new ApiKeySource({ path, watch: false });
    try {
      source.current();
      expect.unreachable();
    } catch (err) {
      expect((err as { code: string }).code).toBe('CP_API_KEY_UNAVAILABLE');
      expect((err as Error).message).toContain(path);
      expect(`${(err as Error).message}${(err as Error).stack}`).not.toContain(secret.slice(12));
    }
    writeFileSync(path, `  ${secret}\n`);
    expect(source.current()).toBe(secret);
    rmSync(path);
    expect(source.current()).toBe(secret);
    expect(() => new ApiKeySource({ path: join(volume, 'missing'), watch: false }).current()).toThrow(
      expect.objectContaining({ code: 'CP_API_KEY_UNAVAILABLE', message: expect.stringContaining('ENOENT') }),
    );
  });
});
