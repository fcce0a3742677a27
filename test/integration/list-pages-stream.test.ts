/**
 * listPages hands items over while a list page is still arriving (src/kube/list-items.ts),
 * against a real HTTP server that holds the rest of the page back until the first item was
 * delivered: a helper that parses whole pages never sees it, and this test times out.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createKubeClients, type KubeClients } from '../../src/kube/clients.ts';
import { listPages } from '../../src/kube/watch.ts';

let server: Server;
let clients: KubeClients;
let firstDelivered!: () => void;
const delivered = new Promise<void>((r) => {
  firstDelivered = r;
});
const requests: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    const page2 = (req.url ?? '').includes('continue=');
    if (page2) {
      res.end('{"kind":"NodeList","metadata":{"resourceVersion":"8"},"items":[{"metadata":{"name":"c"}}]}');
      return;
    }
    res.write('{"kind":"NodeList","apiVersion":"v1","metadata":{"resourceVersion":"7","continue":"t1"},');
    res.write('"items":[{"metadata":{"name":"a","labels":{"x":"]}"}}},');
    // The rest only once "a" reached the caller.
    void delivered.then(() => res.end('{"metadata":{"name":"b"}}]}'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    // client-node refuses plain http unless TLS checks are off (nothing to check here).
    clusters: [
      {
        name: 'c',
        server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        skipTLSVerify: true,
      },
    ],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  clients = createKubeClients(kc);
});

afterAll(async () => {
  await clients.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

it('delivers the items of a page while it streams, then follows the continue token', async () => {
  const seen: string[] = [];
  const rv = await listPages<{ metadata: { name: string; labels?: Record<string, string> } }>(
    clients,
    '/api/v1/nodes',
    {},
    AbortSignal.timeout(10_000),
    (items) => {
      for (const item of items) {
        seen.push(item.metadata.name);
        if (item.metadata.name === 'a') {
          expect(item.metadata.labels).toEqual({ x: ']}' });
          firstDelivered();
        }
      }
    },
  );
  expect(seen).toEqual(['a', 'b', 'c']);
  expect(rv).toBe('8');
  expect(requests).toHaveLength(2);
  expect(requests[1]).toContain('continue=t1');
});
