import { describe, expect, it } from 'vitest';
import type { KubeClients } from './clients.ts';
import { EventRecorder, eventScope, noEvents } from './events.ts';

/** A fake API whose event creates stay pending until released by reason. */
function fakeClients() {
  const pending = new Map<string, () => void>();
  const created: string[] = [];
  const clients = {
    core: {
      createNamespacedEvent: ({ body }: { body: { reason: string } }) =>
        new Promise<void>((resolve) => {
          pending.set(body.reason, () => {
            created.push(body.reason);
            resolve();
          });
        }),
    },
  } as unknown as KubeClients;
  const release = async (reason: string) => {
    pending.get(reason)?.();
    pending.delete(reason);
    await new Promise((r) => setImmediate(r));
  };
  return { clients, pending, created, release };
}

const node = { apiVersion: 'v1', kind: 'Node', name: 'n1' };
const state = (p: Promise<unknown>) => {
  let done = false;
  p.then(() => {
    done = true;
  });
  return () => done;
};

describe('EventRecorder scopes', () => {
  it("a scope's flush waits for its own events only, not for the others in the queue", async () => {
    const { clients, release } = fakeClients();
    const recorder = new EventRecorder(clients, { concurrency: 4 });
    recorder.emit(node, 'Normal', 'Other', 'someone else');
    const scope = recorder.scope();
    scope.emit(node, 'Normal', 'Mine', 'this action');

    const scopeFlushed = state(scope.flush(10_000));
    const allFlushed = state(recorder.flush(10_000));
    await new Promise((r) => setImmediate(r));
    expect(scopeFlushed()).toBe(false);

    await release('Mine');
    expect(scopeFlushed()).toBe(true);
    expect(allFlushed()).toBe(false);

    await release('Other');
    expect(allFlushed()).toBe(true);
  });

  it('a scope with nothing emitted flushes at once; a stuck event ends the flush at its timeout', async () => {
    const { clients } = fakeClients();
    const recorder = new EventRecorder(clients, { concurrency: 1 });
    const idle = recorder.scope();
    const t0 = performance.now();
    await idle.flush(10_000);
    expect(performance.now() - t0).toBeLessThan(50);

    const stuck = recorder.scope();
    stuck.emit(node, 'Warning', 'Stuck', 'never answered');
    const t1 = performance.now();
    await stuck.flush(100);
    expect(performance.now() - t1).toBeGreaterThanOrEqual(90);
  });

  it("scoped events share the recorder's queue and order", async () => {
    const { clients, pending, created, release } = fakeClients();
    const recorder = new EventRecorder(clients, { concurrency: 1 });
    const a = recorder.scope();
    const b = recorder.scope();
    a.emit(node, 'Normal', 'A1', '');
    b.emit(node, 'Normal', 'B1', '');
    a.emit(node, 'Normal', 'A2', '');
    expect([...pending.keys()]).toEqual(['A1']);
    const bFlushed = state(b.flush(10_000));
    await release('A1');
    expect(bFlushed()).toBe(false);
    await release('B1');
    expect(bFlushed()).toBe(true);
    await release('A2');
    expect(created).toEqual(['A1', 'B1', 'A2']);
    expect(recorder.sent).toBe(3);
  });

  it('eventScope returns other sinks as they are', () => {
    expect(eventScope(noEvents)).toBe(noEvents);
    const { clients } = fakeClients();
    const recorder = new EventRecorder(clients);
    expect(eventScope(recorder)).not.toBe(recorder);
  });
});
