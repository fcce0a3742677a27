import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderConfigTable } from './docs-table.ts';

describe('docs/configuration.md', () => {
  it('holds the settings table generated from the schema (node src/config/docs-table.ts)', () => {
    const docs = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(docs).toContain(renderConfigTable());
  });
});
