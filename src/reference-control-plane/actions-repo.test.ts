import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ActionsRepo } from './actions-repo.ts';
import { createCluster } from './clusters-repo.ts';
import type { Db } from './db.ts';
import { tempDatabase } from './test-db.ts';

const t0 = Date.parse('2026-03-01T12:00:00.000Z');
const lease = 60_000;

describe('ActionsRepo', () => {
  let db: Db;
  let cleanup: () => void;
  let repo: ActionsRepo;
  let a: string;
  let b: string;

  beforeEach(() => {
    ({ db, cleanup } = tempDatabase());
    repo = new ActionsRepo(db);
    a = createCluster(db, { name: 'a' }).cluster.id;
    b = createCluster(db, { name: 'b' }).cluster.id;
  });
  afterEach(() => cleanup());

  function enqueue(clusterId: string, now: number, extra: { expiresAt?: string } = {}): string {
    const r = repo.enqueue({ clusterId, type: 'cordon_node', payload: { nodeName: 'n' }, ...extra }, now);
    if (!r.ok) throw new Error(r.reason);
    return r.action.id;
  }

  it('leases oldest first, up to the limit, only for the cluster asked', () => {
    const ids = [enqueue(a, t0), enqueue(a, t0 + 1), enqueue(a, t0 + 2)];
    enqueue(b, t0 - 10);
    expect(repo.lease(a, 2, lease, t0 + 10).map((e) => e.id)).toEqual(ids.slice(0, 2));
    expect(repo.lease(a, 2, lease, t0 + 11).map((e) => e.id)).toEqual(ids.slice(2));
    expect(repo.lease(a, 2, lease, t0 + 12)).toEqual([]);
    const first = repo.get(ids[0]!)!;
    expect(first).toMatchObject({ state: 'leased', deliveredCount: 1, leaseCount: 1 });
    expect(first.leasedUntil).toBe(new Date(t0 + 10 + lease).toISOString());
  });

  it('delivers the envelope as stored, payload untouched', () => {
    const r = repo.enqueue(
      { clusterId: a, type: 'no_such_type', payload: [1, 'x', null], deadline: '2026-03-01T13:00:00+01:00' },
      t0,
    );
    expect(r.ok).toBe(true);
    const [env] = repo.lease(a, 10, lease, t0);
    expect(env).toEqual({
      id: r.ok ? r.action.id : '',
      type: 'no_such_type',
      payload: [1, 'x', null],
      createdAt: new Date(t0).toISOString(),
      deadline: '2026-03-01T12:00:00.000Z',
    });
  });

  it('redelivers after the lease runs out, not before', () => {
    const id = enqueue(a, t0);
    expect(repo.lease(a, 10, lease, t0)).toHaveLength(1);
    expect(repo.lease(a, 10, lease, t0 + lease - 1)).toHaveLength(0);
    expect(repo.nextLeaseExpiry(a)).toBe(t0 + lease);
    expect(repo.lease(a, 10, lease, t0 + lease).map((e) => e.id)).toEqual([id]);
    expect(repo.get(id)).toMatchObject({ state: 'leased', deliveredCount: 2, leaseCount: 2 });
  });

  it('running ends the lease: no redelivery while the agent owns it', () => {
    const id = enqueue(a, t0);
    repo.lease(a, 10, lease, t0);
    expect(repo.report(a, id, { state: 'running', message: 'started' }, t0 + 5)).toEqual({
      ok: true,
      state: 'running',
      changed: true,
    });
    expect(repo.lease(a, 10, lease, t0 + 10 * lease)).toEqual([]);
    expect(repo.get(id)).toMatchObject({ state: 'running', leasedUntil: null, message: 'started' });
  });

  it('is idempotent for the same state and refuses illegal transitions', () => {
    const id = enqueue(a, t0);
    repo.lease(a, 10, lease, t0);
    expect(repo.report(a, id, { state: 'running', message: '' }, t0)).toMatchObject({ changed: true });
    expect(repo.report(a, id, { state: 'running', message: 'again' }, t0)).toMatchObject({ changed: false });
    const done = repo.report(a, id, { state: 'succeeded', message: 'ok', result: { evicted: 3 } }, t0 + 1);
    expect(done).toEqual({ ok: true, state: 'succeeded', changed: true });
    expect(repo.report(a, id, { state: 'succeeded', message: 'other body' }, t0 + 2)).toEqual({
      ok: true,
      state: 'succeeded',
      changed: false,
    });
    expect(repo.report(a, id, { state: 'running', message: '' }, t0 + 3)).toMatchObject({
      ok: false,
      reason: 'conflict',
      state: 'succeeded',
    });
    expect(repo.report(a, id, { state: 'failed', message: '' }, t0 + 3)).toMatchObject({
      ok: false,
      reason: 'conflict',
    });
    const action = repo.get(id)!;
    expect(action).toMatchObject({ state: 'succeeded', message: 'ok', result: { evicted: 3 } });
    expect(action.finishedAt).toBe(new Date(t0 + 1).toISOString());
    // enqueue, lease, running, succeeded: repeats and refusals are not transitions.
    expect(repo.statusLog({ actionId: id }).map((e) => `${e.fromState}->${e.toState}:${e.source}`)).toEqual([
      'null->queued:enqueue',
      'queued->leased:lease',
      'leased->running:agent',
      'running->succeeded:agent',
    ]);
  });

  it('accepts a terminal report straight from queued (rejected before any lease)', () => {
    const id = enqueue(a, t0);
    expect(repo.report(a, id, { state: 'rejected', message: 'bad payload' }, t0)).toMatchObject({
      changed: true,
    });
    expect(repo.lease(a, 10, lease, t0)).toEqual([]);
  });

  it("hides other clusters' actions", () => {
    const id = enqueue(a, t0);
    expect(repo.report(b, id, { state: 'running', message: '' }, t0)).toEqual({
      ok: false,
      reason: 'not_found',
    });
    expect(repo.get(id)?.state).toBe('queued');
  });

  it('expires undelivered actions past expiresAt instead of delivering them', () => {
    const soon = enqueue(a, t0, { expiresAt: new Date(t0 + 1000).toISOString() });
    const later = enqueue(a, t0, { expiresAt: new Date(t0 + 5 * lease).toISOString() });
    expect(repo.lease(a, 10, lease, t0 + 2000).map((e) => e.id)).toEqual([later]);
    expect(repo.get(soon)).toMatchObject({ state: 'expired', deliveredCount: 0 });
    // A live lease is left alone; once it runs out past expiresAt the action expires.
    expect(repo.expireDue(a, t0 + lease - 1)).toBe(0);
    expect(repo.lease(a, 10, lease, t0 + 6 * lease)).toEqual([]);
    expect(repo.get(later)).toMatchObject({ state: 'expired', deliveredCount: 1 });
  });

  it('refuses unknown clusters and duplicate ids', () => {
    expect(
      repo.enqueue({ clusterId: '00000000-0000-4000-8000-000000000000', type: 'x', payload: {} }),
    ).toEqual({
      ok: false,
      reason: 'cluster_not_found',
    });
    const id = enqueue(a, t0);
    expect(repo.enqueue({ clusterId: a, type: 'x', payload: {}, id: id.toUpperCase() })).toEqual({
      ok: false,
      reason: 'duplicate_id',
    });
  });

  it('tracks inserts for the cross-process probe', () => {
    const before = repo.maxRowid();
    enqueue(b, t0);
    expect(repo.maxRowid()).toBeGreaterThan(before);
    expect(repo.clustersWithActionsAfter(before)).toEqual([b]);
  });
});
