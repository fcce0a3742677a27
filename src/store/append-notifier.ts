/**
 * In-process "something was appended to the outbox" signal, so the shipper wakes within
 * milliseconds instead of polling. An append inside a transaction is announced only after
 * that transaction commits (a listener must never see a row that could still roll back).
 */
export class AppendNotifier {
  private readonly listeners = new Set<() => void>();
  private deferred = false;

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called by the outbox after a row was written. */
  appended(inTransaction: boolean): void {
    if (inTransaction) this.deferred = true;
    else this.emit();
  }

  /** Called after a surrounding transaction committed. */
  committed(): void {
    if (!this.deferred) return;
    this.deferred = false;
    this.emit();
  }

  /** Called after a surrounding transaction rolled back. */
  rolledBack(): void {
    this.deferred = false;
  }

  private emit(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch {
        // A listener's failure must not turn a committed append into a thrown error.
      }
    }
  }
}
