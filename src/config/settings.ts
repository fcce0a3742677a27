/**
 * The settings as a flat list, derived from the config schema: one entry per leaf with its
 * file key path, flag and environment variable names, value kind, default and description.
 * Names are derived, never written twice: `leaderElection.leaseDurationSeconds` ->
 * `--leader-election-lease-duration-seconds`, `CLUSTEROPT_LEADER_ELECTION_LEASE_DURATION_SECONDS`.
 */
import type { z } from 'zod';
import { AgentConfigSchema } from './schema.ts';

export const envPrefix = 'CLUSTEROPT_';

export type SettingKind = 'string' | 'integer' | 'number' | 'boolean' | 'enum';

export interface Setting {
  /** Key path in the config file, e.g. ['leaderElection', 'leaseDurationSeconds']. */
  path: string[];
  /** Dotted path, e.g. leaderElection.leaseDurationSeconds. */
  key: string;
  flag: string;
  env: string;
  kind: SettingKind;
  enumValues?: readonly string[];
  default?: unknown;
  required: boolean;
  description: string;
}

const words = (name: string) =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(' ');

type Def = {
  type: string;
  format?: string;
  innerType?: z.ZodType;
  defaultValue?: unknown;
  entries?: Record<string, string>;
};
const defOf = (schema: z.ZodType) => (schema as unknown as { def: Def }).def;

function leaf(path: string[], outer: z.ZodType): Setting {
  let schema = outer;
  let required = true;
  let defaultValue: unknown;
  let description = outer.description;
  for (;;) {
    const def = defOf(schema);
    if (def.type === 'default') {
      defaultValue = def.defaultValue;
      required = false;
    } else if (def.type === 'optional') {
      required = false;
    } else {
      break;
    }
    schema = def.innerType as z.ZodType;
    description ??= schema.description;
  }
  const def = defOf(schema);
  const kind: SettingKind =
    def.type === 'number'
      ? def.format?.includes('int')
        ? 'integer'
        : 'number'
      : def.type === 'boolean'
        ? 'boolean'
        : def.type === 'enum'
          ? 'enum'
          : 'string';
  const nameWords = path.flatMap(words);
  const setting: Setting = {
    path,
    key: path.join('.'),
    flag: `--${nameWords.join('-')}`,
    env: `${envPrefix}${nameWords.join('_').toUpperCase()}`,
    kind,
    required,
    description: description ?? '',
  };
  if (kind === 'enum') setting.enumValues = Object.values(def.entries ?? {});
  if (defaultValue !== undefined) setting.default = defaultValue;
  return setting;
}

function walk(shape: Record<string, z.ZodType>, prefix: string[]): Setting[] {
  return Object.entries(shape).flatMap(([name, schema]) => {
    let inner = schema;
    while (defOf(inner).type === 'default' || defOf(inner).type === 'optional') {
      inner = defOf(inner).innerType as z.ZodType;
    }
    const nested = (inner as unknown as { shape?: Record<string, z.ZodType> }).shape;
    return defOf(inner).type === 'object' && nested
      ? walk(nested, [...prefix, name])
      : [leaf([...prefix, name], schema)];
  });
}

export const settings: readonly Setting[] = walk(AgentConfigSchema.shape, []);
export const settingsByKey: ReadonlyMap<string, Setting> = new Map(settings.map((s) => [s.key, s]));
