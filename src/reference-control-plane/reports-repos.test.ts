import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEvent, InstanceReport, InstancesBatch } from '../contract/reports.ts';
import { AuditRepo } from './audit-repo.ts';
import { createCluster } from './clusters-repo.ts';
import type { Db } from './db.ts';
import { HeartbeatsRepo } from './heartbeats-repo.ts';
import { InstancesRepo } from './instances-repo.ts';
import { tempDatabase } from './test-db.ts';

const node = (name: string, extra: Partial<InstanceReport> = {}): InstanceReport => ({
  nodeName: name,
  nodeUid: randomUUID(),
  lifecycle: 'spot',
  ready: true,
  schedulable: true,
  agentTaints: [],
  ...extra,
});
const batch = (
  seq: number,
  full: boolean,
  instances: InstanceReport[],
  removed: string[] = [],
): InstancesBatch => ({
  seq,
  full,
  instances,
  removed,
});

describe('InstancesRepo', () => {
  let db: Db;
  let cleanup: () => void;
  let repo: InstancesRepo;
  let cluster: string;
  beforeEach(() => {
    ({ db, cleanup } = tempDatabase());
    repo = new InstancesRepo(db);
    cluster = createCluster(db, { name: 'c' }).cluster.id;
  });
  afterEach(() => cleanup());
  const names = () => repo.list(cluster).instances.map((i) => i.nodeName);

  it('asks for a full snapshot before accepting deltas', () => {
    expect(repo.apply(cluster, batch(1, false, [node('a')]))).toEqual({ accepted: false, resync: true });
    expect(names()).toEqual([]);
  });

  it('applies full, then deltas in sequence; refuses gaps with resync; accepts a repeat without reapplying', () => {
    expect(
      repo.apply(
        cluster,
        batch(5, true, [node('a'), node('b', { instanceId: 'i-1', instanceType: 'm5.large' })]),
      ),
    ).toEqual({
      accepted: true,
      resync: false,
    });
    expect(repo.apply(cluster, batch(6, false, [node('c')], ['a']))).toEqual({
      accepted: true,
      resync: false,
    });
    expect(names()).toEqual(['b', 'c']);
    expect(repo.apply(cluster, batch(8, false, [node('d')]))).toEqual({ accepted: false, resync: true });
    expect(repo.apply(cluster, batch(4, false, [node('d')]))).toEqual({ accepted: false, resync: true });
    // A retry of 6 whose answer was lost: accepted, not applied again (c's data unchanged).
    expect(repo.apply(cluster, batch(6, false, [node('c', { lifecycle: 'on-demand' })], ['b']))).toEqual({
      accepted: true,
      resync: false,
    });
    expect(names()).toEqual(['b', 'c']);
    expect(repo.list(cluster).instances.find((i) => i.nodeName === 'c')?.lifecycle).toBe('spot');
    expect(repo.list(cluster)).toMatchObject({
      lastSeq: 6,
      instances: [{ nodeName: 'b', instanceId: 'i-1', instanceType: 'm5.large' }, { nodeName: 'c' }],
    });
    // A full snapshot replaces everything and restarts the sequence (e.g. an agent restart).
    expect(repo.apply(cluster, batch(0, true, [node('z')]))).toEqual({ accepted: true, resync: false });
    expect(names()).toEqual(['z']);
    expect(repo.apply(cluster, batch(1, false, [node('y')]))).toEqual({ accepted: true, resync: false });
    expect(names()).toEqual(['y', 'z']);
  });

  it('keeps the row ids of nodes still present across full snapshots', () => {
    const ids = () => Object.fromEntries(repo.list(cluster).instances.map((i) => [i.nodeName, i.id]));
    repo.apply(cluster, batch(0, true, [node('a'), node('b'), node('c')]));
    const first = ids();
    repo.apply(cluster, batch(0, true, [node('a'), node('c', { lifecycle: 'on-demand' }), node('d')]));
    const second = ids();
    expect(Object.keys(second)).toEqual(['a', 'c', 'd']);
    expect(second.a).toBe(first.a);
    expect(second.c).toBe(first.c);
    expect(Object.values(first)).not.toContain(second.d);
  });

  it('upserts by node name (a reused name replaces the row)', () => {
    repo.apply(cluster, batch(0, true, [node('a', { instanceId: 'i-old' })]));
    repo.apply(cluster, batch(1, false, [node('a', { instanceId: 'i-new' })]));
    expect(repo.list(cluster).instances.map((i) => i.instanceId)).toEqual(['i-new']);
  });
});

describe('AuditRepo', () => {
  let db: Db;
  let cleanup: () => void;
  beforeEach(() => ({ db, cleanup } = tempDatabase()));
  afterEach(() => cleanup());

  const event = (id = randomUUID()): AuditEvent => ({
    id,
    timestamp: '2026-03-01T12:00:00Z',
    event: 'action.succeeded',
    resource: 'node/n1',
    message: 'cordoned',
    details: { k: 1 },
  });

  it('inserts once per id and counts duplicates', () => {
    const repo = new AuditRepo(db);
    const cluster = createCluster(db, { name: 'c' }).cluster.id;
    const e1 = event();
    const e2 = event();
    expect(repo.insertBatch(cluster, [e1, e2])).toEqual({ received: 2, inserted: 2, duplicates: 0 });
    expect(repo.insertBatch(cluster, [e2, event(), e2])).toEqual({ received: 3, inserted: 1, duplicates: 2 });
    const stored = repo.list(cluster);
    expect(stored).toHaveLength(3);
    expect(stored.find((e) => e.id === e1.id)).toMatchObject({
      actorId: `agent:${cluster}`,
      event: 'action.succeeded',
      details: { message: 'cordoned', details: { k: 1 } },
    });
  });

  it('is append-only in the database itself', () => {
    const repo = new AuditRepo(db);
    const cluster = createCluster(db, { name: 'c' }).cluster.id;
    repo.insertBatch(cluster, [event()]);
    expect(() => db.prepare("UPDATE audit_logs SET event = 'x'").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit_logs').run()).toThrow(/append-only/);
  });
});

describe('HeartbeatsRepo', () => {
  it('keeps the last heartbeat per cluster', () => {
    const { db, cleanup } = tempDatabase();
    try {
      const repo = new HeartbeatsRepo(db);
      const cluster = createCluster(db, { name: 'c' }).cluster.id;
      expect(repo.last(cluster)).toBeUndefined();
      repo.record(cluster, { agentVersion: '0.1.0', outboxDepth: 3 }, 1000);
      repo.record(cluster, { agentVersion: '0.1.1', outboxDepth: 0, leader: 'pod-a' }, 2000);
      expect(repo.last(cluster)).toEqual({
        clusterId: cluster,
        receivedAt: new Date(2000).toISOString(),
        heartbeat: { agentVersion: '0.1.1', outboxDepth: 0, leader: 'pod-a' },
      });
    } finally {
      cleanup();
    }
  });
});
