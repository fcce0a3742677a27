import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ListItemSplitter } from './list-items.ts';

/** Feeds `text` cut at `cuts` (positions) and collects the items and the envelope. */
function split(text: string, cuts: number[]): { items: unknown[]; envelope: unknown } {
  const s = new ListItemSplitter();
  const items: unknown[] = [];
  let from = 0;
  for (const at of [...new Set(cuts)].sort((a, b) => a - b).concat(text.length)) {
    for (const item of s.push(text.slice(from, at))) items.push(JSON.parse(item));
    from = at;
  }
  return { items, envelope: s.end() };
}

describe('ListItemSplitter', () => {
  it('splits a NodeList page into items and keeps the rest', () => {
    const page = {
      kind: 'NodeList',
      apiVersion: 'v1',
      metadata: { resourceVersion: '42', continue: 'eyJ2Ijoi', items: 'not these' },
      items: [{ metadata: { name: 'a', labels: { x: '}]"\\' } } }, { metadata: { name: 'b' }, spec: {} }],
    };
    const text = JSON.stringify(page, null, 1);
    for (const cut of [0, 1, 7, 40, 90, text.length - 3]) {
      expect(split(text, [cut])).toEqual({ items: page.items, envelope: { ...page, items: [] } });
    }
  });

  it('gives what JSON.parse gives, cut anywhere', () => {
    const key = fc.string({
      unit: fc.constantFrom('a', 'items', '"', '\\', '{', '}', '[', ']', ':', ',', 'é', '😀'),
    });
    const item = fc.dictionary(key, fc.jsonValue({ maxDepth: 3 }));
    const envelope = fc.dictionary(
      key.filter((k) => k !== 'items'),
      fc.jsonValue({ maxDepth: 3 }),
    );
    fc.assert(
      fc.property(
        envelope,
        fc.array(item, { maxLength: 6 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 8 }),
        (rest, items, pretty, cuts) => {
          const page = { ...rest, items };
          const text = JSON.stringify(page, null, pretty ? 2 : undefined);
          const got = split(
            text,
            cuts.map((c) => c % (text.length + 1)),
          );
          // What a whole-page JSON.parse gives (-0 comes back as 0).
          const whole = JSON.parse(text) as { items: unknown[] };
          expect(got.items).toEqual(whole.items);
          expect(got.envelope).toEqual({ ...whole, items: [] });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses a response cut off inside the items', () => {
    const s = new ListItemSplitter();
    s.push('{"kind":"NodeList","items":[{"metadata":{"name":"a"}},{"meta');
    expect(() => s.end()).toThrow(/ended inside/);
  });
});
