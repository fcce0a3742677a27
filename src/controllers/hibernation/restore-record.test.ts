import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  encodeRestoreRecord,
  hibernatedByValue,
  parseRestoreRecord,
  type RestoreRecord,
} from './restore-record.ts';

const arbRecord: fc.Arbitrary<RestoreRecord> = fc
  .record({
    schedule: fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/),
    target: fc.oneof(
      fc.record({ replicas: fc.integer({ min: 0, max: 1_000_000 }) }),
      fc.record({ suspend: fc.boolean() }),
    ),
    at: fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }),
    hpa: fc.option(fc.record({ name: fc.constantFrom('web', 'api-hpa'), minReplicas: fc.nat(50) }), {
      nil: undefined,
    }),
  })
  .map(({ schedule, target, at, hpa }) => ({
    schedule,
    ...target,
    at: at.toISOString(),
    ...(hpa === undefined ? {} : { hpa }),
  }));

describe('restore record', () => {
  it('round-trips through the annotation value', () => {
    fc.assert(
      fc.property(arbRecord, (record) => {
        expect(parseRestoreRecord(encodeRestoreRecord(record))).toEqual({ ok: true, record });
      }),
    );
  });

  it('reads the documented shape', () => {
    const value = '{"schedule":"office-hours","replicas":3,"at":"2026-06-01T17:00:00Z"}';
    expect(parseRestoreRecord(value)).toEqual({
      ok: true,
      record: { schedule: 'office-hours', replicas: 3, at: '2026-06-01T17:00:00Z' },
    });
  });

  it('refuses what it cannot restore exactly, with a reason', () => {
    const refused = [
      'not json',
      '{"schedule":"s","at":"2026-06-01T17:00:00Z"}',
      '{"schedule":"s","replicas":2,"suspend":false,"at":"2026-06-01T17:00:00Z"}',
      '{"schedule":"s","replicas":-1,"at":"2026-06-01T17:00:00Z"}',
      '{"schedule":"s","replicas":1.5,"at":"2026-06-01T17:00:00Z"}',
      '{"replicas":2,"at":"2026-06-01T17:00:00Z"}',
      '{"schedule":"s","replicas":2,"at":"yesterday"}',
      '[]',
    ];
    for (const value of refused) {
      const result = parseRestoreRecord(value);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).toMatch(/^the restore annotation is not/);
    }
  });
});

describe('hibernatedByValue', () => {
  const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
  const scheduleName = fc
    .array(fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$/), { minLength: 1, maxLength: 6 })
    .map((labels) => labels.join('.').slice(0, 253))
    .filter((name) => /[a-z0-9]$/.test(name));

  it('is a valid label value, the name itself when it fits, and distinct for distinct names', () => {
    fc.assert(
      fc.property(scheduleName, scheduleName, (a, b) => {
        const value = hibernatedByValue(a);
        expect(value.length).toBeLessThanOrEqual(63);
        expect(value).toMatch(labelValue);
        if (a.length <= 63) expect(value).toBe(a);
        if (a !== b) expect(hibernatedByValue(b)).not.toBe(value);
      }),
    );
  });
});
