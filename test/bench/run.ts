/**
 * `npm run bench -- NAME [options]`: runs test/bench/NAME/run.ts. Without a name, lists the
 * benchmarks. Each benchmark prints a table (median, min, max, ratio) and ends with one
 * machine-readable JSON line.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const here = import.meta.dirname;
const available = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(here, d.name, 'run.ts')))
  .map((d) => d.name)
  .sort();
const [name, ...given] = process.argv.slice(2);
// `npm run bench -- NAME -- --n 1000` (as the docs write it) passes a '--' of its own.
const rest = given[0] === '--' ? given.slice(1) : given;
if (!name || !available.includes(name)) {
  process.stderr.write(`usage: npm run bench -- <${available.join('|')}> [options]\n`);
  process.exit(name ? 2 : 0);
}
const result = spawnSync(process.execPath, [join(here, name, 'run.ts'), ...rest], { stdio: 'inherit' });
process.exit(result.status ?? 1);
