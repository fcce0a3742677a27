import { errorCode, errorMessage } from '../util/errors.ts';
import type { Logger } from './logger.ts';

// Failures that need a human (wrong key, wrong CA, misbehaving server) are errors; the
// control plane being briefly unreachable is a warning.
const needsHuman = new Set([
  'CP_UNAUTHORIZED',
  'CP_TLS',
  'CP_BAD_RESPONSE',
  'CP_RESPONSE_TOO_LARGE',
  'CP_API_KEY_UNAVAILABLE',
  'CP_CONFIG',
  'CP_INSECURE_URL',
]);

/**
 * Logs a failing loop once per state change, not once per retry: the first failure with a
 * given code is logged (error or warn), repeats only at debug, and the first success after
 * failures logs a recovery line with how many attempts failed.
 */
export class FailureStateLog {
  private readonly logger: Logger | undefined;
  private readonly what: string;
  private currentCode: string | undefined;
  private failuresSinceSuccess = 0;

  constructor(logger: Logger | undefined, what: string) {
    this.logger = logger;
    this.what = what;
  }

  get failing(): string | undefined {
    return this.currentCode;
  }

  failed(err: unknown, retryInMs: number): void {
    const code = errorCode(err);
    this.failuresSinceSuccess += 1;
    const fields = { code, retryInMs: Math.round(retryInMs) };
    if (code === this.currentCode) {
      this.logger?.debug(
        { ...fields, failures: this.failuresSinceSuccess },
        `${this.what} still failing: ${errorMessage(err)}`,
      );
      return;
    }
    this.currentCode = code;
    const message = `${this.what} failing: ${errorMessage(err)}`;
    if (needsHuman.has(code)) this.logger?.error(fields, message);
    else this.logger?.warn(fields, message);
  }

  succeeded(): void {
    if (this.currentCode === undefined) return;
    this.logger?.info(
      { previousCode: this.currentCode, failures: this.failuresSinceSuccess },
      `${this.what} recovered`,
    );
    this.currentCode = undefined;
    this.failuresSinceSuccess = 0;
  }
}
