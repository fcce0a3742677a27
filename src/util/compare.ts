/**
 * Orders strings by UTF-16 code unit, the same on every machine. `localeCompare` depends on
 * the locale, and its first call maps ICU's collation data: ~3 MiB of RSS for names that are
 * ASCII anyway (Kubernetes names, routes, schema keys).
 */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
