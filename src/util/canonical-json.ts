import { compareCodeUnits } from './compare.ts';

/** JSON with object keys sorted and undefined members dropped: equal values, equal strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonical(value));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => compareCodeUnits(a, b))
        .map(([k, v]) => [k, canonical(v)]),
    );
  }
  return value;
}
