/**
 * The list+watch helper (src/kube/watch.ts) against the real API server: the per-item
 * transform runs on every list page as it arrives and on every watch event, raw objects are
 * not kept (neither while the list goes on, nor by the helper during the watch that
 * follows), `ready` settles when the signal aborts during the first list, and with
 * `retryFirstList` a first list that cannot reach the server is retried with backoff, one the
 * server refuses (403, 404) is logged once as an error and tried again more slowly, and a
 * watch of a CRD installed after it started begins by itself.
 */
import { connect, createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeClients } from '../../src/kube/clients.ts';
import { type KubeObject, listWatch, type WatchEventType } from '../../src/kube/watch.ts';
import { createKwokNodes, deleteNodes, loadTestKubeConfig, uniqueName, waitFor } from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const clients = createKubeClients(kc);
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

// A real full GC, so "collected" means unreachable (the V8 flag has to be set before the
// gc function is created in a new context).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface RawNode extends KubeObject {
  metadata?: { name?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string> };
}
interface Small {
  name: string;
  colour: string | undefined;
}
const small = (raw: RawNode): Small => ({
  name: raw.metadata?.name ?? '',
  colour: raw.metadata?.labels?.['clusteropt.io/colour'],
});

/**
 * A TCP proxy to the test API server (TLS passes through) that cuts the first `drop`
 * connections at once: an API server that cannot be reached for a while.
 */
async function droppingProxy(drop: number) {
  const upstream = new URL(kc.getCurrentCluster()!.server);
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (++connections <= drop) {
      socket.destroy();
      return;
    }
    const out = connect(Number(upstream.port), upstream.hostname);
    sockets.add(out);
    out.on('close', () => sockets.delete(out));
    socket.pipe(out).pipe(socket);
    socket.on('error', () => out.destroy());
    out.on('error', () => socket.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const copy = new KubeConfig();
  const port = (server.address() as { port: number }).port;
  copy.loadFromOptions({
    clusters: kc.getClusters().map((c) => ({ ...c, server: `https://127.0.0.1:${port}` })),
    users: kc.getUsers(),
    contexts: kc.getContexts(),
    currentContext: kc.getCurrentContext(),
  });
  return {
    clients: createKubeClients(copy),
    connections: () => connections,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A logger whose lines are kept (parsed) for the test to read. */
function capturingLogger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

/** What `promise` settled with within `ms`: 'resolved', its rejection reason, or 'still pending'. */
async function settleWithin(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise((r) => {
    timer = setTimeout(() => r('still pending'), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => 'resolved',
        (err: unknown) => err,
      ),
      pending,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Lets pending I/O callbacks and timers run, so WeakRefs created earlier can be cleared. */
const nextTurn = () => new Promise((r) => setTimeout(r, 20));

describe('listWatch on a real API server', () => {
  const run = uniqueName('lw');
  const selector = `clusteropt.io/list-watch-test=${run}`;
  const names = Array.from({ length: 7 }, (_, i) => `${run}-${i}`);
  const pageSize = 2;

  beforeAll(async () => {
    await createKwokNodes(kc, names, {
      labels: { 'clusteropt.io/list-watch-test': run, 'clusteropt.io/colour': 'blue' },
      managed: false,
    });
  });

  afterAll(async () => {
    await deleteNodes(kc, names);
  });

  it('transforms each page as it arrives and drops the raw objects', async () => {
    const rawRefs: WeakRef<object>[] = [];
    let listed: Small[] | undefined;
    let collectedAtList = -1;
    const events: Array<[WatchEventType, Small]> = [];
    const abort = new AbortController();
    const lw = listWatch<RawNode, Small>({
      clients,
      path: '/api/v1/nodes',
      query: { labelSelector: selector },
      pageSize,
      signal: abort.signal,
      transform: (raw) => {
        rawRefs.push(new WeakRef(raw));
        return small(raw);
      },
      onList: (items) => {
        listed = items;
        // Every raw object of the pages before the last one is garbage by now: only the
        // last page (at most pageSize objects) may still be referenced by the helper.
        gc();
        collectedAtList = rawRefs.filter((r) => r.deref() === undefined).length;
      },
      onEvent: (type, item) => events.push([type, item]),
    });
    try {
      await lw.ready;
      expect(listed?.map((n) => n.name).sort()).toEqual([...names].sort());
      expect(listed?.every((n) => n.colour === 'blue')).toBe(true);
      expect(rawRefs).toHaveLength(names.length);
      expect(collectedAtList).toBeGreaterThanOrEqual(names.length - pageSize);

      // During the watch nothing of the list stays reachable, nor the raw object of the
      // last watch event (a suspended stream once held it until the next chunk came).
      await core.patchNode(
        { name: names[2]!, body: { metadata: { labels: { 'clusteropt.io/probe': 'x' } } } },
        mergePatch,
      );
      await waitFor(() => events.some(([t, n]) => t === 'MODIFIED' && n.name === names[2]), {
        timeoutMs: 30_000,
        what: 'a watch event',
      });
      await nextTurn();
      gc();
      expect(rawRefs.filter((r) => r.deref() !== undefined)).toHaveLength(0);

      // Watch events go through the transform too, DELETED included.
      await core.patchNode(
        { name: names[0]!, body: { metadata: { labels: { 'clusteropt.io/colour': 'red' } } } },
        mergePatch,
      );
      await deleteNodes(kc, [names[1]!]);
      await waitFor(
        () =>
          events.some(([t, n]) => t === 'MODIFIED' && n.name === names[0] && n.colour === 'red') &&
          events.some(([t, n]) => t === 'DELETED' && n.name === names[1]),
        { timeoutMs: 30_000, what: 'the MODIFIED and DELETED events, transformed' },
      );
      for (const [, item] of events) expect(Object.keys(item).sort()).toEqual(['colour', 'name']);
      expect(rawRefs.length).toBe(names.length + events.length);
    } finally {
      abort.abort();
      await lw.stopped;
    }
  });

  it('without a transform, the listed objects are not kept alive by the watch that follows', async () => {
    const refs: WeakRef<object>[] = [];
    const abort = new AbortController();
    const lw = listWatch<RawNode>({
      clients,
      path: '/api/v1/nodes',
      query: { labelSelector: selector },
      pageSize,
      signal: abort.signal,
      onList: (items) => {
        refs.push(new WeakRef(items));
        for (const item of items) refs.push(new WeakRef(item));
      },
      onEvent: () => {},
    });
    try {
      await lw.ready;
      expect(refs.length).toBeGreaterThan(1);
      await nextTurn();
      gc();
      expect(refs.filter((r) => r.deref() !== undefined)).toHaveLength(0);
    } finally {
      abort.abort();
      await lw.stopped;
    }
  });

  it('ready rejects with the reason when the signal aborts during the first list', async () => {
    const abort = new AbortController();
    const reason = new Error('stop now');
    let transformed = 0;
    let listed = false;
    const lw = listWatch<RawNode, Small>({
      clients,
      path: '/api/v1/nodes',
      query: { labelSelector: selector },
      pageSize,
      signal: abort.signal,
      transform: (raw) => {
        // Abort in the middle of the list: after the first page, before the last.
        if (++transformed === 1) abort.abort(reason);
        return small(raw);
      },
      onList: () => {
        listed = true;
      },
      onEvent: () => {},
    });
    const settled = await settleWithin(lw.ready, 10_000);
    expect(settled).toBe(reason);
    expect(listed).toBe(false);
    await lw.stopped;
  });

  it('ready rejects at once when the signal was aborted before the start', async () => {
    const abort = new AbortController();
    abort.abort(new Error('already stopped'));
    const lw = listWatch<RawNode>({
      clients,
      path: '/api/v1/nodes',
      signal: abort.signal,
      onList: () => {},
      onEvent: () => {},
    });
    const settled = await settleWithin(lw.ready, 10_000);
    expect(settled instanceof Error ? settled.message : settled).toBe('already stopped');
    await lw.stopped;
  });

  it('retryFirstList: a first list that cannot reach the server is tried again until it can, warned once', async () => {
    const proxy = await droppingProxy(3);
    const { log, lines } = capturingLogger();
    const abort = new AbortController();
    let listed: Small[] | undefined;
    const lw = listWatch<RawNode, Small>({
      clients: proxy.clients,
      path: '/api/v1/nodes',
      query: { labelSelector: selector },
      signal: abort.signal,
      log,
      retryFirstList: true,
      transform: small,
      onList: (items) => {
        listed = items;
      },
      onEvent: () => {},
    });
    try {
      await lw.ready;
      expect(proxy.connections()).toBeGreaterThan(3);
      expect(listed?.map((n) => n.name)).toContain(names[2]);
      const warned = lines.filter((l) => l.msg === 'list failed; retrying');
      expect(warned).toHaveLength(1);
      expect(lines.some((l) => l.msg === 'listed after failed attempts')).toBe(true);
    } finally {
      abort.abort();
      await lw.stopped;
      await proxy.close();
      await proxy.clients.close();
    }
  });

  it('without retryFirstList (a drain), the same failing first list rejects ready at once', async () => {
    const proxy = await droppingProxy(1_000);
    const abort = new AbortController();
    const lw = listWatch<RawNode>({
      clients: proxy.clients,
      path: '/api/v1/nodes',
      query: { labelSelector: selector },
      signal: abort.signal,
      onList: () => {},
      onEvent: () => {},
    });
    try {
      const settled = await settleWithin(lw.ready, 10_000);
      expect(settled).toBeInstanceOf(Error);
      expect(proxy.connections()).toBeLessThanOrEqual(2);
      await lw.stopped;
    } finally {
      abort.abort();
      await proxy.close();
      await proxy.clients.close();
    }
  });

  it('retryFirstList: a refusal (403 Forbidden) does not end it: logged once as an error, still trying', async () => {
    // No credentials: the API server takes the request as system:anonymous, who may not list nodes.
    const anonymous = new KubeConfig();
    const cluster = kc.getCurrentCluster()!;
    anonymous.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'anonymous' }],
      contexts: [{ name: 'anonymous', cluster: cluster.name, user: 'anonymous' }],
      currentContext: 'anonymous',
    });
    const anonClients = createKubeClients(anonymous);
    const { log, lines } = capturingLogger();
    const abort = new AbortController();
    const lw = listWatch<RawNode>({
      clients: anonClients,
      path: '/api/v1/nodes',
      signal: abort.signal,
      log,
      retryFirstList: true,
      onList: () => {},
      onEvent: () => {},
    });
    try {
      expect(await settleWithin(lw.ready, 5_000)).toBe('still pending');
      const refused = lines.filter((l) => l.msg.startsWith('list refused'));
      expect(refused, 'one error line, not one per try').toHaveLength(1);
      expect(refused[0]!.level).toBe(50);
      expect(JSON.stringify(refused[0])).toMatch(/403/);
      abort.abort();
      await expect(lw.ready).rejects.toBeDefined(); // aborted before a first list
      await lw.stopped;
    } finally {
      abort.abort();
      await anonClients.close();
    }
  });

  it('retryFirstList: a 404 (CRD not installed yet) starts by itself once the CRD exists', async () => {
    const group = `${run}.lw.example.com`;
    const path = `/apis/${group}/v1/widgets`;
    const { log, lines } = capturingLogger();
    const abort = new AbortController();
    let listed: unknown[] | undefined;
    const lw = listWatch<KubeObject>({
      clients,
      path,
      signal: abort.signal,
      log,
      retryFirstList: true,
      onList: (items) => {
        listed = items;
      },
      onEvent: () => {},
    });
    const ext = kc.makeApiClient(ApiextensionsV1Api);
    const crdName = `widgets.${group}`;
    try {
      await waitFor(async () => lines.some((l) => l.msg.startsWith('list refused')), {
        timeoutMs: 10_000,
        what: 'the 404 logged',
      });
      await ext.createCustomResourceDefinition({
        body: {
          metadata: { name: crdName },
          spec: {
            group,
            scope: 'Cluster',
            names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
            versions: [
              {
                name: 'v1',
                served: true,
                storage: true,
                schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
              },
            ],
          },
        },
      });
      const t0 = performance.now();
      await lw.ready;
      // The refused backoff tops out at 30 s; it started at 1 s, so this is seconds.
      expect(performance.now() - t0).toBeLessThan(20_000);
      expect(listed).toEqual([]);
      expect(lines.some((l) => l.msg === 'listed after failed attempts')).toBe(true);
    } finally {
      abort.abort();
      await lw.stopped;
      await ext.deleteCustomResourceDefinition({ name: crdName }).catch(() => undefined);
    }
  });
});
