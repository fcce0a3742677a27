/**
 * Hostile envelopes through the poller (property tests, fast-check).
 *
 * 1. acceptEnvelopes (src/controllers/action/poller.ts) with a real StateStore file and the
 *    real cluster clients, fed batches that mix valid envelopes with random and hostile
 *    ones: JSON junk (null, numbers, strings, arrays), envelopes with fields missing or of
 *    the wrong type, unknown types (including `__proto__`, `constructor`, `toString`), huge
 *    strings, prototype-pollution keys, valid-looking uuids with bad payloads, odd but
 *    valid timestamps. Everything arrives as JSON text parsed with JSON.parse, as from the
 *    wire. Nothing may throw out of the call; each invalid envelope with a usable id is
 *    journaled finished and reported `rejected` with a non-empty reason; one without a
 *    usable id becomes an audit event; each valid one becomes an AgentAction, journaled and
 *    acknowledged `running`; nothing pollutes Object.prototype.
 *    Bounds too (contract/bounds.ts): payloads nested past the depth limit (up to 100,000
 *    levels, which JSON.stringify cannot handle), envelopes past the size limit, and batches
 *    longer than maxActions; unanswerable envelopes become one audit event per reason.
 * 2. The whole path: hostile types and payloads enqueued on the reference control plane
 *    (which stores any type string and any JSON payload) reach the in-process agent over
 *    HTTP; each ends `rejected` there with its reason, valid ones run.
 * The hostile control plane itself (raw poll answers, the chart's guardrails, the cluster
 * watched for anything outside policy) is test/k8s/hostile-control-plane.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnvelope } from '../../src/contract/envelope.ts';
import { acceptEnvelopes } from '../../src/controllers/action/poller.ts';
import { agentActionName, agentActionPlural } from '../../src/crds/agent-action.ts';
import { apiGroup, apiVersionName } from '../../src/crds/common.ts';
import { createKubeClients, type KubeClients } from '../../src/kube/clients.ts';
import { installCrds } from '../../src/kube/install-crds.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { StatusRowBody } from '../../src/store/index.ts';
import { StateStore } from '../../src/store/index.ts';
import { type AgentStack, startAgentStack } from '../support/agent.ts';
import {
  createKwokNodes,
  createNamespace,
  deleteNamespace,
  deleteNodes,
  loadTestKubeConfig,
  uniqueName,
} from '../support/kube.ts';

const kc = loadTestKubeConfig();
const dir = mkdtempSync(join(tmpdir(), 'clusteropt-poller-hostile-'));
const log = createLogger({ level: 'silent' });
let clients: KubeClients;
let store: StateStore;
let ns = '';

beforeAll(async () => {
  await installCrds(kc);
  ns = await createNamespace(kc, 'hostile');
  clients = createKubeClients(kc);
  store = StateStore.open({ path: join(dir, 'agent.db') });
});

afterAll(async () => {
  store?.close();
  await clients?.close();
  await deleteNamespace(kc, ns);
  rmSync(dir, { recursive: true, force: true });
});

/** Stands for the envelope id until a fresh uuid replaces it (see materialise). */
const idPlaceholder = 'ID-PLACEHOLDER-7f3e';

// ---- generators ----------------------------------------------------------------------

const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?$/);
const nodeName = fc.array(dnsLabel, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('.'));
const labelKey = fc
  .tuple(
    fc.option(dnsLabel, { nil: undefined }),
    fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?$/),
  )
  .map(([prefix, name]) => (prefix ? `${prefix}.example/${name}` : name));
const labelValue = fc.stringMatching(/^(([A-Za-z0-9][-A-Za-z0-9_.]{0,20})?[A-Za-z0-9])?$/);
/** Valid RFC 3339 timestamps, including odd ones: year 0001/9999, offsets, 9 fraction digits. */
const timestamp = fc.oneof(
  fc
    .date({
      min: new Date('2000-01-01T00:00:00Z'),
      max: new Date('2100-01-01T00:00:00Z'),
      noInvalidDate: true,
    })
    .map((d) => d.toISOString()),
  fc.constantFrom(
    '0001-01-01T00:00:00Z',
    '9999-12-31T23:59:59Z',
    '2024-02-29T12:00:00+14:00',
    '2024-06-01T12:00:00.123456789-09:30',
    '2024-06-01T12:00:00.1Z',
  ),
);

const validPayload = fc.oneof(
  fc.record({ type: fc.constant('cordon_node'), payload: fc.record({ nodeName }) }),
  fc.record({ type: fc.constant('uncordon_node'), payload: fc.record({ nodeName }) }),
  fc.record({
    type: fc.constant('patch_node'),
    payload: fc.record({ nodeName, labels: fc.dictionary(labelKey, labelValue, { minKeys: 1, maxKeys: 4 }) }),
  }),
  fc.record({
    type: fc.constant('drain_node'),
    payload: fc.record(
      { nodeName, timeoutSeconds: fc.integer({ min: 1, max: 86_400 }), force: fc.boolean() },
      { requiredKeys: ['nodeName', 'timeoutSeconds'] },
    ),
  }),
  fc.record({
    type: fc.constant('scale_workload'),
    payload: fc.record({
      namespace: dnsLabel,
      kind: fc.constantFrom('Deployment', 'StatefulSet', 'ReplicaSet'),
      name: dnsLabel,
      replicas: fc.integer({ min: 0, max: 100_000 }),
    }),
  }),
);

/** A valid envelope (as JSON text). The id is replaced by a fresh uuid at use. */
const validEnvelope = fc
  .tuple(validPayload, timestamp, fc.option(timestamp, { nil: undefined }))
  .map(([{ type, payload }, createdAt, expiresAt]) => ({
    kind: 'valid' as const,
    value: { id: idPlaceholder, type, payload, createdAt, ...(expiresAt ? { expiresAt } : {}) } as Record<
      string,
      unknown
    >,
  }));

const pollutionKey = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  '__defineGetter__',
  'hasOwnProperty',
);
const junk = fc.oneof(
  fc.constant(null),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.string({ maxLength: 50 }),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }),
  fc.jsonValue({ maxDepth: 3 }),
);
const hugeString = fc.integer({ min: 65_536, max: 300_000 }).map((n) => 'x'.repeat(n));

/** Names an `in` check or a plain object lookup would find on any object. */
const prototypeNames = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  'isPrototypeOf',
  '__defineGetter__',
  'toLocaleString',
];

/** Mutations that always make an envelope invalid. */
const breakEnvelope = fc.oneof(
  // a required field missing
  fc.constantFrom('id', 'type', 'createdAt').map((field) => (e: Record<string, unknown>) => {
    delete e[field];
  }),
  // a field of the wrong type
  fc
    .tuple(
      fc.constantFrom('id', 'type', 'createdAt', 'expiresAt'),
      fc.oneof(fc.constant(null), fc.integer(), fc.array(fc.integer()), fc.object({ maxDepth: 1 })),
    )
    .map(([field, value]) => (e: Record<string, unknown>) => {
      e[field] = value;
    }),
  // unknown type, most often a name that exists on Object.prototype
  fc
    .oneof(
      { weight: 3, arbitrary: fc.constantFrom(...prototypeNames) },
      fc.constantFrom(
        '__proto__',
        'constructor',
        'toString',
        'hasOwnProperty',
        'valueOf',
        'CORDON_NODE',
        'cordon_node ',
        '',
      ),
      fc
        .string({ minLength: 1, maxLength: 64 })
        .filter(
          (s) =>
            ![
              'cordon_node',
              'uncordon_node',
              'drain_node',
              'patch_node',
              'scale_workload',
              'delete_node',
              'sync_hibernation_schedule',
            ].includes(s),
        ),
    )
    .map((type) => (e: Record<string, unknown>) => {
      e.type = type;
    }),
  // a huge type string
  hugeString.map((s) => (e: Record<string, unknown>) => {
    e.type = s;
  }),
  // a bad payload under a valid uuid (as drain_node: none of these fits its strict schema)
  fc
    .oneof(
      junk.filter((j) => typeof j !== 'object' || j === null || Array.isArray(j)),
      fc.constant({}),
      fc.record({
        nodeName: fc.oneof(
          fc.constant(''),
          fc.constant('UPPER'),
          fc.constant('a_b'),
          fc.integer(),
          hugeString,
        ),
      }),
      fc.record({ nodeName, timeoutSeconds: fc.constant(60), extra: junk }),
      fc.record({ nodeName: fc.constant('n1'), labels: fc.constant({}) }),
      fc.record({
        nodeName: fc.constant('n1'),
        timeoutSeconds: fc.oneof(
          fc.constant(-1),
          fc.constant(0),
          fc.double({ min: 0.1, max: 0.9 }),
          fc.constant(1e12),
        ),
      }),
      fc.record({
        namespace: fc.constant('a'),
        kind: fc.constant('Deployment'),
        name: fc.constant('x'),
        replicas: fc.oneof(fc.constant(-1), fc.constant(1.5), fc.constant('3')),
      }),
      hugeString.map((s) => ({ nodeName: 'n1', timeoutSeconds: 60, annotations: { a: s } })),
    )
    .map((payload) => (e: Record<string, unknown>) => {
      e.payload = payload;
      e.type = 'drain_node';
    }),
  // bad timestamps
  fc
    .constantFrom(
      'yesterday',
      '2024-13-01T00:00:00Z',
      '2024-02-30T00:00:00Z',
      '2024-06-01T12:00:00',
      '2024-06-01',
      '1717243200',
    )
    .map((t) => (e: Record<string, unknown>) => {
      e.createdAt = t;
    }),
);

/** A hostile envelope as JSON TEXT, so pollution keys are own properties as after JSON.parse. */
const hostileEnvelope = fc.oneof(
  junk.map((value) => ({ kind: 'junk' as const, text: JSON.stringify(value) ?? 'null' })),
  fc.tuple(validEnvelope, breakEnvelope).map(([{ value }, mutate]) => {
    const e = structuredClone(value);
    mutate(e);
    return { kind: 'broken' as const, text: JSON.stringify(e) };
  }),
  // pollution keys beside (or inside) an otherwise valid envelope: beside, they are extra
  // keys the (non-strict) envelope ignores; inside a payload (strict schemas) they make it invalid
  fc
    .tuple(validEnvelope, pollutionKey, fc.jsonValue({ maxDepth: 2 }), fc.boolean())
    .map(([{ value }, key, inner, inPayload]) => {
      const text = JSON.stringify(value);
      const injected = `${JSON.stringify(key)}:${JSON.stringify({ polluted: inner, type: 'cordon_node' })}`;
      return {
        kind: 'polluted' as const,
        inPayload,
        text: inPayload
          ? text.replace('"payload":{', () => `"payload":{${injected},`)
          : `{${injected},${text.slice(1)}`,
      };
    }),
);

/** A valid envelope whose payload is nested `levels` deep, as JSON text (JSON.parse takes any depth). */
const deepEnvelope = fc
  .tuple(validEnvelope, fc.oneof(fc.integer({ min: 40, max: 2_000 }), fc.constant(100_000)))
  .map(([{ value }, levels]) => {
    const text = JSON.stringify({ ...value, payload: { nodeName: 'n1', x: '__DEEP__' } });
    return {
      kind: 'broken' as const,
      text: text.replace('"__DEEP__"', () => `${'['.repeat(levels)}${']'.repeat(levels)}`),
    };
  });
/** A valid envelope past the size bound (1 MiB of JSON). */
const oversizedEnvelope = validEnvelope.map(({ value }) => ({
  kind: 'broken' as const,
  text: JSON.stringify({ ...value, payload: { nodeName: 'n1', blob: 'x'.repeat(1_100_000) } }),
}));

interface Sample {
  text: string;
  /** What the envelope must become. */
  expect: 'accepted' | 'rejected' | 'unanswerable';
  id?: string;
}

/** Fresh ids (uuids from fast-check repeat across runs; actions must be new each time). */
function materialise(item: {
  kind: 'valid' | 'junk' | 'broken' | 'polluted';
  text: string;
  inPayload?: boolean;
}): Sample {
  const id = randomUUID();
  // A function replacement: `$` sequences in generated strings must not be interpreted.
  const text = item.text.replace(`"id":"${idPlaceholder}"`, () => `"id":"${id}"`);
  const parsed = JSON.parse(text) as unknown;
  const hasId =
    typeof parsed === 'object' &&
    parsed !== null &&
    Object.hasOwn(parsed, 'id') &&
    (parsed as { id: unknown }).id === id;
  if (item.kind === 'valid') return { text, expect: 'accepted', id };
  if (item.kind === 'polluted') return { text, expect: item.inPayload ? 'rejected' : 'accepted', id };
  return hasId ? { text, expect: 'rejected', id } : { text, expect: 'unanswerable' };
}

const batch = fc.array(
  fc.oneof(
    { weight: 2, arbitrary: validEnvelope.map((v) => ({ kind: v.kind, text: JSON.stringify(v.value) })) },
    { weight: 5, arbitrary: hostileEnvelope },
    { weight: 1, arbitrary: deepEnvelope },
    { weight: 1, arbitrary: oversizedEnvelope },
  ),
  { minLength: 1, maxLength: 7 },
);

/** acceptEnvelopes looks at this many per batch; the rest are refused (batches go up to 7). */
const maxActions = 5;

// ---- 1. acceptEnvelopes directly ---------------------------------------------------------

describe('acceptEnvelopes with hostile input', () => {
  const totals = { accepted: 0, rejected: 0, unanswerable: 0 };

  it('never throws; rejects each invalid envelope with a reason; turns valid ones into AgentActions', async () => {
    await fc.assert(
      fc.asyncProperty(batch, async (items) => {
        // Past maxActions every envelope is refused: rejected when it has a usable id.
        const samples = items
          .map(materialise)
          .map((s, i) =>
            i >= maxActions && s.expect === 'accepted' ? { ...s, expect: 'rejected' as const } : s,
          );
        const raw = samples.map((s) => JSON.parse(s.text) as unknown);
        // Cross-check the test's own expectation against the validator for valid-by-construction ones.
        for (const [i, s] of samples.entries()) {
          if (s.expect === 'accepted')
            expect(parseEnvelope(raw[i]), s.text.slice(0, 300)).toMatchObject({ ok: true });
        }
        const counts = await acceptEnvelopes(raw, { clients, namespace: ns, store, log, maxActions });
        const expected = {
          accepted: samples.filter((s) => s.expect === 'accepted').length,
          rejected: samples.filter((s) => s.expect === 'rejected').length,
          unanswerable: samples.filter((s) => s.expect === 'unanswerable').length,
          duplicates: 0,
        };
        expect(counts, samples.map((s) => `${s.expect}: ${s.text.slice(0, 200)}`).join('\n')).toEqual(
          expected,
        );

        const pending = store.outbox.peek({ maxRows: 10_000 });
        for (const s of samples) {
          if (s.expect === 'rejected') {
            const entry = store.journal.entry(s.id!);
            expect(entry?.state).toBe('finished');
            expect(entry?.finalState).toBe('rejected');
            const row = pending.find((r) => r.idempotencyKey === `status:${s.id}:rejected`);
            const report = (row?.body as StatusRowBody | undefined)?.report;
            expect(report?.state).toBe('rejected');
            expect(report?.message.trim().length ?? 0, `reason for ${s.text.slice(0, 200)}`).toBeGreaterThan(
              0,
            );
            expect(report?.message.length ?? 0).toBeLessThanOrEqual(4096);
          } else if (s.expect === 'accepted') {
            expect(store.journal.state(s.id!)).toBe('received');
            expect(pending.some((r) => r.idempotencyKey === `status:${s.id}:running`)).toBe(true);
            const object = (await clients.custom.getNamespacedCustomObject({
              group: apiGroup,
              version: apiVersionName,
              namespace: ns,
              plural: agentActionPlural,
              name: agentActionName(s.id!),
            })) as { spec: { id: string; source: string } };
            expect(object.spec).toMatchObject({ id: s.id, source: 'control-plane' });
          }
        }
        // One audit event per distinct reason, counting the envelopes it stands for.
        const audits = pending.filter((r) => r.kind === 'audit');
        const counted = audits.reduce(
          (n, a) => n + ((a.body as { details?: { count?: number } }).details?.count ?? 0),
          0,
        );
        expect(counted).toBe(expected.unanswerable);
        expect(new Set(audits.map((a) => (a.body as { message: string }).message)).size).toBe(audits.length);
        for (const a of audits) expect((a.body as { event: string }).event).toBe('action.unanswerable');

        // A redelivery of the same batch changes nothing and throws nothing.
        const again = await acceptEnvelopes(raw, { clients, namespace: ns, store, log, maxActions });
        expect(again.duplicates).toBe(expected.accepted + expected.rejected);
        expect(again.unanswerable).toBe(expected.unanswerable);

        store.outbox.markShipped(store.outbox.peek({ maxRows: 10_000 }).map((r) => r.id));
        totals.accepted += expected.accepted;
        totals.rejected += expected.rejected;
        totals.unanswerable += expected.unanswerable;
        // No prototype pollution anywhere.
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(Object.getPrototypeOf({})).toBe(Object.prototype);
      }),
      {
        numRuns: 60,
        interruptAfterTimeLimit: 60_000,
        // Always tried, whatever the random runs draw: every prototype name as a type.
        examples: prototypeNames.map((type): [{ kind: 'broken'; text: string }[]] => [
          [
            {
              kind: 'broken',
              text: JSON.stringify({
                id: idPlaceholder,
                type,
                payload: { nodeName: 'n1' },
                createdAt: new Date().toISOString(),
              }),
            },
          ],
        ]),
      },
    );
    console.log(`poller-hostile: ${JSON.stringify(totals)}`);
    // The generators really exercised every branch.
    expect(totals.accepted).toBeGreaterThan(0);
    expect(totals.rejected).toBeGreaterThan(0);
    expect(totals.unanswerable).toBeGreaterThan(0);
  });

  it('a valid action whose AgentAction the API server refuses is rejected, not retried forever', async () => {
    // Valid for the contract (patch_node annotations of 256 KiB each), but ~2 MiB: more than
    // the API server/etcd accept in one object. The batch must not fail as a whole: that
    // would make every poll fail on it and block the actions queued behind it.
    const id = randomUUID();
    const big = 'v'.repeat(262_000);
    const annotations = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`example.com/a${i}`, big]));
    const valid = {
      id: randomUUID(),
      type: 'cordon_node',
      payload: { nodeName: 'n1' },
      createdAt: new Date().toISOString(),
    };
    const raw = [
      {
        id,
        type: 'patch_node',
        payload: { nodeName: 'n1', annotations },
        createdAt: new Date().toISOString(),
      },
      valid,
    ];
    expect(parseEnvelope(raw[0])).toMatchObject({ ok: true });
    const counts = await acceptEnvelopes(raw, { clients, namespace: ns, store, log });
    expect(counts).toMatchObject({ accepted: 1, rejected: 1 });
    expect(store.journal.entry(id)?.finalState).toBe('rejected');
    const row = store.outbox
      .peek({ maxRows: 10_000 })
      .find((r) => r.idempotencyKey === `status:${id}:rejected`);
    expect((row?.body as StatusRowBody | undefined)?.report.message).toMatch(/AgentAction/);
    expect(store.journal.state(valid.id)).toBe('received');
  });
});

// ---- 2. through the reference control plane and the agent --------------------------------

describe('hostile actions through the control plane and the agent', () => {
  let stack: AgentStack;
  let agentNs = '';
  const node = uniqueName('hostile');

  beforeAll(async () => {
    agentNs = await createNamespace(kc, 'hostile-e2e');
    await createKwokNodes(kc, [node], { managed: false });
    stack = await startAgentStack({ namespace: agentNs });
  });
  afterAll(async () => {
    await stack?.stop();
    await deleteNodes(kc, [node]);
    await deleteNamespace(kc, agentNs);
  });

  it('reports each hostile action rejected with its reason; valid ones still run', async () => {
    const hostileType = fc.oneof(
      fc.constantFrom(
        '__proto__',
        'constructor',
        'toString',
        'CORDON_NODE',
        'x'.repeat(200),
        'cordon_node\u0000',
      ),
      fc
        .string({ minLength: 1, maxLength: 80 })
        .filter((s) => !s.includes('_node') && s !== 'scale_workload' && s !== 'sync_hibernation_schedule'),
    );
    const hostilePayload = fc.oneof(
      junk,
      fc.record({ nodeName: fc.constant(node), labels: fc.constant({ 'bad key!': 'v' }) }),
      fc.record({ nodeName: fc.constant(node), timeoutSeconds: fc.constant(-5) }),
      fc.constant(JSON.parse(`{"nodeName":"${node}","__proto__":{"polluted":true}}`) as unknown),
    );
    const seen = { rejected: 0, succeeded: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({ type: hostileType, payload: fc.oneof(junk, fc.constant({ nodeName: node })) }),
          fc.record({
            type: fc.constantFrom('cordon_node', 'patch_node', 'drain_node'),
            payload: hostilePayload,
          }),
        ),
        async ({ type, payload }) => {
          const valid = await stack.enqueue('patch_node', {
            nodeName: node,
            labels: { 'clusteropt.io/ok': 'yes' },
          });
          const id = await stack.enqueue(type, payload ?? null);
          const action = await stack.waitForState(id, ['rejected', 'failed', 'succeeded'], 30_000);
          expect(action.state, `${type} ${JSON.stringify(payload)?.slice(0, 200)}`).toBe('rejected');
          expect(action.message.trim().length).toBeGreaterThan(0);
          expect(action.deliveredCount).toBe(1);
          expect((await stack.waitForState(valid, ['succeeded'], 30_000)).state).toBe('succeeded');
          seen.rejected++;
          seen.succeeded++;
        },
      ),
      { numRuns: 15, interruptAfterTimeLimit: 45_000 },
    );
    expect(seen.rejected).toBeGreaterThanOrEqual(5);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
