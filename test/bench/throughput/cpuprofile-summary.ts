/**
 * Summarises V8 .cpuprofile files (`node --cpu-prof`, see run.ts --cpu-prof-dir): self time
 * by package or source file, and the top functions, so "where does the agent's CPU go" has
 * an answer in numbers.
 *
 *   node test/bench/throughput/cpuprofile-summary.ts FILE.cpuprofile [--top 25]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' } },
});
const top = Number(values.top);

function where(url: string): string {
  if (url === '') return '(native/V8)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const src = url.indexOf('/src/');
  return src >= 0 ? url.slice(src + 1) : url;
}

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const totalUs = profile.endTime - profile.startTime;
  let busyUs = 0;
  const byWhere = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const name = node.callFrame.functionName || '(anonymous)';
    if (name === '(idle)' || name === '(program)' || name === '(garbage collector)') {
      if (name !== '(idle)') {
        busyUs += us;
        byWhere.set(name, (byWhere.get(name) ?? 0) + us);
      }
      continue;
    }
    busyUs += us;
    const w = where(node.callFrame.url);
    byWhere.set(w, (byWhere.get(w) ?? 0) + us);
    const key = `${name} ${w}:${node.callFrame.lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const ms = (us: number) => Math.round(us / 1000);
  console.log(`\n${file}: ${ms(totalUs)} ms wall, ${ms(busyUs)} ms on CPU (self time below)`);
  const rows = (m: Map<string, number>) =>
    [...m.entries()]
      .sort(([, a], [, b]) => b - a)
      .slice(0, top)
      .map(
        ([k, us]) =>
          `  ${String(ms(us)).padStart(7)} ms ${((us / busyUs) * 100).toFixed(1).padStart(5)}%  ${k}`,
      );
  console.log(' by package / file:');
  for (const line of rows(byWhere)) console.log(line);
  console.log(' by function:');
  for (const line of rows(byFunction)) console.log(line);
}
