import { describe, expect, it } from 'vitest';
import { Ec2InstanceCache } from './ec2-cache.ts';
import type { Ec2Facts } from './ec2-facts.ts';
import type { DescribeResult } from './ec2-instances.ts';

/** An EC2 account as a map; `describe` answers from it and records what was asked. */
function account(initial: Record<string, Ec2Facts>) {
  const instances = new Map(Object.entries(initial));
  const asked: string[][] = [];
  let failWith: Error | undefined;
  return {
    instances,
    asked,
    fail(err: Error | undefined) {
      failWith = err;
    },
    describe: async (ids: readonly string[]): Promise<DescribeResult> => {
      asked.push([...ids]);
      if (failWith) throw failWith;
      const found = new Map<string, Ec2Facts>();
      for (const id of ids) {
        const f = instances.get(id);
        if (f) found.set(id, { ...f });
      }
      return { found, missing: ids.filter((id) => !found.has(id)), calls: 1 };
    },
  };
}

describe('Ec2InstanceCache', () => {
  it('fetches only what is due, and reports what changed', async () => {
    let now = 0;
    const aws = account({ 'i-00000001': { state: 'running' }, 'i-00000002': { state: 'running' } });
    const cache = new Ec2InstanceCache({
      describe: aws.describe,
      ttlMs: 1000,
      notFoundTtlMs: 100,
      now: () => now,
    });
    const ids = ['i-00000001', 'i-00000002', 'i-00000003'];

    expect((await cache.refresh(ids)).changed).toEqual(['i-00000001', 'i-00000002']);
    expect(cache.get('i-00000001')).toEqual({ state: 'running' });
    expect(cache.get('i-00000003')).toBeUndefined();

    // Nothing due: no call at all.
    expect(await cache.refresh(ids)).toEqual({ changed: [], calls: 0 });
    expect(aws.asked).toHaveLength(1);

    // The unknown id is asked again sooner; it appeared meanwhile.
    aws.instances.set('i-00000003', { state: 'pending' });
    now = 150;
    expect((await cache.refresh(ids)).changed).toEqual(['i-00000003']);
    expect(aws.asked[1]).toEqual(['i-00000003']);

    // After the TTL: state changes are picked up; unchanged ones are not reported.
    aws.instances.set('i-00000001', { state: 'shutting-down' });
    now = 1200;
    expect((await cache.refresh(ids)).changed).toEqual(['i-00000001']);
    expect(cache.get('i-00000001')?.state).toBe('shutting-down');

    // Gone from EC2 after the TTL: a change too.
    aws.instances.delete('i-00000002');
    now = 2500;
    expect((await cache.refresh(ids)).changed).toContain('i-00000002');
    expect(cache.get('i-00000002')).toBeUndefined();
  });

  it('keeps serving the last facts while refreshes fail', async () => {
    let now = 0;
    const aws = account({ 'i-00000001': { state: 'running' } });
    const cache = new Ec2InstanceCache({ describe: aws.describe, ttlMs: 1000, now: () => now });
    await cache.refresh(['i-00000001']);
    now = 5000;
    aws.fail(new Error('throttled'));
    await expect(cache.refresh(['i-00000001'])).rejects.toThrow('throttled');
    expect(cache.get('i-00000001')).toEqual({ state: 'running' });
    expect(cache.due(['i-00000001'])).toEqual(['i-00000001']);
  });

  it('forgets ids no node names', async () => {
    const aws = account({ 'i-00000001': {}, 'i-00000002': {} });
    const cache = new Ec2InstanceCache({ describe: aws.describe });
    await cache.refresh(['i-00000001', 'i-00000002']);
    cache.retainOnly(new Set(['i-00000002']));
    expect(cache.size).toBe(1);
    expect(cache.due(['i-00000001'])).toEqual(['i-00000001']);
  });
});
