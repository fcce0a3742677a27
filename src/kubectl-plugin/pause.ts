/**
 * `kubectl clusteropt pause` / `resume`: the cluster-wide kill switch. Pause is an AgentPolicy
 * named clusteropt-pause with `paused: true`: the agent already watches AgentPolicies, so
 * every replica sees it at once, it outlives restarts and leader changes, and the policy check
 * holds every action that has not started (phase Pending, reason AgentPolicy/clusteropt-pause:paused).
 * Running actions finish (docs/policy.md "Pause"). Resume deletes that policy.
 */
import { pausePolicyName } from '../controllers/policy/explain.ts';
import {
  applyPolicy,
  deletePolicy,
  findAgent,
  listActions,
  listPolicies,
  type Plugin,
  PluginError,
} from './cluster.ts';
import { actionTable } from './status.ts';

export async function pause(p: Plugin, out: (text: string) => void, reason?: string): Promise<number> {
  await findAgent(p);
  const existing = (await listPolicies(p)).find((x) => x.name === pausePolicyName);
  if (existing?.spec.paused === true) {
    out(`already paused (AgentPolicy ${pausePolicyName}); nothing changed\n`);
    return 0;
  }
  await applyPolicy(
    p,
    pausePolicyName,
    {
      paused: true,
      description: 'Written by kubectl clusteropt pause; kubectl clusteropt resume deletes it.',
    },
    {
      'clusteropt.io/paused-at': new Date(p.now()).toISOString(),
      ...(reason ? { 'clusteropt.io/paused-reason': reason } : {}),
    },
  );
  out(`paused: no new action starts until kubectl clusteropt resume (AgentPolicy ${pausePolicyName})\n`);
  const running = (await listActions(p)).filter((a) => a.status?.phase === 'Running');
  if (running.length) {
    out(`${running.length} action(s) already running will finish:\n${actionTable(running, p.now())}`);
  }
  return 0;
}

export async function resume(p: Plugin, out: (text: string) => void): Promise<number> {
  await findAgent(p);
  const deleted = await deletePolicy(p, pausePolicyName);
  const still = (await listPolicies(p)).filter((x) => x.spec.paused === true);
  if (still.length) {
    throw new PluginError(
      `still paused by AgentPolicy ${still.map((x) => x.name).join(', ')} (paused: true, not written by kubectl clusteropt pause): set spec.paused: false there to resume`,
    );
  }
  out(deleted ? 'resumed: waiting actions start again\n' : 'not paused; nothing changed\n');
  return 0;
}
