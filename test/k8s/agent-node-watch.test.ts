/**
 * The leader lists and watches all Nodes once (src/kube/node-cache.ts): the inventory and the
 * cordon/uncordon executors read the same copies. The real agent (startAgent, in this
 * process) against the test cluster; every HTTP request this process makes through undici
 * (the agent's list+watch helper and raw requests use it) is seen on undici's
 * diagnostics channel, so the Node lists and watches the agent opens are counted exactly,
 * whatever else uses the cluster meanwhile.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { installCrds } from '../../src/kube/install-crds.ts';
import { type AgentStack, startAgentStack } from '../support/agent.ts';
import {
  createKwokNodes,
  createNamespace,
  deleteNamespace,
  deleteNodes,
  loadTestKubeConfig,
  uniqueName,
  waitFor,
} from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const nodes = [uniqueName('nw'), uniqueName('nw')];
let ns = '';
let stack: AgentStack | undefined;

/** Requests for the whole Node collection (not one node, not a field-selected drain watch). */
const nodeRequests: Array<{ watch: boolean; query: string }> = [];
const onRequest = (message: unknown) => {
  const { request } = message as { request: { method: string; path: string } };
  const url = new URL(request.path, 'http://x');
  if (request.method !== 'GET' || url.pathname !== '/api/v1/nodes') return;
  if (url.searchParams.has('fieldSelector')) return;
  nodeRequests.push({ watch: url.searchParams.get('watch') === '1', query: url.search });
};
const watches = () => nodeRequests.filter((r) => r.watch);
const lists = () => nodeRequests.filter((r) => !r.watch);

beforeAll(async () => {
  await installCrds(kc);
  ns = await createNamespace(kc, 'nodewatch');
  await createKwokNodes(kc, nodes);
  subscribe('undici:request:create', onRequest);
  stack = await startAgentStack({ namespace: ns });
});

afterAll(async () => {
  unsubscribe('undici:request:create', onRequest);
  await stack?.stop();
  await deleteNodes(kc, nodes);
  await deleteNamespace(kc, ns);
});

it('the leader opens one Node list and one Node watch, which feed the inventory and the executors', async () => {
  const s = stack!;
  await waitFor(() => s.agent.isLeader(), { what: 'the agent to lead' });
  // The inventory's first snapshot has the nodes: its node source is running.
  await waitFor(
    async () => {
      const { instances } = await s.cp.admin.listInstances(s.clusterId);
      return nodes.every((n) => instances.some((i) => i.nodeName === n));
    },
    { timeoutMs: 60_000, what: 'the first instance snapshot' },
  );
  // A cordon runs and the inventory follows it (a delta from the same watch).
  const id = await s.enqueue('cordon_node', { nodeName: nodes[0] });
  await s.waitForState(id, ['succeeded']);
  await waitFor(
    async () => {
      const { instances } = await s.cp.admin.listInstances(s.clusterId);
      return instances.find((i) => i.nodeName === nodes[0])?.report.schedulable === false;
    },
    { timeoutMs: 30_000, what: 'the cordon in the inventory' },
  );
  expect((await core.readNode({ name: nodes[0]! })).spec?.unschedulable).toBe(true);
  // Give a second watcher, if any, time to show up.
  await new Promise((r) => setTimeout(r, 3_000));
  expect(watches()).toHaveLength(1);
  expect(lists()).toHaveLength(1);
  // All of them: the agent's one watch has no selector.
  expect(watches()[0]?.query).not.toContain('labelSelector');
});
