import { AgentError } from '../util/errors.ts';

/**
 * Failures of the agent's state file. The caller (`clusteropt-agent run`) refuses to run, or
 * reports itself not ready, on any of these rather than carrying on and losing results.
 * Messages name the file path and what went wrong, never file contents.
 */
export class StateUnwritableError extends AgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STATE_UNWRITABLE', message, options);
  }
}

export class StateCorruptError extends AgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STATE_CORRUPT', message, options);
  }
}

export class StateDiskFullError extends AgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    // Retryable: space may be freed (WAL checkpoint, volume grown) without a restart.
    super('STATE_DISK_FULL', message, { ...options, retryable: true });
  }
}

/** Another process holds the write lock for longer than busy_timeout (two agents on one volume?). */
export class StateLockedError extends AgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STATE_LOCKED', message, { ...options, retryable: true });
  }
}

/** The file was written by a newer agent (schema version above the ones this build knows). */
export class StateVersionError extends AgentError {
  constructor(message: string) {
    super('STATE_VERSION_UNSUPPORTED', message);
  }
}

/** A journal call that would break the received → started → finished order. A caller bug. */
export class JournalTransitionError extends AgentError {
  constructor(message: string) {
    super('JOURNAL_ILLEGAL_TRANSITION', message);
  }
}

/** An outbox body that is not valid for its kind (checked before it is queued). */
export class OutboxBodyError extends AgentError {
  constructor(message: string) {
    super('OUTBOX_INVALID_BODY', message);
  }
}

function codeOf(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return '';
}

/**
 * Maps a SQLite (better-sqlite3 `SqliteError.code`) or file-system error to a typed state
 * error. Errors that are not about the file itself (constraint violations, our own typed
 * errors, programming errors) are returned unchanged.
 */
export function toStateError(err: unknown, path: string, doing: string): unknown {
  if (err instanceof AgentError) return err;
  const code = codeOf(err);
  const why = `(${doing}: ${code || (err instanceof Error ? err.message : 'error')})`;
  if (code === 'SQLITE_FULL' || code === 'ENOSPC' || code === 'EDQUOT') {
    return new StateDiskFullError(`disk full writing state file ${path} ${why}`, { cause: err });
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new StateCorruptError(`state file ${path} is not a valid SQLite database ${why}`, { cause: err });
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new StateLockedError(`state file ${path} is locked by another process ${why}`, { cause: err });
  }
  if (
    code.startsWith('SQLITE_CANTOPEN') ||
    code.startsWith('SQLITE_READONLY') ||
    code.startsWith('SQLITE_IOERR') ||
    code === 'SQLITE_PERM' ||
    code === 'SQLITE_AUTH' ||
    ['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EISDIR', 'ENOENT', 'EEXIST', 'EIO'].includes(code)
  ) {
    return new StateUnwritableError(`state file ${path} cannot be opened or written ${why}`, { cause: err });
  }
  return err;
}

/** Runs `fn`, rethrowing file/SQLite failures as typed state errors. */
export function guard<T>(path: string, doing: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toStateError(err, path, doing);
  }
}
