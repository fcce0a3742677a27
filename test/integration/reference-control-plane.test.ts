import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.ts';
import {
  type ReferenceControlPlane,
  type ReferenceControlPlaneAdmin,
  startReferenceControlPlane,
} from '../../src/reference-control-plane/index.ts';

// Real server on 127.0.0.1:0 over a real SQLite file; requests with fetch/undici.
const silent = createLogger({ level: 'silent' });
const leaseSeconds = 1;

let dir: string;
let cp: ReferenceControlPlane;
let admin: ReferenceControlPlaneAdmin;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'co-rcp-'));
  // A slow cross-process probe, so prompt wake-ups here can only come from the in-process
  // notify (the probe is tested with a second process in reference-control-plane-cli.test.ts).
  cp = await startReferenceControlPlane({
    dbPath: join(dir, 'cp.db'),
    leaseSeconds,
    probeIntervalMs: 5000,
    logger: silent,
  });
  admin = cp.admin;
});
afterAll(async () => {
  await cp?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function newCluster(name = 'c'): Promise<{ id: string; key: string; keyId: string }> {
  const c = await admin.createCluster({ name });
  return { id: c.cluster.id, key: c.apiKey, keyId: c.apiKeyId };
}

async function agent(
  key: string | undefined,
  method: string,
  path: string,
  body?: unknown,
  init: { signal?: AbortSignal; headers?: Record<string, string> } = {},
  // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field with expect()
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${cp.url}${path}`, {
    method,
    headers: {
      ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

const poll = (key: string, wait = 0, extra = '') =>
  agent(key, 'GET', `/api/v1/agent/actions?wait=${wait}${extra}`);
const status = (key: string, id: string, body: unknown) =>
  agent(key, 'POST', `/api/v1/agent/actions/${id}/status`, body);
const cordon = { type: 'cordon_node', payload: { nodeName: 'node-1' } };

describe('reference control plane: authentication', () => {
  it('401 without a key, with garbage, and with a wrong secret for a real prefix; 403 once revoked', async () => {
    const c = await newCluster();
    const noKey = await poll(undefined as unknown as string);
    expect(noKey.status).toBe(401);
    expect(noKey.body).toEqual({ error: { code: 'UNAUTHENTICATED', message: expect.any(String) } });
    expect((await agent('nonsense', 'GET', '/api/v1/agent/actions')).status).toBe(401);
    const [, prefix, secret] = c.key.split('_') as [string, string, string];
    const wrongSecret = `co_${prefix}_${secret.split('').reverse().join('')}`;
    expect((await poll(wrongSecret)).status).toBe(401);
    expect((await poll(c.key)).status).toBe(200);

    const rotated = await admin.createApiKey(c.id);
    await admin.revokeApiKey(c.keyId);
    const revoked = await poll(c.key);
    expect(revoked.status).toBe(403);
    expect(revoked.body.error.code).toBe('API_KEY_REVOKED');
    expect((await poll(rotated.apiKey)).status).toBe(200);
    // A wrong secret does not learn that the prefix was revoked.
    expect((await poll(wrongSecret)).status).toBe(401);
  });

  it('keeps the admin API behind the admin token (an agent key is not enough)', async () => {
    const c = await newCluster();
    expect((await agent(undefined, 'GET', '/admin/v1/clusters')).status).toBe(401);
    expect((await agent(c.key, 'GET', '/admin/v1/clusters')).status).toBe(401);
    expect((await agent(cp.adminToken, 'GET', '/admin/v1/clusters')).status).toBe(200);
    // The generated token file is readable by its owner only.
    expect(cp.adminTokenFile).toBeDefined();
    expect(statSync(cp.adminTokenFile!).mode & 0o077).toBe(0);
  });
});

describe('reference control plane: long-poll and leases', () => {
  it('wakes a held poll within 200 ms of an enqueue', async () => {
    const c = await newCluster();
    const held = poll(c.key, 20);
    await new Promise((r) => setTimeout(r, 150)); // let the poll reach the server and wait
    const enqueuedAt = performance.now();
    const action = await admin.enqueue(c.id, cordon);
    const res = await held;
    const latency = performance.now() - enqueuedAt;
    expect(res.status).toBe(200);
    expect(res.body.actions.map((a: { id: string }) => a.id)).toEqual([action.id]);
    expect(latency).toBeLessThan(200);
  });

  it('answers an empty list after `wait` seconds, and clamps wait to 0..60', async () => {
    const c = await newCluster();
    const started = performance.now();
    const res = await poll(c.key, 1);
    const elapsed = performance.now() - started;
    expect(res.body).toEqual({ actions: [] });
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(3000);
    const negative = performance.now();
    expect((await poll(c.key, -5)).body).toEqual({ actions: [] });
    expect(performance.now() - negative).toBeLessThan(500);
    expect((await poll(c.key, Number.NaN)).status).toBe(400);
  });

  it('delivers oldest first up to limit, leases, and redelivers to a waiting poll when the lease runs out', async () => {
    const c = await newCluster();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await admin.enqueue(c.id, { ...cordon, payload: { nodeName: `n${i}` } })).id);
    const first = await poll(c.key, 0, '&limit=2');
    expect(first.body.actions.map((a: { id: string }) => a.id)).toEqual(ids.slice(0, 2));
    expect(first.body.actions[0]).toEqual({
      id: ids[0],
      type: 'cordon_node',
      payload: { nodeName: 'n0' },
      createdAt: expect.any(String),
    });
    expect((await poll(c.key)).body.actions.map((a: { id: string }) => a.id)).toEqual([ids[2]]);
    expect((await poll(c.key)).body.actions).toEqual([]);
    // Nobody acknowledged: a held poll gets all three again once the lease (1 s) runs out.
    await status(c.key, ids[2]!, { state: 'running' });
    const started = performance.now();
    const again = await poll(c.key, 10);
    expect(performance.now() - started).toBeLessThan(2500);
    expect(again.body.actions.map((a: { id: string }) => a.id)).toEqual(ids.slice(0, 2));
    expect((await admin.getAction(ids[0]!)).deliveredCount).toBe(2);
    expect((await admin.getAction(ids[2]!)).deliveredCount).toBe(1); // running: not redelivered
  });

  it('does not deliver expired actions: they become expired', async () => {
    const c = await newCluster();
    const doomed = await admin.enqueue(c.id, { ...cordon, expiresInSeconds: 0.2 });
    const fine = await admin.enqueue(c.id, {
      ...cordon,
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    });
    await new Promise((r) => setTimeout(r, 300));
    const res = await poll(c.key);
    expect(res.body.actions.map((a: { id: string }) => a.id)).toEqual([fine.id]);
    expect(res.body.actions[0].expiresAt).toBe(fine.expiresAt);
    expect(await admin.getAction(doomed.id)).toMatchObject({ state: 'expired', deliveredCount: 0 });
    expect(await admin.listActions(c.id, { state: 'expired' })).toHaveLength(1);
  });

  it('stops waiting when the client goes away (nothing is leased to it)', async () => {
    const c = await newCluster();
    const ctrl = new AbortController();
    const held = agent(c.key, 'GET', '/api/v1/agent/actions?wait=20', undefined, { signal: ctrl.signal });
    await new Promise((r) => setTimeout(r, 150));
    ctrl.abort();
    await expect(held).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 100));
    const action = await admin.enqueue(c.id, cordon);
    await new Promise((r) => setTimeout(r, 100));
    expect((await admin.getAction(action.id)).state).toBe('queued');
  });

  it('answers held polls with an empty list on shutdown', async () => {
    const other = await startReferenceControlPlane({ dbPath: join(dir, 'shutdown.db'), logger: silent });
    const c = await other.admin.createCluster({ name: 'x' });
    const held = fetch(`${other.url}/api/v1/agent/actions?wait=30`, {
      headers: { authorization: `Bearer ${c.apiKey}` },
    });
    await new Promise((r) => setTimeout(r, 150));
    const started = performance.now();
    await other.close();
    const res = await held;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ actions: [] });
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('reference control plane: status reports', () => {
  it('is idempotent for the same state and 409s illegal transitions; counts transitions', async () => {
    const c = await newCluster();
    const { id } = await admin.enqueue(c.id, cordon);
    await poll(c.key);
    expect((await status(c.key, id, { state: 'running', message: 'cordoning' })).body).toEqual({
      state: 'running',
      changed: true,
    });
    expect((await status(c.key, id, { state: 'running', message: 'cordoning' })).body).toEqual({
      state: 'running',
      changed: false,
    });
    const done = {
      state: 'succeeded',
      message: 'cordoned',
      result: { changed: true },
      finishedAt: new Date().toISOString(),
    };
    expect((await status(c.key, id, done)).body).toEqual({ state: 'succeeded', changed: true });
    const repeat = await status(c.key, id, done);
    expect(repeat.status).toBe(200);
    expect(repeat.body).toEqual({ state: 'succeeded', changed: false });
    const back = await status(c.key, id, { state: 'running' });
    expect(back.status).toBe(409);
    expect(back.body.error).toMatchObject({ code: 'ILLEGAL_TRANSITION', state: 'succeeded' });
    expect((await status(c.key, id, { state: 'failed', message: 'x' })).status).toBe(409);

    const stored = await admin.getAction(id);
    expect(stored).toMatchObject({
      state: 'succeeded',
      message: 'cordoned',
      result: { changed: true },
      leasedUntil: null,
    });
    const log = await admin.actionStatusLog(id);
    expect(log.map((e) => e.toState)).toEqual(['queued', 'leased', 'running', 'succeeded']);
    expect(log.filter((e) => e.source === 'agent')).toHaveLength(2);
  });

  it('400s a bad body with the zod issues, 404s unknown ids', async () => {
    const c = await newCluster();
    const { id } = await admin.enqueue(c.id, cordon);
    const bad = await status(c.key, id, { state: 'done', startedAt: 'yesterday' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_BODY');
    expect(bad.body.error.issues.map((i: { path: string[] }) => i.path[0]).sort()).toEqual([
      'startedAt',
      'state',
    ]);
    expect((await status(c.key, id, '{not json')).body.error.code).toBe('INVALID_JSON');
    expect((await status(c.key, randomUUID(), { state: 'running' })).status).toBe(404);
    expect((await status(c.key, 'not-a-uuid', { state: 'running' })).status).toBe(404);
  });

  it('isolates clusters: another cluster neither receives nor can report an action', async () => {
    const a = await newCluster('a');
    const b = await newCluster('b');
    const { id } = await admin.enqueue(a.id, cordon);
    expect((await poll(b.key)).body.actions).toEqual([]);
    expect((await status(b.key, id, { state: 'rejected', message: 'not mine' })).status).toBe(404);
    expect((await admin.getAction(id)).state).toBe('queued');
    expect((await poll(a.key)).body.actions.map((x: { id: string }) => x.id)).toEqual([id]);
    expect(await admin.listActions(b.id)).toEqual([]);
  });

  it('stores payloads it does not understand so the agent can reject them', async () => {
    const c = await newCluster();
    const { id } = await admin.enqueue(c.id, { type: 'reboot_everything', payload: 'please' });
    const res = await poll(c.key);
    expect(res.body.actions[0]).toMatchObject({ id, type: 'reboot_everything', payload: 'please' });
    expect(
      (await status(c.key, id, { state: 'rejected', message: 'unknown action type' })).body.changed,
    ).toBe(true);
  });
});

const statuses = (key: string, reports: unknown[]) =>
  agent(key, 'POST', '/api/v1/agent/actions/status', { reports });

describe('reference control plane: batch status route (contract 1.1)', () => {
  it('applies the entries in order in one request: one action twice, idempotent repeats, same transitions as per action', async () => {
    const c = await newCluster();
    const a = await admin.enqueue(c.id, cordon);
    const b = await admin.enqueue(c.id, cordon);
    await poll(c.key);
    const done = { state: 'succeeded', message: 'cordoned', result: { changed: true } };
    const res = await statuses(c.key, [
      { actionId: a.id, state: 'running', message: 'accepted' },
      { actionId: b.id, state: 'running', message: 'accepted' },
      { actionId: a.id, ...done },
      { actionId: a.id, ...done },
      { actionId: b.id, state: 'failed', message: 'boom' },
    ]);
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([
      { actionId: a.id, status: 200, state: 'running', changed: true },
      { actionId: b.id, status: 200, state: 'running', changed: true },
      { actionId: a.id, status: 200, state: 'succeeded', changed: true },
      { actionId: a.id, status: 200, state: 'succeeded', changed: false },
      { actionId: b.id, status: 200, state: 'failed', changed: true },
    ]);
    expect((await admin.actionStatusLog(a.id)).map((e) => e.toState)).toEqual([
      'queued',
      'leased',
      'running',
      'succeeded',
    ]);
    expect(await admin.getAction(a.id)).toMatchObject({ state: 'succeeded', result: { changed: true } });
    expect(await admin.getAction(b.id)).toMatchObject({ state: 'failed', message: 'boom' });
    // The same batch again changes nothing (a shipper retry after a lost answer).
    const again = await statuses(c.key, [
      { actionId: a.id, ...done },
      { actionId: b.id, state: 'failed', message: 'boom' },
    ]);
    expect(again.body.results.map((r: { changed: boolean }) => r.changed)).toEqual([false, false]);
    expect(await admin.actionStatusLog(a.id)).toHaveLength(4);
  });

  it('answers each entry with the per-action status (400, 404, 409) without affecting the others', async () => {
    const c = await newCluster();
    const other = await newCluster('other');
    const a = await admin.enqueue(c.id, cordon);
    const finished = await admin.enqueue(c.id, cordon);
    const foreign = await admin.enqueue(other.id, cordon);
    await poll(c.key);
    await status(c.key, finished.id, { state: 'succeeded', message: 'done' });
    const res = await statuses(c.key, [
      { actionId: finished.id, state: 'running' },
      { actionId: randomUUID(), state: 'running' },
      { actionId: foreign.id, state: 'rejected', message: 'not mine' },
      { actionId: a.id, state: 'done' },
      { actionId: 'not-a-uuid', state: 'running' },
      { actionId: a.id, state: 'succeeded', message: 'ok' },
    ]);
    expect(res.status).toBe(200);
    const results = res.body.results as { status: number; state?: string; error?: { code: string } }[];
    expect(results.map((r) => r.status)).toEqual([409, 404, 404, 400, 400, 200]);
    expect(results[0]).toMatchObject({ state: 'succeeded', error: { code: 'ILLEGAL_TRANSITION' } });
    expect(results[1]!.error!.code).toBe('ACTION_NOT_FOUND');
    expect(results[3]!.error!.code).toBe('INVALID_BODY');
    expect((await admin.getAction(a.id)).state).toBe('succeeded');
    expect((await admin.getAction(foreign.id)).state).toBe('queued');
  });

  it('admin counts per state follow the batch (every state present)', async () => {
    const c = await newCluster();
    const a = await admin.enqueue(c.id, cordon);
    const b = await admin.enqueue(c.id, cordon);
    await admin.enqueue(c.id, cordon);
    await poll(c.key, 0, '&limit=2');
    await statuses(c.key, [
      { actionId: a.id, state: 'running' },
      { actionId: b.id, state: 'failed', message: 'x' },
    ]);
    expect(await admin.countActions(c.id)).toEqual({
      queued: 1,
      leased: 0,
      running: 1,
      succeeded: 0,
      failed: 1,
      rejected: 0,
      expired: 0,
    });
  });

  it('400s a batch that is not a batch: no reports, too many, or not an object', async () => {
    const c = await newCluster();
    expect((await statuses(c.key, [])).status).toBe(400);
    const tooMany = Array.from({ length: 501 }, () => ({ actionId: randomUUID(), state: 'running' }));
    expect((await statuses(c.key, tooMany)).status).toBe(400);
    expect((await agent(c.key, 'POST', '/api/v1/agent/actions/status', [1, 2])).status).toBe(400);
    expect((await agent(undefined, 'POST', '/api/v1/agent/actions/status', { reports: [] })).status).toBe(
      401,
    );
  });
});

describe('reference control plane: instances, events, heartbeat', () => {
  const node = (name: string) => ({
    nodeName: name,
    nodeUid: randomUUID(),
    lifecycle: 'on-demand',
    ready: true,
    schedulable: true,
    instanceId: `i-${name}`,
  });

  it('applies a full snapshot, deltas in order, and asks for a resync on a gap', async () => {
    const c = await newCluster();
    const send = (b: unknown) => agent(c.key, 'POST', '/api/v1/agent/instances', b);
    expect((await send({ seq: 3, full: false, instances: [node('x')] })).body).toEqual({
      accepted: false,
      resync: true,
    });
    expect((await send({ seq: 10, full: true, instances: [node('a'), node('b')] })).body).toEqual({
      accepted: true,
      resync: false,
    });
    expect((await send({ seq: 11, full: false, instances: [node('c')], removed: ['a'] })).body.accepted).toBe(
      true,
    );
    expect((await send({ seq: 11, full: false, instances: [node('c')], removed: ['a'] })).body.accepted).toBe(
      true,
    );
    expect((await send({ seq: 13, full: false, instances: [node('d')] })).body).toEqual({
      accepted: false,
      resync: true,
    });
    const list = await admin.listInstances(c.id);
    expect(list.lastSeq).toBe(11);
    expect(list.instances.map((i) => [i.nodeName, i.instanceId])).toEqual([
      ['b', 'i-b'],
      ['c', 'i-c'],
    ]);
    expect((await send({ seq: 12, full: false, instances: 'nope' })).status).toBe(400);
  });

  it('stores audit events once per id', async () => {
    const c = await newCluster();
    const ev = (id: string) => ({
      id,
      timestamp: new Date().toISOString(),
      event: 'action.refused',
      resource: 'node/n1',
    });
    const [e1, e2] = [randomUUID(), randomUUID()];
    const first = await agent(c.key, 'POST', '/api/v1/agent/events', { events: [ev(e1), ev(e2)] });
    expect(first.body).toEqual({ received: 2, inserted: 2, duplicates: 0 });
    const again = await agent(c.key, 'POST', '/api/v1/agent/events', { events: [ev(e2), ev(e1)] });
    expect(again.body).toEqual({ received: 2, inserted: 0, duplicates: 2 });
    expect((await admin.listEvents(c.id)).map((e) => e.id).sort()).toEqual([e1, e2].sort());
    expect((await agent(c.key, 'POST', '/api/v1/agent/events', { events: [] })).status).toBe(400);
  });

  it('records the heartbeat and answers settings', async () => {
    const c = await newCluster();
    expect(await admin.lastHeartbeat(c.id)).toBeUndefined();
    const hb = {
      agentVersion: '0.1.0',
      kubernetesVersion: 'v1.34.1',
      nodeCount: 3,
      outboxDepth: 0,
      leader: 'pod-a',
    };
    const res = await agent(c.key, 'POST', '/api/v1/agent/heartbeat', hb);
    expect(res.body).toEqual({ settings: {} });
    expect((await admin.lastHeartbeat(c.id))?.heartbeat).toEqual(hb);
  });
});

describe('reference control plane: HTTP edges', () => {
  it('413s a body over the limit, including one that only grows when unzipped', async () => {
    const c = await newCluster();
    const big = JSON.stringify({ events: [{ padding: 'x'.repeat(6 * 1024 * 1024) }] });
    const res = await agent(c.key, 'POST', '/api/v1/agent/events', big);
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('BODY_TOO_LARGE');
    const bomb = gzipSync(Buffer.from(big));
    expect(bomb.length).toBeLessThan(100_000);
    const zipped = await request(`${cp.url}/api/v1/agent/events`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${c.key}`,
        'content-encoding': 'gzip',
        'content-type': 'application/json',
      },
      body: bomb,
    });
    expect(zipped.statusCode).toBe(413);
    await zipped.body.dump();
    // The connection is still usable afterwards.
    expect((await poll(c.key)).status).toBe(200);
  });

  it('accepts gzip request bodies and gzips large answers when asked', async () => {
    const c = await newCluster();
    const body = gzipSync(Buffer.from(JSON.stringify({ agentVersion: 'z', outboxDepth: 1 })));
    const hb = await request(`${cp.url}/api/v1/agent/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.key}`, 'content-encoding': 'gzip' },
      body,
    });
    expect(hb.statusCode).toBe(200);
    await hb.body.dump();
    for (let i = 0; i < 20; i++) await admin.enqueue(c.id, { ...cordon, payload: { nodeName: `node-${i}` } });
    const res = await request(`${cp.url}/api/v1/agent/actions?wait=0`, {
      headers: { authorization: `Bearer ${c.key}`, 'accept-encoding': 'gzip' },
    });
    expect(res.headers['content-encoding']).toBe('gzip');
    const parsed = JSON.parse(gunzipSync(Buffer.from(await res.body.arrayBuffer())).toString('utf8'));
    expect(parsed.actions).toHaveLength(20);
    const plain = await request(`${cp.url}/admin/v1/clusters/${c.id}/actions`, {
      headers: { authorization: `Bearer ${cp.adminToken}` },
    });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(await plain.body.text()).actions).toHaveLength(20);
  });

  it('404s unknown routes and 405s wrong methods with JSON bodies', async () => {
    const c = await newCluster();
    const missing = await agent(c.key, 'GET', '/api/v1/agent/nothing');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('ROUTE_NOT_FOUND');
    const wrong = await agent(c.key, 'DELETE', '/api/v1/agent/actions');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
    expect(wrong.body.error.code).toBe('METHOD_NOT_ALLOWED');
  });
});

describe('reference control plane: fault injection', () => {
  it('answers the next N agent requests with the injected status and Retry-After, then recovers', async () => {
    const c = await newCluster();
    await admin.addFault({ count: 2, status: 503, retryAfterSeconds: 7, routes: ['actions'] });
    // Other routes are not affected.
    expect(
      (await agent(c.key, 'POST', '/api/v1/agent/heartbeat', { agentVersion: 'x', outboxDepth: 0 })).status,
    ).toBe(200);
    for (let i = 0; i < 2; i++) {
      const res = await poll(c.key);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('7');
    }
    expect((await poll(c.key)).status).toBe(200);
    expect((await admin.listFaults()).faults).toEqual([]);
  });

  it('delays, or cuts the connection', async () => {
    const c = await newCluster();
    await admin.addFault({ delayMs: 400, routes: ['heartbeat'] });
    const started = performance.now();
    expect(
      (await agent(c.key, 'POST', '/api/v1/agent/heartbeat', { agentVersion: 'x', outboxDepth: 0 })).status,
    ).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(380);
    await admin.addFault({ reset: true });
    await expect(poll(c.key)).rejects.toThrow();
    expect((await poll(c.key)).status).toBe(200);
    await admin.addFault({ count: 5, status: 429 });
    await admin.clearFaults();
    expect((await poll(c.key)).status).toBe(200);
  });
});

describe('reference control plane: a disabled cluster, and answers of an ingress', () => {
  it('403s every agent route of a disabled cluster, a held poll too, until it is active again', async () => {
    const c = await newCluster();
    const held = poll(c.key, 30);
    await new Promise((r) => setTimeout(r, 100));
    expect((await admin.setClusterStatus(c.id, 'disabled')).status).toBe('disabled');
    const answer = await held;
    expect(answer.status).toBe(403);
    expect(answer.body.error.code).toBe('CLUSTER_DISABLED');
    const heartbeat = await agent(c.key, 'POST', '/api/v1/agent/heartbeat', {
      agentVersion: 'x',
      outboxDepth: 0,
    });
    expect(heartbeat.status).toBe(403);
    await admin.enqueue(c.id, cordon);
    expect((await poll(c.key)).status).toBe(403);
    await admin.setClusterStatus(c.id, 'active');
    expect((await poll(c.key)).body.actions).toHaveLength(1);
  });

  it('sends a fault body as it is, without the contract error body', async () => {
    const c = await newCluster();
    await admin.addFault({
      status: 413,
      body: '<html>413 Request Entity Too Large</html>',
      routes: ['status'],
    });
    const res = await fetch(`${cp.url}/api/v1/agent/actions/${randomUUID()}/status`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'running' }),
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toBe('text/html');
    expect(await res.text()).toBe('<html>413 Request Entity Too Large</html>');
  });

  it('keeps hostile mode off: its routes 404 and unknown actions are 404', async () => {
    const c = await newCluster();
    await expect(admin.queueRawPoll(c.id, '{"actions":[null]}')).rejects.toMatchObject({ status: 404 });
    expect((await status(c.key, randomUUID(), { state: 'rejected', message: 'x' })).status).toBe(404);
  });
});

describe('reference control plane: hostile mode', () => {
  let hostile: ReferenceControlPlane;
  beforeAll(async () => {
    hostile = await startReferenceControlPlane({
      dbPath: join(dir, 'hostile.db'),
      logger: silent,
      hostile: true,
    });
  });
  afterAll(() => hostile?.close());

  it('answers polls with the raw bytes queued, and keeps reports about unknown actions', async () => {
    const c = await hostile.admin.createCluster({ name: 'h' });
    const deep = `{"actions":[${'['.repeat(5000)}${']'.repeat(5000)}]}`;
    await hostile.admin.queueRawPoll(c.cluster.id, deep, 2);
    const get = () =>
      fetch(`${hostile.url}/api/v1/agent/actions?wait=5`, {
        headers: { authorization: `Bearer ${c.apiKey}` },
      });
    for (let i = 0; i < 2; i++) expect(await (await get()).text()).toBe(deep);
    const id = randomUUID();
    const report = await fetch(`${hostile.url}/api/v1/agent/actions/${id}/status`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'rejected', message: 'invalid envelope: payload nested too deeply' }),
    });
    expect(report.status).toBe(200);
    expect(await hostile.admin.unknownReports(c.cluster.id)).toEqual([
      expect.objectContaining({
        actionId: id,
        state: 'rejected',
        message: 'invalid envelope: payload nested too deeply',
      }),
    ]);
  });
});
