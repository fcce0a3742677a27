/**
 * AgentPolicies for tests and benchmarks. The agent's guardrails are narrow by default (no
 * AgentPolicy = the built-in defaults: docs/policy.md); tests of its mechanics (cordon, drain
 * with force, failover, outages, throughput) widen them explicitly, as an admin would, with
 * one AgentPolicy that widens every field. The guardrails themselves are tested without it
 * (decide.test.ts, hostile-control-plane.test.ts). No vitest import: benchmarks use it too.
 */
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { AgentPolicySpec } from '../../src/crds/agent-policy.ts';
import { agentPolicyPlural } from '../../src/crds/agent-policy.ts';
import { apiGroup, apiVersion, apiVersionName } from '../../src/crds/common.ts';

/** Every guardrail widened (patch_node's reserved keys excepted: they are named one by one). */
export const widePolicySpec: AgentPolicySpec = {
  description: 'tests: every guardrail widened',
  protectSystemNamespaces: false,
  protectControlPlaneNodes: false,
  requireApprovalFor: [],
  maxConcurrentDisruptiveActions: 10_000,
  maxUnavailableNodes: '100%',
  drain: { minGracePeriodSeconds: 0, allowForce: true, allowForceDeleteAtBudgetEnd: true },
  scale: { maxReplicas: 100_000, maxScaleUpFactor: 10_000 },
};

const ref = { group: apiGroup, version: apiVersionName, plural: agentPolicyPlural };

/** Creates (or replaces) a cluster-scoped AgentPolicy; returns the function that deletes it. */
export async function applyPolicy(
  kc: KubeConfig,
  name: string,
  spec: AgentPolicySpec,
): Promise<() => Promise<void>> {
  await deletePolicy(kc, name);
  await kc.makeApiClient(CustomObjectsApi).createClusterCustomObject({
    ...ref,
    body: { apiVersion, kind: 'AgentPolicy', metadata: { name }, spec },
  });
  return () => deletePolicy(kc, name);
}

/** Deletes the AgentPolicy `name` if it exists (e.g. one `kubectl clusteropt pause` made). */
export async function deletePolicy(kc: KubeConfig, name: string): Promise<void> {
  await kc
    .makeApiClient(CustomObjectsApi)
    .deleteClusterCustomObject({ ...ref, name })
    .catch(() => undefined);
}

/** The wide policy under `name` (unique per test file, so a leftover is recognisable). */
export function applyWidePolicy(kc: KubeConfig, name: string): Promise<() => Promise<void>> {
  return applyPolicy(kc, name, widePolicySpec);
}
