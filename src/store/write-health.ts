import type Database from 'better-sqlite3';
import { AgentError } from '../util/errors.ts';
import { toStateError } from './errors.ts';

/**
 * Whether the state file can be written right now. A write that fails because of the file
 * (disk full, read-only, I/O error, locked) flips it to `failing`; the next committed write
 * flips it back. Listeners hear about each change once — not once per failed row — so the
 * agent logs "state file disk full" one time, fails readiness, and logs one recovery line.
 *
 * While failing, a probe write runs every `probeIntervalMs` so recovery is noticed without
 * anyone having to retry first (space freed, volume grown): the agent resumes by itself.
 * Only the probe ends an episode: it commits `probeHeadroomBytes` and deletes them again, so
 * "writable" means there is room for more than one row (and the freed pages stay in the file
 * for the writes that follow). Ordinary writes that happen to fit meanwhile succeed normally.
 */
export type WriteState =
  | { kind: 'ok' }
  | {
      kind: 'failing';
      /** STATE_DISK_FULL, STATE_UNWRITABLE, STATE_LOCKED or STATE_CORRUPT. */
      code: string;
      message: string;
      /** Wall-clock time of the first failure of this episode (for messages only). */
      since: number;
      /** Failed writes in this episode. */
      failures: number;
    };

export type WriteStateListener = (state: WriteState, previous: WriteState) => void;

/** Codes that are about the file, not about the caller (transition errors, bad bodies). */
const fileCodes = new Set(['STATE_DISK_FULL', 'STATE_UNWRITABLE', 'STATE_LOCKED', 'STATE_CORRUPT']);

export function isStateFileError(err: unknown): err is AgentError {
  return err instanceof AgentError && fileCodes.has(err.code);
}

export class WriteHealth {
  private current: WriteState = { kind: 'ok' };
  private readonly listeners = new Set<WriteStateListener>();
  private lastError: unknown;
  private probeTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Failed writes since the store was opened, by code (for a counter metric). */
  readonly failuresByCode: Record<string, number> = {};

  private readonly db: Database.Database;
  private readonly options: { path: string; probe: () => void; probeIntervalMs: number; now: () => number };

  constructor(
    db: Database.Database,
    options: { path: string; probe: () => void; probeIntervalMs: number; now: () => number },
  ) {
    this.db = db;
    this.options = options;
  }

  get state(): WriteState {
    return this.current;
  }

  subscribe(listener: WriteStateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Runs a write. Success outside a transaction means it was committed: the file is
   * writable. A typed file error marks the store failing (once per error object, so a
   * nested call and its surrounding transaction count one failure) and is rethrown.
   */
  write<T>(path: string, doing: string, fn: () => T): T {
    let result: T;
    try {
      result = fn();
    } catch (raw) {
      const err = toStateError(raw, path, doing);
      this.failed(err);
      throw err;
    }
    // While failing, only the probe (which proves some headroom) declares recovery: on a
    // nearly full disk single small writes succeed now and then, and the state must not
    // flap (one log line, one readiness change per episode).
    if (!this.db.inTransaction && this.current.kind === 'ok') this.lastError = undefined;
    return result;
  }

  failed(err: unknown): void {
    if (!isStateFileError(err) || err === this.lastError) return;
    this.lastError = err;
    this.failuresByCode[err.code] = (this.failuresByCode[err.code] ?? 0) + 1;
    const previous = this.current;
    if (previous.kind === 'failing' && previous.code === err.code) {
      this.current = { ...previous, failures: previous.failures + 1, message: err.message };
      return;
    }
    this.current = {
      kind: 'failing',
      code: err.code,
      message: err.message,
      since: previous.kind === 'failing' ? previous.since : this.options.now(),
      failures: previous.kind === 'failing' ? previous.failures + 1 : 1,
    };
    this.startProbe();
    this.emit(previous);
  }

  succeeded(): void {
    this.lastError = undefined;
    if (this.current.kind === 'ok') return;
    const previous = this.current;
    this.current = { kind: 'ok' };
    this.stopProbe();
    this.emit(previous);
  }

  /** Tries the probe write once now (also what the timer does). */
  probe(): boolean {
    if (this.closed || this.current.kind === 'ok') return this.current.kind === 'ok';
    try {
      this.write(this.options.path, 'probing for free space', this.options.probe);
      this.succeeded();
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    this.closed = true;
    this.stopProbe();
  }

  private startProbe(): void {
    if (this.probeTimer || this.closed) return;
    this.probeTimer = setInterval(() => this.probe(), this.options.probeIntervalMs);
    this.probeTimer.unref();
  }

  private stopProbe(): void {
    clearInterval(this.probeTimer);
    this.probeTimer = undefined;
  }

  private emit(previous: WriteState): void {
    for (const listener of this.listeners) {
      try {
        listener(this.current, previous);
      } catch {
        // A listener's failure must not change the outcome of a write.
      }
    }
  }
}
