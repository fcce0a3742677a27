import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The CLI as a user runs it: `node src/cli.ts control-plane ...` in child processes, against
// a temp database, with a real `serve` process.
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const env = { ...process.env, CLUSTEROPT_ADMIN_TOKEN: '', LOG_LEVEL: 'warn' };

function run(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string; exitedAt: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['src/cli.ts', 'control-plane', ...args], { cwd: repoRoot, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, exitedAt: performance.now() }));
  });
}

function field(stdout: string, name: string): string {
  const m = new RegExp(`^${name}=(.+)$`, 'm').exec(stdout);
  if (!m?.[1]) throw new Error(`no ${name}= in ${stdout}`);
  return m[1];
}

let dir: string;
let db: string;
let server: ChildProcess | undefined;
let serverExit: Promise<number | null>;
let url: string;
let cluster: { id: string; key: string };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'co-rcp-cli-'));
  db = join(dir, 'cp.db');
  const created = await run(['create-cluster', 'demo', '--db', db, '--region', 'eu-west-1']);
  expect(created.code, created.stderr).toBe(0);
  cluster = { id: field(created.stdout, 'cluster_id'), key: field(created.stdout, 'api_key') };

  const child = spawn(
    process.execPath,
    ['src/cli.ts', 'control-plane', 'serve', '--db', db, '--listen', '127.0.0.1:0', '--lease-seconds', '30'],
    { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  server = child;
  serverExit = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill('SIGKILL');
    await serverExit;
  }
  rmSync(dir, { recursive: true, force: true });
});

function heldPoll(wait: number): Promise<{ actions: { id: string; type: string; payload: unknown }[] }> {
  return fetch(`${url}/api/v1/agent/actions?wait=${wait}`, {
    headers: { authorization: `Bearer ${cluster.key}` },
  }).then((r) => r.json() as Promise<{ actions: { id: string; type: string; payload: unknown }[] }>);
}

describe('control-plane CLI', () => {
  it('create-cluster prints the id and the key once; --json prints the same as JSON', async () => {
    expect(cluster.key).toMatch(/^co_[0-9a-z]{8}_[0-9A-Za-z]{40}$/);
    const json = await run(['create-cluster', 'second', '--db', db, '--json']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout);
    expect(parsed).toMatchObject({ cluster: { name: 'second' }, apiKey: expect.stringMatching(/^co_/) });
  });

  it("an offline enqueue (another process) wakes the running server's held poll", async () => {
    const poll = heldPoll(20);
    const enqueued = await run([
      'enqueue',
      '--db',
      db,
      '--cluster',
      cluster.id,
      '--type',
      'cordon_node',
      '--payload',
      '{"nodeName":"n1"}',
    ]);
    expect(enqueued.code, enqueued.stderr).toBe(0);
    const id = enqueued.stdout.trim();
    const res = await poll;
    // The server probes for foreign inserts every 250 ms while polls wait.
    expect(performance.now() - enqueued.exitedAt).toBeLessThan(1500);
    expect(res.actions).toEqual([
      expect.objectContaining({ id, type: 'cordon_node', payload: { nodeName: 'n1' } }),
    ]);
  });

  it('enqueue --server goes through the admin API (token from the file beside the db)', async () => {
    const poll = heldPoll(20);
    const enqueued = await run([
      'enqueue',
      '--db',
      db,
      '--server',
      url,
      '--cluster',
      cluster.id,
      '--type',
      'drain_node',
      '--payload',
      '{"nodeName":"n2","timeoutSeconds":60}',
      '--expires-in',
      '600',
    ]);
    expect(enqueued.code, enqueued.stderr).toBe(0);
    const res = await poll;
    expect(res.actions.map((a) => a.id)).toEqual([enqueued.stdout.trim()]);
  });

  it('actions lists state and deliveries, as a table or JSON', async () => {
    const json = await run(['actions', '--db', db, '--cluster', cluster.id, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const actions = JSON.parse(json.stdout) as {
      type: string;
      state: string;
      deliveredCount: number;
      expiresAt: string;
    }[];
    expect(actions.map((a) => [a.type, a.state, a.deliveredCount])).toEqual([
      ['cordon_node', 'leased', 1],
      ['drain_node', 'leased', 1],
    ]);
    expect(Date.parse(actions[1]!.expiresAt)).toBeGreaterThan(Date.now() + 500_000);
    const table = await run(['actions', '--db', db, '--cluster', cluster.id]);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toBe('ID\tTYPE\tSTATE\tDELIVERED\tMESSAGE');
    expect(lines).toHaveLength(3);
  });

  it('rejects bad command lines with status 2', async () => {
    const [badJson, unknown, missing] = await Promise.all([
      run(['enqueue', '--db', db, '--cluster', cluster.id, '--type', 't', '--payload', '{oops']),
      run(['frobnicate']),
      run(['enqueue', '--db', db, '--type', 't', '--payload', '{}']),
    ]);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toMatch(/--payload is not JSON/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--cluster is required/);
  });

  it('serve stops cleanly on SIGTERM, answering a held poll with an empty list', async () => {
    const poll = heldPoll(30);
    await new Promise((r) => setTimeout(r, 200));
    const started = performance.now();
    server!.kill('SIGTERM');
    expect(await poll).toEqual({ actions: [] });
    expect(await serverExit).toBe(0);
    expect(performance.now() - started).toBeLessThan(3000);
  });
});
