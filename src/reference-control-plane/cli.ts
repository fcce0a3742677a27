import { parseArgs } from 'node:util';
import { AgentError, errorMessage } from '../util/errors.ts';
import { type ActionRecord, ActionsRepo, storedActionStates } from './actions-repo.ts';
import type { ReferenceControlPlaneAdmin } from './admin-client.ts';
import { resolveAdminToken } from './admin-token.ts';
import { createCluster, setClusterStatus } from './clusters-repo.ts';
import { openDatabase } from './db.ts';

const usage = `usage: clusteropt-agent control-plane <command> [options]

  serve --db FILE [--listen HOST:PORT] [--lease-seconds N] [--admin-token-file F] [--hostile]
      Run the reference control plane (default listen 127.0.0.1:8080). Prints
      "listening on http://HOST:PORT" once ready; stops cleanly on SIGTERM/SIGINT.
      Admin token: --admin-token-file, else $CLUSTEROPT_ADMIN_TOKEN, else FILE.admin-token
      (generated, mode 0600, on first start). --hostile: tests only, raw poll answers
      and reports about unknown actions through the admin API (docs/security.md).

  cluster-status ID active|disabled --db FILE
      Enable or disable a cluster: a disabled cluster's agent gets 403 and starts nothing.

  create-cluster NAME --db FILE [--account-id ID] [--region R] [--json]
      Create a cluster and its API key (printed once: cluster_id=... and api_key=...).

  enqueue --db FILE --cluster ID --type TYPE --payload JSON [--expires-in S] [--id UUID] [--json]
      Queue an action and print its id. The payload is stored as given (any JSON).

  actions --db FILE --cluster ID [--state STATE] [--json]
      List the cluster's actions with state, deliveries and message.

  create-cluster, enqueue and actions work on the database file directly (a running server
  notices new actions within a quarter second), or through a running server's admin API
  with --server URL (token from --admin-token-file, $CLUSTEROPT_ADMIN_TOKEN or FILE.admin-token).
`;

/** Bad command line: exit status 2 with the usage text. */
export class UsageError extends AgentError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

const common = {
  db: { type: 'string' },
  server: { type: 'string' },
  'admin-token-file': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

function positiveNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number`);
  return n;
}

/** `HOST:PORT`, `:PORT`, `PORT` or `[v6]:PORT`. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65_535)
    throw new UsageError(`--listen must be HOST:PORT, got "${value}"`);
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

// The HTTP server and admin client are loaded only by the commands that use them, so the
// offline commands start fast.
async function adminClient(
  server: string,
  values: { db?: string; 'admin-token-file'?: string },
): Promise<ReferenceControlPlaneAdmin> {
  const { token } = resolveAdminToken({
    dbPath: values.db ?? '',
    tokenFile: values['admin-token-file'],
    create: false,
  });
  const { ReferenceControlPlaneAdmin } = await import('./admin-client.ts');
  return new ReferenceControlPlaneAdmin({ url: server, adminToken: token });
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...common,
      listen: { type: 'string', default: '127.0.0.1:8080' },
      'lease-seconds': { type: 'string' },
      hostile: { type: 'boolean', default: false },
    },
  });
  const { host, port } = parseListen(values.listen);
  const leaseSeconds = positiveNumber(values['lease-seconds'], '--lease-seconds');
  const dbPath = required(values.db, '--db');
  const { startReferenceControlPlane } = await import('./index.ts');
  const cp = await startReferenceControlPlane({
    dbPath,
    host,
    port,
    ...(leaseSeconds === undefined ? {} : { leaseSeconds }),
    ...(values['admin-token-file'] ? { adminTokenFile: values['admin-token-file'] } : {}),
    hostile: values.hostile === true,
  });
  if (cp.adminTokenFile && !values['admin-token-file']) {
    process.stderr.write(`admin token in ${cp.adminTokenFile}\n`);
  }
  print(`listening on ${cp.url}`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  process.stderr.write(`${signal}: shutting down\n`);
  await cp.close();
  return 0;
}

async function createClusterCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...common, 'account-id': { type: 'string' }, region: { type: 'string' } },
  });
  if (positionals.length !== 1) throw new UsageError('create-cluster takes exactly one NAME');
  const input = {
    name: positionals[0]!,
    ...(values['account-id'] ? { accountId: values['account-id'] } : {}),
    ...(values.region ? { region: values.region } : {}),
  };
  let created: { cluster: { id: string }; apiKey: string; apiKeyId: string };
  if (values.server) {
    created = await (await adminClient(values.server, values)).createCluster(input);
  } else {
    const db = openDatabase(required(values.db, '--db'));
    try {
      created = createCluster(db, input);
    } finally {
      db.close();
    }
  }
  if (values.json) {
    print(JSON.stringify(created));
  } else {
    print(`cluster_id=${created.cluster.id}`);
    print(`api_key_id=${created.apiKeyId}`);
    print(`api_key=${created.apiKey}`);
  }
  return 0;
}

async function enqueueCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...common,
      cluster: { type: 'string' },
      type: { type: 'string' },
      payload: { type: 'string' },
      'expires-in': { type: 'string' },
      id: { type: 'string' },
    },
  });
  const clusterId = required(values.cluster, '--cluster');
  const type = required(values.type, '--type');
  let payload: unknown;
  try {
    payload = JSON.parse(required(values.payload, '--payload'));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--payload is not JSON: ${errorMessage(err)}`);
  }
  const expiresIn = positiveNumber(values['expires-in'], '--expires-in');
  let action: { id: string };
  if (values.server) {
    action = await (await adminClient(values.server, values)).enqueue(clusterId, {
      type,
      payload,
      ...(values.id ? { id: values.id } : {}),
      ...(expiresIn === undefined ? {} : { expiresInSeconds: expiresIn }),
    });
  } else {
    const db = openDatabase(required(values.db, '--db'));
    try {
      const result = new ActionsRepo(db).enqueue({
        clusterId,
        type,
        payload,
        id: values.id,
        expiresAt:
          expiresIn === undefined ? undefined : new Date(Date.now() + expiresIn * 1000).toISOString(),
      });
      if (!result.ok) {
        process.stderr.write(
          result.reason === 'cluster_not_found'
            ? `no cluster ${clusterId}\n`
            : `action ${values.id} already exists\n`,
        );
        return 1;
      }
      action = result.action;
    } finally {
      db.close();
    }
  }
  print(values.json ? JSON.stringify(action) : action.id);
  return 0;
}

async function actionsCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { ...common, cluster: { type: 'string' }, state: { type: 'string' } },
  });
  const clusterId = required(values.cluster, '--cluster');
  const state = values.state as (typeof storedActionStates)[number] | undefined;
  if (state !== undefined && !storedActionStates.includes(state)) {
    throw new UsageError(`--state must be one of ${storedActionStates.join(', ')}`);
  }
  let actions: Pick<ActionRecord, 'id' | 'type' | 'state' | 'deliveredCount' | 'message'>[];
  if (values.server) {
    actions = await (await adminClient(values.server, values)).listActions(clusterId, state ? { state } : {});
  } else {
    const db = openDatabase(required(values.db, '--db'));
    try {
      const repo = new ActionsRepo(db);
      repo.expireDue(clusterId);
      actions = repo.list(clusterId, state ? { state } : {});
    } finally {
      db.close();
    }
  }
  if (values.json) {
    print(JSON.stringify(actions));
    return 0;
  }
  print(['ID', 'TYPE', 'STATE', 'DELIVERED', 'MESSAGE'].join('\t'));
  for (const a of actions) {
    print([a.id, a.type, a.state, String(a.deliveredCount), a.message.replace(/\s+/g, ' ')].join('\t'));
  }
  return 0;
}

async function clusterStatusCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: common });
  const [clusterId, status] = positionals;
  if (positionals.length !== 2 || (status !== 'active' && status !== 'disabled')) {
    throw new UsageError('cluster-status takes ID and active or disabled');
  }
  if (values.server) {
    await (await adminClient(values.server, values)).setClusterStatus(clusterId!, status);
  } else {
    const db = openDatabase(required(values.db, '--db'));
    try {
      if (!setClusterStatus(db, clusterId!, status)) {
        process.stderr.write(`no cluster ${clusterId}\n`);
        return 1;
      }
    } finally {
      db.close();
    }
  }
  print(`cluster ${clusterId} ${status}`);
  return 0;
}

const subcommands: Record<string, (args: string[]) => Promise<number>> = {
  serve,
  'cluster-status': clusterStatusCommand,
  'create-cluster': createClusterCommand,
  enqueue: enqueueCommand,
  actions: actionsCommand,
};

/** `clusteropt-agent control-plane ...`; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name ? subcommands[name] : undefined;
  const helpAsked = name === '--help' || name === '-h' || rest.includes('--help') || rest.includes('-h');
  if (!command || helpAsked) {
    process.stderr.write(`${name && !command && !helpAsked ? `unknown command "${name}"\n` : ''}${usage}`);
    return helpAsked ? 0 : 2;
  }
  try {
    return await command(rest);
  } catch (err) {
    // parseArgs throws TypeErrors with codes like ERR_PARSE_ARGS_UNKNOWN_OPTION.
    const code = (err as { code?: string }).code ?? '';
    if (err instanceof UsageError || code.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`control-plane ${name}: ${errorMessage(err)}\n\n${usage}`);
      return 2;
    }
    process.stderr.write(`control-plane ${name}: ${errorMessage(err)}\n`);
    return 1;
  }
}
