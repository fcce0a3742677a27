import { describe, expect, it } from 'vitest';
import { drainProgressFromCounts, drainProgressFromResult } from './progress.ts';

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
