/** `kubectl clusteropt actions [--state S]` and `approve ACTION`. */
import { ActionPhase, approvedAnnotation, terminalPhases } from '../crds/agent-action.ts';
import { annotateAction, findAgent, getAction, listActions, type Plugin, PluginError } from './cluster.ts';
import { actionTable } from './status.ts';

/** The phase named by `--state`, case-insensitive; a usage error for anything else. */
export function parseState(state: string): ActionPhase {
  const phase = ActionPhase.options.find((s) => s.toLowerCase() === state.toLowerCase());
  if (!phase) {
    throw new PluginError(`unknown state "${state}": use one of ${ActionPhase.options.join(', ')}`, 2);
  }
  return phase;
}

export async function actions(p: Plugin, out: (text: string) => void, state?: string): Promise<number> {
  const phase = state === undefined ? undefined : parseState(state);
  await findAgent(p);
  const all = await listActions(p);
  const shown = all
    .filter((a) => phase === undefined || (a.status?.phase ?? 'Pending') === phase)
    .sort((a, b) => Date.parse(a.spec.createdAt) - Date.parse(b.spec.createdAt));
  if (shown.length === 0) {
    out(`No actions${phase ? ` in state ${phase}` : ''} in namespace ${p.namespace}.\n`);
    return 0;
  }
  out(actionTable(shown, p.now()));
  return 0;
}

/**
 * Sets clusteropt.io/approved: "true" on an action that waits for approval. Anything else
 * (finished, not waiting for approval, already approved) is refused with the reason and
 * nothing is changed.
 */
export async function approve(p: Plugin, out: (text: string) => void, ref: string): Promise<number> {
  await findAgent(p);
  const action = await getAction(p, ref);
  const name = action.metadata.name ?? ref;
  const phase = action.status?.phase ?? 'Pending';
  if (terminalPhases.has(phase)) {
    throw new PluginError(`${name} has finished (${phase}): there is nothing to approve; nothing changed`);
  }
  if (action.metadata.annotations?.[approvedAnnotation] === 'true') {
    throw new PluginError(`${name} is already approved (phase ${phase}); nothing changed`);
  }
  if (phase !== 'WaitingApproval') {
    const why = action.status?.reason ? `; ${action.status.reason}` : '';
    throw new PluginError(
      `${name} does not need approval: it is ${phase}${why}, not WaitingApproval; nothing changed`,
    );
  }
  await annotateAction(p, name, { [approvedAnnotation]: 'true' });
  out(
    `${name} approved: the agent runs it once the other rules allow (kubectl clusteropt explain ${name})\n`,
  );
  return 0;
}
