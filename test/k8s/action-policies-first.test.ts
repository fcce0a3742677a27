/**
 * The action controller decides nothing before it has read the AgentPolicies: while the list
 * of policies fails (here: the agent's ServiceAccount lacks the chart's agentpolicies rule),
 * an action from the control plane waits undecided instead of running as if no policy
 * existed, and once the policies can be read, the one that protects its node refuses it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, RbacAuthorizationV1Api, type V1ClusterRole } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { installCrds } from '../../src/crds/install.ts';
import { type AgentStack, startAgentStack } from '../support/agent.ts';
import { type ChartIdentity, installChartIdentity } from '../support/chart-identity.ts';
import {
  createKwokNodes,
  createNamespace,
  deleteNamespace,
  deleteNodes,
  loadTestKubeConfig,
  readAgentAction,
  uniqueName,
  waitFor,
} from '../support/kube.ts';
import { applyPolicy, deletePolicy } from '../support/policy.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
const node = uniqueName('polfirst');
const policy = uniqueName('polfirst');
const mark = { 'clusteropt.io/test-policies-first': node };
const dir = mkdtempSync(join(tmpdir(), 'clusteropt-polfirst-'));
let ns = '';
let identity: ChartIdentity | undefined;
let stack: AgentStack | undefined;

const isPolicyRule = (r: { resources?: string[] }) => r.resources?.includes('agentpolicies') === true;

beforeAll(async () => {
  await installCrds(kc);
  ns = await createNamespace(kc, 'polfirst');
  identity = await installChartIdentity(kc, { release: uniqueName('polfirst'), namespace: ns, dir });
  // The chart's ClusterRole without its agentpolicies rule: the policy list gets 403.
  const role = await rbac.readClusterRole({ name: identity.serviceAccount });
  expect(role.rules?.filter(isPolicyRule)).toHaveLength(1);
  await rbac.replaceClusterRole({
    name: identity.serviceAccount,
    body: { ...role, rules: role.rules?.filter((r) => !isPolicyRule(r)) },
  });
  await createKwokNodes(kc, [node], { labels: mark });
  await applyPolicy(kc, policy, { protectedNodeSelector: { matchLabels: mark } });
  stack = await startAgentStack({ namespace: ns, config: { kubeconfig: identity.kubeconfigPath } });
  await waitFor(() => stack?.agent.isLeader(), { what: 'agent to lead', timeoutMs: 30_000 });
});

afterAll(async () => {
  await stack?.stop();
  await deletePolicy(kc, policy);
  await deleteNodes(kc, [node]);
  identity?.uninstall();
  await deleteNamespace(kc, ns);
  rmSync(dir, { recursive: true, force: true });
});

it('an action waits undecided while the AgentPolicies cannot be read, then the policy refuses it', async () => {
  if (!stack || !identity) throw new Error('not started');
  const id = await stack.enqueue('cordon_node', { nodeName: node });
  const read = () => readAgentAction(kc, ns, id);
  await waitFor(read, { what: 'the AgentAction', timeoutMs: 30_000 });
  // Time enough for a cordon (well under a second here) had the action been decided.
  await new Promise((r) => setTimeout(r, 6_000));
  expect((await read())?.status?.phase).toBeUndefined();
  expect((await core.readNode({ name: node })).spec?.unschedulable).toBeFalsy();

  const role = (await rbac.readClusterRole({ name: identity.serviceAccount })) as V1ClusterRole;
  await rbac.replaceClusterRole({
    name: identity.serviceAccount,
    body: {
      ...role,
      rules: [
        ...(role.rules ?? []),
        { apiGroups: ['clusteropt.io'], resources: ['agentpolicies'], verbs: ['list', 'watch'] },
      ],
    },
  });
  // The refused list is retried with a backoff of up to 30 s.
  const cp = await stack.waitForState(id, ['rejected', 'succeeded', 'failed'], 60_000);
  expect(cp.state).toBe('rejected');
  const object = await read();
  expect(object?.status?.phase).toBe('Rejected');
  expect(object?.status?.reason).toBe(`AgentPolicy/${policy}:protectedNodeSelector`);
  expect((await core.readNode({ name: node })).spec?.unschedulable).toBeFalsy();
});
