import { randomUUID } from 'node:crypto';
import { AgentError } from '../util/errors.ts';
import { type Db, isoNow } from './db.ts';
import { generateApiKey, parseApiKey, secretMatches } from './keys.ts';

export interface ClusterRecord {
  id: string;
  accountId: string | null;
  name: string;
  region: string | null;
  status: string;
  createdAt: string;
}

export interface NewCluster {
  cluster: ClusterRecord;
  /** Shown once; only its prefix and a hash are stored. */
  apiKey: string;
  apiKeyId: string;
}

interface ClusterRow {
  id: string;
  account_id: string | null;
  name: string;
  region: string | null;
  status: string;
  created_at: string;
}

/** Ten random prefixes in a row were taken: the key space is (nearly) full or the RNG is broken. */
export class ApiKeyPrefixExhaustedError extends AgentError {
  constructor() {
    super('API_KEY_PREFIX_EXHAUSTED', 'could not find a free API key prefix');
  }
}

function toCluster(row: ClusterRow): ClusterRecord {
  return {
    id: row.id,
    accountId: row.account_id,
    name: row.name,
    region: row.region,
    status: row.status,
    createdAt: row.created_at,
  };
}

export function createCluster(
  db: Db,
  input: { name: string; accountId?: string | undefined; region?: string | undefined },
  now = Date.now(),
): NewCluster {
  return db
    .transaction(() => {
      const id = randomUUID();
      db.prepare(
        `INSERT INTO clusters (id, account_id, name, region, status, created_at)
         VALUES (?, ?, ?, ?, 'active', ?)`,
      ).run(id, input.accountId ?? null, input.name, input.region ?? null, isoNow(now));
      const key = insertApiKey(db, id, now);
      return { cluster: getCluster(db, id)!, apiKey: key.apiKey, apiKeyId: key.apiKeyId };
    })
    .immediate();
}

/** A further key for an existing cluster (rotation); undefined when the cluster is unknown. */
export function createApiKey(
  db: Db,
  clusterId: string,
  now = Date.now(),
): { apiKey: string; apiKeyId: string } | undefined {
  return db
    .transaction(() => (getCluster(db, clusterId) ? insertApiKey(db, clusterId, now) : undefined))
    .immediate();
}

function insertApiKey(db: Db, clusterId: string, now: number): { apiKey: string; apiKeyId: string } {
  const insert = db.prepare(
    `INSERT INTO api_keys (id, cluster_id, prefix, key_hash, created_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (prefix) DO NOTHING`,
  );
  // 36^8 prefixes: a collision is rare, but the prefix must be unique to find the row.
  for (let attempt = 0; attempt < 10; attempt++) {
    const key = generateApiKey();
    const id = randomUUID();
    if (insert.run(id, clusterId, key.prefix, key.keyHash, isoNow(now)).changes === 1) {
      return { apiKey: key.key, apiKeyId: id };
    }
  }
  throw new ApiKeyPrefixExhaustedError();
}

/** Revokes a key; false when there is no such key. Revoking twice keeps the first time. */
export function revokeApiKey(db: Db, keyId: string, now = Date.now()): boolean {
  const row = db.prepare('SELECT id FROM api_keys WHERE id = ?').get(keyId);
  if (!row) return false;
  db.prepare('UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?').run(isoNow(now), keyId);
  return true;
}

export function getCluster(db: Db, id: string): ClusterRecord | undefined {
  const row = db.prepare('SELECT * FROM clusters WHERE id = ?').get(id) as ClusterRow | undefined;
  return row ? toCluster(row) : undefined;
}

/** Sets a cluster's status ('active' or 'disabled'); false when there is no such cluster. */
export function setClusterStatus(db: Db, id: string, status: 'active' | 'disabled'): boolean {
  return db.prepare('UPDATE clusters SET status = ? WHERE id = ?').run(status, id).changes === 1;
}

export function listClusters(db: Db): ClusterRecord[] {
  return (db.prepare('SELECT * FROM clusters ORDER BY created_at, rowid').all() as ClusterRow[]).map(
    toCluster,
  );
}

export type Authentication =
  | { ok: true; clusterId: string; keyId: string }
  /** unauthenticated: missing, malformed, unknown or wrong key (401); revoked, disabled: 403. */
  | { ok: false; reason: 'unauthenticated' | 'revoked' | 'disabled' };

// Hash of an arbitrary secret: an unknown prefix still costs one comparison, so response
// time does not tell whether a prefix exists.
const decoyHash = 'a'.repeat(64);

export function authenticateApiKey(db: Db, presented: string | undefined): Authentication {
  const parts = presented ? parseApiKey(presented) : undefined;
  if (!parts) return { ok: false, reason: 'unauthenticated' };
  const row = db
    .prepare(
      `SELECT k.id, k.cluster_id, k.key_hash, k.revoked_at, c.status
       FROM api_keys k JOIN clusters c ON c.id = k.cluster_id WHERE k.prefix = ?`,
    )
    .get(parts.prefix) as
    | { id: string; cluster_id: string; key_hash: string; revoked_at: string | null; status: string }
    | undefined;
  const matches = secretMatches(parts.secret, row?.key_hash ?? decoyHash);
  if (!row || !matches) return { ok: false, reason: 'unauthenticated' };
  // Only a holder of the right secret learns that the key is revoked.
  if (row.revoked_at !== null) return { ok: false, reason: 'revoked' };
  if (row.status !== 'active') return { ok: false, reason: 'disabled' };
  return { ok: true, clusterId: row.cluster_id, keyId: row.id };
}
