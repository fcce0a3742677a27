/**
 * The agent as the image runs it, for benchmarks and the tests that start it as a child
 * process: the bundle `scripts/bundle.ts` writes (dist/cli.mjs), started with the node flags
 * of the Dockerfile's ENTRYPOINT and the ENV of its runtime stage. Both are read from the
 * Dockerfile, so a change there reaches every benchmark and test without touching them.
 * No vitest imports: plain `node` scripts use it too.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';

export const repoRoot = join(import.meta.dirname, '../..');

/** Where the image keeps the bundle (the runtime stage's `COPY … ./dist`, WORKDIR /app). */
const imageDist = '/app/dist/';

export interface ImageRuntime {
  /** Node flags between the node binary and the script in ENTRYPOINT. */
  nodeFlags: string[];
  /** ENV of the runtime stage (NODE_ENV, allocator settings, ...). */
  env: Record<string, string>;
  /** The ENTRYPOINT's script inside the image, e.g. /app/dist/cli.mjs. */
  script: string;
}

/**
 * What the image runs: the last stage's ENTRYPOINT node flags and script, and its ENV. The
 * chart adds no Node flags of its own (only CLUSTEROPT_* and POD_NAME variables; users may
 * add `extraEnv`), so this is what a Helm install runs.
 */
export function imageRuntime(root = repoRoot): ImageRuntime {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const lines = text.split('\n');
  const stage = lines.slice(lines.findLastIndex((l) => /^\s*FROM\s/i.test(l)));
  const env: Record<string, string> = {};
  const buildArgs: Record<string, string> = {};
  // ENV values may use the stage's ARGs (their defaults: no --build-arg here).
  const expand = (v: string) =>
    v.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_, k: string) => buildArgs[k] ?? '');
  let entrypoint: string[] | undefined;
  for (const line of stage) {
    const argMatch = /^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?/i.exec(line);
    if (argMatch) buildArgs[argMatch[1]!] = argMatch[2] ?? '';
    const envMatch = /^\s*ENV\s+(.*)$/i.exec(line);
    if (envMatch) {
      const body = envMatch[1]!.trim();
      const pairs = [...body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|'([^']*)'|(\S*))/g)];
      if (pairs.length > 0) {
        for (const p of pairs) env[p[1]!] = expand(p[3] ?? p[4] ?? p[5] ?? '');
      } else {
        const [key, ...rest] = body.split(/\s+/);
        if (key) env[key] = expand(rest.join(' '));
      }
    }
    const entry = /^\s*ENTRYPOINT\s+(\[.*\])\s*$/i.exec(line);
    if (entry) entrypoint = JSON.parse(entry[1]!) as string[];
  }
  if (!entrypoint) throw new Error(`no ENTRYPOINT [...] in the last stage of ${root}/Dockerfile`);
  const script = entrypoint.findIndex((a, i) => i > 0 && !a.startsWith('-'));
  if (script < 0) throw new Error(`ENTRYPOINT ${JSON.stringify(entrypoint)} names no script`);
  return { nodeFlags: entrypoint.slice(1, script), env, script: entrypoint[script]! };
}

/**
 * A benchmark variant of the image's runtime: `NAME=value` words set environment variables
 * (malloc settings, ...), `unset:X` takes the image's variable or Node flag X away, and the
 * other words are Node flags added after the image's.
 */
export function withVariantWords(
  runtime: Pick<ImageRuntime, 'nodeFlags' | 'env'>,
  words: readonly string[],
): { nodeFlags: string[]; env: Record<string, string> } {
  const isEnv = (word: string) => /^[A-Z_][A-Z0-9_]*=/.test(word);
  const unset = new Set(words.filter((w) => w.startsWith('unset:')).map((w) => w.slice('unset:'.length)));
  const added = words.filter((w) => !w.startsWith('unset:'));
  return {
    nodeFlags: [...runtime.nodeFlags.filter((f) => !unset.has(f)), ...added.filter((w) => !isEnv(w))],
    env: {
      ...Object.fromEntries(Object.entries(runtime.env).filter(([k]) => !unset.has(k))),
      ...Object.fromEntries(
        added.filter(isEnv).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]),
      ),
    },
  };
}

/** The image's script in a local copy of /app (`appRoot` holds dist/ as the image does). */
export function scriptIn(appRoot: string, runtime: ImageRuntime): string {
  if (!runtime.script.startsWith('/app/'))
    throw new Error(`ENTRYPOINT script ${runtime.script} is not under /app/`);
  return join(appRoot, posix.relative('/app', runtime.script));
}

export interface ShippedAgent extends ImageRuntime {
  /** The bundle's entry point on this machine. */
  cliPath: string;
  /** `node` arguments before the subcommand: the image's flags, then the script. */
  argv: string[];
}

let worktreeAgent: ShippedAgent | undefined;

/**
 * This work tree's agent as the image runs it. The bundle is built once per process into a
 * temporary folder (about a second), or taken from CLUSTEROPT_AGENT_BUNDLE (a dist folder,
 * e.g. built once by the k8s tests' global setup for all test files).
 */
export function shippedAgent(): ShippedAgent {
  if (worktreeAgent) return worktreeAgent;
  const runtime = imageRuntime(repoRoot);
  if (!runtime.script.startsWith(imageDist))
    throw new Error(`ENTRYPOINT script ${runtime.script} is not in ${imageDist}`);
  let dist = process.env.CLUSTEROPT_AGENT_BUNDLE;
  if (!dist) {
    dist = join(mkdtempSync(join(tmpdir(), 'clusteropt-bundle-')), 'dist');
    buildBundle(repoRoot, dist);
  }
  const cliPath = join(dist, runtime.script.slice(imageDist.length));
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is missing: run npm run bundle`);
  worktreeAgent = { ...runtime, cliPath, argv: [...runtime.nodeFlags, cliPath] };
  return worktreeAgent;
}

/**
 * A `bin` of package.json (`./dist/…`) inside this work tree's bundle: what `npm install`
 * puts on the PATH. The kubectl plugin runs on the admin's machine with plain `node`, so no
 * image flags.
 */
export function shippedBin(name: string): string {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  const target = pkg.bin[name];
  if (!target?.startsWith('./dist/'))
    throw new Error(`package.json bin ${name} is not in ./dist/: ${target}`);
  const path = join(dirname(shippedAgent().cliPath), target.slice('./dist/'.length));
  if (!existsSync(path)) throw new Error(`${path} (bin ${name}) is not in the bundle: see scripts/bundle.ts`);
  return path;
}

/** `node scripts/bundle.ts --outdir DIST` in `root` (a checkout with node_modules). */
export function buildBundle(root: string, dist: string): void {
  execFileSync(process.execPath, [join(root, 'scripts/bundle.ts'), '--outdir', dist], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
