/**
 * `kubectl clusteropt explain ACTION`: what the action is, how it ended or why it waits, its
 * plan when it was a dry run, and the policy check as it stands now, rule by rule, with what
 * would change each verdict. The check runs here, with the user's credentials, on the same
 * code and facts the agent uses (controllers/policy/explain.ts, controllers/action/facts.ts).
 */
import { type Action, parseEnvelope } from '../contract/envelope.ts';
import { factNeeds, resolveFacts, runningDisruptiveActions } from '../controllers/action/facts.ts';
import {
  type Decision,
  type PolicyInput,
  policyLabel,
  resolvePolicies,
} from '../controllers/policy/decide.ts';
import { explain as explainPolicies } from '../controllers/policy/explain.ts';
import { type AgentAction, approvedAnnotation, terminalPhases } from '../crds/agent-action.ts';
import { AgentPolicySpec } from '../crds/agent-policy.ts';
import { errorMessage } from '../util/errors.ts';
import { findAgent, getAction, listActions, listPolicies, type Plugin, PluginError } from './cluster.ts';
import { age, table } from './format.ts';

export async function explain(p: Plugin, out: (text: string) => void, ref: string): Promise<number> {
  await findAgent(p);
  const object = await getAction(p, ref);
  const name = object.metadata.name ?? ref;
  const now = p.now();
  const phase = object.status?.phase ?? 'Pending';
  const lines = [
    `Action ${name}: ${object.spec.type} ${object.spec.target ?? ''}`,
    `  id ${object.spec.id}, from ${object.spec.source}, created ${age(Date.parse(object.spec.createdAt), now)} ago`,
    `  payload ${JSON.stringify(object.spec.payload)}`,
    `Status: ${phase}${object.status?.reason ? ` (${object.status.reason})` : ''}`,
  ];
  if (object.status?.message) lines.push(`  ${object.status.message}`);
  out(`${lines.join('\n')}\n`);
  const plan = object.status?.plan;
  if (plan) out(`\n${planText(plan)}`);

  const parsed = parseEnvelope({
    id: object.spec.id,
    type: object.spec.type,
    payload: object.spec.payload,
    createdAt: object.spec.createdAt,
    ...(object.spec.expiresAt ? { expiresAt: object.spec.expiresAt } : {}),
    ...(object.spec.deadline ? { deadline: object.spec.deadline } : {}),
  });
  if (!parsed.ok) {
    out(`\nThe action is invalid, so no policy is checked: ${parsed.reason}\n`);
    return 0;
  }
  const policies = await listPolicies(p);
  const invalid = policies.flatMap((x) => {
    const r = AgentPolicySpec.safeParse(x.spec);
    return r.success ? [] : [`${x.name}: ${r.error.issues.map((i) => i.message).join('; ')}`];
  });
  const inputs: PolicyInput[] = policies.map((x) => ({ metadata: { name: x.name }, spec: x.spec }));
  const heading = terminalPhases.has(phase)
    ? 'Policy check if it arrived now (it has finished; the check above it is what happened)'
    : 'Policy check now';
  if (invalid.length) {
    out(
      `\n${heading}: REFUSE: invalid AgentPolicy (${invalid.join('; ')}); the agent refuses every action until it is fixed\n`,
    );
    return 0;
  }
  if (inputs.length === 0) out(`\n(no AgentPolicy exists: the agent's built-in defaults apply)\n`);
  const context = await policyContext(p, parsed.action, object, inputs);
  const { decision, rules } = explainPolicies(parsed.action, inputs, context, name);
  out(`\n${heading}: ${decisionLine(decision)}\n`);
  out(
    table(
      ['POLICY', 'RULE', 'VERDICT', 'DETAIL'],
      rules.map((r) => [r.policy, r.rule, r.outcome, r.message]),
    ),
  );
  const changes = rules.filter((r) => r.change);
  if (changes.length) {
    out('\nWhat would change it:\n');
    for (const r of changes) out(`  - ${r.policy} ${r.rule}: ${r.change}\n`);
  }
  return 0;
}

async function policyContext(p: Plugin, action: Action, object: AgentAction, policies: PolicyInput[]) {
  let facts: Awaited<ReturnType<typeof resolveFacts>>;
  try {
    const needs = factNeeds(resolvePolicies(policies, p.namespace));
    facts = await resolveFacts(p.clients, action, needs, AbortSignal.timeout(30_000));
  } catch (err) {
    throw new PluginError(
      `cannot read the facts the policies need about ${object.spec.target}: ${errorMessage(err)}`,
    );
  }
  const running = runningDisruptiveActions(await listActions(p), object.spec.id);
  return {
    now: new Date(p.now()),
    target: facts.target,
    runningDisruptiveActions: running,
    unavailableNodes: facts.unavailableNodes,
    totalNodes: facts.totalNodes,
    targetNodeUnavailable: facts.targetNodeUnavailable,
    approved: object.metadata.annotations?.[approvedAnnotation] === 'true',
    agentNamespace: p.namespace,
  };
}

function decisionLine(d: Decision): string {
  switch (d.decision) {
    case 'allow':
      return 'ALLOW';
    case 'dryRun':
      return `DRY RUN (${d.policies.map(policyLabel).join(', ')}): the plan is reported, nothing changes`;
    case 'refuse':
      return `REFUSE by ${policyLabel(d.policy)} (${d.rule})`;
    case 'wait':
      return `WAIT for ${policyLabel(d.policy)} (${d.rule})`;
  }
}

/** The dry run's plan as text (status.plan; see contract/plan.ts). */
export function planText(plan: NonNullable<NonNullable<AgentAction['status']>['plan']>): string {
  return `Plan (dry run, nothing was changed):\n${plan.summary
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n')}\n`;
}
