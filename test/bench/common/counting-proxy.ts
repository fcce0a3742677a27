/**
 * A plain HTTP reverse proxy that counts the agent's requests to the control plane by route
 * (server side: what the control plane would see), so a benchmark can report requests per
 * minute without touching the agent or the control plane.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type RouteName = 'poll' | 'status' | 'heartbeat' | 'instances' | 'events' | 'other';

export function routeOf(method: string, path: string): RouteName {
  if (method === 'GET' && path.startsWith('/api/v1/agent/actions')) return 'poll';
  // Both status routes: per action (…/actions/{id}/status) and the batch (…/actions/status).
  if (method === 'POST' && /^\/api\/v1\/agent\/actions\/([^/]+\/)?status/.test(path)) return 'status';
  if (path.startsWith('/api/v1/agent/heartbeat')) return 'heartbeat';
  if (path.startsWith('/api/v1/agent/instances')) return 'instances';
  if (path.startsWith('/api/v1/agent/events')) return 'events';
  return 'other';
}

export interface CountingProxy {
  url: string;
  counts: Record<RouteName, number>;
  reset(): void;
  total(): number;
  close(): Promise<void>;
}

/**
 * `delayMs` holds each request that long before forwarding it: a stand-in for the round trip
 * to a control plane across the internet (the reference one runs on localhost).
 */
export async function startCountingProxy(
  target: string,
  options: { delayMs?: number } = {},
): Promise<CountingProxy> {
  const upstream = new URL(target);
  const counts: Record<RouteName, number> = {
    poll: 0,
    status: 0,
    heartbeat: 0,
    instances: 0,
    events: 0,
    other: 0,
  };
  const server: Server = createServer(async (req, res) => {
    counts[routeOf(req.method ?? 'GET', req.url ?? '/')]++;
    if (options.delayMs) {
      req.pause();
      await new Promise((r) => setTimeout(r, options.delayMs));
      req.resume();
    }
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
      },
    );
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(out);
    res.on('close', () => out.destroy());
  });
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    reset() {
      for (const k of Object.keys(counts) as RouteName[]) counts[k] = 0;
    },
    total: () => Object.values(counts).reduce((a, b) => a + b, 0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
