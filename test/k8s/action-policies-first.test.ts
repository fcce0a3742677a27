/**
 * The action controller decides nothing before it has read the AgentPolicies: while the list
 * of policies fails (here: the agent's ServiceAccount lacks the chart's agentpolicies rule),
 * an action from the control plane waits undecided instead of running as if no policy
 * existed, and once the policies can be read, the one that protects its node refuses it.
 * Actions that waited so run in createdAt order once the policies arrive, whatever their
 * names (a newer uncordon must not run before an older cordon of the same node).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
  type V1ClusterRole,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { agentActionName, agentActionPlural } from '../../src/crds/agent-action.ts';
import { apiGroup, apiVersion, apiVersionName } from '../../src/crds/common.ts';
import { installCrds } from '../../src/kube/install-crds.ts';
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
/** An unprotected node for the two local actions that must run in createdAt order. */
const orderNode = uniqueName('polorder');
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
  await createKwokNodes(kc, [orderNode]);
  await applyPolicy(kc, policy, { protectedNodeSelector: { matchLabels: mark } });
  stack = await startAgentStack({ namespace: ns, config: { kubeconfig: identity.kubeconfigPath } });
  await waitFor(() => stack?.agent.isLeader(), { what: 'agent to lead', timeoutMs: 30_000 });
});

afterAll(async () => {
  await stack?.stop();
  await deletePolicy(kc, policy);
  await deleteNodes(kc, [node, orderNode]);
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

  // An older cordon and a newer uncordon of one node wait too, in the controller's cache in
  // another order than createdAt: the newer one is applied first (and its name sorts first,
  // as an API list, which fills the cache after a restart, would have it).
  const older = `ffffffff${randomUUID().slice(8)}`;
  const newer = `00000000${randomUUID().slice(8)}`;
  const t0 = Date.now();
  await createLocalAction(newer, 'uncordon_node', new Date(t0 - 1_000));
  await createLocalAction(older, 'cordon_node', new Date(t0 - 2_000));

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

  // In createdAt order: the cordon ran, then the uncordon undid it. In name order the
  // uncordon would run first and the cordon be rejected as superseded.
  const phases = await waitFor(
    async () => {
      const both = [await readAgentAction(kc, ns, older), await readAgentAction(kc, ns, newer)];
      return both.every((a) => a?.status?.phase && a.status.phase !== 'Pending') ? both : undefined;
    },
    { what: 'the two local actions finished', timeoutMs: 30_000 },
  );
  expect(phases.map((a) => [a?.spec.type, a?.status?.phase, a?.status?.reason])).toEqual([
    ['cordon_node', 'Succeeded', undefined],
    ['uncordon_node', 'Succeeded', undefined],
  ]);
  expect((await core.readNode({ name: orderNode })).spec?.unschedulable).toBeFalsy();
});

/** A local AgentAction on orderNode, as an admin would apply it. */
async function createLocalAction(id: string, type: 'cordon_node' | 'uncordon_node', createdAt: Date) {
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: apiGroup,
    version: apiVersionName,
    namespace: ns,
    plural: agentActionPlural,
    body: {
      apiVersion,
      kind: 'AgentAction',
      metadata: { name: agentActionName(id) },
      spec: {
        id,
        type,
        payload: { nodeName: orderNode },
        createdAt: createdAt.toISOString(),
        source: 'local',
        target: `node/${orderNode}`,
      },
    },
  });
}
