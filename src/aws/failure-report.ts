/**
 * AWS trouble is reported once per change, not per node or per retry: the first failure
 * with a code logs a warning and emits one audit event; repeats of the same code log at
 * debug only; a different code is a change (reported again); the first success after a
 * failure logs and emits a recovery. The inventory keeps reporting from node data meanwhile.
 */
import type { Logger } from '../observability/logger.ts';
import { errorMessage } from '../util/errors.ts';
import { AwsError } from './errors.ts';

/** Audit event names (part of the product: never rename). */
export const awsUnavailableEvent = 'inventory.aws_unavailable';
export const awsRecoveredEvent = 'inventory.aws_recovered';

export interface AwsAuditNotice {
  event: typeof awsUnavailableEvent | typeof awsRecoveredEvent;
  /** What failed, e.g. `aws:ec2:DescribeInstances`, `aws:sts:GetCallerIdentity`. */
  resource: string;
  message: string;
  details: Record<string, unknown>;
}

export class AwsFailureReport {
  private readonly logger: Logger | undefined;
  private readonly emit: ((notice: AwsAuditNotice) => void) | undefined;
  private readonly failing = new Map<string, { code: string; failures: number }>();

  constructor(options: { logger?: Logger; emit?: (notice: AwsAuditNotice) => void }) {
    this.logger = options.logger;
    this.emit = options.emit;
  }

  /** The current failure code per resource (for readiness/diagnostics). */
  get current(): ReadonlyMap<string, { code: string; failures: number }> {
    return this.failing;
  }

  failed(resource: string, err: unknown): void {
    const code = err instanceof AwsError ? err.code : 'AWS_REQUEST_FAILED';
    const awsCode = err instanceof AwsError ? err.awsCode : undefined;
    const state = this.failing.get(resource);
    if (state?.code === code) {
      state.failures += 1;
      this.logger?.debug({ resource, code, awsCode, failures: state.failures }, errorMessage(err));
      return;
    }
    this.failing.set(resource, { code, failures: 1 });
    const message = `${resource} failing (instance reports continue from node data): ${errorMessage(err)}`;
    this.logger?.warn({ resource, code, awsCode }, message);
    this.notify({
      event: awsUnavailableEvent,
      resource,
      message,
      details: { code, ...(awsCode ? { awsCode } : {}), ...(state ? { previousCode: state.code } : {}) },
    });
  }

  succeeded(resource: string): void {
    const state = this.failing.get(resource);
    if (state === undefined) return;
    this.failing.delete(resource);
    const message = `${resource} recovered after ${state.failures} failed attempt(s)`;
    this.logger?.info({ resource, previousCode: state.code, failures: state.failures }, message);
    this.notify({
      event: awsRecoveredEvent,
      resource,
      message,
      details: { previousCode: state.code, failures: state.failures },
    });
  }

  private notify(notice: AwsAuditNotice): void {
    try {
      this.emit?.(notice);
    } catch (err) {
      // A full state disk must not stop the inventory; the log line above still exists.
      this.logger?.warn({ err }, 'could not queue the AWS audit event');
    }
  }
}
