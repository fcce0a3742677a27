/**
 * The agent's error type: every failure the agent reports carries a stable `code` (for
 * metrics, logs and the control plane) and a human message. One subclass per failure kind
 * lives beside the code that raises it; `code` strings never change once shipped.
 */
export class AgentError extends Error {
  readonly code: string;
  /** True when trying the same thing again later may succeed. */
  readonly retryable: boolean;

  constructor(code: string, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function errorCode(err: unknown): string {
  return err instanceof AgentError ? err.code : 'UNKNOWN';
}
