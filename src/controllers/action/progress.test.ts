import { describe, expect, it } from 'vitest';
import { drainProgressFromCounts, drainProgressFromResult, evictionCounts } from './progress.ts';

describe('drain progress', () => {
  it('maps the executor counts while running', () => {
    expect(drainProgressFromCounts({ total: 10, evicted: 4, terminating: 3, stuck: 1, rejected: 2 })).toEqual(
      {
        total: 10,
        evicted: 4,
        pending: 3,
        blocked: 3,
      },
    );
  });

  it('takes the final counts from the result, blocked pods with their reason', () => {
    const pod = (name: string, reason?: string) => ({
      namespace: 'ns',
      name,
      uid: 'u',
      ...(reason ? { reason } : {}),
    });
    expect(
      drainProgressFromResult({
        evicted: [pod('a'), pod('b')],
        forceDeleted: [pod('c')],
        stuck: [],
        blocked: [pod('d', 'pdb')],
      }),
    ).toEqual({
      total: 4,
      evicted: 3,
      pending: 0,
      blocked: 1,
      blockedPods: [{ namespace: 'ns', name: 'd', reason: 'pdb' }],
    });
    expect(drainProgressFromResult({ changed: true })).toBeUndefined();
  });
});

describe('evictionCounts', () => {
  it('counts a drain result by eviction outcome, and nothing for other results', () => {
    const pod = { namespace: 'a', name: 'p', uid: 'u' };
    expect(
      evictionCounts({
        evicted: [pod, pod],
        forceDeleted: [pod],
        retries: { tooManyRequests: 3, multiplePdb: 1, transient: 2 },
      }),
    ).toEqual({ evicted: 2, deleted: 1, blocked: 4, error: 2 });
    expect(evictionCounts({ node: 'n' })).toEqual({});
  });
});
