/**
 * Turns the JSON Schema that z.toJSONSchema (target openapi-3.0) produces into a structural
 * OpenAPI v3 schema, the subset apiextensions.k8s.io/v1 accepts for a CRD version:
 * - every node has a `type` (or x-kubernetes-preserve-unknown-fields / int-or-string);
 * - no `$ref`, `$schema`, `anyOf`/`oneOf`/`not` (zod unions would need them: model such
 *   fields differently), except the int-or-string union of a node marked
 *   `x-kubernetes-int-or-string` (its anyOf is dropped: the API server checks the two types
 *   itself, a CEL rule the rest), no `additionalProperties: false` (unknown fields are pruned anyway);
 * - `properties` and `additionalProperties` never together;
 * - an open map of anything (z.record(z.string(), z.unknown())) becomes an object with
 *   `x-kubernetes-preserve-unknown-fields: true`, so the free-form payload and result keep
 *   what is written into them;
 * - regexes must be RE2 (no look-around), since the API server compiles them with Go.
 * Anything else it cannot map is an error naming the schema path, never a silent change.
 */
export type JsonSchema = Record<string, unknown>;

/** Keywords of apiextensions' JSONSchemaProps that a generated schema may carry as they are. */
const passThrough = new Set([
  'type',
  'format',
  'description',
  'default',
  'maximum',
  'exclusiveMaximum',
  'minimum',
  'exclusiveMinimum',
  'maxLength',
  'minLength',
  'pattern',
  'maxItems',
  'minItems',
  'uniqueItems',
  'multipleOf',
  'enum',
  'maxProperties',
  'minProperties',
  'required',
  'nullable',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);

/** Keywords that carry no meaning for Kubernetes and are dropped. */
const dropped = new Set(['$schema', 'title', 'examples', 'id', '$id', 'readOnly', 'writeOnly', 'deprecated']);

export class StructuralSchemaError extends Error {}

function isPlainObject(v: unknown): v is JsonSchema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Convert one zod-generated JSON Schema into a structural schema (pure; input untouched). */
export function toStructuralSchema(schema: JsonSchema, path = '<root>'): JsonSchema {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (dropped.has(key)) continue;
    if (key === 'properties') {
      if (!isPlainObject(value)) throw new StructuralSchemaError(`${path}: properties must be an object`);
      out.properties = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => {
          if (!isPlainObject(sub)) throw new StructuralSchemaError(`${path}.${name}: not a schema`);
          return [name, toStructuralSchema(sub, `${path}.${name}`)];
        }),
      );
    } else if (key === 'items') {
      if (!isPlainObject(value)) throw new StructuralSchemaError(`${path}[]: tuple items are not structural`);
      out.items = toStructuralSchema(value, `${path}[]`);
    } else if (key === 'additionalProperties') {
      // Handled below, once `properties` is known.
    } else if (key === 'const') {
      out.enum = [value];
    } else if (key === 'pattern') {
      if (typeof value !== 'string') throw new StructuralSchemaError(`${path}: pattern must be a string`);
      if (/\(\?<?[=!]/.test(value)) {
        throw new StructuralSchemaError(`${path}: pattern uses look-around, which Go's RE2 cannot compile`);
      }
      out.pattern = value;
    } else if (key === 'anyOf' && schema['x-kubernetes-int-or-string'] === true) {
      // Dropped: the type pair is what int-or-string already means.
    } else if (key === 'allOf' || key === 'anyOf' || key === 'oneOf' || key === 'not') {
      throw new StructuralSchemaError(
        `${path}: ${key} (a zod union or intersection) is not structural; model the field without it`,
      );
    } else if (key.startsWith('$') || !passThrough.has(key)) {
      throw new StructuralSchemaError(`${path}: unsupported JSON Schema keyword "${key}"`);
    } else {
      out[key] = value;
    }
  }

  // zod writes the RFC 3339 regex beside format date-time; the API server checks the format
  // itself, so the (long) regex is only noise in `kubectl explain`.
  if (out.format === 'date-time') delete out.pattern;
  // Integer bounds that are only JavaScript's safe-integer limits say nothing.
  if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
  if (out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;

  const additional = schema.additionalProperties;
  const hasProperties = isPlainObject(out.properties) && Object.keys(out.properties).length > 0;
  if (additional !== undefined && additional !== false) {
    const anything =
      additional === true || (isPlainObject(additional) && Object.keys(additional).length === 0);
    if (anything) {
      out.type = 'object';
      out['x-kubernetes-preserve-unknown-fields'] = true;
    } else if (hasProperties) {
      throw new StructuralSchemaError(`${path}: properties and additionalProperties cannot be combined`);
    } else if (isPlainObject(additional)) {
      out.additionalProperties = toStructuralSchema(additional, `${path}{}`);
    }
  }
  if (isPlainObject(out.properties) && !hasProperties) delete out.properties;

  if (out.type === undefined) {
    const open =
      out['x-kubernetes-preserve-unknown-fields'] === true || out['x-kubernetes-int-or-string'] === true;
    if (!open) {
      throw new StructuralSchemaError(
        `${path}: no type (z.unknown()/z.any()?); give it a type or mark x-kubernetes-preserve-unknown-fields`,
      );
    }
  } else if (Array.isArray(out.type)) {
    throw new StructuralSchemaError(`${path}: type must be a single string, got ${JSON.stringify(out.type)}`);
  }
  return out;
}
