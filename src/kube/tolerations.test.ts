import { describe, expect, it } from 'vitest';
import { evictedBy, toleratesTaint } from './tolerations.ts';

describe('toleration matching (Kubernetes semantics)', () => {
  const taint = { key: 'dedicated', value: 'gpu', effect: 'NoExecute' };

  it('matches key, value and effect; Exists ignores the value; an empty key with Exists matches all', () => {
    expect(toleratesTaint({ key: 'dedicated', value: 'gpu', effect: 'NoExecute' }, taint)).toBe(true);
    expect(toleratesTaint({ key: 'dedicated', operator: 'Equal', value: 'gpu' }, taint)).toBe(true);
    expect(toleratesTaint({ key: 'dedicated', value: 'cpu' }, taint)).toBe(false);
    expect(toleratesTaint({ key: 'dedicated', operator: 'Exists' }, taint)).toBe(true);
    expect(toleratesTaint({ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }, taint)).toBe(false);
    expect(toleratesTaint({ operator: 'Exists' }, taint)).toBe(true);
    expect(toleratesTaint({ operator: 'Exists', effect: 'NoExecute' }, taint)).toBe(true);
    // An empty key with Equal matches nothing.
    expect(toleratesTaint({ value: 'gpu' }, taint)).toBe(false);
    expect(toleratesTaint({ key: 'other', operator: 'Exists' }, taint)).toBe(false);
  });

  it('a pod is evicted unless it tolerates without tolerationSeconds', () => {
    expect(evictedBy([], taint)).toBe(true);
    expect(evictedBy([{ operator: 'Exists' }], taint)).toBe(false);
    expect(evictedBy([{ operator: 'Exists', tolerationSeconds: 300 }], taint)).toBe(true);
    expect(
      evictedBy(
        [
          { key: 'x', operator: 'Exists' },
          { key: 'dedicated', operator: 'Exists' },
        ],
        taint,
      ),
    ).toBe(false);
  });
});
