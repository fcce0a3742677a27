/**
 * The policy check every action passes before it runs (one pure function, no I/O): the
 * caller resolves the facts about the action's target and the cluster, `decide` says
 * allow, refuse, wait or dry-run. Semantics in docs/policy.md. In short:
 * - each AgentPolicy is evaluated on its own; an absent field restricts nothing;
 * - the most restrictive outcome wins: refuse > wait > dryRun > allow; drain limits
 *   combine to the tightest (smallest max grace period, force only if every policy allows);
 * - when facts a rule needs are missing, the rule fails closed (refuse or wait).
 */

import { type Action, disruptiveActionTypes } from '../../contract/envelope.ts';
import type { AgentPolicySpec, MaintenanceWindow } from '../../crds/agent-policy.ts';
import type { PodFacts } from '../../kube/pods.ts';
import { isIanaTimeZone } from '../../util/wall-clock.ts';
import { describeSelector, type Labels, selectorMatches } from './label-selector.ts';
import { isInsideWindow, nextWindowStart } from './maintenance-window.ts';

/** A policy as decide needs it: its name (cluster-scoped, unique) and spec. */
export interface PolicyInput {
  metadata: { name: string };
  spec: AgentPolicySpec;
}

/** What the caller knows about the action's target. Leave out what does not apply. */
export interface TargetFacts {
  /** Labels of the target node (node actions). */
  nodeLabels?: Labels;
  /** Namespace of the target workload (scale_workload). */
  namespace?: string;
  /** Labels of the target workload object, e.g. the Deployment (scale_workload). */
  workloadLabels?: Labels;
  /** Pods a drain or delete_node would evict (DaemonSet and mirror pods left out by the caller). */
  pods?: readonly Pick<PodFacts, 'namespace' | 'name' | 'labels'>[];
}

export interface PolicyContext {
  now: Date;
  target: TargetFacts;
  /** Disruptive actions currently Running, not counting this one. */
  runningDisruptiveActions: number;
  /** Nodes NotReady or unschedulable right now. */
  unavailableNodes: number;
  /** Whether the target node is already among unavailableNodes (e.g. cordoned before a drain). */
  targetNodeUnavailable?: boolean;
  /** The AgentAction carries clusteropt.io/approved: "true". */
  approved: boolean;
}

export type RefuseRule =
  | 'allowedActionTypes'
  | 'protectedNamespaces'
  | 'protectedNodeSelector'
  | 'protectedWorkloadSelector'
  | 'force';
export type WaitRule =
  | 'paused'
  | 'approval'
  | 'maintenanceWindow'
  | 'maxConcurrentDisruptiveActions'
  | 'maxUnavailableNodes';

/** Limits the drain executor must apply. */
export interface EffectiveDrainLimits {
  /** Smallest maxGracePeriodSeconds of all policies; undefined: no limit. */
  maxGracePeriodSeconds?: number;
  /** Force (deleting pods past the budget, pods without controller) is allowed. */
  allowForce: boolean;
}

export type Decision =
  | { decision: 'allow'; drain: EffectiveDrainLimits }
  | { decision: 'refuse'; policy: string; rule: RefuseRule; message: string }
  | { decision: 'wait'; policy: string; rule: WaitRule; message: string; retryAt?: Date }
  | { decision: 'dryRun'; policies: string[]; drain: EffectiveDrainLimits };

/** Higher is more restrictive. */
export const restrictiveness: Record<Decision['decision'], number> = {
  allow: 0,
  dryRun: 1,
  wait: 2,
  refuse: 3,
};

type Refusal = Extract<Decision, { decision: 'refuse' }>;
type Wait = Extract<Decision, { decision: 'wait' }>;

export const nodeActionTypes: ReadonlySet<Action['type']> = new Set([
  'cordon_node',
  'uncordon_node',
  'drain_node',
  'delete_node',
  'patch_node',
]);
export const evictingActionTypes: ReadonlySet<Action['type']> = new Set(['drain_node', 'delete_node']);

export function refusals(
  action: Action,
  name: string,
  spec: AgentPolicySpec,
  target: TargetFacts,
): Refusal[] {
  const out: Refusal[] = [];
  const refuse = (rule: RefuseRule, message: string) =>
    out.push({ decision: 'refuse', policy: name, rule, message: `AgentPolicy ${name}: ${message}` });

  if (spec.allowedActionTypes && !spec.allowedActionTypes.includes(action.type)) {
    refuse('allowedActionTypes', `action type ${action.type} is not in allowedActionTypes`);
  }

  if (spec.protectedNodeSelector && nodeActionTypes.has(action.type)) {
    const selector = describeSelector(spec.protectedNodeSelector);
    if (!target.nodeLabels) {
      refuse('protectedNodeSelector', `node labels unknown, cannot check protectedNodeSelector ${selector}`);
    } else if (selectorMatches(spec.protectedNodeSelector, target.nodeLabels)) {
      refuse('protectedNodeSelector', `node matches protectedNodeSelector ${selector}`);
    }
  }

  const protectedNamespaces = spec.protectedNamespaces ?? [];
  if (action.type === 'scale_workload') {
    const namespace = target.namespace ?? action.payload.namespace;
    if (protectedNamespaces.includes(namespace)) {
      refuse('protectedNamespaces', `namespace ${namespace} is protected`);
    }
    if (spec.protectedWorkloadSelector) {
      const selector = describeSelector(spec.protectedWorkloadSelector);
      if (!target.workloadLabels) {
        refuse('protectedWorkloadSelector', `workload labels unknown, cannot check ${selector}`);
      } else if (selectorMatches(spec.protectedWorkloadSelector, target.workloadLabels)) {
        refuse('protectedWorkloadSelector', `workload matches protectedWorkloadSelector ${selector}`);
      }
    }
  }

  if (evictingActionTypes.has(action.type)) {
    const needsPods = protectedNamespaces.length > 0 || spec.protectedWorkloadSelector !== undefined;
    if (needsPods && !target.pods) {
      refuse(
        protectedNamespaces.length > 0 ? 'protectedNamespaces' : 'protectedWorkloadSelector',
        'the pods on the node are unknown, cannot check protected workloads',
      );
    }
    const inProtectedNs = target.pods?.find((p) => protectedNamespaces.includes(p.namespace));
    if (inProtectedNs) {
      refuse(
        'protectedNamespaces',
        `node runs pod ${inProtectedNs.namespace}/${inProtectedNs.name} in protected namespace ${inProtectedNs.namespace}`,
      );
    }
    const selector = spec.protectedWorkloadSelector;
    const protectedPod = selector && target.pods?.find((p) => selectorMatches(selector, p.labels));
    if (selector && protectedPod) {
      refuse(
        'protectedWorkloadSelector',
        `node runs pod ${protectedPod.namespace}/${protectedPod.name} matching protectedWorkloadSelector ${describeSelector(selector)}`,
      );
    }
    if ((action.type === 'drain_node' || action.type === 'delete_node') && action.payload.force) {
      if (spec.drain?.allowForce === false) refuse('force', 'force is not allowed (drain.allowForce: false)');
    }
  }
  return out;
}

function windowsWait(name: string, windows: readonly MaintenanceWindow[], now: Date): Wait | undefined {
  if (windows.some((w) => isInsideWindow(w, now))) return undefined;
  const starts = windows.map((w) => nextWindowStart(w, now)).filter((d): d is Date => d !== undefined);
  const bad = windows.filter((w) => !isIanaTimeZone(w.timezone ?? 'UTC')).map((w) => w.timezone);
  const retryAt = starts.length ? new Date(Math.min(...starts.map((d) => d.getTime()))) : undefined;
  const message =
    `AgentPolicy ${name}: outside maintenance windows` +
    (retryAt ? `; next opens ${retryAt.toISOString()}` : '') +
    (bad.length ? `; unknown time zone ${bad.join(', ')} (window stays closed)` : '');
  return {
    decision: 'wait',
    policy: name,
    rule: 'maintenanceWindow',
    message,
    ...(retryAt ? { retryAt } : {}),
  };
}

export function waits(action: Action, name: string, spec: AgentPolicySpec, context: PolicyContext): Wait[] {
  const out: Wait[] = [];
  if (spec.approval === 'required' && !context.approved) {
    out.push({
      decision: 'wait',
      policy: name,
      rule: 'approval',
      message: `AgentPolicy ${name}: approval required (annotate the AgentAction clusteropt.io/approved="true")`,
    });
  }
  if (!disruptiveActionTypes.has(action.type)) return out;
  if (spec.maintenanceWindows) {
    const wait = windowsWait(name, spec.maintenanceWindows, context.now);
    if (wait) out.push(wait);
  }
  const maxConcurrent = spec.maxConcurrentDisruptiveActions;
  if (maxConcurrent !== undefined && context.runningDisruptiveActions >= maxConcurrent) {
    out.push({
      decision: 'wait',
      policy: name,
      rule: 'maxConcurrentDisruptiveActions',
      message: `AgentPolicy ${name}: ${context.runningDisruptiveActions} disruptive actions running, maxConcurrentDisruptiveActions is ${maxConcurrent}`,
    });
  }
  const maxUnavailable = spec.maxUnavailableNodes;
  if (maxUnavailable !== undefined) {
    const after = context.unavailableNodes + (context.targetNodeUnavailable ? 0 : 1);
    if (after > maxUnavailable) {
      out.push({
        decision: 'wait',
        policy: name,
        rule: 'maxUnavailableNodes',
        message: `AgentPolicy ${name}: ${context.unavailableNodes} nodes unavailable, this action would make it ${after}, maxUnavailableNodes is ${maxUnavailable}`,
      });
    }
  }
  return out;
}

/**
 * The wait to report when several apply: one that needs something to change in the cluster
 * (approval, capacity) before a timed one, since retrying at a time would not help; among
 * timed ones the latest, since the action cannot start before it.
 */
function pickWait(all: Wait[]): Wait {
  const untimed = all.find((w) => w.retryAt === undefined);
  if (untimed) return untimed;
  return all.reduce((a, b) => ((b.retryAt?.getTime() ?? 0) > (a.retryAt?.getTime() ?? 0) ? b : a));
}

function drainLimits(policies: readonly PolicyInput[]): EffectiveDrainLimits {
  const graces = policies
    .map((p) => p.spec.drain?.maxGracePeriodSeconds)
    .filter((g): g is number => g !== undefined);
  const limits: EffectiveDrainLimits = {
    allowForce: policies.every((p) => p.spec.drain?.allowForce !== false),
  };
  if (graces.length) limits.maxGracePeriodSeconds = Math.min(...graces);
  return limits;
}

/** The pause (kubectl clusteropt pause): it holds every action before any other rule is looked at. */
export function pausedBy(policies: readonly PolicyInput[]): PolicyInput | undefined {
  return sortedByName(policies).find((p) => p.spec.paused === true);
}

function sortedByName(policies: readonly PolicyInput[]): PolicyInput[] {
  return [...policies].sort((a, b) =>
    a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0,
  );
}

export function decide(action: Action, policies: readonly PolicyInput[], context: PolicyContext): Decision {
  const pause = pausedBy(policies);
  if (pause) {
    const name = pause.metadata.name;
    return {
      decision: 'wait',
      policy: name,
      rule: 'paused',
      message: `AgentPolicy ${name}: the agent is paused (paused: true); nothing starts until it is resumed (kubectl clusteropt resume)`,
    };
  }
  // Name order makes the reported policy deterministic whatever order the list came in.
  const sorted = sortedByName(policies);
  const refused = sorted.flatMap((p) => refusals(action, p.metadata.name, p.spec, context.target));
  if (refused.length) return refused[0] as Refusal;
  const waiting = sorted.flatMap((p) => waits(action, p.metadata.name, p.spec, context));
  if (waiting.length) return pickWait(waiting);
  const drain = drainLimits(sorted);
  const dryRun = sorted.filter((p) => p.spec.dryRun === true).map((p) => p.metadata.name);
  if (dryRun.length) return { decision: 'dryRun', policies: dryRun, drain };
  return { decision: 'allow', drain };
}

/** Labels for clusteropt_agent_policy_decisions_total: the rule, or `none` for allow/dryRun. */
export function decisionLabels(d: Decision): { decision: Decision['decision']; rule: string } {
  return { decision: d.decision, rule: d.decision === 'refuse' || d.decision === 'wait' ? d.rule : 'none' };
}

/** `AgentPolicy/<name>:<rule>` for AgentAction status.reason, or undefined for allow. */
export function decisionReason(d: Decision): string | undefined {
  if (d.decision === 'refuse' || d.decision === 'wait') return `AgentPolicy/${d.policy}:${d.rule}`;
  if (d.decision === 'dryRun') return `AgentPolicy/${d.policies.join(',')}:dryRun`;
  return undefined;
}
