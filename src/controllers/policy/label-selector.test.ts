import { describe, expect, it } from 'vitest';
import { describeSelector, selectorMatches } from './label-selector.ts';

const labels = { app: 'web', tier: 'frontend', 'clusteropt.io/pool': 'spot' };

describe('selectorMatches', () => {
  it('an empty selector matches everything, even no labels', () => {
    expect(selectorMatches({}, labels)).toBe(true);
    expect(selectorMatches({}, {})).toBe(true);
  });

  it('matchLabels needs every pair', () => {
    expect(selectorMatches({ matchLabels: { app: 'web' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { app: 'web', tier: 'backend' } }, labels)).toBe(false);
    expect(selectorMatches({ matchLabels: { missing: '' } }, labels)).toBe(false);
  });

  it('In / NotIn / Exists / DoesNotExist', () => {
    const m = (operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist', key: string, values?: string[]) =>
      selectorMatches({ matchExpressions: [{ key, operator, ...(values ? { values } : {}) }] }, labels);
    expect(m('In', 'tier', ['frontend', 'x'])).toBe(true);
    expect(m('In', 'tier', ['backend'])).toBe(false);
    expect(m('In', 'missing', ['frontend'])).toBe(false);
    expect(m('NotIn', 'tier', ['backend'])).toBe(true);
    expect(m('NotIn', 'tier', ['frontend'])).toBe(false);
    expect(m('NotIn', 'missing', ['frontend'])).toBe(true);
    expect(m('Exists', 'clusteropt.io/pool')).toBe(true);
    expect(m('Exists', 'missing')).toBe(false);
    expect(m('DoesNotExist', 'missing')).toBe(true);
    expect(m('DoesNotExist', 'app')).toBe(false);
  });

  it('ANDs matchLabels and all expressions', () => {
    const selector = {
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'tier', operator: 'In' as const, values: ['frontend'] },
        { key: 'legacy', operator: 'DoesNotExist' as const },
      ],
    };
    expect(selectorMatches(selector, labels)).toBe(true);
    expect(selectorMatches(selector, { ...labels, legacy: 'true' })).toBe(false);
  });

  it('does not match inherited properties', () => {
    expect(selectorMatches({ matchExpressions: [{ key: 'toString', operator: 'Exists' }] }, {})).toBe(false);
  });

  it('describes selectors like kubectl', () => {
    expect(
      describeSelector({
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 't', operator: 'In', values: ['a', 'b'] },
          { key: 'x', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('app=web,t in (a,b),!x');
    expect(describeSelector({})).toBe('<everything>');
  });
});
