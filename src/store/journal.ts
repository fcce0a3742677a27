import type Database from 'better-sqlite3';
import { jsonDepth, maxEnvelopeDepth } from '../contract/bounds.ts';
import type { ActionState } from '../contract/reports.ts';
import { guard, JournalTransitionError } from './errors.ts';
import { pruneBatch, pruneInBatches } from './prune.ts';
import type { WriteHealth } from './write-health.ts';

export type JournalState = 'new' | 'received' | 'started' | 'finished';

export interface JournalEntry {
  id: string;
  state: Exclude<JournalState, 'new'>;
  /** The envelope as received (raw JSON value; may be invalid if the action was rejected). */
  envelope: unknown;
  finalState: ActionState | undefined;
  receivedAt: number;
  startedAt: number | undefined;
  finishedAt: number | undefined;
}

interface RawEntry {
  id: string;
  state: Exclude<JournalState, 'new'>;
  envelope: string;
  final_state: ActionState | null;
  received_at: number;
  started_at: number | null;
  finished_at: number | null;
}

function toEntry(r: RawEntry): JournalEntry {
  let envelope: unknown;
  try {
    envelope = JSON.parse(r.envelope);
  } catch {
    envelope = undefined;
  }
  return {
    id: r.id,
    state: r.state,
    envelope,
    finalState: r.final_state ?? undefined,
    receivedAt: r.received_at,
    startedAt: r.started_at ?? undefined,
    finishedAt: r.finished_at ?? undefined,
  };
}

/**
 * Which action ids were received, started and finished. The rule it exists for: an action
 * `started` but not `finished` when the process restarts may have half-happened, so it is
 * never executed again blindly (see `interruptedActions` and docs/outbox.md).
 * Transitions: new → received → started → finished, or received → finished (rejected or
 * expired before starting).
 */
/** Largest envelope copy the journal keeps (JSON bytes); larger ones are kept as a stub. */
export const maxJournaledEnvelopeBytes = 2048;

/**
 * The envelope as the journal keeps it. The copy is for diagnosis only (decisions use the
 * journal's state and the AgentAction), so anything deep or large is replaced by a stub: the
 * journal's size stays bounded by its entry count, and no envelope can make it throw.
 */
function journalCopy(envelope: unknown): string {
  if (jsonDepth(envelope, maxEnvelopeDepth) > maxEnvelopeDepth) return '{"stub":"nested too deeply"}';
  const json = JSON.stringify(envelope) ?? 'null';
  return json.length <= maxJournaledEnvelopeBytes
    ? json
    : JSON.stringify({ stub: 'too large', bytes: json.length });
}

export interface JournalLimits {
  /** How long finished entries are kept (redeliveries within it are recognised). */
  retentionMs: number;
  /** Most finished entries kept; the oldest beyond it go first, whatever their age. */
  maxFinishedEntries: number;
}

export class ActionJournal {
  private readonly db: Database.Database;
  private readonly path: string;
  private readonly now: () => number;
  private readonly limits: JournalLimits;
  private readonly health: WriteHealth | undefined;
  private readonly statements;

  constructor(
    db: Database.Database,
    options: { path: string; now: () => number; limits: JournalLimits; health?: WriteHealth },
  ) {
    this.db = db;
    this.health = options.health;
    this.path = options.path;
    this.now = options.now;
    this.limits = options.limits;
    this.statements = {
      insert: db.prepare(
        `INSERT INTO action_journal (id, envelope, state, received_at) VALUES (?, ?, 'received', ?)
         ON CONFLICT (id) DO NOTHING`,
      ),
      get: db.prepare('SELECT * FROM action_journal WHERE id = ?'),
      start: db.prepare(
        `UPDATE action_journal SET state = 'started', started_at = ? WHERE id = ? AND state = 'received'`,
      ),
      finish: db.prepare(
        `UPDATE action_journal SET state = 'finished', final_state = ?, finished_at = ?
         WHERE id = ? AND state IN ('received', 'started')`,
      ),
      byState: db.prepare('SELECT * FROM action_journal WHERE state = ? ORDER BY received_at, id'),
      prune: db.prepare(
        `DELETE FROM action_journal WHERE id IN
           (SELECT id FROM action_journal WHERE state = 'finished' AND finished_at < ? LIMIT ${pruneBatch})`,
      ),
      finishedCount: db.prepare(`SELECT count(*) FROM action_journal WHERE state = 'finished'`).pluck(),
      pruneOldest: db.prepare(
        `DELETE FROM action_journal WHERE id IN
           (SELECT id FROM action_journal WHERE state = 'finished' ORDER BY finished_at, id LIMIT ?)`,
      ),
    };
  }

  /**
   * Records a received action. Returns the state it was in before: 'new' for a first
   * delivery; anything else means a redelivery that must not be executed again.
   */
  received(id: string, envelope: unknown): JournalState {
    return this.write('journaling a received action', () =>
      this.db
        .transaction((): JournalState => {
          const before = this.stateNoGuard(id);
          if (before === 'new') this.statements.insert.run(id, journalCopy(envelope), this.now());
          return before;
        })
        .immediate(),
    );
  }

  /** received → started. Throws JOURNAL_ILLEGAL_TRANSITION from any other state. */
  started(id: string): void {
    this.write('journaling a started action', () => {
      if (this.statements.start.run(this.now(), id).changes === 0) {
        throw new JournalTransitionError(
          `action ${id} cannot start: it is ${this.stateNoGuard(id)} (only a received action can start)`,
        );
      }
    });
  }

  /**
   * received|started → finished. Finishing again with the same final state is a no-op
   * (returns false); with another state it throws.
   */
  finished(id: string, finalState: ActionState): boolean {
    return this.write('journaling a finished action', () => {
      if (finalState === 'running')
        throw new JournalTransitionError(`action ${id}: 'running' is not a final state`);
      if (this.statements.finish.run(finalState, this.now(), id).changes === 1) return true;
      const entry = this.statements.get.get(id) as RawEntry | undefined;
      if (entry?.state === 'finished' && entry.final_state === finalState) return false;
      throw new JournalTransitionError(
        entry === undefined
          ? `action ${id} cannot finish: it was never received`
          : `action ${id} already finished as ${entry.final_state}, cannot finish as ${finalState}`,
      );
    });
  }

  state(id: string): JournalState {
    return guard(this.path, 'reading the journal', () => this.stateNoGuard(id));
  }

  entry(id: string): JournalEntry | undefined {
    return guard(this.path, 'reading the journal', () => {
      const r = this.statements.get.get(id) as RawEntry | undefined;
      return r === undefined ? undefined : toEntry(r);
    });
  }

  /**
   * Actions that were started but never finished: the process died while executing them.
   * Call once at start-up, before executing anything. For each, unless its executor is
   * idempotent (then it may simply run again), report it failed with
   * `StateStore.reportInterrupted` — never re-run a non-idempotent one blindly.
   */
  interruptedActions(): JournalEntry[] {
    return guard(this.path, 'reading the journal', () =>
      (this.statements.byState.all('started') as RawEntry[]).map(toEntry),
    );
  }

  /** Received but not started: nothing was done yet, safe to (re)consider from scratch. */
  receivedActions(): JournalEntry[] {
    return guard(this.path, 'reading the journal', () =>
      (this.statements.byState.all('received') as RawEntry[]).map(toEntry),
    );
  }

  /**
   * Deletes finished entries older than the retention period, then the oldest finished ones
   * beyond maxFinishedEntries, in batches (each its own short transaction). Entries not yet
   * finished are never deleted. Returns how many went.
   */
  prune(): number {
    return this.write('pruning the journal', () => {
      return pruneInBatches(
        this.statements,
        this.now() - this.limits.retentionMs,
        this.limits.maxFinishedEntries,
      );
    });
  }

  /** A write: file errors are typed and mark the store failing (see WriteHealth). */
  private write<T>(doing: string, fn: () => T): T {
    return this.health ? this.health.write(this.path, doing, fn) : guard(this.path, doing, fn);
  }

  private stateNoGuard(id: string): JournalState {
    const r = this.statements.get.get(id) as RawEntry | undefined;
    return r?.state ?? 'new';
  }
}
