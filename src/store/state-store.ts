import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type Database from 'better-sqlite3';
import type { StatusReport } from '../contract/reports.ts';
import { terminalStates } from '../contract/reports.ts';
import { AppendNotifier } from './append-notifier.ts';
import { guard, JournalTransitionError, StateCorruptError } from './errors.ts';
import { ActionJournal } from './journal.ts';
import { type OpenStateDbOptions, openStateDb } from './open-state-db.ts';
import { type AppendResult, defaultOutboxLimits, Outbox, type OutboxLimits } from './outbox.ts';
import { WriteHealth, type WriteState, type WriteStateListener } from './write-health.ts';

/** What openRecovering did with a corrupt file. */
export interface CorruptRecovery {
  /** Where the corrupt file now is. */
  movedTo: string;
  /** Why it was found corrupt. */
  reason: string;
}

/** SQLite's file and its companions (WAL, shared memory): moved and deleted together. */
const fileSuffixes = ['', '-wal', '-shm'];

/** Renames the file and its companions to `<path>.corrupt-<time>`; deletes older copies past `keep`. */
function moveAside(path: string, nowMs: number, keep: number): string {
  const stamp = new Date(nowMs).toISOString().replace(/[:.]/g, '-');
  const movedTo = `${path}.corrupt-${stamp}`;
  guard(path, 'moving a corrupt state file aside', () => {
    for (const suffix of fileSuffixes) {
      if (existsSync(`${path}${suffix}`)) renameSync(`${path}${suffix}`, `${movedTo}${suffix}`);
    }
    const prefix = `${basename(path)}.corrupt-`;
    const copies = readdirSync(dirname(path))
      .filter((f) => f.startsWith(prefix) && !f.endsWith('-wal') && !f.endsWith('-shm'))
      .sort();
    for (const old of copies.slice(0, Math.max(0, copies.length - keep))) {
      for (const suffix of fileSuffixes) rmSync(join(dirname(path), `${old}${suffix}`), { force: true });
    }
  });
  return movedTo;
}

/** The message every action interrupted by a restart is failed with. */
export const interruptedMessage = 'agent restarted during execution; outcome unknown — verify the target';

export interface StateStoreOptions extends OpenStateDbOptions {
  /** The SQLite file, e.g. `<stateDir>/agent.db`. Its directory is created if missing. */
  path: string;
  outbox?: Partial<OutboxLimits>;
  /** How long finished journal entries are kept (redeliveries within it are recognised). Default 7 days. */
  journalRetentionMs?: number;
  /** Most finished journal entries kept (oldest pruned first). Default 100,000. */
  journalMaxFinishedEntries?: number;
  /**
   * How often the journal and the outbox are pruned (retention and size bounds), from open
   * until close. Default 10 minutes; 0 turns the timer off (tests that prune by hand).
   */
  pruneIntervalMs?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
  /** While writes fail (disk full, read-only), a probe write is tried this often. Default 1 s. */
  writeProbeIntervalMs?: number;
  /** What the probe commits (and deletes again) to call the file writable again. Default 256 KiB. */
  writeProbeHeadroomBytes?: number;
}

export interface StateStoreStats {
  depth: number;
  pendingBytes: number;
  oldestAgeMs: number;
  overCapacity: boolean;
  fullSnapshotRequired: boolean;
  droppedInstanceRows: number;
}

/**
 * The agent's state file: outbox + action journal in one SQLite database. One instance per
 * process (better-sqlite3 is synchronous; every call is a short local transaction).
 */
export class StateStore {
  readonly path: string;
  readonly outbox: Outbox;
  readonly journal: ActionJournal;
  private readonly db: Database.Database;
  private readonly notifier = new AppendNotifier();
  private readonly now: () => number;
  private readonly health: WriteHealth;

  private constructor(db: Database.Database, options: StateStoreOptions) {
    this.db = db;
    this.path = options.path;
    this.now = options.now ?? Date.now;
    const probeSet = db.prepare(
      `INSERT INTO flags (name, value, updated_at) VALUES ('write_probe', ?, ?)
       ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    );
    const probeClear = db.prepare(`DELETE FROM flags WHERE name = 'write_probe'`);
    const headroom = 'x'.repeat(options.writeProbeHeadroomBytes ?? 256 * 1024);
    // Two commits: room for the headroom in the WAL (and, at checkpoint, the file), then the
    // delete, which leaves those pages free in the file for the writes that follow.
    const probe = () => {
      probeSet.run(headroom, this.now());
      probeClear.run();
    };
    this.health = new WriteHealth(db, {
      path: options.path,
      now: this.now,
      probeIntervalMs: options.writeProbeIntervalMs ?? 1_000,
      probe,
    });
    this.outbox = new Outbox(db, {
      path: options.path,
      limits: { ...defaultOutboxLimits, ...options.outbox },
      notifier: this.notifier,
      now: this.now,
      health: this.health,
    });
    this.journal = new ActionJournal(db, {
      path: options.path,
      now: this.now,
      limits: {
        retentionMs: options.journalRetentionMs ?? 7 * 24 * 60 * 60 * 1000,
        maxFinishedEntries: options.journalMaxFinishedEntries ?? 100_000,
      },
      health: this.health,
    });
    const interval = options.pruneIntervalMs ?? 10 * 60_000;
    if (interval > 0) {
      this.pruneTimer = setInterval(() => this.pruneQuietly(), interval);
      this.pruneTimer.unref();
    }
  }

  private readonly pruneTimer: NodeJS.Timeout | undefined;
  /** Totals pruned by the timer since open (metrics, tests). */
  readonly pruned = { outboxRows: 0, journalEntries: 0, failures: 0 };

  /** The timer's prune: a failure (disk full) is counted, and the write state already says why. */
  private pruneQuietly(): void {
    try {
      const { outboxRows, journalEntries } = this.prune();
      this.pruned.outboxRows += outboxRows;
      this.pruned.journalEntries += journalEntries;
    } catch {
      this.pruned.failures++;
    }
  }

  /** Opens or creates the file. Throws STATE_* errors (see errors.ts); never a half-open store. */
  static open(options: StateStoreOptions): StateStore {
    return new StateStore(openStateDb(options.path, options), options);
  }

  /**
   * Like open, but a corrupt file (STATE_CORRUPT) does not stop the agent for good: the file
   * (with its WAL and shared-memory files) is moved aside to `<path>.corrupt-<time>`, kept for
   * diagnosis (the newest `keepCorrupt` copies), and a fresh file is opened. The caller says
   * so (audit event, metric, log): the outbox's unshipped rows and the journal are lost, and
   * the AgentActions become the only record (docs/outbox.md "Corrupt state file").
   */
  static openRecovering(options: StateStoreOptions & { keepCorrupt?: number }): {
    store: StateStore;
    recovered?: CorruptRecovery;
  } {
    try {
      return { store: StateStore.open(options) };
    } catch (err) {
      if (!(err instanceof StateCorruptError)) throw err;
      const movedTo = moveAside(options.path, (options.now ?? Date.now)(), options.keepCorrupt ?? 3);
      return { store: StateStore.open(options), recovered: { movedTo, reason: err.message } };
    }
  }

  /**
   * Runs `fn` in one IMMEDIATE transaction; outbox listeners hear about appends made inside
   * it only after the commit.
   */
  transaction<T>(fn: () => T): T {
    let result: T;
    try {
      result = this.health.write(this.path, 'writing', () => this.db.transaction(fn).immediate());
    } catch (err) {
      if (!this.db.inTransaction) this.notifier.rolledBack();
      throw err;
    }
    if (!this.db.inTransaction) this.notifier.committed();
    return result;
  }

  /**
   * Marks an action started and queues its `running` report, atomically.
   */
  startAndReport(id: string, report: StatusReport): AppendResult {
    if (report.state !== 'running') {
      throw new JournalTransitionError(
        `action ${id}: startAndReport needs a 'running' report, got ${report.state}`,
      );
    }
    return this.transaction(() => {
      this.journal.started(id);
      return this.outbox.appendStatus(id, report);
    });
  }

  /**
   * Marks an action finished and queues its final status report in ONE transaction: after
   * a crash there is never a finished action without its queued result, nor a queued
   * result for an action the journal does not show as finished. Idempotent for the same
   * final state.
   */
  finishAndReport(id: string, report: StatusReport): AppendResult {
    if (!terminalStates.has(report.state)) {
      throw new JournalTransitionError(
        `action ${id}: finishAndReport needs a final state, got ${report.state}`,
      );
    }
    return this.transaction(() => {
      this.journal.finished(id, report.state);
      return this.outbox.appendStatus(id, report);
    });
  }

  /** Fails an action found in `journal.interruptedActions()` with the standard message. */
  reportInterrupted(id: string): AppendResult {
    const entry = this.journal.entry(id);
    return this.finishAndReport(id, {
      state: 'failed',
      message: interruptedMessage,
      result: { interrupted: true },
      ...(entry?.startedAt === undefined ? {} : { startedAt: new Date(entry.startedAt).toISOString() }),
      finishedAt: new Date(this.now()).toISOString(),
    });
  }

  /**
   * Whether the file can be written now: `failing` from the first write that failed because
   * of the file (STATE_DISK_FULL, STATE_UNWRITABLE, ...) until the next committed write. While
   * failing, a probe write runs every second, so recovery needs no caller to retry first.
   */
  get writeState(): WriteState {
    return this.health.state;
  }

  /** Subscribes to write-state changes (called once per change). Returns the unsubscribe function. */
  onWriteStateChange(listener: WriteStateListener): () => void {
    return this.health.subscribe(listener);
  }

  /** Failed writes since open, by STATE_* code. */
  get writeFailures(): Readonly<Record<string, number>> {
    return this.health.failuresByCode;
  }

  /** Tries a probe write now; true when the file is (again) writable. */
  probeWritable(): boolean {
    return this.health.probe();
  }

  /** Subscribes to "a row was appended" (after commit). Returns the unsubscribe function. */
  onAppend(listener: () => void): () => void {
    return this.notifier.subscribe(listener);
  }

  /** For metrics and readiness. */
  stats(): StateStoreStats {
    const totals = this.outbox.totals();
    return {
      depth: totals.rows,
      pendingBytes: totals.bytes,
      oldestAgeMs: this.outbox.oldestAgeMs(),
      overCapacity: this.outbox.overCapacity,
      fullSnapshotRequired: this.outbox.fullSnapshotRequired,
      droppedInstanceRows: this.outbox.droppedInstanceRows,
    };
  }

  /**
   * Deletes shipped outbox rows and finished journal entries past their retention or beyond
   * their count bounds (runs every pruneIntervalMs by itself; callable for tests).
   */
  prune(): { outboxRows: number; journalEntries: number } {
    return { outboxRows: this.outbox.prune(), journalEntries: this.journal.prune() };
  }

  /** Full `PRAGMA integrity_check` (slow on big files; for tests and diagnostics). */
  integrityCheck(): string[] {
    return guard(this.path, 'checking integrity', () =>
      (this.db.pragma('integrity_check', { simple: false }) as Array<{ integrity_check: string }>).map(
        (r) => r.integrity_check,
      ),
    );
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  /** Checkpoints the WAL into the main file and closes. */
  close(): void {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.health.close();
    if (!this.db.open) return;
    try {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // Closing still checkpoints what it can; a failed checkpoint loses nothing (WAL stays).
    }
    this.db.close();
  }
}
