/**
 * The agent as it ships, for the scale benchmark: compiled JavaScript (`npm run build`, as
 * the Dockerfile does) started with the Node flags and environment the image declares.
 *
 * `source: 'head'` builds the committed HEAD in a temporary folder (`git archive`), so the
 * figures belong to a commit even while others edit the shared work tree; `'worktree'`
 * runs `npm run build` in the repository and uses its dist/.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const repoRoot = join(import.meta.dirname, '../../..');

export interface AgentBuild {
  /** Folder holding package.json, dist/ and node_modules (a link to the repository's). */
  root: string;
  cliPath: string;
  commit: string;
  /** Uncommitted changes under src/ were included (worktree builds only). */
  dirty: boolean;
  /** 'head': a commit exported on its own (`commit`); 'worktree': the repository's files. */
  source: 'head' | 'worktree';
  buildSeconds: number;
}

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).trim();
}

/**
 * `source`: 'worktree', 'head', or any commit-ish (a sha, a tag, `HEAD~3`): that commit is
 * exported and built on its own.
 */
export function buildAgent(source: string, log: (line: string) => void): AgentBuild {
  const started = performance.now();
  const commit = git([
    'rev-parse',
    source === 'worktree' || source === 'head' ? 'HEAD' : `${source}^{commit}`,
  ]);
  const npmEnv = { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}` };
  if (source === 'worktree') {
    const dirty = git(['status', '--porcelain', '--', 'src']).length > 0;
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: 'inherit', env: npmEnv });
    copyFileSync(join(repoRoot, 'src/contract/openapi.json'), join(repoRoot, 'dist/contract/openapi.json'));
    const b: AgentBuild = {
      root: repoRoot,
      cliPath: join(repoRoot, 'dist/cli.js'),
      commit,
      dirty,
      source: 'worktree',
      buildSeconds: (performance.now() - started) / 1000,
    };
    log(`built the work tree (HEAD ${commit.slice(0, 10)}${dirty ? ' + uncommitted src changes' : ''})`);
    return b;
  }
  const root = mkdtempSync(join(tmpdir(), 'clusteropt-scale-build-'));
  const archive = execFileSync(
    'git',
    [
      'archive',
      '--format=tar',
      commit,
      'Dockerfile',
      'package.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'src',
      'manifests/crds',
    ],
    { cwd: repoRoot, maxBuffer: 256 * 1024 * 1024 },
  );
  execFileSync('tar', ['-x', '-C', root], { input: archive });
  symlinkSync(join(repoRoot, 'node_modules'), join(root, 'node_modules'), 'dir');
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit', env: npmEnv });
  mkdirSync(join(root, 'dist/contract'), { recursive: true });
  copyFileSync(join(root, 'src/contract/openapi.json'), join(root, 'dist/contract/openapi.json'));
  if (!existsSync(join(root, 'dist/cli.js'))) throw new Error(`build of ${commit} produced no dist/cli.js`);
  log(`built ${commit.slice(0, 10)} in ${root}`);
  return {
    root,
    cliPath: join(root, 'dist/cli.js'),
    commit,
    dirty: false,
    source: 'head',
    buildSeconds: (performance.now() - started) / 1000,
  };
}

export interface ImageRuntime {
  /** Node flags between the node binary and the script in ENTRYPOINT. */
  nodeFlags: string[];
  /** ENV of the runtime stage (NODE_ENV, NODE_OPTIONS, ...). */
  env: Record<string, string>;
}

/**
 * What the image runs: the Dockerfile's last stage's ENTRYPOINT node flags and ENV. The chart
 * adds no Node flags of its own (it sets only CLUSTEROPT_* and POD_NAME variables; users may add
 * `extraEnv`), so this is what a Helm install runs.
 */
export function imageRuntime(build?: AgentBuild): ImageRuntime {
  const dockerfile = join(build?.root ?? repoRoot, 'Dockerfile');
  const text = readFileSync(dockerfile, 'utf8').replace(/\\\n/g, ' ');
  const lines = text.split('\n');
  const lastFrom = lines.findLastIndex((l) => /^\s*FROM\s/i.test(l));
  const stage = lines.slice(lastFrom);
  const env: Record<string, string> = {};
  let nodeFlags: string[] = [];
  for (const line of stage) {
    const envMatch = /^\s*ENV\s+(.*)$/i.exec(line);
    if (envMatch) {
      const body = envMatch[1]!.trim();
      const pairs = [...body.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|'([^']*)'|(\S*))/g)];
      if (pairs.length > 0) {
        for (const p of pairs) env[p[1]!] = p[3] ?? p[4] ?? p[5] ?? '';
      } else {
        const [key, ...rest] = body.split(/\s+/);
        if (key) env[key] = rest.join(' ');
      }
    }
    const entry = /^\s*ENTRYPOINT\s+(\[.*\])\s*$/i.exec(line);
    if (entry) {
      const argv = JSON.parse(entry[1]!) as string[];
      const script = argv.findIndex((a, i) => i > 0 && !a.startsWith('-'));
      nodeFlags = argv.slice(1, script < 0 ? argv.length : script);
    }
  }
  return { nodeFlags, env };
}
