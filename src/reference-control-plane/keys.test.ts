import { describe, expect, it } from 'vitest';
import { authenticateApiKey, createApiKey, createCluster, revokeApiKey } from './clusters-repo.ts';
import { bearerToken, generateApiKey, hashSecret, parseApiKey, secretMatches, tokenMatches } from './keys.ts';
import { tempDatabase } from './test-db.ts';

describe('API keys', () => {
  it('have the co_<prefix>_<secret> shape and round-trip through parseApiKey', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const k = generateApiKey();
      expect(k.key).toMatch(/^co_[0-9a-z]{8}_[0-9A-Za-z]{40}$/);
      expect(parseApiKey(k.key)).toEqual({ prefix: k.prefix, secret: k.secret });
      expect(k.keyHash).toBe(hashSecret(k.secret));
      expect(k.keyHash).not.toContain(k.secret);
      seen.add(k.secret);
    }
    expect(seen.size).toBe(50);
  });

  it('parse rejects anything else', () => {
    for (const bad of [
      '',
      'co_',
      'co_abcdefgh_short',
      `xx_abcdefgh_${'a'.repeat(40)}`,
      `co_ABCDEFGH_${'a'.repeat(40)}`,
    ]) {
      expect(parseApiKey(bad), bad).toBeUndefined();
    }
  });

  it('compare secrets and tokens exactly', () => {
    const k = generateApiKey();
    expect(secretMatches(k.secret, k.keyHash)).toBe(true);
    expect(secretMatches(`${k.secret.slice(0, -1)}x`, k.keyHash)).toBe(k.secret.endsWith('x'));
    expect(secretMatches(k.secret, 'abcd')).toBe(false);
    expect(tokenMatches('t0ken', 't0ken')).toBe(true);
    expect(tokenMatches('t0ken', 't0ken ')).toBe(false);
  });

  it('read the bearer credential', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer   abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });

  it('authenticate against the database: right key, wrong secret, revoked, rotated', () => {
    const { db, cleanup } = tempDatabase();
    try {
      const created = createCluster(db, { name: 'c', region: 'eu-west-1', accountId: '123456789012' });
      expect(created.cluster).toMatchObject({
        name: 'c',
        region: 'eu-west-1',
        accountId: '123456789012',
        status: 'active',
      });
      const stored = db.prepare('SELECT prefix, key_hash FROM api_keys').get() as {
        prefix: string;
        key_hash: string;
      };
      expect(created.apiKey).toContain(stored.prefix);
      expect(created.apiKey).not.toContain(stored.key_hash);
      expect(authenticateApiKey(db, created.apiKey)).toEqual({
        ok: true,
        clusterId: created.cluster.id,
        keyId: created.apiKeyId,
      });
      const { prefix, secret } = parseApiKey(created.apiKey)!;
      const wrong = `co_${prefix}_${secret.slice(1)}${secret[0] === 'A' ? 'B' : 'A'}`;
      expect(authenticateApiKey(db, wrong)).toEqual({ ok: false, reason: 'unauthenticated' });
      expect(authenticateApiKey(db, generateApiKey().key)).toEqual({ ok: false, reason: 'unauthenticated' });
      expect(authenticateApiKey(db, undefined)).toEqual({ ok: false, reason: 'unauthenticated' });

      const second = createApiKey(db, created.cluster.id)!;
      expect(revokeApiKey(db, created.apiKeyId)).toBe(true);
      expect(authenticateApiKey(db, created.apiKey)).toEqual({ ok: false, reason: 'revoked' });
      // A wrong secret for a revoked key is still just "unauthenticated".
      expect(authenticateApiKey(db, wrong)).toEqual({ ok: false, reason: 'unauthenticated' });
      expect(authenticateApiKey(db, second.apiKey)).toMatchObject({
        ok: true,
        clusterId: created.cluster.id,
      });
      expect(revokeApiKey(db, '00000000-0000-4000-8000-000000000000')).toBe(false);
    } finally {
      cleanup();
    }
  });
});
