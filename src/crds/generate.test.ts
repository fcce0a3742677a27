import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { crdManifestDir, renderCrdManifests } from './generate.ts';

describe('generated CRD manifests', () => {
  it('manifests/crds/ matches the zod schemas (run `node src/crds/generate.ts --write` if not)', () => {
    for (const [file, text] of renderCrdManifests()) {
      const committed = readFileSync(join(crdManifestDir, file), 'utf8');
      expect(committed, `manifests/crds/${file} is stale`).toBe(text);
    }
  });

  it('every schema node is structural: a type everywhere (or int-or-string), no unions, no $-keywords', () => {
    const visit = (node: Record<string, unknown>, path: string) => {
      const open =
        node['x-kubernetes-preserve-unknown-fields'] === true || node['x-kubernetes-int-or-string'] === true;
      expect(typeof node.type === 'string' || open, `${path} has a type`).toBe(true);
      for (const k of Object.keys(node)) {
        expect(['anyOf', 'oneOf', 'allOf', 'not', '$ref', '$schema'], `${path}.${k}`).not.toContain(k);
      }
      expect(node.additionalProperties === false, `${path} additionalProperties:false`).toBe(false);
      for (const [name, sub] of Object.entries(
        (node.properties ?? {}) as Record<string, Record<string, unknown>>,
      )) {
        visit(sub, `${path}.${name}`);
      }
      if (node.items) visit(node.items as Record<string, unknown>, `${path}[]`);
      if (typeof node.additionalProperties === 'object') {
        visit(node.additionalProperties as Record<string, unknown>, `${path}{}`);
      }
    };
    for (const [file, text] of renderCrdManifests()) {
      const crd = parse(text);
      for (const version of crd.spec.versions) visit(version.schema.openAPIV3Schema, file);
    }
  });
});
