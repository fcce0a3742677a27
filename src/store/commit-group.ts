/**
 * Group commit for the state file. Every journal step of an action (received + running
 * acknowledgement, started, finished + result) must be durable before the agent goes on
 * (before the executor runs, before a result is acknowledged). With `synchronous=FULL` each
 * commit is an fsync — 0.5 ms on a quiet disk, 3 ms and more on a busy one — and
 * better-sqlite3 is synchronous, so at 100 actions/s three commits per action would block
 * the event loop for a large part of every second.
 *
 * `run(fn)` queues `fn`; all the work queued until the event loop's next check phase
 * (setImmediate) is written in ONE transaction, each piece in its own savepoint, and every
 * caller is resolved only after that transaction committed. Durability is the same as one
 * commit each; a piece that throws is rolled back alone (its savepoint) and rejects its own
 * caller; a failed commit rejects every caller of the group.
 */
import type { StateStore } from './index.ts';

interface Pending {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

const groups = new WeakMap<object, CommitGroup>();

/** The one group of a store, so the poller and the controller commit together. */
export function commitGroupFor(store: Pick<StateStore, 'transaction'>): CommitGroup {
  let group = groups.get(store);
  if (!group) {
    group = new CommitGroup(store);
    groups.set(store, group);
  }
  return group;
}

export class CommitGroup {
  private readonly store: Pick<StateStore, 'transaction'>;
  private pending: Pending[] = [];
  private scheduled = false;
  /** Counters for tests and benchmarks. */
  readonly counters = { commits: 0, pieces: 0 };

  constructor(store: Pick<StateStore, 'transaction'>) {
    this.store = store;
  }

  /** Runs `fn` inside the next group transaction; resolves with its result once committed. */
  run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ fn, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const group = this.pending;
    this.pending = [];
    if (group.length === 0) return;
    const outcomes: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = [];
    try {
      this.store.transaction(() => {
        for (const piece of group) {
          try {
            // Nested: a savepoint, so a piece that throws is undone alone.
            outcomes.push({ ok: true, value: this.store.transaction(piece.fn) });
          } catch (err) {
            outcomes.push({ ok: false, err });
          }
        }
      });
    } catch (err) {
      for (const piece of group) piece.reject(err);
      return;
    }
    this.counters.commits++;
    this.counters.pieces += group.length;
    group.forEach((piece, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) piece.resolve(outcome.value);
      else piece.reject(outcome.err);
    });
  }
}
