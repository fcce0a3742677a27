/** `kubectl clusteropt status`: leader, readiness, control plane, outbox, pause, recent actions. */
import { ActionPhase, type AgentAction } from '../crds/agent-action.ts';
import { findAgent, listActions, listPolicies, type Plugin } from './cluster.ts';
import { age, clip, table } from './format.ts';

export async function status(p: Plugin, out: (text: string) => void): Promise<number> {
  const agent = await findAgent(p);
  const [actions, policies] = await Promise.all([listActions(p), listPolicies(p)]);
  const now = p.now();
  const s = agent.status;
  const lines: string[] = [`Agent in namespace ${p.namespace}`];
  const renewed = agent.renewedAtMs === undefined ? '' : `, renewed ${age(agent.renewedAtMs, now)} ago`;
  lines.push(
    `  Leader:         ${agent.live ? `${agent.holder}${renewed}` : `none (the Lease is not held${agent.holder ? `; last holder ${agent.holder}${renewed}` : ''})`}`,
  );
  if (!s) {
    lines.push('  Status:         not published by the leader (an agent older than this plugin?)');
  } else {
    const asOf = agent.live ? '' : ` (as of ${age(Date.parse(s.updatedAt), now)} ago)`;
    lines.push(`  Version:        ${s.version}`);
    lines.push(`  Ready:          ${s.ready ? 'yes' : `no: ${(s.notReady ?? []).join('; ')}`}${asOf}`);
    lines.push(`  Control plane:  ${controlPlaneLine(s.controlPlane, now)}${asOf}`);
    lines.push(
      `  Outbox:         ${s.outbox.depth} record(s) waiting${s.outbox.depth ? `, oldest ${s.outbox.oldestAgeSeconds}s` : ''}${asOf}`,
    );
  }
  const pausing = policies.filter((x) => x.spec.paused === true);
  lines.push(
    `  Paused:         ${
      pausing.length
        ? `yes, by AgentPolicy ${pausing.map((x) => x.name).join(', ')}${pausedSince(pausing[0]?.annotations, now)}: no new action starts (kubectl clusteropt resume)`
        : 'no'
    }`,
  );
  const counts = ActionPhase.options
    .map((phase) => [phase, actions.filter((a) => (a.status?.phase ?? 'Pending') === phase).length] as const)
    .filter(([, n]) => n > 0)
    .map(([phase, n]) => `${n} ${phase}`);
  lines.push(`Actions: ${counts.length ? counts.join(', ') : 'none'}`);
  out(`${lines.join('\n')}\n`);
  const recent = [...actions].sort((a, b) => created(b) - created(a)).slice(0, 10);
  if (recent.length) out(`\nRecent actions:\n${actionTable(recent, now)}`);
  return 0;
}

function controlPlaneLine(
  cp: NonNullable<Awaited<ReturnType<typeof findAgent>>['status']>['controlPlane'],
  now: number,
) {
  const since = (iso?: string) => (iso ? `${age(Date.parse(iso), now)} ago` : 'never');
  if (cp.lastOutcome === undefined) return 'no request yet';
  if (cp.lastOutcome === '2xx') return `reachable (last success ${since(cp.lastSuccessAt)})`;
  return `failing: ${cp.lastOutcome} (last success ${since(cp.lastSuccessAt)}, last failure ${since(cp.lastFailureAt)})`;
}

function pausedSince(annotations: Record<string, string> | undefined, now: number): string {
  const at = annotations?.['clusteropt.io/paused-at'];
  const reason = annotations?.['clusteropt.io/paused-reason'];
  return `${at ? ` since ${age(Date.parse(at), now)} ago` : ''}${reason ? ` (${reason})` : ''}`;
}

function created(a: AgentAction): number {
  return Date.parse(a.metadata.creationTimestamp ?? a.spec.createdAt);
}

/** NAME TYPE TARGET PHASE AGE REASON, like `kubectl get aact` plus the reason. */
export function actionTable(actions: AgentAction[], now: number): string {
  return table(
    ['NAME', 'TYPE', 'TARGET', 'PHASE', 'AGE', 'REASON'],
    actions.map((a) => [
      a.metadata.name ?? '',
      a.spec.type,
      clip(a.spec.target ?? '', 48),
      a.status?.phase ?? 'Pending',
      age(created(a), now),
      clip(a.status?.reason ?? '', 60),
    ]),
  );
}
