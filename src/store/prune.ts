import type Database from 'better-sqlite3';

/** Rows deleted per statement when pruning (keeps each write short). */
export const pruneBatch = 1000;

/** The three statements a table's pruning needs; `prune` and `pruneOldest` delete at most pruneBatch rows. */
export interface PruneStatements {
  /** DELETE of finished rows older than the cutoff (ms), LIMIT pruneBatch. */
  prune: Database.Statement;
  /** How many finished rows there are. */
  finishedCount: Database.Statement;
  /** DELETE of the N oldest finished rows (N ≤ pruneBatch). */
  pruneOldest: Database.Statement;
}

/**
 * Deletes finished rows older than `cutoffMs`, then the oldest beyond `maxFinished`, in
 * batches, so no single statement holds the write lock long. Returns how many went.
 */
export function pruneInBatches(s: PruneStatements, cutoffMs: number, maxFinished: number): number {
  let deleted = 0;
  for (let n = pruneBatch; n === pruneBatch; deleted += n) n = s.prune.run(cutoffMs).changes;
  let excess = (s.finishedCount.get() as number) - maxFinished;
  while (excess > 0) {
    const n = s.pruneOldest.run(Math.min(excess, pruneBatch)).changes;
    if (n === 0) break;
    deleted += n;
    excess -= n;
  }
  return deleted;
}
