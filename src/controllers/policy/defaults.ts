/**
 * The narrow values every AgentPolicy field takes when an admin leaves it out, and the
 * policy that applies when there is no AgentPolicy at all (docs/policy.md "Defaults"). Each
 * policy is resolved on its own (an unset field is its default, never "no limit"); decide()
 * then combines the resolved policies, the most restrictive winning. So widening is always a
 * field an admin wrote, and it takes effect only where every AgentPolicy widens.
 */
import { defaultMinGracePeriodSeconds } from '../../actions/drain-plan.ts';
import { defaultScaleLimits } from '../../actions/scale-workload.ts';
import type { ActionType } from '../../contract/envelope.ts';
import type { AgentPolicySpec, NodeCount } from '../../crds/agent-policy.ts';
import type { LabelSelector } from '../../crds/common.ts';
import { controlPlaneNodeLabels } from '../../kube/nodes.ts';
import type { Labels } from './label-selector.ts';

/** Namespaces protected by protectSystemNamespaces (the agent's own is added by the caller). */
export const systemNamespaces: readonly string[] = ['kube-system', 'kube-public', 'kube-node-lease'];

export const policyDefaults = {
  protectSystemNamespaces: true,
  protectControlPlaneNodes: true,
  maxConcurrentDisruptiveActions: 10,
  maxUnavailableNodes: '10%' as NodeCount,
  requireApprovalFor: ['delete_node'] as readonly ActionType[],
  drain: {
    minGracePeriodSeconds: defaultMinGracePeriodSeconds,
    allowForce: false,
    allowForceDeleteAtBudgetEnd: false,
  },
  scale: defaultScaleLimits,
  patchNode: { allowedReservedKeys: [] as readonly string[] },
} as const;

/** The name decisions carry when no AgentPolicy exists. Not a valid object name, so never a real one. */
export const builtInPolicyName = '(built-in defaults)';

/** An AgentPolicy with every field resolved: what decide() evaluates. */
export interface ResolvedPolicy {
  name: string;
  /** The fields the admin wrote (to tell "default" from "set" in messages). */
  written: AgentPolicySpec;
  allowedActionTypes: readonly ActionType[] | undefined;
  /** The admin's protectedNamespaces (the system ones are `systemNamespaces` below). */
  protectedNamespaces: readonly string[];
  /** System namespaces this policy protects (empty when protectSystemNamespaces is false). */
  systemNamespaces: readonly string[];
  protectedNodeSelector: LabelSelector | undefined;
  protectControlPlaneNodes: boolean;
  protectedWorkloadSelector: LabelSelector | undefined;
  maxConcurrentDisruptiveActions: number;
  maxUnavailableNodes: NodeCount;
  maintenanceWindows: AgentPolicySpec['maintenanceWindows'];
  dryRun: boolean;
  /** Types that wait for approval; 'all' with approval: required. */
  approvalFor: 'all' | readonly ActionType[];
  drain: {
    maxGracePeriodSeconds: number | undefined;
    minGracePeriodSeconds: number;
    allowForce: boolean;
    allowForceDeleteAtBudgetEnd: boolean;
  };
  scale: { maxReplicas: number; maxScaleUpFactor: number };
  patchNode: { allowedReservedKeys: readonly string[] };
}

/** A policy's spec with every unset field replaced by its default. */
export function resolvePolicy(name: string, spec: AgentPolicySpec, agentNamespace?: string): ResolvedPolicy {
  const d = policyDefaults;
  const protectSystem = spec.protectSystemNamespaces ?? d.protectSystemNamespaces;
  return {
    name,
    written: spec,
    allowedActionTypes: spec.allowedActionTypes,
    protectedNamespaces: spec.protectedNamespaces ?? [],
    systemNamespaces: protectSystem ? [...systemNamespaces, ...(agentNamespace ? [agentNamespace] : [])] : [],
    protectedNodeSelector: spec.protectedNodeSelector,
    protectControlPlaneNodes: spec.protectControlPlaneNodes ?? d.protectControlPlaneNodes,
    protectedWorkloadSelector: spec.protectedWorkloadSelector,
    maxConcurrentDisruptiveActions: spec.maxConcurrentDisruptiveActions ?? d.maxConcurrentDisruptiveActions,
    maxUnavailableNodes: spec.maxUnavailableNodes ?? d.maxUnavailableNodes,
    maintenanceWindows: spec.maintenanceWindows,
    dryRun: spec.dryRun ?? false,
    approvalFor: spec.approval === 'required' ? 'all' : (spec.requireApprovalFor ?? d.requireApprovalFor),
    drain: {
      maxGracePeriodSeconds: spec.drain?.maxGracePeriodSeconds,
      minGracePeriodSeconds: spec.drain?.minGracePeriodSeconds ?? d.drain.minGracePeriodSeconds,
      allowForce: spec.drain?.allowForce ?? d.drain.allowForce,
      allowForceDeleteAtBudgetEnd:
        spec.drain?.allowForceDeleteAtBudgetEnd ?? d.drain.allowForceDeleteAtBudgetEnd,
    },
    scale: {
      maxReplicas: spec.scale?.maxReplicas ?? d.scale.maxReplicas,
      maxScaleUpFactor: spec.scale?.maxScaleUpFactor ?? d.scale.maxScaleUpFactor,
    },
    patchNode: {
      allowedReservedKeys: spec.patchNode?.allowedReservedKeys ?? d.patchNode.allowedReservedKeys,
    },
  };
}

/** `maxUnavailableNodes` as a number of nodes: a percentage of `totalNodes`, rounded up, at least 1. */
export function nodeLimit(count: NodeCount, totalNodes: number): number {
  if (typeof count === 'number') return count;
  const percent = Number(count.slice(0, -1));
  return Math.max(1, Math.ceil((percent * totalNodes) / 100));
}

export function isControlPlaneNode(labels: Labels): boolean {
  return controlPlaneNodeLabels.some((key) => Object.hasOwn(labels, key));
}

/**
 * Label, annotation and taint keys Kubernetes reserves: a prefix (before "/") that is
 * kubernetes.io or k8s.io or a subdomain of either (node-role.kubernetes.io,
 * node-restriction.kubernetes.io, topology.kubernetes.io, ...).
 */
export function isReservedKey(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return false;
  const prefix = key.slice(0, slash).toLowerCase();
  return ['kubernetes.io', 'k8s.io'].some((root) => prefix === root || prefix.endsWith(`.${root}`));
}

/** A note for refusal and wait messages when the admin left the field (`written`) unset. */
export function defaultNote(policy: ResolvedPolicy, written: unknown, widen: string): string {
  if (written !== undefined) return '';
  return policy.name === builtInPolicyName
    ? ` (an AgentPolicy with ${widen} widens it)`
    : ` (the default; set ${widen} in every AgentPolicy to widen it)`;
}
