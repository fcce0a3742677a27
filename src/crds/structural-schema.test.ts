import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { StructuralSchemaError, toStructuralSchema } from './structural-schema.ts';

const convert = (schema: z.ZodType) =>
  toStructuralSchema(
    z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input' }) as Record<string, unknown>,
  );

describe('toStructuralSchema', () => {
  it('drops additionalProperties:false and $schema, keeps types, bounds and required', () => {
    const out = convert(z.strictObject({ a: z.string().max(3), b: z.int().min(0).optional() }));
    expect(out).toEqual({
      type: 'object',
      properties: { a: { type: 'string', maxLength: 3 }, b: { type: 'integer', minimum: 0 } },
      required: ['a'],
    });
  });

  it('turns a record of unknown into an object that preserves unknown fields', () => {
    expect(convert(z.record(z.string(), z.unknown()))).toEqual({
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    });
  });

  it('keeps a typed map as additionalProperties', () => {
    expect(convert(z.record(z.string(), z.string()))).toEqual({
      type: 'object',
      additionalProperties: { type: 'string' },
    });
  });

  it('drops the RFC 3339 regex beside format date-time', () => {
    expect(convert(z.iso.datetime({ offset: true }))).toEqual({ type: 'string', format: 'date-time' });
  });

  it('maps nullable and literal values', () => {
    expect(convert(z.string().nullable())).toEqual({ type: 'string', nullable: true });
    expect(convert(z.literal('x'))).toMatchObject({ type: 'string', enum: ['x'] });
  });

  it('carries Kubernetes extensions given with .meta()', () => {
    const rule = { rule: 'self.a != ""', message: 'a must be set' };
    expect(convert(z.object({ a: z.string() }).meta({ 'x-kubernetes-validations': [rule] }))).toMatchObject({
      'x-kubernetes-validations': [rule],
    });
  });

  it('refuses what is not structural, naming the path', () => {
    expect(() => convert(z.object({ u: z.union([z.string(), z.int()]) }))).toThrow(/<root>\.u: anyOf/);
    expect(() => convert(z.object({ x: z.unknown() }))).toThrow(/<root>\.x: no type/);
    expect(() => convert(z.object({ t: z.tuple([z.string()]) }))).toThrow(StructuralSchemaError);
    expect(() => convert(z.string().regex(/^(?!a)b$/))).toThrow(/look-around/);
  });
});
