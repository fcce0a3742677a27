/**
 * Dry run of sync_hibernation_schedule: the schedule it would create or update, and the
 * workloads and replicas it would put to sleep in its hibernation hours, decided by the same
 * coverage and sleep planning as the hibernation controller (covers, planSleep). Reads only.
 * The AgentPolicies apply as they would when the schedule runs: the namespaces they exclude
 * (system namespaces by default) are not covered, and protected workloads are skipped.
 * It lives with the hibernation controller, not in actions/dry-run.ts, because its coverage
 * and sleep rules are this controller's (a layer above actions/); the action controller calls it.
 */
import type { ActionOf } from '../../actions/types.ts';
import { specFromSyncPayload } from '../../contract/sync-hibernation-schedule.ts';
import type { ActionPlan } from '../../crds/agent-action.ts';
import type { KubeClients } from '../../kube/clients.ts';
import { listAll } from '../../kube/watch.ts';
import type { PolicyInput } from '../policy/decide.ts';
import { listWorkloads } from './cluster.ts';
import { covers, excludedNamespaces, planSleep } from './workload-plan.ts';

export async function planSyncSchedule(
  clients: KubeClients,
  action: ActionOf<'sync_hibernation_schedule'>,
  policies: readonly PolicyInput[],
  agentNamespace: string,
  signal: AbortSignal,
): Promise<ActionPlan> {
  const name = action.payload.name;
  const spec = specFromSyncPayload(action.payload);
  const { items } = await listAll<{ metadata?: { name?: string; labels?: Record<string, string> } }>(
    clients,
    '/api/v1/namespaces',
    {},
    signal,
  );
  const namespaces = new Map(items.map((n) => [n.metadata?.name ?? '', n.metadata?.labels ?? {}]));
  const workloads = (
    await Promise.all(spec.kinds.map((kind) => listWorkloads(clients, kind, { namespaces: 'all' }, signal)))
  ).flat();
  const excluded = excludedNamespaces(policies, agentNamespace);
  const touched: {
    kind: string;
    namespace: string;
    name: string;
    from?: number;
    to?: number;
    skip?: string;
  }[] = [];
  for (const w of workloads) {
    if (!covers(spec, w, namespaces.get(w.namespace), excluded)) continue;
    const step = planSleep(w, { schedule: name, now: new Date(), policies, refresh: false });
    const id = { kind: w.kind, namespace: w.namespace, name: w.name };
    if (step.kind === 'sleep')
      touched.push({ ...id, ...(w.kind === 'CronJob' ? {} : { from: w.replicas ?? 1, to: 0 }) });
    else if (step.kind === 'held') touched.push({ ...id, skip: 'already asleep under this schedule' });
    else touched.push({ ...id, skip: step.reason });
  }
  const lines = touched.map((t) =>
    t.skip
      ? `skip ${t.kind} ${t.namespace}/${t.name}: ${t.skip}`
      : t.kind === 'CronJob'
        ? `suspend CronJob ${t.namespace}/${t.name}`
        : `${t.kind} ${t.namespace}/${t.name}: ${t.from} -> 0 replicas (restored to ${t.from} on wake)`,
  );
  const scaled = touched.filter((t) => !t.skip).length;
  return {
    summary: [
      `would create or update HibernationSchedule ${name}; in its hibernation hours it would put ${scaled} workload(s) to sleep`,
      ...lines,
    ].join('\n'),
    wouldFail: false,
    details: { schedule: name, workloads: touched.slice(0, 500) },
  };
}
