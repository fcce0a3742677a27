/** The agent's state file (SQLite): outbox + action journal. See docs/outbox.md. */
export {
  JournalTransitionError,
  OutboxBodyError,
  StateCorruptError,
  StateDiskFullError,
  StateLockedError,
  StateUnwritableError,
  StateVersionError,
} from './errors.ts';
export type { JournalEntry, JournalState } from './journal.ts';
export { ActionJournal } from './journal.ts';
export { type Migration, migrations } from './migrations.ts';
export type {
  AppendResult,
  AuditRow,
  InstancesRow,
  OutboxKind,
  OutboxLimits,
  OutboxRow,
  StatusRow,
  StatusRowBody,
} from './outbox.ts';
export { defaultOutboxLimits, Outbox } from './outbox.ts';
export {
  type CorruptRecovery,
  interruptedMessage,
  StateStore,
  type StateStoreOptions,
  type StateStoreStats,
} from './state-store.ts';
export { isStateFileError, type WriteState, type WriteStateListener } from './write-health.ts';
