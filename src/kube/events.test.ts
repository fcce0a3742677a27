import { createServer } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { createKubeClients, type KubeClients } from './clients.ts';
import { EventRecorder, eventScope, noEvents } from './events.ts';

/** A fake sender whose event creates stay pending until released by reason. */
function fakeClients() {
  const pending = new Map<string, () => void>();
  const created: string[] = [];
  const clients = {} as unknown as KubeClients;
  const send = (event: { reason?: string }) =>
    new Promise<void>((resolve) => {
      const reason = event.reason ?? '';
      pending.set(reason, () => {
        created.push(reason);
        resolve();
      });
    });
  const release = async (reason: string) => {
    pending.get(reason)?.();
    pending.delete(reason);
    await new Promise((r) => setImmediate(r));
  };
  return { clients, send, pending, created, release };
}

const node = { apiVersion: 'v1', kind: 'Node', name: 'n1' };
const state = (p: Promise<unknown>) => {
  let done = false;
  p.then(() => {
    done = true;
  });
  return () => done;
};

describe('EventRecorder', () => {
  it('POSTs the event as JSON to the namespace of its object (default for cluster-scoped ones)', async () => {
    const seen: { method?: string; url?: string; type?: string; body: Record<string, unknown> }[] = [];
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (c) => {
        text += c;
      });
      req.on('end', () => {
        seen.push({
          method: req.method,
          url: req.url,
          type: req.headers['content-type'],
          body: JSON.parse(text),
        });
        if (seen.length === 1) res.writeHead(201, { 'content-type': 'application/json' }).end('{}');
        else
          res.writeHead(403, { 'content-type': 'application/json' }).end('{"kind":"Status","message":"no"}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [
          {
            name: 'c',
            server: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
            skipTLSVerify: true,
          },
        ],
        users: [{ name: 'u', token: 't' }],
        contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
        currentContext: 'x',
      });
      const recorder = new EventRecorder(createKubeClients(kc), { instance: 'test' });
      recorder.emit(node, 'Normal', 'ClusteroptCordon', 'Node cordoned');
      recorder.emit({ ...node, kind: 'AgentAction', namespace: 'agents' }, 'Warning', 'Failed', 'x');
      await recorder.flush(5_000);
      expect(seen.map((s) => [s.method, s.url, s.type])).toEqual([
        ['POST', '/api/v1/namespaces/default/events', 'application/json'],
        ['POST', '/api/v1/namespaces/agents/events', 'application/json'],
      ]);
      expect(seen[0]!.body).toMatchObject({
        metadata: { namespace: 'default' },
        involvedObject: { kind: 'Node', name: 'n1' },
        reason: 'ClusteroptCordon',
        type: 'Normal',
        source: { component: 'clusteropt-agent' },
        reportingInstance: 'test',
      });
      expect(typeof seen[0]!.body.firstTimestamp).toBe('string');
      expect([recorder.sent, recorder.failed]).toEqual([1, 1]);
    } finally {
      server.close();
    }
  });
});

describe('EventRecorder scopes', () => {
  it("a scope's flush waits for its own events only, not for the others in the queue", async () => {
    const { clients, send, release } = fakeClients();
    const recorder = new EventRecorder(clients, { concurrency: 4, send });
    recorder.emit(node, 'Normal', 'Other', 'someone else');
    const scope = recorder.scope();
    scope.emit(node, 'Normal', 'Mine', 'this action');

    const scopeFlushed = state(scope.flush(10_000));
    const allFlushed = state(recorder.flush(10_000));
    await new Promise((r) => setImmediate(r));
    expect(scopeFlushed()).toBe(false);

    await release('Mine');
    expect(scopeFlushed()).toBe(true);
    expect(allFlushed()).toBe(false);

    await release('Other');
    expect(allFlushed()).toBe(true);
  });

  it('a scope with nothing emitted flushes at once; a stuck event ends the flush at its timeout', async () => {
    const { clients, send } = fakeClients();
    const recorder = new EventRecorder(clients, { concurrency: 1, send });
    const idle = recorder.scope();
    const t0 = performance.now();
    await idle.flush(10_000);
    expect(performance.now() - t0).toBeLessThan(50);

    const stuck = recorder.scope();
    stuck.emit(node, 'Warning', 'Stuck', 'never answered');
    const t1 = performance.now();
    await stuck.flush(100);
    expect(performance.now() - t1).toBeGreaterThanOrEqual(90);
  });

  it("scoped events share the recorder's queue and order", async () => {
    const { clients, send, pending, created, release } = fakeClients();
    const recorder = new EventRecorder(clients, { concurrency: 1, send });
    const a = recorder.scope();
    const b = recorder.scope();
    a.emit(node, 'Normal', 'A1', '');
    b.emit(node, 'Normal', 'B1', '');
    a.emit(node, 'Normal', 'A2', '');
    expect([...pending.keys()]).toEqual(['A1']);
    const bFlushed = state(b.flush(10_000));
    await release('A1');
    expect(bFlushed()).toBe(false);
    await release('B1');
    expect(bFlushed()).toBe(true);
    await release('A2');
    expect(created).toEqual(['A1', 'B1', 'A2']);
    expect(recorder.sent).toBe(3);
  });

  it('eventScope returns other sinks as they are', () => {
    expect(eventScope(noEvents)).toBe(noEvents);
    const { clients, send } = fakeClients();
    const recorder = new EventRecorder(clients, { send });
    expect(eventScope(recorder)).not.toBe(recorder);
  });
});
