/**
 * The one setting of the fault suite (issue 9): how big a run is, and its random seed.
 *
 * - `FAULTS_SIZE=ci` (default, what `npm test` and CI run): reduced sizes, minutes in all.
 * - `FAULTS_SIZE=full` (`npm run test:faults`): the sizes — control plane down
 *   5 minutes during 500 actions, 20 kill -9 at random points, several leader failovers.
 * - `FAULTS_SEED=N`: replays the random choices (kill points, leaders killed) of a run; every
 *   test prints the seed it used.
 *
 * No vitest imports: usable from plain `node` scripts too.
 */
import Database from 'better-sqlite3';

export type FaultsSize = 'ci' | 'full';

export function faultsSize(): FaultsSize {
  const raw = (process.env.FAULTS_SIZE ?? 'ci').trim().toLowerCase();
  if (raw === 'ci' || raw === '') return 'ci';
  if (raw === 'full') return 'full';
  throw new Error(`FAULTS_SIZE must be "ci" or "full", not ${JSON.stringify(process.env.FAULTS_SIZE)}`);
}

/** The value for the current size. */
export function bySize<T>(sizes: Record<FaultsSize, T>): T {
  return sizes[faultsSize()];
}

/** FAULTS_SEED, or a fresh one (printed by the test so the run can be replayed). */
export function faultsSeed(): number {
  const raw = process.env.FAULTS_SEED;
  if (raw !== undefined && raw !== '') {
    const seed = Number(raw);
    if (!Number.isSafeInteger(seed)) throw new Error(`FAULTS_SEED must be an integer, not ${raw}`);
    return seed;
  }
  return Date.now() % 1_000_000;
}

/** mulberry32: a small seeded PRNG in [0, 1), so a failing run can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The action ids an agent's state file has started and not finished (read-only, while the
 * agent is down): what its next run resumes. Opens the file without writing to it.
 */
export function interruptedInJournal(dbPath: string): string[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return (
      db.prepare("SELECT id FROM action_journal WHERE state = 'started' ORDER BY id").all() as {
        id: string;
      }[]
    ).map((r) => r.id);
  } finally {
    db.close();
  }
}
