/**
 * What loading costs before the agent holds any cluster data. Each row is a fresh Node
 * process with the image's Node flags and ENV (plus --expose-gc, to measure) that imports
 * one way of shipping the agent's code, collects garbage, and reports RSS and V8's figures:
 *
 *  - packages as published: src/agent/run.ts (Node strips the types) over node_modules;
 *  - the bundle: the agent's `run` module bundled exactly as scripts/bundle.ts bundles the
 *    CLI (minified, src/-only source map), with and without the image's --enable-source-maps;
 *  - each again with the AWS SDK the inventory loads on AWS (src/aws/sdk.ts: as packages,
 *    client-ec2 and client-sts whole; in the bundle, only what the names it exports reach).
 *
 *   node test/bench/scale/module-cost.ts [--repeat 3] [--env "MALLOC_MMAP_THRESHOLD_=32768 ..."]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bundleModule } from '../../../scripts/bundle.ts';
import { imageRuntime, repoRoot } from '../../support/agent-image.ts';
import { printJsonLine, printTable, round } from '../common/stats.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--')),
  options: {
    repeat: { type: 'string', default: '3' },
    /** Extra environment, NAME=value words (e.g. malloc settings). */
    env: { type: 'string', default: '' },
  },
});

const image = imageRuntime();
const extraEnv = Object.fromEntries(
  args.env
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]),
);
const sourceMaps = '--enable-source-maps';
const withoutMaps = image.nodeFlags.filter((f) => f !== sourceMaps);
const agentModule = join(repoRoot, 'src/agent/run.ts');
// What the inventory loads on AWS: the SDK names it uses (the bundle keeps only what they reach).
const awsImports = [join(repoRoot, 'src/aws/sdk.ts')];

function measure(flags: string[], imports: string[]): NodeJS.MemoryUsage {
  const code = `
${imports.map((m, i) => `const m${i} = await import(${JSON.stringify(m)});`).join('\n')}
for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); }
process.stdout.write(JSON.stringify(process.memoryUsage()));`;
  const out = execFileSync(process.execPath, [...flags, '--expose-gc', '--input-type=module', '-e', code], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', ...image.env, ...extraEnv },
    encoding: 'utf8',
  });
  return JSON.parse(out) as NodeJS.MemoryUsage;
}

const dir = mkdtempSync(join(tmpdir(), 'clusteropt-module-cost-'));
const MiB = 1024 * 1024;
const rows: (string | number)[][] = [];
const json: Record<string, unknown>[] = [];
try {
  // better-sqlite3 stays external, as in the shipped bundle.
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
  const agentBundle = join(dir, 'agent.mjs');
  const awsBundle = join(dir, 'agent-aws.mjs');
  const exportAll = (m: string, i: number) => `export * as m${i} from ${JSON.stringify(m)};`;
  await bundleModule({
    sourceRoot: repoRoot,
    entry: { contents: exportAll(agentModule, 0) },
    outfile: agentBundle,
  });
  await bundleModule({
    sourceRoot: repoRoot,
    entry: { contents: [agentModule, ...awsImports].map(exportAll).join('\n') },
    outfile: awsBundle,
  });
  const steps: { label: string; flags: string[]; imports: string[] }[] = [
    { label: 'node (nothing imported)', flags: withoutMaps, imports: [] },
    { label: 'packages as published: agent', flags: withoutMaps, imports: [agentModule] },
    {
      label: 'packages as published: agent + AWS SDK',
      flags: withoutMaps,
      imports: [agentModule, ...awsImports],
    },
    { label: 'bundle: agent', flags: withoutMaps, imports: [agentBundle] },
    { label: 'bundle: agent + AWS SDK', flags: withoutMaps, imports: [awsBundle] },
    { label: `bundle: agent, ${sourceMaps}`, flags: [...withoutMaps, sourceMaps], imports: [agentBundle] },
    {
      label: `bundle: agent + AWS SDK, ${sourceMaps}`,
      flags: [...withoutMaps, sourceMaps],
      imports: [awsBundle],
    },
  ];
  for (const step of steps) {
    const samples = Array.from({ length: Number(args.repeat) }, () => measure(step.flags, step.imports));
    // Median by RSS.
    const s = samples.sort((a, b) => a.rss - b.rss)[Math.floor(samples.length / 2)]!;
    rows.push([step.label, s.rss / MiB, s.heapUsed / MiB, s.heapTotal / MiB, s.external / MiB]);
    json.push({
      step: step.label,
      nodeFlags: step.flags,
      rssMiB: round(s.rss / MiB),
      heapUsedMiB: round(s.heapUsed / MiB),
      heapTotalMiB: round(s.heapTotal / MiB),
      externalMiB: round(s.external / MiB),
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(
  `\nmodule load cost (after GC, median of ${args.repeat}), node ${process.version}, ` +
    `env ${JSON.stringify({ ...image.env, ...extraEnv })}`,
);
printTable([['what is loaded', 'RSS MiB', 'heapUsed', 'heapTotal', 'external'], ...rows]);
printJsonLine('scale-module-cost', { env: { ...image.env, ...extraEnv }, steps: json });
