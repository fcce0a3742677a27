/**
 * kubectl-clusteropt: the cluster admin's plugin (`kubectl clusteropt …`). It talks only to the
 * Kubernetes API with the user's kubeconfig: nothing reaches the agent or the control plane
 * directly. Exit codes: 0 done, 1 the request failed or was refused (message on stderr),
 * 2 bad usage.
 */
import { parseArgs } from 'node:util';
import { actions, approve } from './actions.ts';
import { connect, type Plugin, PluginError } from './cluster.ts';
import { explain } from './explain.ts';
import { pause, resume } from './pause.ts';
import { status } from './status.ts';

export const usage = `Usage: kubectl clusteropt COMMAND [options]

Commands:
  status                   leader, readiness, control-plane reachability, outbox, pause, recent actions
  actions [--state S]      list AgentActions (S: Pending, WaitingApproval, Running, Succeeded, Failed, Rejected, Expired)
  approve ACTION           approve an action that waits for approval (clusteropt.io/approved=true)
  explain ACTION           the outcome, the dry-run plan, and each policy rule's verdict with what would change it
  pause [--reason TEXT]    stop every new action at once, cluster-wide (running ones finish)
  resume                   undo pause

ACTION is the AgentAction name (act-<uuid>) or the action id.

Options:
  -n, --namespace NS       the agent's namespace (default clusteropt-system)
      --kubeconfig FILE    kubeconfig (default: $KUBECONFIG, then ~/.kube/config)
      --context NAME       kubeconfig context
      --lease NAME         the agent's leader-election Lease (default clusteropt-agent)
`;

type Out = (text: string) => void;

export async function main(
  argv: string[],
  out: Out = (t) => process.stdout.write(t),
  err: Out = (t) => process.stderr.write(t),
) {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (e) {
    err(`kubectl clusteropt: ${(e as Error).message}\n\n${usage}`);
    return 2;
  }
  if (parsed.help) {
    out(usage);
    return 0;
  }
  let plugin: Plugin | undefined;
  try {
    plugin = connect(parsed.options);
    return await run(plugin, parsed.command, parsed.args, parsed.values, out);
  } catch (e) {
    if (e instanceof PluginError) {
      err(`kubectl clusteropt ${parsed.command}: ${e.message}\n`);
      return e.exitCode;
    }
    err(`kubectl clusteropt ${parsed.command}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    await plugin?.close();
  }
}

const commands = ['status', 'actions', 'approve', 'explain', 'pause', 'resume'] as const;
type Command = (typeof commands)[number];

function parseCommandLine(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      namespace: { type: 'string', short: 'n' },
      kubeconfig: { type: 'string' },
      context: { type: 'string' },
      lease: { type: 'string' },
      state: { type: 'string' },
      reason: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...args] = positionals;
  if (values.help || command === 'help')
    return { help: true as const, command: 'help', args, values, options: undefined as never };
  if (!command) throw new Error('no command given');
  if (!(commands as readonly string[]).includes(command)) throw new Error(`unknown command "${command}"`);
  const takes: Record<Command, number> = {
    status: 0,
    actions: 0,
    approve: 1,
    explain: 1,
    pause: 0,
    resume: 0,
  };
  if (args.length !== takes[command as Command]) {
    throw new Error(
      takes[command as Command] === 1
        ? `${command} needs exactly one ACTION`
        : `${command} takes no argument, got "${args.join(' ')}"`,
    );
  }
  if (values.state !== undefined && command !== 'actions') throw new Error('--state only goes with actions');
  if (values.reason !== undefined && command !== 'pause') throw new Error('--reason only goes with pause');
  return {
    help: false as const,
    command: command as Command,
    args,
    values,
    options: {
      namespace: values.namespace ?? 'clusteropt-system',
      leaseName: values.lease ?? 'clusteropt-agent',
      ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
      ...(values.context ? { context: values.context } : {}),
    },
  };
}

function run(
  p: Plugin,
  command: Command,
  args: string[],
  values: { state?: string; reason?: string },
  out: Out,
) {
  switch (command) {
    case 'status':
      return status(p, out);
    case 'actions':
      return actions(p, out, values.state);
    case 'approve':
      return approve(p, out, args[0] as string);
    case 'explain':
      return explain(p, out, args[0] as string);
    case 'pause':
      return pause(p, out, values.reason);
    case 'resume':
      return resume(p, out);
  }
}
