import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { actionPayloads } from '../contract/envelope.ts';
import { buildOpenApiDocument, openApiJsonPath } from '../contract/openapi.ts';
import { allRoutes } from './http-server.ts';
import { adminOpenApi, renderOpenApiDocument } from './openapi-document.ts';

type Json = Record<string, unknown>;
const doc = buildOpenApiDocument([adminOpenApi]) as {
  openapi: string;
  paths: Record<string, Record<string, Json>>;
  components: { schemas: Record<string, Json>; responses: Record<string, Json>; securitySchemes: Json };
};
const methods = ['get', 'post', 'put', 'delete', 'patch'];

function* refs(value: unknown): Generator<string> {
  if (Array.isArray(value)) for (const v of value) yield* refs(v);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') yield v;
      else yield* refs(v);
    }
  }
}

function resolve(ref: string): unknown {
  expect(ref.startsWith('#/'), ref).toBe(true);
  return ref
    .slice(2)
    .split('/')
    .reduce<unknown>((node, key) => (node as Json | undefined)?.[key], doc);
}

describe('OpenAPI document', () => {
  it('is committed and up to date (run `node src/reference-control-plane/openapi-document.ts --write`)', () => {
    const committed = readFileSync(openApiJsonPath, 'utf8');
    expect(committed === renderOpenApiDocument(), 'src/contract/openapi.json is stale').toBe(true);
  });

  it('is OpenAPI 3.1 and every $ref resolves', () => {
    expect(doc.openapi).toBe('3.1.0');
    const all = [...refs(doc)];
    expect(all.length).toBeGreaterThan(50);
    for (const ref of all) expect(resolve(ref), ref).toBeDefined();
  });

  it('has a component for every action payload and the agent contract', () => {
    for (const type of Object.keys(actionPayloads)) {
      const name = `${type.replace(/(^|_)([a-z])/g, (_m, _p, c: string) => c.toUpperCase())}Payload`;
      expect(doc.components.schemas[name], name).toBeDefined();
    }
    for (const name of [
      'ActionEnvelope',
      'Action',
      'StatusReport',
      'InstancesBatch',
      'AuditEventsBatch',
      'Heartbeat',
      'ErrorBody',
    ]) {
      expect(doc.components.schemas[name], name).toBeDefined();
    }
    // Generated with io 'input': fields with defaults are not required of the sender.
    expect(doc.components.schemas.StatusReport?.required).toEqual(['state']);
    const drain = doc.components.schemas.DrainNodePayload as {
      required: string[];
      additionalProperties: boolean;
    };
    expect(drain.required).toEqual(['nodeName', 'timeoutSeconds']);
    expect(drain.additionalProperties).toBe(false);
    expect(JSON.stringify(doc.components.schemas)).not.toMatch(/"\$(schema|id)"/);
  });

  it('documents exactly the routes the reference control plane serves', () => {
    const documented = Object.entries(doc.paths)
      .flatMap(([path, item]) =>
        Object.keys(item)
          .filter((m) => methods.includes(m))
          .map((m) => `${m.toUpperCase()} ${path}`),
      )
      .sort();
    const served = allRoutes.map((r) => `${r.method} ${r.path}`).sort();
    expect(documented).toEqual(served);
    for (const path of [
      '/api/v1/agent/actions',
      '/api/v1/agent/actions/{id}/status',
      '/api/v1/agent/instances',
      '/api/v1/agent/events',
      '/api/v1/agent/heartbeat',
    ]) {
      expect(doc.paths[path], path).toBeDefined();
    }
  });

  it('gives every operation a unique operationId, a 2xx answer and security where the server checks it', () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const operation = op as { operationId: string; responses: Json; security?: Json[] };
        expect(ids.has(operation.operationId), operation.operationId).toBe(false);
        ids.add(operation.operationId);
        expect(
          Object.keys(operation.responses).some((s) => s.startsWith('2')),
          `${method} ${path}`,
        ).toBe(true);
        const route = allRoutes.find((r) => r.path === path && r.method === method.toUpperCase());
        const scheme =
          route?.auth === 'agent' ? 'agentApiKey' : route?.auth === 'admin' ? 'adminToken' : undefined;
        expect(
          operation.security?.map((s) => Object.keys(s)[0]),
          `${method} ${path}`,
        ).toEqual(scheme ? [scheme] : undefined);
        const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        const declared = ((op as { parameters?: { in: string; name: string }[] }).parameters ?? [])
          .filter((p) => p.in === 'path')
          .map((p) => p.name);
        expect(declared, `${method} ${path}`).toEqual(params);
      }
    }
  });
});
