import { describe, expect, it } from 'vitest';
import { parseEnvelope } from '../../contract/envelope.ts';
import { DrainOverrun } from './drain-overrun.ts';

const created = '2026-03-02T10:00:00Z';
const t0 = Date.parse(created);
function action(type: string, payload: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const parsed = parseEnvelope({
    id: crypto.randomUUID(),
    type,
    payload,
    createdAt: created,
    ...extra,
  });
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.action;
}

describe('DrainOverrun', () => {
  it('is 0 until a drain passes its budget, then the worst overrun, and 0 again once it ends', () => {
    const overrun = new DrainOverrun();
    const stop = overrun.track(action('drain_node', { nodeName: 'n', timeoutSeconds: 60 }), t0 + 10_000, 0);
    expect(overrun.overrunSeconds(40_000)).toBe(0);
    expect(overrun.overrunSeconds(80_000)).toBe(30);
    const stop2 = overrun.track(
      action('delete_node', { nodeName: 'm', timeoutSeconds: 600 }, { deadline: '2026-03-02T10:00:20Z' }),
      t0,
      0,
    );
    // The deadline (20 s) is shorter than the timeout: 60 s past it at mono 80 s.
    expect(overrun.overrunSeconds(80_000)).toBe(60);
    stop2();
    stop();
    expect(overrun.overrunSeconds(80_000)).toBe(0);
  });

  it('ignores actions that are not drains', () => {
    const overrun = new DrainOverrun();
    overrun.track(action('cordon_node', { nodeName: 'n' }), t0, 0);
    expect(overrun.overrunSeconds(1e9)).toBe(0);
  });
});
