import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `co_<prefix>_<secret>`: the 8-character prefix is the visible part
 * (stored as is, used to find the row), the secret is 40 random base62 characters (about
 * 238 bits) of which only the SHA-256 is stored. A fast hash is enough here because the
 * secret is random and long, not a password.
 */
const base62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const prefixAlphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
const keyPattern = /^co_([0-9a-z]{8})_([0-9A-Za-z]{32,128})$/;

export interface ApiKeyParts {
  prefix: string;
  secret: string;
}

export interface NewApiKey extends ApiKeyParts {
  /** The full key, shown once. */
  key: string;
  keyHash: string;
}

function randomString(alphabet: string, length: number): string {
  let out = '';
  // randomInt is uniform (no modulo bias).
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

export function generateApiKey(): NewApiKey {
  const prefix = randomString(prefixAlphabet, 8);
  const secret = randomString(base62, 40);
  return { prefix, secret, key: `co_${prefix}_${secret}`, keyHash: hashSecret(secret) };
}

/** Splits a presented key; undefined when it does not have the key format at all. */
export function parseApiKey(key: string): ApiKeyParts | undefined {
  const m = keyPattern.exec(key);
  return m ? { prefix: m[1]!, secret: m[2]! } : undefined;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time check of a presented secret against a stored hex SHA-256. */
export function secretMatches(secret: string, storedHashHex: string): boolean {
  const presented = createHash('sha256').update(secret, 'utf8').digest();
  const stored = Buffer.from(storedHashHex, 'hex');
  // Both are 32 bytes for any well-formed row; the length check only guards a corrupt row.
  return stored.length === presented.length && timingSafeEqual(presented, stored);
}

/** Constant-time string equality for the admin token (hashing first equalises lengths). */
export function tokenMatches(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

export function generateAdminToken(): string {
  return `coadm_${randomBytes(32).toString('base64url')}`;
}

/** Extracts the credential of an `Authorization: Bearer <x>` header. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m?.[1];
}
