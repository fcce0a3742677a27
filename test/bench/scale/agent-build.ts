/**
 * The agent as it ships, for the scale benchmark: built the way that commit's Dockerfile
 * builds it (the bundle of scripts/bundle.ts; commits from before the bundle: `npm run
 * build`'s dist/), started as its ENTRYPOINT says with its runtime ENV (agent-image.ts).
 *
 * `source: 'head'` builds the committed HEAD in a temporary folder (`git archive`), so the
 * figures belong to a commit even while others edit the shared work tree; `'worktree'`
 * bundles the repository's files into its dist/.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  buildBundle,
  imageRuntime as commonImageRuntime,
  type ImageRuntime,
  repoRoot,
  scriptIn,
} from '../../support/agent-image.ts';

export { repoRoot };

export interface AgentBuild {
  /** The image's /app: Dockerfile, dist/ and node_modules (a link to the repository's). */
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
    const dirty = git(['status', '--porcelain', '--', 'src', 'scripts/bundle.ts', 'Dockerfile']).length > 0;
    buildBundle(repoRoot, join(repoRoot, 'dist'));
    const b: AgentBuild = {
      root: repoRoot,
      cliPath: scriptIn(repoRoot, commonImageRuntime(repoRoot)),
      commit,
      dirty,
      source: 'worktree',
      buildSeconds: (performance.now() - started) / 1000,
    };
    log(`built the work tree (HEAD ${commit.slice(0, 10)}${dirty ? ' + uncommitted src changes' : ''})`);
    return b;
  }
  const root = mkdtempSync(join(tmpdir(), 'clusteropt-scale-build-'));
  // What the Dockerfile's build stage needs (tsconfig.build.json: commits before the bundle).
  const present = new Set(git(['ls-tree', '--name-only', commit]).split('\n'));
  const paths = ['Dockerfile', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'scripts'];
  const archive = execFileSync(
    'git',
    ['archive', '--format=tar', commit, ...paths.filter((p) => present.has(p))],
    {
      cwd: repoRoot,
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  execFileSync('tar', ['-x', '-C', root], { input: archive });
  symlinkSync(join(repoRoot, 'node_modules'), join(root, 'node_modules'), 'dir');
  if (existsSync(join(root, 'scripts/bundle.ts'))) {
    buildBundle(root, join(root, 'dist'));
  } else {
    // Before the bundle: the image shipped tsc's dist/ and node_modules.
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit', env: npmEnv });
    mkdirSync(join(root, 'dist/contract'), { recursive: true });
    copyFileSync(join(root, 'src/contract/openapi.json'), join(root, 'dist/contract/openapi.json'));
  }
  const cliPath = scriptIn(root, commonImageRuntime(root));
  if (!existsSync(cliPath)) throw new Error(`build of ${commit} produced no ${cliPath}`);
  log(`built ${commit.slice(0, 10)} in ${root}`);
  return {
    root,
    cliPath,
    commit,
    dirty: false,
    source: 'head',
    buildSeconds: (performance.now() - started) / 1000,
  };
}

/** What the image runs for this build (its own Dockerfile's flags and ENV). */
export function imageRuntime(build?: AgentBuild): ImageRuntime {
  return commonImageRuntime(build?.root ?? repoRoot);
}
