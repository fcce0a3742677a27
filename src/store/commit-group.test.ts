import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CommitGroup, commitGroupFor } from './commit-group.ts';
import { StateStore } from './index.ts';

const dirs: string[] = [];
function openStore(): { store: StateStore; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'commit-group-'));
  dirs.push(dir);
  const path = join(dir, 'agent.db');
  return { store: StateStore.open({ path }), path };
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('CommitGroup', () => {
  it('writes the work queued in one turn of the event loop in one commit, durable when each resolves', async () => {
    const { store, path } = openStore();
    const group = new CommitGroup(store);
    const ids = Array.from({ length: 20 }, () => randomUUID());
    let commits = 0;
    const transaction = store.transaction.bind(store);
    store.transaction = <T>(fn: () => T): T => {
      commits++;
      return transaction(fn);
    };
    const results = await Promise.all(
      ids.map((id, i) =>
        group.run(() => {
          store.journal.received(id, { id });
          store.outbox.appendStatus(id, { state: 'running', message: 'accepted' });
          return i;
        }),
      ),
    );
    expect(results).toEqual(ids.map((_, i) => i));
    expect(group.counters).toEqual({ commits: 1, pieces: 20 });
    // One outer transaction (+ one savepoint per piece).
    expect(commits).toBe(21);
    store.close();
    // What resolved is on disk.
    const reopened = StateStore.open({ path });
    for (const id of ids) expect(reopened.journal.state(id)).toBe('received');
    expect(reopened.outbox.depth).toBe(20);
    reopened.close();
  });

  it('a piece that throws is undone alone and rejects only its caller', async () => {
    const { store } = openStore();
    const group = new CommitGroup(store);
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const outcomes = await Promise.allSettled([
      group.run(() => store.journal.received(a, {})),
      group.run(() => {
        store.journal.received(b, {});
        store.journal.started(c); // never received: throws, and b's write goes with it
      }),
      group.run(() => store.journal.received(c, {})),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(store.journal.state(a)).toBe('received');
    expect(store.journal.state(b)).toBe('new');
    expect(store.journal.state(c)).toBe('received');
    store.close();
  });

  it('a failed commit rejects every caller of the group, nothing is recorded', async () => {
    const { store } = openStore();
    const group = new CommitGroup(store);
    const id = randomUUID();
    store.close(); // the commit cannot happen
    const outcomes = await Promise.allSettled([
      group.run(() => store.journal.received(id, {})),
      group.run(() => 1),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
  });

  it('work queued after a group was written goes into the next one', async () => {
    const { store } = openStore();
    const group = new CommitGroup(store);
    await group.run(() => store.journal.received(randomUUID(), {}));
    await group.run(() => store.journal.received(randomUUID(), {}));
    expect(group.counters).toEqual({ commits: 2, pieces: 2 });
    expect(commitGroupFor(store)).toBe(commitGroupFor(store));
    store.close();
  });
});
