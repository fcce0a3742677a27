/**
 * What loading costs before the agent holds any cluster data: for each step, a fresh Node
 * process (the image's Node flags, plus --expose-gc to measure) imports the modules of all
 * steps so far from a built agent, collects garbage, and reports RSS, heapUsed, external and
 * arrayBuffers. The difference between steps is what that module adds.
 *
 *   node test/bench/scale/module-cost.ts [--source head|worktree] [--node-flags "..."]
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { printJsonLine, printTable, round } from '../common/stats.ts';
import { buildAgent, imageRuntime } from './agent-build.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--')),
  options: {
    /** head, worktree, or a commit to build. */
    source: { type: 'string', default: 'head' },
    'node-flags': { type: 'string' },
    repeat: { type: 'string', default: '3' },
  },
});

const steps: { label: string; imports: string[] }[] = [
  { label: 'node (nothing imported)', imports: [] },
  { label: '+ better-sqlite3', imports: ['better-sqlite3'] },
  { label: '+ pino', imports: ['pino'] },
  { label: '+ zod', imports: ['zod'] },
  { label: '+ undici', imports: ['undici'] },
  { label: '+ prom-client', imports: ['prom-client'] },
  { label: '+ yaml', imports: ['yaml'] },
  { label: '+ @kubernetes/client-node', imports: ['@kubernetes/client-node'] },
  { label: '+ dist/agent/run.js (the whole agent)', imports: ['./dist/agent/run.js'] },
  { label: '+ @aws-sdk/client-ec2', imports: ['@aws-sdk/client-ec2'] },
  { label: '+ @aws-sdk/client-sts', imports: ['@aws-sdk/client-sts'] },
];

function measure(root: string, flags: string[], env: Record<string, string>, imports: string[]) {
  const code = `
${imports.map((m, i) => `const m${i} = await import(${JSON.stringify(m.startsWith('./') ? `${root}/${m.slice(2)}` : m)});`).join('\n')}
for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); }
const u = process.memoryUsage();
process.stdout.write(JSON.stringify(u));`;
  const out = execFileSync(process.execPath, [...flags, '--expose-gc', '--input-type=module', '-e', code], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
  });
  return JSON.parse(out) as NodeJS.MemoryUsage;
}

const build = buildAgent(args.source, (l) => process.stderr.write(`${l}\n`));
const image = imageRuntime(build);
const flags =
  args['node-flags'] !== undefined ? args['node-flags'].split(/\s+/).filter(Boolean) : image.nodeFlags;
const MiB = 1024 * 1024;
const rows: (string | number)[][] = [];
const json: Record<string, unknown>[] = [];
const imports: string[] = [];
let previous: number | undefined;
try {
  for (const step of steps) {
    imports.push(...step.imports);
    const samples = Array.from({ length: Number(args.repeat) }, () =>
      measure(build.root, flags, image.env, imports),
    );
    // Median by RSS.
    const s = samples.sort((a, b) => a.rss - b.rss)[Math.floor(samples.length / 2)]!;
    const rss = s.rss / MiB;
    rows.push([
      step.label,
      rss,
      previous === undefined ? 0 : rss - previous,
      s.heapUsed / MiB,
      s.heapTotal / MiB,
      s.external / MiB,
      s.arrayBuffers / MiB,
    ]);
    json.push({
      step: step.label,
      rssMiB: round(rss),
      heapUsedMiB: round(s.heapUsed / MiB),
      heapTotalMiB: round(s.heapTotal / MiB),
      externalMiB: round(s.external / MiB),
      arrayBuffersMiB: round(s.arrayBuffers / MiB),
    });
    previous = rss;
  }
} finally {
  if (build.source === 'head') rmSync(build.root, { recursive: true, force: true });
}
console.log(
  `\nmodule load cost (after GC), node ${process.version} ${flags.join(' ')}, commit ${build.commit.slice(0, 10)}`,
);
printTable([
  ['cumulative imports', 'RSS MiB', '+RSS MiB', 'heapUsed', 'heapTotal', 'external', 'arrayBuffers'],
  ...rows,
]);
printJsonLine('scale-module-cost', { commit: build.commit, nodeFlags: flags, steps: json });
