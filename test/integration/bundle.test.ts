/**
 * The bundle the image ships (scripts/bundle.ts), run the way the image runs it (the
 * Dockerfile's ENTRYPOINT flags and ENV, agent-image.ts), from a folder with no
 * node_modules above it: what /app/dist is in the image.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { filterSourceMap, type SourceMapV3 } from '../../scripts/source-map-filter.ts';
import { repoRoot, type ShippedAgent, shippedAgent, shippedBin } from '../support/agent-image.ts';

let image: ShippedAgent;
let dir: string;

beforeAll(() => {
  image = shippedAgent();
  dir = mkdtempSync(join(tmpdir(), 'co-bundle-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], argv = image.argv) {
  const r = spawnSync(process.execPath, [...argv, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...image.env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

it('reports the package version without a package.json beside it', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  const r = cli(['--version']);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(new RegExp(`^clusteropt-agent ${pkg.version.replaceAll('.', '\\.')} \\(`));
});

it('prints the committed OpenAPI document once and checks it', () => {
  const r = cli(['openapi']);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toBe(readFileSync(join(repoRoot, 'src/contract/openapi.json'), 'utf8'));
  expect(cli(['openapi', '--check']).code).toBe(0);
});

it('opens SQLite through the better-sqlite3 copied into the bundle', () => {
  const r = cli(['control-plane', 'create-cluster', 'bundle', '--db', join(dir, 'cp.db')]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^cluster_id=/m);
});

it('holds every bin of package.json, the kubectl plugin included, and the plugin runs on its own', () => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  expect(Object.keys(pkg.bin).sort()).toEqual(['clusteropt-agent', 'kubectl-clusteropt']);
  expect(shippedBin('clusteropt-agent')).toBe(image.cliPath);
  // Copied alone (no node_modules, no src/ above it), as on an admin's machine.
  const alone = join(dir, 'plugin-alone');
  mkdirSync(alone);
  const plugin = join(alone, 'kubectl-clusteropt.mjs');
  cpSync(shippedBin('kubectl-clusteropt'), plugin);
  const help = cli(['--help'], [plugin]);
  expect(help.code, help.stderr).toBe(0);
  expect(help.stdout).toMatch(/^Usage: kubectl clusteropt COMMAND/);
  const noConfig = cli(['--kubeconfig', join(dir, 'missing-kubeconfig'), 'status'], [plugin]);
  expect(noConfig.code).toBe(1);
  expect(noConfig.stderr).toMatch(/^kubectl clusteropt status: cannot load the kubeconfig: .*ENOENT/);
});

it('names src/ files and lines in stack traces', () => {
  // A copy whose openapi.json is a directory: `openapi --write` fails inside
  // src/reference-control-plane/openapi-document.ts (the writer since issue 17 moved it out of
  // src/contract/), and the CLI prints the stack of the unexpected error.
  const copy = join(dir, 'broken', 'dist');
  cpSync(dirname(image.cliPath), copy, { recursive: true });
  rmSync(join(copy, 'openapi.json'));
  mkdirSync(join(copy, 'openapi.json'));
  const argv = image.argv.map((a) => (a === image.cliPath ? join(copy, 'cli.mjs') : a));
  const r = cli(['openapi', '--write'], argv);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('EISDIR');
  expect(r.stderr).toMatch(/at .*\/src\/reference-control-plane\/openapi-document\.ts:\d+:\d+\)/);
  expect(r.stderr).toMatch(/at .*\/src\/cli\.ts:\d+:\d+\)/);
});

it('ships the mappings of src/ only, for the entry and every chunk', () => {
  const mapDir = dirname(image.cliPath);
  const maps = readdirSync(mapDir).filter(
    (f) => f.endsWith('.mjs.map') && f !== 'kubectl-clusteropt.mjs.map',
  );
  expect(maps.length).toBeGreaterThan(3);
  const sources = maps.flatMap(
    (f) => (JSON.parse(readFileSync(join(mapDir, f), 'utf8')) as SourceMapV3).sources,
  );
  expect(new Set(sources).size).toBeGreaterThan(50);
  const src = join(repoRoot, 'src/');
  expect(sources.filter((s) => !resolve(mapDir, s).startsWith(src))).toEqual([]);
});

it('loads the AWS SDK from a chunk of its own that holds only what the agent calls', () => {
  // scripts/bundle.ts splits at dynamic imports; src/aws/sdk.ts names the few SDK exports used.
  const dist = dirname(image.cliPath);
  const sdk = readdirSync(dist).filter((f) => /^sdk-[A-Z0-9]+\.mjs$/.test(f));
  expect(sdk).toHaveLength(1);
  const text = readFileSync(join(dist, sdk[0]!), 'utf8');
  expect(text.includes('DescribeInstances')).toBe(true);
  // Operation schemas (smithy's `[9, namespace, name, input, output]`): the three the agent
  // calls. The whole of client-ec2 and client-sts holds 841.
  expect(text.match(/=\[9,/g)).toHaveLength(3);
  const run = readdirSync(dist).filter((f) => /^run-[A-Z0-9]+\.mjs$/.test(f));
  expect(run).toHaveLength(1);
  expect(readFileSync(join(dist, run[0]!), 'utf8').match(/=\[9,/g)).toBeNull();
});

it('filterSourceMap keeps the kept sources exactly and ends dropped ranges', () => {
  // Line 0: a:3 (src) at 0 and at 5, b (dep) at 10, a:5 at 20 with a name; line 1: b, then a.
  const full: SourceMapV3 = {
    version: 3,
    sources: ['../src/a.ts', '../node_modules/b/index.js'],
    names: ['dropMe', 'keepMe'],
    mappings: '',
  };
  const vlq = (fields: number[]) =>
    fields
      .map((n) => {
        let v = n < 0 ? -n * 2 + 1 : n * 2;
        let s = '';
        do {
          let d = v % 32;
          v = Math.floor(v / 32);
          if (v > 0) d |= 32;
          s += 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'[d];
        } while (v > 0);
        return s;
      })
      .join('');
  // Absolute: [col, src, line, col(, name)] → deltas by hand.
  full.mappings = [
    [vlq([0, 0, 3, 4]), vlq([5, 0, 0, 5]), vlq([5, 1, 7, -5, 0]), vlq([10, -1, -5, 2, 1])].join(','),
    [vlq([0, 1, 5, 0]), vlq([8, -1, 2, 0])].join(','),
  ].join(';');
  const kept = filterSourceMap(full, (s) => s.startsWith('../src/'));
  expect(kept.sources).toEqual(['../src/a.ts']);
  expect(kept.names).toEqual(['keepMe']);
  // Node's own reader, as --enable-source-maps uses it.
  const read = (m: SourceMapV3) =>
    new SourceMap({ file: 'out.js', sourceRoot: '', sourcesContent: [], ...m });
  const a = read(kept);
  const b = read(full);
  for (const [line, col] of [
    [0, 0],
    [0, 5],
    [0, 20],
    [0, 25],
    [1, 8],
    [1, 9],
  ] as const) {
    expect(a.findEntry(line, col)).toEqual(b.findEntry(line, col));
  }
  // One segment per source line (a:3 at 5 goes), the same lines are found, names are left out.
  const linesOnly = filterSourceMap(full, (s) => s.startsWith('../src/'), { linesOnly: true });
  const segments = (m: SourceMapV3) => m.mappings.split(/[;,]/).filter(Boolean).length;
  expect(segments(linesOnly)).toBe(segments(kept) - 1);
  expect(linesOnly.names).toEqual([]);
  const lines = read(linesOnly);
  for (const [line, col] of [
    [0, 0],
    [0, 7],
    [0, 20],
    [1, 9],
  ] as const) {
    const want = b.findEntry(line, col) as { originalSource: string; originalLine: number };
    expect(lines.findEntry(line, col)).toMatchObject({
      originalSource: want.originalSource,
      originalLine: want.originalLine,
    });
  }
  // Inside the dropped dependency code: no position from a.ts stretched over it.
  for (const [line, col] of [
    [0, 10],
    [0, 15],
    [1, 0],
    [1, 3],
  ] as const) {
    const entry: { originalSource?: string } = a.findEntry(line, col);
    expect(entry.originalSource, `${line}:${col}`).toBeUndefined();
  }
});
