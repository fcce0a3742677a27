import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { envelopeOutOfBounds, jsonDepth, maxEnvelopeBytes, maxEnvelopeDepth } from './bounds.ts';

/** `levels` nested objects, as the wire delivers them (JSON.parse handles any depth). */
const nested = (levels: number) => JSON.parse(`${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`) as unknown;

describe('envelope bounds', () => {
  it('measures depth without recursion, whatever the depth', () => {
    expect(jsonDepth(1)).toBe(0);
    expect(jsonDepth({})).toBe(1);
    expect(jsonDepth({ a: [1, { b: [] }] })).toBe(4);
    const poison = nested(200_000);
    // What the journal used to do with it: a RangeError on every redelivery.
    expect(() => JSON.stringify(poison)).toThrow(RangeError);
    expect(jsonDepth(poison, maxEnvelopeDepth)).toBe(maxEnvelopeDepth + 1);
    expect(envelopeOutOfBounds({ id: 'x', payload: poison })).toMatch(/nested too deeply/);
  });

  it('refuses envelopes larger than an AgentAction can hold', () => {
    expect(envelopeOutOfBounds({ payload: 'x'.repeat(maxEnvelopeBytes) })).toMatch(
      /too large: \d+ bytes.*AgentAction/,
    );
    expect(envelopeOutOfBounds({ payload: 'x'.repeat(maxEnvelopeBytes - 100) })).toBeUndefined();
  });

  it('accepts what real actions look like and refuses exactly what is past the limits', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), (levels) => {
        const within = levels <= maxEnvelopeDepth;
        expect(envelopeOutOfBounds(nested(levels)) === undefined).toBe(within);
      }),
    );
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        expect(jsonDepth(value)).toBeLessThanOrEqual(9);
        expect(envelopeOutOfBounds(value)).toBeUndefined();
      }),
    );
  });
});
