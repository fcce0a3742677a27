import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { settings } from '../config/settings.ts';
import {
  chartDir,
  chartYamlWithAppVersion,
  expectedChartFiles,
  packageVersion,
  repoRoot,
  staleFiles,
} from './chart.ts';
import { agentConfigValuesSchema, chartOwnedSettings, chartValuesSchema } from './values-schema.ts';

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  anyOf?: Schema[];
};

/** JSON pointer-ish paths of objects that declare properties but stay open to unknown keys. */
function openObjects(schema: Schema, path = ''): string[] {
  const here = schema.properties && schema.additionalProperties !== false ? [path || '/'] : [];
  const children = [
    ...Object.entries(schema.properties ?? {}).map(([k, s]) => openObjects(s, `${path}/${k}`)),
    schema.items ? openObjects(schema.items, `${path}[]`) : [],
    ...(schema.anyOf ?? []).map((s) => openObjects(s, path)),
    typeof schema.additionalProperties === 'object'
      ? openObjects(schema.additionalProperties, `${path}/*`)
      : [],
  ];
  return [...here, ...children.flat()];
}

function leafKeys(obj: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0
      ? leafKeys(v as Record<string, unknown>, `${prefix}${k}.`)
      : [`${prefix}${k}`],
  );
}

/**
 * The chart's value keys, from the schema. One key each for maps, for `config` (the agent's
 * settings) and for Kubernetes objects that values.yaml leaves empty (affinity).
 */
function valueKeys(
  s: Schema = chartValuesSchema() as Schema,
  values: unknown = defaults(),
  prefix = '',
): string[] {
  return Object.entries(s.properties ?? {}).flatMap(([k, v]) => {
    const value = (values as Record<string, unknown> | undefined)?.[k];
    const nonEmpty = value !== null && typeof value === 'object' && Object.keys(value).length > 0;
    return v.properties && k !== 'config' && nonEmpty
      ? valueKeys(v, value, `${prefix}${k}.`)
      : [`${prefix}${k}`];
  });
}

const defaults = () => parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;

describe('derived packaging files', () => {
  it('values.schema.json, the chart CRDs and appVersion are up to date', () => {
    const stale = staleFiles(expectedChartFiles()).map((p) => p.slice(repoRoot.length));
    expect(stale, 'run: node scripts/render-manifests.ts --write').toEqual([]);
  });

  it('staleFiles reports a file that differs, one missing, and one that should be gone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'co-stale-'));
    writeFileSync(join(dir, 'same'), 'a');
    writeFileSync(join(dir, 'differs'), 'a');
    writeFileSync(join(dir, 'extra'), 'a');
    const expected = new Map<string, string | null>([
      [join(dir, 'same'), 'a'],
      [join(dir, 'differs'), 'b'],
      [join(dir, 'missing'), 'c'],
      [join(dir, 'extra'), null],
    ]);
    expect(staleFiles(expected).map((p) => p.slice(dir.length + 1))).toEqual(['differs', 'missing', 'extra']);
  });

  it("sets Chart.yaml's appVersion to package.json's version", () => {
    expect(chartYamlWithAppVersion('name: x\nappVersion: "0.0.1"\nversion: 1.0.0\n', '2.3.4')).toBe(
      'name: x\nappVersion: "2.3.4"\nversion: 1.0.0\n',
    );
    expect(() => chartYamlWithAppVersion('name: x\n', '1.0.0')).toThrow(/no appVersion/);
    expect(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')).toContain(`appVersion: "${packageVersion()}"`);
  });
});

describe('chart values schema', () => {
  it('closes every object that declares properties, so typos are rejected', () => {
    expect(openObjects(chartValuesSchema() as Schema)).toEqual([]);
  });

  it("accepts under config every agent setting except the chart's own", () => {
    const schema = agentConfigValuesSchema() as Schema;
    const accepted = (key: string) => {
      let node: Schema | undefined = schema;
      for (const part of key.split('.')) node = node?.properties?.[part];
      return node !== undefined;
    };
    const owned = new Set<string>(chartOwnedSettings);
    for (const s of settings) expect(accepted(s.key), s.key).toBe(!owned.has(s.key));
  });

  it('values.yaml and the schema list the same keys', () => {
    const schema = chartValuesSchema() as Schema;
    // A values.yaml leaf under a map (resources.requests.cpu) counts as the map's key.
    const truncated = leafKeys(defaults()).map((key) => {
      const parts = key.split('.');
      let node: Schema | undefined = schema;
      const kept: string[] = [];
      for (const part of parts) {
        if (!node?.properties) break;
        kept.push(part);
        node = node.properties[part];
      }
      return kept.join('.');
    });
    expect([...new Set(truncated)].sort()).toEqual(valueKeys().sort());
  });

  it('docs/packaging.md documents every value', () => {
    const doc = readFileSync(join(repoRoot, 'docs', 'packaging.md'), 'utf8');
    expect(valueKeys().filter((k) => !doc.includes(`\`${k}\``))).toEqual([]);
  });
});
