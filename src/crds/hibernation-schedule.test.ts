import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { apiVersion } from './common.ts';
import {
  HibernationSchedule,
  HibernationScheduleSpec,
  HibernationScheduleStatus,
} from './hibernation-schedule.ts';
import { base, messages, weeknights } from './hibernation-test-fixtures.ts';

describe('HibernationScheduleSpec', () => {
  it('accepts windows and fills the defaults', () => {
    const spec = HibernationScheduleSpec.parse({ ...base, windows: weeknights });
    expect(spec.kinds).toEqual(['Deployment', 'StatefulSet']);
    expect(spec.suspended).toBe(false);
  });

  it('accepts a matrix written one day per line', () => {
    const day = '111111100000000000011111';
    const matrix = Array.from({ length: 7 }, () => day).join(' ');
    expect(messages(HibernationScheduleSpec, { ...base, matrix })).toEqual([]);
    expect(messages(HibernationScheduleSpec, { ...base, matrix: day.repeat(7).slice(1) })).toEqual([
      expect.stringMatching(/^matrix: must be 168 digits/),
    ]);
  });

  it('needs exactly one of matrix and windows', () => {
    const exactlyOne = [': exactly one of matrix or windows is required'];
    expect(messages(HibernationScheduleSpec, base)).toEqual(exactlyOne);
    expect(
      messages(HibernationScheduleSpec, { ...base, windows: weeknights, matrix: '0'.repeat(168) }),
    ).toEqual(exactlyOne);
  });

  it('needs a namespaceSelector ({} selects every namespace)', () => {
    const { namespaceSelector: _, ...withoutSelector } = base;
    expect(messages(HibernationScheduleSpec, { ...withoutSelector, windows: weeknights })).toEqual([
      expect.stringMatching(/^namespaceSelector: /),
    ]);
    expect(
      messages(HibernationScheduleSpec, { ...base, namespaceSelector: {}, windows: weeknights }),
    ).toEqual([]);
  });

  it('takes IANA zone names only', () => {
    for (const timezone of ['UTC', 'Asia/Kathmandu', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5']) {
      expect(messages(HibernationScheduleSpec, { ...base, timezone, windows: weeknights })).toEqual([]);
    }
    for (const timezone of ['Mars/Olympus_Mons', '+05:30', 'Europe/Berlin ', '', 'CEST']) {
      const problems = messages(HibernationScheduleSpec, { ...base, timezone, windows: weeknights });
      expect(problems).toContain(
        'timezone: must be an IANA time zone name known to the agent, like Europe/Berlin',
      );
      expect(problems.every((p) => p.startsWith('timezone: '))).toBe(true);
    }
  });

  it('explains bad windows: half hours, from 24:00, empty, overlapping', () => {
    const problems = messages(HibernationScheduleSpec, {
      ...base,
      windows: [
        ...weeknights,
        { days: ['Sat', 'Sun'], from: '00:00', to: '24:00' },
        { days: ['Wed'], from: '12:30', to: '13:00' },
        { days: ['Wed'], from: '24:00', to: '01:00' },
        { days: ['Thu'], from: '09:00', to: '09:00' },
      ],
    });
    expect(problems).toEqual([
      expect.stringMatching(/^windows\.2\.from: must be a whole hour HH:00/),
      expect.stringMatching(/^windows\.3\.from: must be a whole hour HH:00/),
      expect.stringMatching(/^windows\.1: window Sat,Sun 00:00-24:00 overlaps windows\[0\] .* at Sat 00:00/),
      expect.stringMatching(/^windows\.4: window Thu 09:00-09:00 is empty/),
    ]);
  });

  it('refuses an exclusion that names nothing, and an unknown kind', () => {
    expect(messages(HibernationScheduleSpec, { ...base, windows: weeknights, exclude: [{}] })).toEqual([
      'exclude.0: an exclusion needs at least one of namespace, kind, name',
    ]);
    expect(
      messages(HibernationScheduleSpec, { ...base, windows: weeknights, kinds: ['DaemonSet'] }),
    ).toHaveLength(1);
  });

  it('takes an override with a state and an RFC 3339 until', () => {
    const override = { state: 'awake', until: '2026-06-02T06:00:00+02:00' };
    expect(messages(HibernationScheduleSpec, { ...base, windows: weeknights, override })).toEqual([]);
    expect(
      messages(HibernationScheduleSpec, {
        ...base,
        windows: weeknights,
        override: { ...override, until: 'tomorrow' },
      }),
    ).toHaveLength(1);
  });
});

/** Every node of a JSON schema, depth first. */
function* nodes(schema: unknown): Generator<Record<string, unknown>> {
  if (typeof schema !== 'object' || schema === null) return;
  if (Array.isArray(schema)) {
    for (const item of schema) yield* nodes(item);
    return;
  }
  yield schema as Record<string, unknown>;
  for (const value of Object.values(schema)) yield* nodes(value);
}

describe('JSON Schema (the CRD is generated from it)', () => {
  it('converts in both directions, with the CEL rules and no type unions (structural schema)', () => {
    for (const io of ['input', 'output'] as const) {
      for (const schema of [HibernationScheduleSpec, HibernationScheduleStatus, HibernationSchedule]) {
        const json = z.toJSONSchema(schema, { io });
        expect([...nodes(json)].filter((node) => 'anyOf' in node || 'oneOf' in node)).toEqual([]);
      }
    }
    const spec = z.toJSONSchema(HibernationScheduleSpec, { io: 'input' });
    expect(spec['x-kubernetes-validations']).toEqual([
      {
        rule: 'has(self.matrix) != has(self.windows)',
        message: 'exactly one of matrix or windows is required',
      },
    ]);
    expect(spec.required).toEqual(['timezone', 'namespaceSelector']);
  });

  it('parses a whole object as the API server returns it', () => {
    const object = {
      apiVersion: apiVersion,
      kind: 'HibernationSchedule',
      metadata: { name: 'office-hours', generation: 3, labels: { team: 'a' } },
      spec: { ...base, windows: weeknights },
      status: {
        state: 'Asleep',
        nextTransition: '2026-06-02T05:00:00Z',
        nextState: 'Awake',
        counts: { scaled: 4, restored: 0, skipped: 1 },
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'Applied',
            message: '',
            lastTransitionTime: '2026-06-01T17:00:00Z',
          },
        ],
      },
    };
    expect(messages(HibernationSchedule, object)).toEqual([]);
    expect(messages(HibernationSchedule, { ...object, status: { state: 'Sleeping' } })).toHaveLength(1);
  });
});
