import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { normalizeMatrix, SLOTS_PER_WEEK } from '../crds/hibernation-matrix.ts';
import { HibernationScheduleSpec } from '../crds/hibernation-schedule.ts';
import { base, messages, weeknights } from '../crds/hibernation-test-fixtures.ts';
import { SyncHibernationSchedulePayload, specFromSyncPayload } from './sync-hibernation-schedule.ts';

describe('SyncHibernationSchedulePayload', () => {
  it('takes the control plane matrix as booleans and writes the spec string', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: SLOTS_PER_WEEK, maxLength: SLOTS_PER_WEEK }),
        (matrix) => {
          const payload = SyncHibernationSchedulePayload.parse({ name: 'nightly', ...base, matrix });
          const spec = specFromSyncPayload(payload);
          expect(spec).not.toHaveProperty('name');
          expect(normalizeMatrix(spec.matrix!)).toEqual(matrix);
          expect(HibernationScheduleSpec.parse(spec)).toEqual(spec);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('takes schedule_matrix as 0/1 integers too (a JSONB array), alone or mixed with booleans', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom<boolean | 0 | 1>(true, false, 0, 1), {
          minLength: SLOTS_PER_WEEK,
          maxLength: SLOTS_PER_WEEK,
        }),
        (matrix) => {
          const spec = specFromSyncPayload(
            SyncHibernationSchedulePayload.parse({ name: 'n', ...base, matrix }),
          );
          expect(normalizeMatrix(spec.matrix!)).toEqual(matrix.map((slot) => slot === true || slot === 1));
        },
      ),
      { numRuns: 50 },
    );
    const ints = Array.from({ length: SLOTS_PER_WEEK }, (_, i) => (i < 7 ? 1 : 0));
    expect(
      specFromSyncPayload(SyncHibernationSchedulePayload.parse({ name: 'n', ...base, matrix: ints })).matrix,
    ).toBe(`${'1'.repeat(7)}${'0'.repeat(SLOTS_PER_WEEK - 7)}`);
    for (const bad of [2, -1, 0.5, '1', null]) {
      const matrix = [...ints];
      matrix[3] = bad as never;
      expect(
        SyncHibernationSchedulePayload.safeParse({ name: 'n', ...base, matrix }).success,
        String(bad),
      ).toBe(false);
    }
  });

  it('converts to JSON Schema for the OpenAPI contract', () => {
    for (const io of ['input', 'output'] as const) {
      const json = z.toJSONSchema(SyncHibernationSchedulePayload, { io });
      expect(Object.keys(json.properties ?? {})).toEqual(
        expect.arrayContaining(['name', 'matrix', 'windows']),
      );
    }
  });

  it('refuses a schedule that does not name its namespaces (absent or empty selector)', () => {
    for (const namespaceSelector of [undefined, {}, { matchLabels: {} }, { matchExpressions: [] }]) {
      const problems = messages(SyncHibernationSchedulePayload, {
        name: 'nightly',
        timezone: 'UTC',
        windows: weeknights,
        ...(namespaceSelector ? { namespaceSelector } : {}),
      });
      expect(problems.join('; '), JSON.stringify(namespaceSelector)).toMatch(/namespaceSelector/);
    }
    expect(
      messages(SyncHibernationSchedulePayload, {
        name: 'nightly',
        timezone: 'UTC',
        windows: weeknights,
        namespaceSelector: {
          matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['dev'] }],
        },
      }),
    ).toEqual([]);
  });

  it('passes windows through unchanged', () => {
    const payload = SyncHibernationSchedulePayload.parse({ name: 'nightly', ...base, windows: weeknights });
    expect(specFromSyncPayload(payload)).toEqual(
      HibernationScheduleSpec.parse({ ...base, windows: weeknights }),
    );
  });

  it('validates like the spec and refuses unknown fields', () => {
    expect(messages(SyncHibernationSchedulePayload, { name: 'nightly', ...base })).toEqual([
      ': exactly one of matrix or windows is required',
    ]);
    expect(
      messages(SyncHibernationSchedulePayload, {
        name: 'nightly',
        ...base,
        matrix: new Array(167).fill(true),
      }),
    ).toHaveLength(1);
    expect(
      messages(SyncHibernationSchedulePayload, {
        name: 'nightly',
        ...base,
        windows: weeknights,
        colour: 'blue',
      }),
    ).toHaveLength(1);
    expect(
      messages(SyncHibernationSchedulePayload, { name: 'Not_A_Name', ...base, windows: weeknights }),
    ).toEqual([expect.stringMatching(/^name: /)]);
  });
});
