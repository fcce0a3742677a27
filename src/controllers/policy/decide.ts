/**
 * The policy check every action passes before it runs (one pure function, no I/O): the
 * caller resolves the facts about the action's target and the cluster, `decide` says
 * allow, refuse, wait or dry-run. Semantics in docs/policy.md. In short:
 * - each AgentPolicy is resolved on its own, an unset field taking its narrow default
 *   (defaults.ts); no AgentPolicy at all is one policy of all defaults;
 * - the most restrictive outcome wins: refuse > wait > dryRun > allow; limits handed to the
 *   executors combine to the tightest;
 * - when facts a rule needs are missing, the rule fails closed (refuse or wait).
 */
import { isEvictingPatch, type PatchNodeDisruption, patchNodeDisruption } from '../../actions/patch-node.ts';
import { scaleUpRefusal } from '../../actions/scale-workload.ts';
import { type Action, disruptiveActionTypes } from '../../contract/envelope.ts';
import type { AgentPolicySpec, MaintenanceWindow } from '../../crds/agent-policy.ts';
import type { PodFacts as KubePodFacts } from '../../kube/pods.ts';
import { evictedBy } from '../../kube/tolerations.ts';
import { isIanaTimeZone } from '../../util/wall-clock.ts';
import {
  builtInPolicyName,
  defaultNote,
  isControlPlaneNode,
  isReservedKey,
  nodeLimit,
  type ResolvedPolicy,
  resolvePolicy,
} from './defaults.ts';
import { describeSelector, type Labels, selectorMatches } from './label-selector.ts';
import { isInsideWindow, nextWindowStart } from './maintenance-window.ts';

/** A policy as decide needs it: its name (cluster-scoped, unique) and spec. */
export interface PolicyInput {
  metadata: { name: string };
  spec: AgentPolicySpec;
}

/** A pod on the target node: the drain's facts (kube/pods.ts), and whether it may be disrupted. */
export type PodFacts = Pick<KubePodFacts, 'namespace' | 'name' | 'labels'> &
  Partial<Pick<KubePodFacts, 'tolerations' | 'controller'>> & {
    /** patch_node: clusteropt.io/do-not-disrupt on the pod or its workload. */
    doNotDisrupt?: boolean;
  };

/** What the caller knows about the action's target. Leave out what does not apply. */
export interface TargetFacts {
  /** Labels of the target node (node actions). */
  nodeLabels?: Labels;
  /** Annotations of the target node (patch_node that removes taints). */
  nodeAnnotations?: Record<string, string>;
  /** Namespace of the target workload (scale_workload). */
  namespace?: string;
  /** Labels of the target workload object, e.g. the Deployment (scale_workload). */
  workloadLabels?: Labels;
  /**
   * scale_workload: replicas now; null when the workload or its kind does not exist (the
   * executor reports that), undefined when unknown (the scale-up rules then fail closed).
   */
  currentReplicas?: number | null;
  /**
   * drain_node, delete_node: the pods the drain would evict (DaemonSet, mirror and finished
   * pods left out); patch_node adding NoExecute: every pod on the node but mirror and finished ones.
   */
  pods?: readonly PodFacts[];
}

export interface PolicyContext {
  now: Date;
  target: TargetFacts;
  /** Disruptive actions currently Running, not counting this one. */
  runningDisruptiveActions: number;
  /** Nodes NotReady or unschedulable right now. */
  unavailableNodes: number;
  /** All nodes, for maxUnavailableNodes as a percentage; unknown: such a limit waits (fail closed). */
  totalNodes?: number;
  /** Whether the target node is already among unavailableNodes (e.g. cordoned before a drain). */
  targetNodeUnavailable?: boolean;
  /** The AgentAction carries clusteropt.io/approved: "true". */
  approved: boolean;
  /** The agent's own namespace, protected with the system namespaces. */
  agentNamespace?: string;
}

export type RefuseRule =
  | 'allowedActionTypes'
  | 'protectedNamespaces'
  | 'protectSystemNamespaces'
  | 'protectedNodeSelector'
  | 'protectControlPlaneNodes'
  | 'protectedWorkloadSelector'
  | 'doNotDisrupt'
  | 'force'
  | 'forceDeleteAtBudgetEnd'
  | 'maxReplicas'
  | 'maxScaleUpFactor'
  | 'reservedKeys';
export type WaitRule =
  | 'paused'
  | 'approval'
  | 'maintenanceWindow'
  | 'maxConcurrentDisruptiveActions'
  | 'maxUnavailableNodes';

/** Limits the executors must apply (the tightest over all policies). */
export interface EffectiveLimits {
  drain: {
    /** Smallest maxGracePeriodSeconds of all policies; undefined: no limit. */
    maxGracePeriodSeconds?: number;
    /** Largest minGracePeriodSeconds of all policies. */
    minGracePeriodSeconds: number;
    /** kubectl's --force: pods without a controller may be evicted. */
    allowForce: boolean;
    /** Pods a PDB still protects may be deleted when the budget ends. */
    allowForceDeleteAtBudgetEnd: boolean;
    /** Pods in these namespaces are never force-deleted nor evicted without a controller. */
    noForceNamespaces: string[];
  };
  scale: { maxReplicas: number; maxScaleUpFactor: number };
}

export type Decision =
  | ({ decision: 'allow' } & EffectiveLimits)
  | { decision: 'refuse'; policy: string; rule: RefuseRule; message: string }
  | { decision: 'wait'; policy: string; rule: WaitRule; message: string; retryAt?: Date }
  | ({ decision: 'dryRun'; policies: string[] } & EffectiveLimits);

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
/** Drains: the pods on the node are evicted (a NoExecute patch_node may evict too, see isDisruptive). */
export const evictingActionTypes: ReadonlySet<Action['type']> = new Set(['drain_node', 'delete_node']);
/** How messages name a policy: `AgentPolicy <name>`, or the built-in defaults when none exists. */
export function policyLabel(name: string): string {
  if (name === builtInPolicyName) return 'the built-in defaults (no AgentPolicy exists)';
  return name === agentDryRunName ? name : `AgentPolicy ${name}`;
}

/** The name dry-run decisions carry for the agent's own --dry-run. */
export const agentDryRunName = '(agent --dry-run)';

/**
 * The agent's --dry-run on top of the policies' decision: what they allow becomes a dry run.
 * Not a policy of its own: one would bring the built-in defaults along and narrow what the
 * AgentPolicies widen, so the dry run would not show what a real run does.
 */
export function withAgentDryRun(d: Decision): Decision {
  if (d.decision === 'allow') {
    const { decision: _, ...limits } = d;
    return { decision: 'dryRun', policies: [agentDryRunName], ...limits };
  }
  if (d.decision === 'dryRun') return { ...d, policies: [...d.policies, agentDryRunName] };
  return d;
}
const label = (p: ResolvedPolicy): string => policyLabel(p.name);

/** The patch_node disruption, when the action is one. */
function patchDisruption(action: Action, target: TargetFacts): PatchNodeDisruption | undefined {
  return action.type === 'patch_node'
    ? patchNodeDisruption(action.payload, target.nodeAnnotations)
    : undefined;
}

/** A patch_node that adds a NoExecute taint: it evicts the pods that do not tolerate it. */
export function addsNoExecuteTaint(action: Action): boolean {
  return (patchDisruption(action, {})?.noExecuteAdded.length ?? 0) > 0;
}

/** What a force refusal says about drain.allowForce (and that it is the default, when it is). */
function forceNote(p: ResolvedPolicy): string {
  return `(drain.allowForce: false${defaultNote(p, p.written.drain?.allowForce, 'drain.allowForce: true')})`;
}

/** The same for drain.allowForceDeleteAtBudgetEnd. */
function budgetEndNote(p: ResolvedPolicy): string {
  const written = p.written.drain?.allowForceDeleteAtBudgetEnd;
  return `(drain.allowForceDeleteAtBudgetEnd: false${defaultNote(p, written, 'drain.allowForceDeleteAtBudgetEnd: true')})`;
}

/**
 * Whether the action takes capacity away (or may evict), so the disruption rules (windows,
 * concurrency, unavailable nodes) apply: cordon, drain and delete, and a patch_node that adds
 * a NoExecute taint or removes a taint the agent did not add. Without the node's annotations
 * a patch_node removing taints counts as disruptive (fail closed).
 */
export function isDisruptive(action: Action, target: TargetFacts = {}): boolean {
  if (disruptiveActionTypes.has(action.type)) return true;
  const patch = patchDisruption(action, target);
  return patch !== undefined && isEvictingPatch(patch);
}

/** Keys a patch_node would change that Kubernetes reserves and the policy does not allow. */
function reservedKeysChanged(action: Extract<Action, { type: 'patch_node' }>, allowed: readonly string[]) {
  const p = action.payload;
  const keys = [
    ...Object.keys(p.labels ?? {}).map((k) => `label ${k}`),
    ...Object.keys(p.annotations ?? {}).map((k) => `annotation ${k}`),
    ...[...(p.taints ?? []), ...(p.removeTaints ?? [])].map((t) => `taint ${t.key}`),
  ];
  return [...new Set(keys)].filter((k) => {
    const key = k.slice(k.indexOf(' ') + 1);
    return isReservedKey(key) && !allowed.includes(key);
  });
}

function scaleRefusal(
  action: Extract<Action, { type: 'scale_workload' }>,
  p: ResolvedPolicy,
  current: number | null | undefined,
): { rule: RefuseRule; message: string } | undefined {
  const target = action.payload.replicas;
  // null: nothing to scale (the executor reports it); 0 is never a scale-up.
  if (current === null || target === 0) return undefined;
  if (current === undefined) {
    return { rule: 'maxReplicas', message: 'current replicas unknown, cannot check the scale-up limits' };
  }
  const refusal = scaleUpRefusal(current, target, p.scale);
  if (!refusal) return undefined;
  const written =
    refusal.rule === 'maxReplicas' ? p.written.scale?.maxReplicas : p.written.scale?.maxScaleUpFactor;
  return {
    rule: refusal.rule,
    message: `${refusal.message}${defaultNote(p, written, `scale.${refusal.rule}`)}`,
  };
}

/** Pod rules for the pods an action would evict (drains through the Eviction API; a NoExecute taint without). */
function podRefusals(
  p: ResolvedPolicy,
  pods: readonly PodFacts[],
  viaTaint: boolean,
  refuse: (rule: RefuseRule, message: string) => void,
): void {
  const verb = viaTaint ? 'the NoExecute taint would evict pod' : 'node runs pod';
  const inProtectedNs = pods.find((pod) => p.protectedNamespaces.includes(pod.namespace));
  if (inProtectedNs) {
    refuse(
      'protectedNamespaces',
      `${verb} ${inProtectedNs.namespace}/${inProtectedNs.name} in protected namespace ${inProtectedNs.namespace}`,
    );
  }
  const selector = p.protectedWorkloadSelector;
  const protectedPod = selector && pods.find((pod) => selectorMatches(selector, pod.labels));
  if (selector && protectedPod) {
    refuse(
      'protectedWorkloadSelector',
      `${verb} ${protectedPod.namespace}/${protectedPod.name} matching protectedWorkloadSelector ${describeSelector(selector)}`,
    );
  }
  if (!viaTaint) return;
  // A taint evicts without asking any PodDisruptionBudget: system pods and do-not-disrupt
  // pods must not be in its way.
  const system = pods.find((pod) => p.systemNamespaces.includes(pod.namespace));
  if (system) {
    refuse(
      'protectSystemNamespaces',
      `${verb} ${system.namespace}/${system.name} in system namespace ${system.namespace}` +
        defaultNote(p, p.written.protectSystemNamespaces, 'protectSystemNamespaces: false'),
    );
  }
  const keep = pods.find((pod) => pod.doNotDisrupt);
  if (keep)
    refuse('doNotDisrupt', `${verb} ${keep.namespace}/${keep.name}, which is annotated do-not-disrupt`);
}

/**
 * A NoExecute taint evicts without the Eviction API: no PodDisruptionBudget is asked, and a
 * pod without a controller is gone for good. So it needs what a drain needs to do the same:
 * drain.allowForceDeleteAtBudgetEnd (PDBs bypassed) and, for unmanaged pods, drain.allowForce.
 * A pod whose controller is not known counts as unmanaged (fail closed).
 */
function taintBudgetRefusals(
  p: ResolvedPolicy,
  evicted: readonly PodFacts[],
  refuse: (rule: RefuseRule, message: string) => void,
): void {
  const first = evicted[0];
  if (first && !p.drain.allowForceDeleteAtBudgetEnd) {
    refuse(
      'forceDeleteAtBudgetEnd',
      `the NoExecute taint would evict pod ${first.namespace}/${first.name}${evicted.length > 1 ? ` and ${evicted.length - 1} more` : ''} ` +
        `without asking their PodDisruptionBudgets; drain the node instead ${budgetEndNote(p)}`,
    );
  }
  const unmanaged = evicted.find((pod) => !pod.controller);
  if (unmanaged && !p.drain.allowForce) {
    refuse(
      'force',
      `the NoExecute taint would evict pod ${unmanaged.namespace}/${unmanaged.name}, which no controller recreates ${forceNote(p)}`,
    );
  }
}

export function refusals(action: Action, p: ResolvedPolicy, target: TargetFacts): Refusal[] {
  const out: Refusal[] = [];
  const refuse = (rule: RefuseRule, message: string) =>
    out.push({ decision: 'refuse', policy: p.name, rule, message: `${label(p)}: ${message}` });

  if (p.allowedActionTypes && !p.allowedActionTypes.includes(action.type)) {
    refuse('allowedActionTypes', `action type ${action.type} is not in allowedActionTypes`);
  }

  if (nodeActionTypes.has(action.type)) {
    if (p.protectedNodeSelector) {
      const selector = describeSelector(p.protectedNodeSelector);
      if (!target.nodeLabels) {
        refuse(
          'protectedNodeSelector',
          `node labels unknown, cannot check protectedNodeSelector ${selector}`,
        );
      } else if (selectorMatches(p.protectedNodeSelector, target.nodeLabels)) {
        refuse('protectedNodeSelector', `node matches protectedNodeSelector ${selector}`);
      }
    }
    if (p.protectControlPlaneNodes) {
      const note = defaultNote(p, p.written.protectControlPlaneNodes, 'protectControlPlaneNodes: false');
      if (!target.nodeLabels) {
        refuse(
          'protectControlPlaneNodes',
          `node labels unknown, cannot check for a control-plane node${note}`,
        );
      } else if (isControlPlaneNode(target.nodeLabels)) {
        refuse('protectControlPlaneNodes', `node is a control-plane node${note}`);
      }
    }
  }

  if (action.type === 'scale_workload') {
    const namespace = target.namespace ?? action.payload.namespace;
    if (p.protectedNamespaces.includes(namespace)) {
      refuse('protectedNamespaces', `namespace ${namespace} is protected`);
    }
    if (p.systemNamespaces.includes(namespace)) {
      refuse(
        'protectSystemNamespaces',
        `namespace ${namespace} is a system namespace` +
          defaultNote(p, p.written.protectSystemNamespaces, 'protectSystemNamespaces: false'),
      );
    }
    if (p.protectedWorkloadSelector) {
      const selector = describeSelector(p.protectedWorkloadSelector);
      if (!target.workloadLabels) {
        refuse('protectedWorkloadSelector', `workload labels unknown, cannot check ${selector}`);
      } else if (selectorMatches(p.protectedWorkloadSelector, target.workloadLabels)) {
        refuse('protectedWorkloadSelector', `workload matches protectedWorkloadSelector ${selector}`);
      }
    }
    const scale = scaleRefusal(action, p, target.currentReplicas);
    if (scale) refuse(scale.rule, scale.message);
  }

  if (action.type === 'drain_node' || action.type === 'delete_node') {
    const needsPods = p.protectedNamespaces.length > 0 || p.protectedWorkloadSelector !== undefined;
    if (needsPods && !target.pods) {
      refuse(
        p.protectedNamespaces.length > 0 ? 'protectedNamespaces' : 'protectedWorkloadSelector',
        'the pods on the node are unknown, cannot check protected workloads',
      );
    }
    podRefusals(p, target.pods ?? [], false, refuse);
    if (action.payload.force && !p.drain.allowForce) {
      refuse('force', `force is not allowed ${forceNote(p)}`);
    }
    if (action.payload.forceDeleteAtBudgetEnd && !p.drain.allowForceDeleteAtBudgetEnd) {
      refuse(
        'forceDeleteAtBudgetEnd',
        `deleting pods past their PodDisruptionBudgets at the end of the budget is not allowed ${budgetEndNote(p)}`,
      );
    }
  }

  if (action.type === 'patch_node') {
    const reserved = reservedKeysChanged(action, p.patchNode.allowedReservedKeys);
    if (reserved.length > 0) {
      refuse(
        'reservedKeys',
        `${reserved.slice(0, 5).join(', ')} ${reserved.length === 1 ? 'is' : 'are'} reserved by Kubernetes ` +
          `(kubernetes.io, k8s.io); allow a key in patchNode.allowedReservedKeys`,
      );
    }
    const taints = patchDisruption(action, target)?.noExecuteAdded ?? [];
    if (taints.length > 0) {
      if (!target.pods) {
        refuse(
          'protectedNamespaces',
          'the pods on the node are unknown, cannot check what the NoExecute taint evicts',
        );
      } else {
        const evicted = target.pods.filter((pod) => taints.some((t) => evictedBy(pod.tolerations ?? [], t)));
        podRefusals(p, evicted, true, refuse);
        taintBudgetRefusals(p, evicted, refuse);
      }
    }
  }
  return out;
}

function windowsWait(p: ResolvedPolicy, windows: readonly MaintenanceWindow[], now: Date): Wait | undefined {
  if (windows.some((w) => isInsideWindow(w, now))) return undefined;
  const starts = windows.map((w) => nextWindowStart(w, now)).filter((d): d is Date => d !== undefined);
  const bad = windows.filter((w) => !isIanaTimeZone(w.timezone ?? 'UTC')).map((w) => w.timezone);
  const retryAt = starts.length ? new Date(Math.min(...starts.map((d) => d.getTime()))) : undefined;
  const message =
    `${label(p)}: outside maintenance windows` +
    (retryAt ? `; next opens ${retryAt.toISOString()}` : '') +
    (bad.length ? `; unknown time zone ${bad.join(', ')} (window stays closed)` : '');
  return {
    decision: 'wait',
    policy: p.name,
    rule: 'maintenanceWindow',
    message,
    ...(retryAt ? { retryAt } : {}),
  };
}

export function waits(action: Action, p: ResolvedPolicy, context: PolicyContext): Wait[] {
  const out: Wait[] = [];
  const wait = (rule: WaitRule, message: string) =>
    out.push({ decision: 'wait', policy: p.name, rule, message: `${label(p)}: ${message}` });
  const needsApproval = p.approvalFor === 'all' || p.approvalFor.includes(action.type);
  if (needsApproval && !context.approved) {
    const why =
      p.approvalFor === 'all'
        ? ''
        : ` for ${action.type}${defaultNote(p, p.written.requireApprovalFor, 'requireApprovalFor without it')}`;
    wait('approval', `approval required${why} (annotate the AgentAction clusteropt.io/approved="true")`);
  }
  if (!isDisruptive(action, context.target)) return out;
  if (p.maintenanceWindows) {
    const windowWait = windowsWait(p, p.maintenanceWindows, context.now);
    if (windowWait) out.push(windowWait);
  }
  const maxConcurrent = p.maxConcurrentDisruptiveActions;
  if (context.runningDisruptiveActions >= maxConcurrent) {
    wait(
      'maxConcurrentDisruptiveActions',
      `${context.runningDisruptiveActions} disruptive actions running, maxConcurrentDisruptiveActions is ${maxConcurrent}` +
        defaultNote(p, p.written.maxConcurrentDisruptiveActions, 'maxConcurrentDisruptiveActions'),
    );
  }
  const count = p.maxUnavailableNodes;
  const note = defaultNote(p, p.written.maxUnavailableNodes, 'maxUnavailableNodes');
  if (typeof count === 'string' && context.totalNodes === undefined) {
    wait(
      'maxUnavailableNodes',
      `the number of nodes is unknown, cannot check maxUnavailableNodes ${count}${note}`,
    );
  } else {
    const limit = nodeLimit(count, context.totalNodes ?? 0);
    const after = context.unavailableNodes + (context.targetNodeUnavailable ? 0 : 1);
    if (after > limit) {
      wait(
        'maxUnavailableNodes',
        `${context.unavailableNodes} nodes unavailable, this action would make it ${after}, ` +
          `maxUnavailableNodes is ${count}${typeof count === 'string' ? ` (${limit} of ${context.totalNodes})` : ''}${note}`,
      );
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

function effectiveLimits(policies: readonly ResolvedPolicy[]): EffectiveLimits {
  const graces = policies
    .map((p) => p.drain.maxGracePeriodSeconds)
    .filter((g): g is number => g !== undefined);
  return {
    drain: {
      ...(graces.length ? { maxGracePeriodSeconds: Math.min(...graces) } : {}),
      minGracePeriodSeconds: Math.max(...policies.map((p) => p.drain.minGracePeriodSeconds)),
      allowForce: policies.every((p) => p.drain.allowForce),
      allowForceDeleteAtBudgetEnd: policies.every((p) => p.drain.allowForceDeleteAtBudgetEnd),
      noForceNamespaces: [...new Set(policies.flatMap((p) => p.systemNamespaces))].sort(),
    },
    scale: {
      maxReplicas: Math.min(...policies.map((p) => p.scale.maxReplicas)),
      maxScaleUpFactor: Math.min(...policies.map((p) => p.scale.maxScaleUpFactor)),
    },
  };
}

/** The policies decide evaluates: the given ones, each resolved; none at all is one of all defaults. */
export function resolvePolicies(policies: readonly PolicyInput[], agentNamespace?: string): ResolvedPolicy[] {
  const inputs = policies.length > 0 ? policies : [{ metadata: { name: builtInPolicyName }, spec: {} }];
  // Name order makes the reported policy deterministic whatever order the list came in.
  return sortedByName(inputs).map((p) => resolvePolicy(p.metadata.name, p.spec, agentNamespace));
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
  // The pause holds before any other rule: it is an admin's stop, whatever the policies say.
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
  const resolved = resolvePolicies(policies, context.agentNamespace);
  const refused = resolved.flatMap((p) => refusals(action, p, context.target));
  if (refused.length) return refused[0] as Refusal;
  const waiting = resolved.flatMap((p) => waits(action, p, context));
  if (waiting.length) return pickWait(waiting);
  const limits = effectiveLimits(resolved);
  const dryRun = resolved.filter((p) => p.dryRun).map((p) => p.name);
  if (dryRun.length) return { decision: 'dryRun', policies: dryRun, ...limits };
  return { decision: 'allow', ...limits };
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
