/**
 * The policy check, rule by rule, for `kubectl clusteropt explain`: what each AgentPolicy's
 * rules say about one action, and what would change each verdict. Pure; the same rules as
 * decide() (it reuses its refusals and waits on the same resolved policies, built-in defaults
 * included), so the explanation cannot drift from the decision. The overall decision is decide()'s.
 */
import type { Action } from '../../contract/envelope.ts';
import {
  addsNoExecuteTaint,
  type Decision,
  decide,
  evictingActionTypes,
  isDisruptive,
  nodeActionTypes,
  type PolicyContext,
  type PolicyInput,
  refusals,
  resolvePolicies,
  waits,
} from './decide.ts';
import { builtInPolicyName, type ResolvedPolicy } from './defaults.ts';

export type RuleOutcome = 'pass' | 'not-applicable' | 'refuse' | 'wait' | 'dryRun' | 'paused' | 'limit';

export interface RuleVerdict {
  policy: string;
  rule: string;
  outcome: RuleOutcome;
  message: string;
  /** What would change this verdict (for refuse, wait, dryRun, paused). */
  change?: string;
}

export interface Explanation {
  decision: Decision;
  rules: RuleVerdict[];
}

/** Which action types each rule looks at; undefined: every type. */
function appliesTo(rule: string, action: Action, context: PolicyContext): boolean {
  switch (rule) {
    case 'protectedNodeSelector':
    case 'protectControlPlaneNodes':
      return nodeActionTypes.has(action.type);
    case 'protectedNamespaces':
    case 'protectSystemNamespaces':
    case 'protectedWorkloadSelector':
      return (
        action.type === 'scale_workload' ||
        action.type === 'patch_node' ||
        evictingActionTypes.has(action.type)
      );
    case 'doNotDisrupt':
    case 'reservedKeys':
      return action.type === 'patch_node';
    case 'maxReplicas':
    case 'maxScaleUpFactor':
      return action.type === 'scale_workload';
    case 'maintenanceWindow':
    case 'maxConcurrentDisruptiveActions':
    case 'maxUnavailableNodes':
      return isDisruptive(action, context.target);
    // A NoExecute taint evicts without asking any PodDisruptionBudget: it needs the force rules.
    case 'force':
    case 'forceDeleteAtBudgetEnd':
      return evictingActionTypes.has(action.type) || addsNoExecuteTaint(action);
    case 'minGracePeriodSeconds':
    case 'maxGracePeriodSeconds':
      return evictingActionTypes.has(action.type);
    default:
      return true;
  }
}

/** The rules a resolved policy applies, in the order decide() looks at them (defaults included). */
function rulesOf(p: ResolvedPolicy): string[] {
  const out: string[] = [];
  if (p.written.paused !== undefined) out.push('paused');
  if (p.allowedActionTypes) out.push('allowedActionTypes');
  if (p.protectedNodeSelector) out.push('protectedNodeSelector');
  if (p.protectControlPlaneNodes) out.push('protectControlPlaneNodes');
  if (p.protectedNamespaces.length) out.push('protectedNamespaces');
  if (p.systemNamespaces.length) out.push('protectSystemNamespaces');
  if (p.protectedWorkloadSelector) out.push('protectedWorkloadSelector');
  out.push(
    'doNotDisrupt',
    'force',
    'forceDeleteAtBudgetEnd',
    'maxReplicas',
    'maxScaleUpFactor',
    'reservedKeys',
  );
  out.push('approval');
  if (p.maintenanceWindows) out.push('maintenanceWindow');
  out.push('maxConcurrentDisruptiveActions', 'maxUnavailableNodes');
  if (p.written.dryRun !== undefined) out.push('dryRun');
  out.push('minGracePeriodSeconds');
  if (p.drain.maxGracePeriodSeconds !== undefined) out.push('maxGracePeriodSeconds');
  return out;
}

/** The AgentPolicy field behind each rule, as an admin would write it to change the verdict. */
const widening: Record<string, string> = {
  allowedActionTypes: 'spec.allowedActionTypes listing the type',
  protectControlPlaneNodes: 'spec.protectControlPlaneNodes: false',
  protectSystemNamespaces: 'spec.protectSystemNamespaces: false',
  force: 'spec.drain.allowForce: true',
  forceDeleteAtBudgetEnd: 'spec.drain.allowForceDeleteAtBudgetEnd: true',
  maxReplicas: 'a higher spec.scale.maxReplicas',
  maxScaleUpFactor: 'a higher spec.scale.maxScaleUpFactor',
  reservedKeys: 'spec.patchNode.allowedReservedKeys listing the key',
  maxConcurrentDisruptiveActions: 'a higher spec.maxConcurrentDisruptiveActions',
  maxUnavailableNodes: 'a higher spec.maxUnavailableNodes',
};

function changeFor(rule: string, policy: string, action: Action, actionName: string, retryAt?: Date): string {
  const builtIn = policy === builtInPolicyName;
  const edit = `kubectl edit agentpolicy ${policy}`;
  // Where a field is set: on this AgentPolicy, or (none exists) on a new one.
  const on = (field: string) =>
    builtIn
      ? `an AgentPolicy with ${field} (none exists, so the built-in defaults apply)`
      : `${field} on AgentPolicy ${policy} (${edit}; every AgentPolicy must allow it)`;
  switch (rule) {
    case 'paused':
      return policy === pausePolicyName
        ? 'kubectl clusteropt resume'
        : `set spec.paused: false on AgentPolicy ${policy} (${edit})`;
    case 'allowedActionTypes':
      return `add ${action.type} to spec.allowedActionTypes of AgentPolicy ${policy} (${edit})`;
    case 'protectedNodeSelector':
      return `the node stops matching spec.protectedNodeSelector of AgentPolicy ${policy}, or the selector changes (${edit})`;
    case 'protectedNamespaces':
      return `no pod or workload of the action in a namespace of spec.protectedNamespaces of AgentPolicy ${policy}, or the namespace removed from it (${edit})`;
    case 'protectedWorkloadSelector':
      return `no workload matching spec.protectedWorkloadSelector of AgentPolicy ${policy}, or the selector changes (${edit})`;
    case 'doNotDisrupt':
      return 'no pod the taint would evict annotated clusteropt.io/do-not-disrupt: "true" (or a toleration for the taint)';
    case 'approval':
      return `kubectl clusteropt approve ${actionName}`;
    case 'maintenanceWindow':
      return retryAt
        ? `wait until the next window opens at ${retryAt.toISOString()}, or widen spec.maintenanceWindows of AgentPolicy ${policy}`
        : `a window in spec.maintenanceWindows of AgentPolicy ${policy} that is open now`;
    case 'maxConcurrentDisruptiveActions':
      return `running disruptive actions finish, or ${on(widening[rule] ?? rule)}`;
    case 'maxUnavailableNodes':
      return `unavailable nodes come back, or ${on(widening[rule] ?? rule)}`;
    case 'dryRun':
      return `spec.dryRun: false on AgentPolicy ${policy} (and the agent not started with --dry-run)`;
    default: {
      const field = widening[rule];
      return field ? on(field) : edit;
    }
  }
}

/** The AgentPolicy `kubectl clusteropt pause` writes and `resume` removes. */
export const pausePolicyName = 'clusteropt-pause';

export function explain(
  action: Action,
  policies: readonly PolicyInput[],
  context: PolicyContext,
  actionName: string,
): Explanation {
  const rules: RuleVerdict[] = [];
  for (const p of resolvePolicies(policies, context.agentNamespace)) {
    const name = p.name;
    const refused = refusals(action, p, context.target);
    const waiting = waits(action, p, context);
    const verdict = (rule: string, outcome: RuleOutcome, message: string, retryAt?: Date): RuleVerdict => ({
      policy: name,
      rule,
      outcome,
      message,
      ...(outcome === 'pass' || outcome === 'not-applicable' || outcome === 'limit'
        ? {}
        : { change: changeFor(rule, name, action, actionName, retryAt) }),
    });
    const listed = rulesOf(p);
    for (const rule of listed) {
      if (!appliesTo(rule, action, context)) {
        // A default the admin did not write is left out where it does not apply: noise.
        if (isWritten(rule, p))
          rules.push(verdict(rule, 'not-applicable', `does not apply to ${action.type}`));
        continue;
      }
      const refusal = refused.find((r) => r.rule === rule);
      const wait = waiting.find((w) => w.rule === rule);
      if (rule === 'paused') {
        rules.push(
          p.written.paused
            ? verdict(rule, 'paused', `AgentPolicy ${name}: paused: true`)
            : verdict(rule, 'pass', 'paused: false'),
        );
      } else if (refusal) rules.push(verdict(rule, 'refuse', refusal.message));
      else if (wait) rules.push(verdict(rule, 'wait', wait.message, wait.retryAt));
      else if (rule === 'dryRun') {
        rules.push(
          p.dryRun
            ? verdict(
                rule,
                'dryRun',
                `AgentPolicy ${name}: dryRun: true (the plan is reported, nothing is changed)`,
              )
            : verdict(rule, 'pass', 'dryRun: false'),
        );
      } else if (rule === 'maxGracePeriodSeconds') {
        rules.push(
          verdict(rule, 'limit', `pods get at most ${p.drain.maxGracePeriodSeconds} s of grace period`),
        );
      } else if (rule === 'minGracePeriodSeconds') {
        rules.push(
          verdict(
            rule,
            'limit',
            `a grace period asked for is at least ${p.drain.minGracePeriodSeconds} s (a pod's own shorter one is kept)`,
          ),
        );
      } else {
        const note = isWritten(rule, p) ? '' : ' (built-in default)';
        rules.push(verdict(rule, 'pass', `${passMessage(rule, action, p, context)}${note}`));
      }
    }
    // A refusal or wait under a rule the list does not name (e.g. unknown pods for a NoExecute
    // taint, reported as protectedNamespaces) still shows: the explanation never hides one.
    for (const r of refused) if (!listed.includes(r.rule)) rules.push(verdict(r.rule, 'refuse', r.message));
    for (const w of waiting)
      if (!listed.includes(w.rule)) rules.push(verdict(w.rule, 'wait', w.message, w.retryAt));
  }
  return { decision: decide(action, policies, context), rules };
}

/** Whether the admin wrote the field behind a rule (otherwise it is a built-in default). */
function isWritten(rule: string, p: ResolvedPolicy): boolean {
  const w = p.written;
  const fields: Record<string, unknown> = {
    protectControlPlaneNodes: w.protectControlPlaneNodes,
    protectSystemNamespaces: w.protectSystemNamespaces,
    doNotDisrupt: undefined,
    force: w.drain?.allowForce,
    forceDeleteAtBudgetEnd: w.drain?.allowForceDeleteAtBudgetEnd,
    maxReplicas: w.scale?.maxReplicas,
    maxScaleUpFactor: w.scale?.maxScaleUpFactor,
    reservedKeys: w.patchNode?.allowedReservedKeys,
    approval: w.approval ?? w.requireApprovalFor,
    maxConcurrentDisruptiveActions: w.maxConcurrentDisruptiveActions,
    maxUnavailableNodes: w.maxUnavailableNodes,
    minGracePeriodSeconds: w.drain?.minGracePeriodSeconds,
  };
  // Rules not in the table come from fields that exist only when written (selectors, windows, ...).
  return Object.hasOwn(fields, rule) ? fields[rule] !== undefined : true;
}

function passMessage(rule: string, action: Action, p: ResolvedPolicy, context: PolicyContext): string {
  switch (rule) {
    case 'allowedActionTypes':
      return `${action.type} is allowed`;
    case 'approval':
      if (p.approvalFor === 'all') return 'approved (clusteropt.io/approved: "true")';
      return p.approvalFor.includes(action.type)
        ? 'approved (clusteropt.io/approved: "true")'
        : `no approval needed for ${action.type}`;
    case 'maintenanceWindow':
      return 'inside a maintenance window';
    case 'maxConcurrentDisruptiveActions':
      return `${context.runningDisruptiveActions} disruptive actions running, limit ${p.maxConcurrentDisruptiveActions}`;
    case 'maxUnavailableNodes':
      return `${context.unavailableNodes} nodes unavailable, limit ${p.maxUnavailableNodes}`;
    case 'force':
      if (p.drain.allowForce) return 'force allowed';
      return action.type === 'patch_node'
        ? 'the NoExecute taint evicts no pod without a controller'
        : 'the drain does not ask for force';
    case 'forceDeleteAtBudgetEnd':
      if (p.drain.allowForceDeleteAtBudgetEnd)
        return 'deleting pods past their budgets at budget end allowed';
      return action.type === 'patch_node'
        ? 'the NoExecute taint evicts no pod'
        : 'the drain does not ask for forceDeleteAtBudgetEnd';
    case 'maxReplicas':
      return `within scale.maxReplicas ${p.scale.maxReplicas}`;
    case 'maxScaleUpFactor':
      return `within scale.maxScaleUpFactor ${p.scale.maxScaleUpFactor}`;
    case 'reservedKeys':
      return 'no key reserved by Kubernetes changed';
    case 'protectControlPlaneNodes':
      return 'not a control-plane node';
    case 'protectSystemNamespaces':
      return `nothing in ${p.systemNamespaces.join(', ')}`;
    case 'doNotDisrupt':
      return 'no do-not-disrupt pod evicted';
    default:
      return 'no match';
  }
}
