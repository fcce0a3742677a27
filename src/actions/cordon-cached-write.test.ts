// patchCachedNode (kube/nodes.ts) with the cordon's plan, the write cordon_node tries first
// when the node cache has a copy; against a fake API server on 127.0.0.1.
import { createServer, type Server } from 'node:http';
import { ApiException, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { isConflict } from '../kube/api-errors.ts';
import { createKubeClients } from '../kube/clients.ts';
import { patchCachedNode } from '../kube/nodes.ts';
import { planCordon } from './cordon-node.ts';

/** A fake API server on 127.0.0.1 that records node patches and answers with `answer`. */
async function fakePatch(answer: 'ok' | 409 | 404 | 500) {
  const calls: { name: string; type: string | undefined; body: Record<string, unknown> }[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      calls.push({
        name: decodeURIComponent((req.url ?? '').replace('/api/v1/nodes/', '')),
        type: req.headers['content-type'],
        body: JSON.parse(text),
      });
      const status = answer === 'ok' ? 200 : answer;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          answer === 'ok'
            ? { metadata: { name: 'n1', uid: 'u1', resourceVersion: '43' }, spec: { unschedulable: true } }
            : { kind: 'Status', code: status, message: `fake ${status}` },
        ),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
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
  return { clients: createKubeClients(kc), calls };
}
const servers: Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

const schedulable: V1Node = {
  metadata: { name: 'n1', uid: 'u1', resourceVersion: '42' },
  spec: {},
};
const cordonPlan = (n: V1Node) => {
  const plan = planCordon(n, 'a2', { taint: false });
  return { change: plan.change, result: plan };
};

describe('patchCachedNode', () => {
  it("patches the copy's change guarded by the copy's resourceVersion", async () => {
    const { clients, calls } = await fakePatch('ok');
    const done = await patchCachedNode(clients, schedulable, cordonPlan);
    expect(done?.changed).toBe(true);
    expect(done?.result.cordon).toBe('added');
    expect(done?.node.metadata?.uid).toBe('u1');
    expect(calls).toEqual([
      {
        name: 'n1',
        type: 'application/merge-patch+json',
        body: {
          metadata: { resourceVersion: '42', annotations: { 'clusteropt.io/cordoned-by': 'a2' } },
          spec: { unschedulable: true },
        },
      },
    ]);
  });

  it('never trusts "nothing to do" from a copy: no write, the caller must read the node', async () => {
    const { clients, calls } = await fakePatch('ok');
    const cordoned = { ...schedulable, spec: { unschedulable: true } };
    expect(await patchCachedNode(clients, cordoned, cordonPlan)).toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('a copy without a resourceVersion is not used', async () => {
    const { clients, calls } = await fakePatch('ok');
    expect(await patchCachedNode(clients, { metadata: { name: 'n1' } }, cordonPlan)).toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('409 (the node moved on) and 404 (gone) send the caller to the fresh path; other errors throw', async () => {
    for (const code of [409, 404] as const) {
      const { clients, calls } = await fakePatch(code);
      expect(await patchCachedNode(clients, schedulable, cordonPlan)).toBeUndefined();
      expect(calls).toHaveLength(1);
    }
    const { clients } = await fakePatch(500);
    const err = await patchCachedNode(clients, schedulable, cordonPlan).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<unknown>).code).toBe(500);
    expect(isConflict(err)).toBe(false);
  });
});
