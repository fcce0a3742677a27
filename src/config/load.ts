/**
 * Loads the agent's settings from, lowest to highest precedence: defaults, a YAML or JSON
 * file (`--config FILE` or CLUSTEROPT_CONFIG), environment variables (CLUSTEROPT_*), CLI
 * flags. Every problem names where the bad value came from:
 *   flag --poll-wait-seconds: expected a number
 *   env CLUSTEROPT_STATE_DIR: required
 *   file /etc/x.yaml: unknown key "pollwait" (did you mean pollWaitSeconds?)
 * All problems are collected and thrown together as one ConfigError.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { AgentError, errorMessage } from '../util/errors.ts';
import { type AgentConfig, AgentConfigSchema } from './schema.ts';
import { envPrefix, type Setting, settings, settingsByKey } from './settings.ts';
import { didYouMean } from './suggest.ts';

export class ConfigError extends AgentError {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

export interface LoadConfigInput {
  argv: readonly string[];
  env?: Readonly<Record<string, string | undefined>>;
  /** Reads the config file; injectable for tests. */
  readFile?: (path: string) => string;
}

export type LoadedConfig =
  | {
      help: false;
      config: AgentConfig;
      /** Where each setting that was not a default came from, e.g. `flag --dry-run`. */
      sources: Record<string, string>;
      /** Not fatal: e.g. an unknown CLUSTEROPT_* variable (other tools share the prefix). */
      warnings: string[];
    }
  /** `--help` was given: print configUsage() and exit, whatever else is (in)valid. */
  | { help: true };

const configFileEnv = `${envPrefix}CONFIG`;
/** CLUSTEROPT_ variables that are not settings: the config file's path, the image's build revision. */
const notSettings = new Set([configFileEnv, `${envPrefix}BUILD_REVISION`]);

type Layer = { source: (s: Setting) => string; values: Map<string, unknown> };

/** Turns the text of an env variable or flag into the setting's type. */
function coerce(setting: Setting, text: string): { value: unknown } | { error: string } {
  switch (setting.kind) {
    case 'integer':
    case 'number': {
      const trimmed = text.trim();
      if (trimmed === '' || !/^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(trimmed))
        return { error: 'expected a number' };
      return { value: Number(trimmed) };
    }
    case 'boolean': {
      const t = text.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(t)) return { value: true };
      if (['false', '0', 'no', 'off'].includes(t)) return { value: false };
      return { error: 'expected true or false' };
    }
    case 'enum':
      if (!setting.enumValues?.includes(text))
        return { error: `expected one of ${setting.enumValues?.join(', ')}` };
      return { value: text };
    case 'string':
      return { value: text };
  }
}

function parseFlags(argv: readonly string[], problems: string[]) {
  const values = new Map<string, unknown>();
  let configFile: string | undefined;
  let help = false;
  const byFlag = new Map(settings.map((s) => [s.flag, s]));
  const known = [...byFlag.keys(), '--config', '--help'];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      problems.push(`argument "${arg}": unexpected (options start with --)`);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = eq === -1 ? arg : arg.slice(0, eq);
    let inline = eq === -1 ? undefined : arg.slice(eq + 1);
    // --no-dry-run is --dry-run=false.
    if (
      inline === undefined &&
      name.startsWith('--no-') &&
      byFlag.get(`--${name.slice(5)}`)?.kind === 'boolean'
    ) {
      name = `--${name.slice(5)}`;
      inline = 'false';
    }
    const setting = byFlag.get(name);
    if (name !== '--config' && !setting) {
      problems.push(`flag ${name}: unknown flag${didYouMean(name, known)}`);
      continue;
    }
    let text = inline;
    if (text === undefined) {
      if (setting?.kind === 'boolean') {
        text = 'true';
      } else if (i + 1 < argv.length && !(argv[i + 1] as string).startsWith('--')) {
        text = argv[++i] as string;
      } else {
        problems.push(`flag ${name}: needs a value`);
        continue;
      }
    }
    if (!setting) {
      configFile = text;
      continue;
    }
    const coerced = coerce(setting, text);
    if ('error' in coerced) problems.push(`flag ${name}: ${coerced.error}`);
    else values.set(setting.key, coerced.value);
  }
  return { values, configFile, help };
}

function parseEnv(env: Readonly<Record<string, string | undefined>>, problems: string[], warnings: string[]) {
  const values = new Map<string, unknown>();
  const byEnv = new Map(settings.map((s) => [s.env, s]));
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith(envPrefix) || text === undefined || notSettings.has(name)) continue;
    const setting = byEnv.get(name);
    if (!setting) {
      warnings.push(`env ${name}: not a setting, ignored${didYouMean(name, [...byEnv.keys()])}`);
      continue;
    }
    const coerced = coerce(setting, text);
    if ('error' in coerced) problems.push(`env ${name}: ${coerced.error}`);
    else values.set(setting.key, coerced.value);
  }
  return values;
}

function parseFile(path: string, text: string, problems: string[]): Map<string, unknown> {
  const values = new Map<string, unknown>();
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    problems.push(`file ${path}: not valid YAML or JSON: ${errorMessage(err).split('\n')[0]}`);
    return values;
  }
  if (doc === null || doc === undefined) return values;
  const visit = (obj: unknown, prefix: string[]) => {
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      problems.push(`file ${path}: ${prefix.length ? `key ${prefix.join('.')}: ` : ''}expected a mapping`);
      return;
    }
    const here = settings.filter(
      (s) => prefix.every((p, i) => s.path[i] === p) && s.path.length > prefix.length,
    );
    const names = [...new Set(here.map((s) => s.path[prefix.length] as string))];
    for (const [key, value] of Object.entries(obj)) {
      const path2 = [...prefix, key];
      const setting = settingsByKey.get(path2.join('.'));
      if (setting) values.set(setting.key, value);
      else if (names.includes(key)) visit(value, path2);
      else {
        const where = prefix.length ? ` in ${prefix.join('.')}` : '';
        problems.push(`file ${path}: unknown key "${key}"${where}${didYouMean(key, names)}`);
      }
    }
  };
  visit(doc, []);
  return values;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

export function loadConfig(input: LoadConfigInput): LoadedConfig {
  const env = input.env ?? process.env;
  const readFile = input.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const problems: string[] = [];
  const warnings: string[] = [];

  const flags = parseFlags(input.argv, problems);
  if (flags.help) return { help: true };
  const envValues = parseEnv(env, problems, warnings);
  const configFile = flags.configFile ?? env[configFileEnv];
  let fileValues = new Map<string, unknown>();
  if (configFile !== undefined) {
    let text: string | undefined;
    try {
      text = readFile(configFile);
    } catch (err) {
      const via = flags.configFile !== undefined ? 'flag --config' : `env ${configFileEnv}`;
      problems.push(`${via}: cannot read ${configFile}: ${errorMessage(err)}`);
    }
    if (text !== undefined) fileValues = parseFile(configFile, text, problems);
  }

  // Lowest precedence first; a later layer overwrites.
  const layers: Layer[] = [
    { source: (s) => `file ${configFile}: key ${s.key}`, values: fileValues },
    { source: (s) => `env ${s.env}`, values: envValues },
    { source: (s) => `flag ${s.flag}`, values: flags.values },
  ];
  const raw: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  for (const layer of layers) {
    for (const [key, value] of layer.values) {
      const setting = settingsByKey.get(key) as Setting;
      setPath(raw, setting.path, value);
      sources[key] = layer.source(setting);
    }
  }

  if (problems.length === 0) {
    const parsed = AgentConfigSchema.safeParse(raw);
    if (parsed.success) return { help: false, config: parsed.data, sources, warnings };
    for (const issue of parsed.error.issues) {
      const key = issue.path.join('.');
      const setting = settingsByKey.get(key);
      const source = sources[key];
      if (source) problems.push(`${source}: ${issue.message}`);
      else if (setting?.required && issue.code === 'invalid_type') {
        problems.push(
          `${key}: required (set flag ${setting.flag}, env ${setting.env} or key ${key} in the config file)`,
        );
      } else {
        problems.push(
          `${key || '<config>'}${setting?.default !== undefined ? ' (default)' : ''}: ${issue.message}`,
        );
      }
    }
  }
  throw new ConfigError(problems);
}

/** Flags with their meaning, for `--help`. */
export function configUsage(): string {
  const lines = ['  --config FILE  YAML or JSON settings file (env CLUSTEROPT_CONFIG)'];
  for (const s of settings) {
    const value = s.kind === 'boolean' ? '' : s.kind === 'enum' ? ` ${s.enumValues?.join('|')}` : ' VALUE';
    const dflt =
      s.default !== undefined ? ` [default ${JSON.stringify(s.default)}]` : s.required ? ' (required)' : '';
    lines.push(`  ${s.flag}${value}  ${s.description}${dflt}`);
  }
  return lines.join('\n');
}
