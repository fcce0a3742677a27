import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ActionType, actionPayloads, parseEnvelope } from './envelope.ts';

const id = '0b5c8f0e-3f7a-4f4e-9a53-6f1a2b3c4d5e';
const createdAt = '2026-03-01T12:00:00Z';
const envelope = (type: string, payload: unknown, extra: Record<string, unknown> = {}) => ({
  id,
  type,
  payload,
  createdAt,
  ...extra,
});

const valid: Record<ActionType, unknown[]> = {
  cordon_node: [
    { nodeName: 'ip-10-0-1-23.ec2.internal' },
    { nodeName: 'node-1', providerId: 'aws:///us-east-1a/i-0abc123def4567890', nodeUid: randomUUID() },
  ],
  uncordon_node: [{ nodeName: 'node-1' }],
  drain_node: [
    { nodeName: 'node-1', timeoutSeconds: 300 },
    {
      nodeName: 'node-1',
      timeoutSeconds: 86_400,
      gracePeriodSeconds: 0,
      force: true,
      deleteEmptyDirData: true,
      ignoreDaemonSets: false,
      deadline: '2026-03-01T13:00:00+01:00',
    },
  ],
  scale_workload: [
    { namespace: 'default', kind: 'Deployment', name: 'web', replicas: 0 },
    { namespace: 'apps', kind: 'Rollout.argoproj.io', name: 'api', replicas: 5, expectedReplicas: 3 },
  ],
  patch_node: [
    { nodeName: 'node-1', labels: { 'clusteropt.io/pool': 'spot', stale: null } },
    { nodeName: 'node-1', taints: [{ key: 'example.com/maintenance', value: 'yes', effect: 'NoSchedule' }] },
    { nodeName: 'node-1', removeTaints: [{ key: 'example.com/x', effect: 'NoExecute' }] },
  ],
  delete_node: [{ nodeName: 'node-1', timeoutSeconds: 600, force: false }],
  sync_hibernation_schedule: [
    {
      name: 'nightly',
      timezone: 'Europe/Berlin',
      windows: [{ days: ['Mon', 'Fri'], from: '20:00', to: '24:00' }],
      namespaceSelector: { matchLabels: { env: 'dev' } },
    },
    {
      name: 'weekend',
      timezone: 'UTC',
      matrix: '0'.repeat(120) + '1'.repeat(48),
      namespaceSelector: {
        matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['shop'] }],
      },
    },
    {
      name: 'bools',
      timezone: 'UTC',
      matrix: Array.from({ length: 168 }, (_, i) => i % 24 < 6),
      namespaceSelector: { matchLabels: { env: 'dev' } },
    },
  ],
};

const invalid: Record<ActionType, unknown[]> = {
  cordon_node: [
    {},
    { nodeName: 'Node_1' },
    { nodeName: 'node-1', extra: true },
    { nodeName: 'node-1', nodeUid: 'not-a-uid' },
    { nodeName: 'x'.repeat(254) },
    'node-1',
    null,
  ],
  uncordon_node: [{ nodeName: '' }, { nodeName: 'node-1', providerId: '' }, []],
  drain_node: [
    { nodeName: 'node-1' },
    { nodeName: 'node-1', timeoutSeconds: 0 },
    { nodeName: 'node-1', timeoutSeconds: 1.5 },
    { nodeName: 'node-1', timeoutSeconds: '300' },
    { nodeName: 'node-1', timeoutSeconds: 300, deadline: 'tomorrow' },
    { nodeName: 'node-1', timeoutSeconds: 300, force: 'yes' },
  ],
  scale_workload: [
    { namespace: 'default', kind: 'Deployment', name: 'web', replicas: -1 },
    { namespace: 'default', kind: 'deployment', name: 'web', replicas: 1 },
    { namespace: 'Default', kind: 'Deployment', name: 'web', replicas: 1 },
    { namespace: 'default', kind: 'Deployment', replicas: 1 },
    { namespace: 'default', kind: 'Deployment', name: 'web', replicas: 100_001 },
  ],
  patch_node: [
    { nodeName: 'node-1' },
    { nodeName: 'node-1', labels: { 'bad key!': 'v' } },
    { nodeName: 'node-1', labels: { ok: 'v'.repeat(64) } },
    { nodeName: 'node-1', taints: [{ key: 'k', effect: 'Sometimes' }] },
    { nodeName: 'node-1', spec: { unschedulable: true } },
    // The agent's own drain taint belongs to drain/uncordon, not to patch_node.
    { nodeName: 'node-1', taints: [{ key: 'clusteropt.io/draining', effect: 'NoSchedule' }] },
    {
      nodeName: 'node-1',
      taints: [{ key: 'example.com/x', effect: 'NoSchedule' }],
      removeTaints: [{ key: 'example.com/x', effect: 'NoSchedule' }],
    },
  ],
  delete_node: [
    { nodeName: 'node-1', timeoutSeconds: 86_401 },
    { nodeName: 'node-1', timeoutSeconds: 60, gracePeriodSeconds: -1 },
  ],
  sync_hibernation_schedule: [
    { name: 'x', timezone: 'UTC' },
    // The control plane must name the namespaces: absent or `{}` would mean all of them.
    { name: 'x', timezone: 'UTC', matrix: '0'.repeat(168) },
    { name: 'x', timezone: 'UTC', matrix: '0'.repeat(168), namespaceSelector: {} },
    {
      name: 'x',
      timezone: 'UTC',
      matrix: '0'.repeat(168),
      windows: [{ days: ['Mon'], from: '00:00', to: '01:00' }],
    },
    { name: 'x', timezone: 'UTC', matrix: '0'.repeat(167) },
    { name: 'x', timezone: 'UTC', matrix: '2'.repeat(168) },
    { name: 'x', timezone: 'UTC', windows: [{ days: ['Mon'], from: '25:00', to: '26:00' }] },
    { name: 'x', timezone: 'UTC', windows: [{ days: ['Mon'], from: '03:00', to: '03:00' }] },
    { name: 'x', timezone: 'UTC', windows: [{ days: ['Someday'], from: '00:00', to: '01:00' }] },
    { name: 'Bad Name', timezone: 'UTC', matrix: '0'.repeat(168) },
  ],
};

describe('parseEnvelope', () => {
  it('covers every action type in these tables', () => {
    expect(Object.keys(valid).sort()).toEqual(Object.keys(actionPayloads).sort());
    expect(Object.keys(invalid).sort()).toEqual(Object.keys(actionPayloads).sort());
  });

  for (const [type, payloads] of Object.entries(valid)) {
    it.each(payloads.map((p, i) => [i, p] as const))(`accepts valid ${type} payload #%i`, (_i, payload) => {
      const parsed = parseEnvelope(envelope(type, payload, { expiresAt: '2026-03-01T12:05:00.123Z' }));
      expect(parsed, JSON.stringify(parsed)).toMatchObject({ ok: true });
      if (!parsed.ok) return;
      expect(parsed.action.id).toBe(id);
      expect(parsed.action.type).toBe(type);
      expect(parsed.action.expiresAt).toBe('2026-03-01T12:05:00.123Z');
    });
  }

  for (const [type, payloads] of Object.entries(invalid)) {
    it.each(payloads.map((p, i) => [i, p] as const))(
      `rejects invalid ${type} payload #%i by id`,
      (_i, payload) => {
        const parsed = parseEnvelope(envelope(type, payload));
        expect(parsed.ok).toBe(false);
        if (parsed.ok) return;
        expect(parsed.id).toBe(id);
        expect(parsed.reason).toMatch(new RegExp(`^invalid ${type} payload: .+`));
      },
    );
  }

  it('applies payload defaults (drain ignores DaemonSets unless told otherwise)', () => {
    const parsed = parseEnvelope(envelope('drain_node', { nodeName: 'node-1', timeoutSeconds: 60 }));
    expect(parsed).toMatchObject({
      ok: true,
      action: { payload: { force: false, deleteEmptyDirData: false, ignoreDaemonSets: true } },
    });
  });

  it('rejects an unknown type, keeping the id for the report', () => {
    const parsed = parseEnvelope(envelope('reboot_node', { nodeName: 'node-1' }));
    expect(parsed).toEqual({ ok: false, id, reason: 'unknown action type "reboot_node"' });
  });

  it('does not treat Object.prototype names as action types', () => {
    for (const type of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const parsed = parseEnvelope(envelope(type, {}));
      expect(parsed.ok, type).toBe(false);
    }
  });

  it.each([
    ['missing createdAt', { id, type: 'cordon_node', payload: { nodeName: 'n' } }, id],
    ['bad createdAt', envelope('cordon_node', { nodeName: 'n' }, { createdAt: 'yesterday' }), id],
    ['bad expiresAt', envelope('cordon_node', { nodeName: 'n' }, { expiresAt: 12 }), id],
    ['empty type', envelope('', { nodeName: 'n' }), id],
    ['type too long', envelope('x'.repeat(65), {}), id],
    ['id not a uuid', { ...envelope('cordon_node', { nodeName: 'n' }), id: 'action-1' }, undefined],
    ['id a number', { ...envelope('cordon_node', { nodeName: 'n' }), id: 7 }, undefined],
  ])('rejects a bad envelope (%s)', (_name, input, expectedId) => {
    const parsed = parseEnvelope(input);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.id).toBe(expectedId);
    expect(parsed.reason).toMatch(/^invalid envelope: .+/);
  });

  it.each([null, undefined, 42, 'cordon_node', [], {}, [envelope('cordon_node', { nodeName: 'n' })]])(
    'rejects garbage %#',
    (input) => {
      const parsed = parseEnvelope(input);
      expect(parsed).toMatchObject({ ok: false, id: undefined });
      if (!parsed.ok) expect(parsed.reason.length).toBeGreaterThan(0);
    },
  );

  it('never throws on random and hostile values; failures carry a reason and the id when usable', () => {
    const hostileKey = fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      'id',
      'type',
      'payload',
    );
    const anyValue = fc.anything({
      key: fc.oneof(fc.string(), hostileKey),
      withBigInt: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withTypedArray: true,
      withSparseArray: true,
      withNullPrototype: true,
      withObjectString: true,
      withBoxedValues: true,
      withUnicodeString: true,
    });
    const timestamp = fc.oneof(
      fc
        .date({ noInvalidDate: true, min: new Date(0), max: new Date('9999-12-31') })
        .map((d) => d.toISOString()),
      fc.string(),
      anyValue,
    );
    const envelopeLike = fc.record(
      {
        id: fc.oneof(fc.uuid(), fc.string(), anyValue),
        type: fc.oneof(fc.constantFrom(...Object.keys(actionPayloads)), hostileKey, fc.string(), anyValue),
        payload: fc.oneof(
          fc.constantFrom(...Object.values(valid).flat()),
          fc.dictionary(fc.oneof(fc.string(), hostileKey), anyValue),
          anyValue,
        ),
        createdAt: timestamp,
        expiresAt: timestamp,
        deadline: timestamp,
      },
      { requiredKeys: [] },
    );
    // JSON.parse is how real input arrives; it creates own "__proto__" keys, for example.
    const viaJson = fc.string().map((s) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        return s;
      }
    });
    const hostileJson = fc
      .constantFrom(...Object.keys(actionPayloads), 'x')
      .map(
        (t) =>
          JSON.parse(
            `{"id":"${id}","type":"${t}","createdAt":"${createdAt}","__proto__":{"ok":true},"payload":{"__proto__":{"nodeName":"n"}}}`,
          ) as unknown,
      );

    fc.assert(
      fc.property(fc.oneof(anyValue, envelopeLike, viaJson, hostileJson), (input) => {
        const parsed = parseEnvelope(input);
        const inputId =
          typeof input === 'object' && input !== null && 'id' in input
            ? (input as { id: unknown }).id
            : undefined;
        const uuidLike =
          typeof inputId === 'string' &&
          /^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(inputId);
        if (parsed.ok) {
          expect(parsed.action.id).toBe(inputId);
          expect(Object.hasOwn(actionPayloads, parsed.action.type)).toBe(true);
        } else {
          expect(typeof parsed.reason).toBe('string');
          expect(parsed.reason.length).toBeGreaterThan(0);
          if (uuidLike) expect(parsed.id).toBe(inputId);
          else expect(parsed.id).toBeUndefined();
        }
      }),
      { numRuns: 1000 },
    );
  }, 60_000);
});
