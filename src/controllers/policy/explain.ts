/**
 * The policy check, rule by rule, for `kubectl clusteropt explain`: what each AgentPolicy's
 * rules say about one action, and what would change each verdict. Pure; the same rules as
 * decide() (it reuses its refusals and waits), so the explanation cannot drift from the
 * decision. The overall decision is decide()'s.
 */
import { type Action, disruptiveActionTypes } from '../../contract/envelope.ts';
import type { AgentPolicySpec } from '../../crds/agent-policy.ts';
import {
  type Decision,
  decide,
  evictingActionTypes,
  nodeActionTypes,
  type PolicyContext,
  type PolicyInput,
  refusals,
  waits,
} from './decide.ts';

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
function appliesTo(rule: string, action: Action): boolean {
  switch (rule) {
    case 'protectedNodeSelector':
      return nodeActionTypes.has(action.type);
    case 'protectedNamespaces':
    case 'protectedWorkloadSelector':
      return action.type === 'scale_workload' || evictingActionTypes.has(action.type);
    case 'maintenanceWindow':
    case 'maxConcurrentDisruptiveActions':
    case 'maxUnavailableNodes':
      return disruptiveActionTypes.has(action.type);
    case 'force':
    case 'maxGracePeriodSeconds':
      return evictingActionTypes.has(action.type);
    default:
      return true;
  }
}

/** The rules a policy sets, in the order decide() looks at them. */
function rulesOf(spec: AgentPolicySpec): string[] {
  const out: string[] = [];
  if (spec.paused !== undefined) out.push('paused');
  if (spec.allowedActionTypes) out.push('allowedActionTypes');
  if (spec.protectedNodeSelector) out.push('protectedNodeSelector');
  if (spec.protectedNamespaces?.length) out.push('protectedNamespaces');
  if (spec.protectedWorkloadSelector) out.push('protectedWorkloadSelector');
  if (spec.drain?.allowForce !== undefined) out.push('force');
  if (spec.approval) out.push('approval');
  if (spec.maintenanceWindows) out.push('maintenanceWindow');
  if (spec.maxConcurrentDisruptiveActions !== undefined) out.push('maxConcurrentDisruptiveActions');
  if (spec.maxUnavailableNodes !== undefined) out.push('maxUnavailableNodes');
  if (spec.dryRun !== undefined) out.push('dryRun');
  if (spec.drain?.maxGracePeriodSeconds !== undefined) out.push('maxGracePeriodSeconds');
  return out;
}

function changeFor(rule: string, policy: string, action: Action, actionName: string, retryAt?: Date): string {
  const edit = `kubectl edit agentpolicy ${policy}`;
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
    case 'force':
      return `a drain without force, or spec.drain.allowForce: true on AgentPolicy ${policy} (${edit})`;
    case 'approval':
      return `kubectl clusteropt approve ${actionName}`;
    case 'maintenanceWindow':
      return retryAt
        ? `wait until the next window opens at ${retryAt.toISOString()}, or widen spec.maintenanceWindows of AgentPolicy ${policy}`
        : `a window in spec.maintenanceWindows of AgentPolicy ${policy} that is open now`;
    case 'maxConcurrentDisruptiveActions':
      return `running disruptive actions finish, or a higher spec.maxConcurrentDisruptiveActions on AgentPolicy ${policy}`;
    case 'maxUnavailableNodes':
      return `unavailable nodes come back, or a higher spec.maxUnavailableNodes on AgentPolicy ${policy}`;
    case 'dryRun':
      return `spec.dryRun: false on AgentPolicy ${policy} (and the agent not started with --dry-run)`;
    default:
      return edit;
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
  const sorted = [...policies].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  for (const { metadata, spec } of sorted) {
    const name = metadata.name;
    const refused = refusals(action, name, spec, context.target);
    const waiting = waits(action, name, spec, context);
    for (const rule of rulesOf(spec)) {
      const verdict = (outcome: RuleOutcome, message: string, retryAt?: Date): RuleVerdict => ({
        policy: name,
        rule,
        outcome,
        message,
        ...(outcome === 'pass' || outcome === 'not-applicable' || outcome === 'limit'
          ? {}
          : { change: changeFor(rule, name, action, actionName, retryAt) }),
      });
      if (!appliesTo(rule, action)) {
        rules.push(verdict('not-applicable', `does not apply to ${action.type}`));
        continue;
      }
      const refusal = refused.find((r) => r.rule === rule);
      const wait = waiting.find((w) => w.rule === rule);
      if (rule === 'paused') {
        rules.push(
          spec.paused
            ? verdict('paused', `AgentPolicy ${name}: paused: true`)
            : verdict('pass', 'paused: false'),
        );
      } else if (refusal) rules.push(verdict('refuse', refusal.message));
      else if (wait) rules.push(verdict('wait', wait.message, wait.retryAt));
      else if (rule === 'dryRun') {
        rules.push(
          spec.dryRun
            ? verdict(
                'dryRun',
                `AgentPolicy ${name}: dryRun: true (the plan is reported, nothing is changed)`,
              )
            : verdict('pass', 'dryRun: false'),
        );
      } else if (rule === 'maxGracePeriodSeconds') {
        rules.push(
          verdict('limit', `pods get at most ${spec.drain?.maxGracePeriodSeconds} s of grace period`),
        );
      } else rules.push(verdict('pass', passMessage(rule, action, spec, context)));
    }
  }
  return { decision: decide(action, policies, context), rules };
}

function passMessage(rule: string, action: Action, spec: AgentPolicySpec, context: PolicyContext): string {
  switch (rule) {
    case 'allowedActionTypes':
      return `${action.type} is allowed`;
    case 'approval':
      return spec.approval === 'required' ? 'approved (clusteropt.io/approved: "true")' : 'approval: none';
    case 'maintenanceWindow':
      return 'inside a maintenance window';
    case 'maxConcurrentDisruptiveActions':
      return `${context.runningDisruptiveActions} disruptive actions running, limit ${spec.maxConcurrentDisruptiveActions}`;
    case 'maxUnavailableNodes':
      return `${context.unavailableNodes} nodes unavailable, limit ${spec.maxUnavailableNodes}`;
    case 'force':
      return spec.drain?.allowForce ? 'force allowed' : 'the drain does not ask for force';
    default:
      return 'no match';
  }
}
