import { readFileSync, writeFileSync } from 'node:fs';
import { AgentError } from '../util/errors.ts';
import { generateAdminToken } from './keys.ts';

export const adminTokenEnv = 'CLUSTEROPT_ADMIN_TOKEN';

/** Where a generated admin token is kept: beside the database, readable by its owner only. */
export function defaultAdminTokenFile(dbPath: string): string {
  return `${dbPath}.admin-token`;
}

export class AdminTokenUnavailableError extends AgentError {
  constructor(message: string) {
    super('ADMIN_TOKEN_UNAVAILABLE', message);
  }
}

export interface ResolvedAdminToken {
  token: string;
  /** The file it came from or was written to, if any. */
  file: string | undefined;
  generated: boolean;
}

function readToken(file: string): string {
  const token = readFileSync(file, 'utf8').trim();
  if (!token) throw new AdminTokenUnavailableError(`admin token file ${file} is empty`);
  return token;
}

/**
 * The admin token, from (in order) `token`, `tokenFile`, $CLUSTEROPT_ADMIN_TOKEN, or the
 * file beside the database. With `create`, a missing token is generated and written there
 * (mode 0600, never overwriting a file another process wrote first).
 */
export function resolveAdminToken(options: {
  dbPath: string;
  token?: string | undefined;
  tokenFile?: string | undefined;
  create: boolean;
  env?: NodeJS.ProcessEnv;
}): ResolvedAdminToken {
  if (options.token) return { token: options.token, file: undefined, generated: false };
  if (options.tokenFile)
    return { token: readToken(options.tokenFile), file: options.tokenFile, generated: false };
  const fromEnv = (options.env ?? process.env)[adminTokenEnv]?.trim();
  if (fromEnv) return { token: fromEnv, file: undefined, generated: false };
  const file = defaultAdminTokenFile(options.dbPath);
  try {
    return { token: readToken(file), file, generated: false };
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  }
  if (!options.create) {
    throw new AdminTokenUnavailableError(
      `no admin token: pass --admin-token-file, set ${adminTokenEnv}, or start the server once to create ${file}`,
    );
  }
  const token = generateAdminToken();
  try {
    writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST')
      return { token: readToken(file), file, generated: false };
    throw err;
  }
  return { token, file, generated: true };
}
