/**
 * The settings table of docs/configuration.md, rendered from the schema so the docs cannot
 * drift: `node src/config/docs-table.ts` prints it; docs-table.test.ts checks the docs hold it.
 */
import { fileURLToPath } from 'node:url';
import { settings } from './settings.ts';

const cell = (text: string) => text.replace(/\|/g, '\\|');

export function renderConfigTable(): string {
  const rows = settings.map((s) => {
    const dflt =
      s.default !== undefined ? `\`${JSON.stringify(s.default)}\`` : s.required ? '**required**' : '—';
    const kind = s.kind === 'enum' ? (s.enumValues ?? []).map((v) => `\`${v}\``).join(' \\| ') : s.kind;
    return `| \`${s.key}\` | \`${s.flag}\` | \`${s.env}\` | ${kind} | ${dflt} | ${cell(s.description)} |`;
  });
  return [
    '| key (file) | flag | environment | type | default | meaning |',
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`${renderConfigTable()}\n`);
}
