/**
 * `npm run bundle`: the agent CLI as minified ES modules, what the image ships, and the
 * kubectl plugin as one file (package.json `bin` points at both).
 *
 *   dist/cli.mjs              src/cli.ts, which imports its commands on demand
 *   dist/*-HASH.mjs           the chunks: each dynamic import (`run`, the reference control
 *                             plane, the AWS SDK of src/aws/sdk.ts …) and code they share
 *   dist/*.mjs.map            their source maps: src/ lines only (source-map-filter.ts says
 *                             why); with --enable-source-maps stack traces name src/ lines
 *   dist/cli.mjs.LEGAL.txt    the dependencies' licence comments, moved out of the code
 *   dist/kubectl-clusteropt.mjs (.map, .LEGAL.txt)   the admin's kubectl plugin
 *                             (src/kubectl-clusteropt.ts); it needs no file beside it
 *   dist/openapi.json         the committed contract, for `openapi --check` (the image's smoke test)
 *   dist/node_modules/better-sqlite3/   the one dependency left outside: its JavaScript and
 *                             the native addon this machine loads (compiled or prebuilt)
 *
 * Why a bundle: V8 keeps the source text of every module it loaded, and the agent's
 * dependencies ship tens of MiB of it (client-node's generated API alone ~16 MiB). The
 * bundle holds only the code reachable from the CLI, and loads faster. Why chunks: a module
 * loaded on demand but inlined into one file must come whole, and the AWS SDK's client-ec2
 * is 841 operations' schemas for the one the agent calls. Measured in
 * docs/benchmarks-scale.md ("Bundle").
 *
 * better-sqlite3 stays external: its loader finds the `.node` addon relative to its own
 * files. The agent reads no other file of its package at run time: the CRD manifests are
 * for tests and the chart, the OpenAPI document only for `openapi --check`, and the version
 * is compiled in (`CLUSTEROPT_AGENT_VERSION`, src/agent/version.ts).
 *
 * `node scripts/bundle.ts [--outdir DIR] [--metafile FILE]` (default dist/ of this checkout;
 * the metafile is esbuild's account of what went in, byte by byte).
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { filterSourceMap, type SourceMapV3 } from './source-map-filter.ts';

const root = resolve(import.meta.dirname, '..');

export interface BundleResult {
  outdir: string;
  cliPath: string;
  /** The kubectl plugin (`kubectl-clusteropt`). */
  pluginPath: string;
  /** The CLI: its entry and every chunk, and their source maps. */
  bytes: number;
  mapBytes: number;
}

/** Builds the bundle from `sourceRoot` (a checkout: src/, package.json, node_modules/) into `outdir`. */
export async function bundleAgent(
  options: { sourceRoot?: string; outdir?: string; metafile?: string } = {},
): Promise<BundleResult> {
  const sourceRoot = options.sourceRoot ?? root;
  const outdir = options.outdir ?? join(sourceRoot, 'dist');
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const cliPath = join(outdir, 'cli.mjs');
  await bundleModule({
    sourceRoot,
    entry: join(sourceRoot, 'src/cli.ts'),
    outfile: cliPath,
    splitting: true,
    ...options,
  });
  const cliBytes = { bytes: sizeOf(outdir, '.mjs'), mapBytes: sizeOf(outdir, '.mjs.map') };
  const pluginPath = join(outdir, 'kubectl-clusteropt.mjs');
  await bundleModule({
    sourceRoot,
    entry: join(sourceRoot, 'src/kubectl-clusteropt.ts'),
    outfile: pluginPath,
  });
  cpSync(join(sourceRoot, 'src/contract/openapi.json'), join(outdir, 'openapi.json'));
  copyBetterSqlite3(sourceRoot, outdir);
  return {
    outdir,
    cliPath,
    pluginPath,
    ...cliBytes,
  };
}

/**
 * One module bundled as the agent is: `entry` is a file, or the text of a module whose
 * imports resolve from `sourceRoot` (test/bench/scale/module-cost.ts bundles parts of the
 * agent this way to weigh them).
 */
export async function bundleModule(options: {
  sourceRoot: string;
  entry: string | { contents: string };
  outfile: string;
  metafile?: string;
  /**
   * Each dynamically imported module becomes a chunk beside `outfile` (in the same folder,
   * so `import.meta.url`-relative files such as openapi.json resolve as before), loaded
   * when first imported, and tree-shaken like the rest (one file would have to carry a lazily
   * loaded package whole: all of client-ec2's API shapes for one call).
   */
  splitting?: boolean;
}): Promise<void> {
  const { sourceRoot, entry, outfile } = options;
  const splitting = options.splitting === true && typeof entry === 'string';
  const pkg = JSON.parse(readFileSync(join(sourceRoot, 'package.json'), 'utf8')) as { version: string };
  const result = await build({
    absWorkingDir: sourceRoot,
    ...(typeof entry === 'string'
      ? { entryPoints: [{ in: entry, out: basename(outfile, '.mjs') }] }
      : {
          stdin: { contents: entry.contents, resolveDir: sourceRoot, sourcefile: 'entry.ts', loader: 'ts' },
        }),
    ...(splitting
      ? { outdir: dirname(outfile), splitting, chunkNames: '[name]-[hash]', outExtension: { '.js': '.mjs' } }
      : { outfile }),
    // ES module builds first: packages without an `exports` map (the AWS SDK's clients) are
    // otherwise taken as CommonJS, which esbuild cannot tree-shake.
    mainFields: ['module', 'main'],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node22.19',
    minify: true,
    // Mappings only: a stack trace needs lines and names, not the sources themselves.
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'linked',
    metafile: true,
    external: ['better-sqlite3'],
    define: {
      CLUSTEROPT_AGENT_VERSION: JSON.stringify(pkg.version),
      // A module's own `if (import.meta.main)` script mode (src/contract/openapi.ts) must not run
      // because the bundle is the main module: cli.ts dispatches.
      'import.meta.main': 'false',
    },
    // CommonJS dependencies inside an ES module still call require() for Node built-ins.
    banner: {
      js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);",
    },
    logLevel: 'warning',
  });
  if (options.metafile) writeFileSync(options.metafile, JSON.stringify(result.metafile));
  const srcDir = join(sourceRoot, 'src') + sep;
  for (const output of Object.keys(result.metafile.outputs).filter((o) => o.endsWith('.mjs.map'))) {
    const mapPath = resolve(sourceRoot, output);
    const map = JSON.parse(readFileSync(mapPath, 'utf8')) as SourceMapV3;
    const inSrc = (source: string) => resolve(dirname(mapPath), source).startsWith(srcDir);
    writeFileSync(mapPath, JSON.stringify(filterSourceMap(map, inSrc, { linesOnly: true })));
  }
}

/** Bytes of the files directly in `dir` whose names end with `suffix`. */
function sizeOf(dir: string, suffix: string): number {
  return readdirSync(dir)
    .filter((f) => f.endsWith(suffix))
    .reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
}

/**
 * better-sqlite3's JavaScript (lib/, package.json) and the one addon its loader picks on this
 * machine (build/Release when compiled, else the prebuilt one for this platform), at the same
 * paths under outdir/node_modules/, where Node resolves `better-sqlite3` from the bundle.
 */
function copyBetterSqlite3(sourceRoot: string, outdir: string): void {
  const require = createRequire(join(sourceRoot, 'package.json'));
  const pkgDir = dirname(require.resolve('better-sqlite3/package.json'));
  const target = join(outdir, 'node_modules/better-sqlite3');
  mkdirSync(target, { recursive: true });
  for (const f of ['package.json', 'LICENSE', 'lib'])
    cpSync(join(pkgDir, f), join(target, f), { recursive: true });
  const { getPrebuildPath } = require(join(pkgDir, 'lib/binding.js')) as { getPrebuildPath(): string | null };
  const compiled = join(pkgDir, 'build/Release/better_sqlite3.node');
  const addon = existsSync(compiled) ? compiled : getPrebuildPath();
  if (!addon)
    throw new Error(`better-sqlite3 in ${pkgDir} has no addon for ${process.platform}-${process.arch}`);
  const dest = join(target, relative(pkgDir, addon));
  mkdirSync(dirname(dest), { recursive: true });
  cpSync(addon, dest);
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { outdir: { type: 'string' }, metafile: { type: 'string' } } });
  const r = await bundleAgent({
    outdir: values.outdir ? resolve(values.outdir) : undefined,
    metafile: values.metafile ? resolve(values.metafile) : undefined,
  });
  const mib = (n: number) => (n / 1024 / 1024).toFixed(2);
  process.stdout.write(
    `${relative(process.cwd(), r.cliPath)} and its chunks: ${mib(r.bytes)} MiB, source maps ${mib(r.mapBytes)} MiB\n` +
      `${relative(process.cwd(), r.pluginPath)}: ${mib(readFileSync(r.pluginPath).length)} MiB\n`,
  );
}
