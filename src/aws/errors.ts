import { AgentError, errorMessage } from '../util/errors.ts';

/**
 * AWS failures as stable codes (logs, audit events). The SDK's own error name (e.g.
 * `UnauthorizedOperation`) travels along as `awsCode`.
 */
export type AwsErrorCode =
  | 'AWS_CREDENTIALS_UNAVAILABLE'
  | 'AWS_REGION_UNKNOWN'
  | 'AWS_ACCESS_DENIED'
  | 'AWS_THROTTLED'
  | 'AWS_UNAVAILABLE'
  | 'AWS_REQUEST_FAILED';

export class AwsError extends AgentError {
  readonly awsCode: string | undefined;
  readonly httpStatus: number | undefined;

  constructor(
    code: AwsErrorCode,
    message: string,
    options: { awsCode?: string; httpStatus?: number; cause?: unknown } = {},
  ) {
    super(code, message, {
      cause: options.cause,
      retryable: code !== 'AWS_REGION_UNKNOWN',
    });
    this.awsCode = options.awsCode;
    this.httpStatus = options.httpStatus;
  }
}

const deniedCodes = new Set([
  'UnauthorizedOperation',
  'AccessDenied',
  'AccessDeniedException',
  'AuthFailure',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'RegionDisabledException',
  'OptInRequired',
]);
const throttledCodes = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
]);
const networkCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

/** The SDK error (or anything thrown while calling it) as an AwsError. */
export function toAwsError(err: unknown, doing: string): AwsError {
  if (err instanceof AwsError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorShape;
  const name = e.name ?? '';
  const status = e.$metadata?.httpStatusCode;
  const message = `${doing}: ${errorMessage(err)}`;
  // Network failures arrive as plain Errors: their `code` (ECONNREFUSED …) says more than the name.
  const awsCode = name && name !== 'Error' ? name : (e.code ?? (name || undefined));
  const opts = { awsCode, httpStatus: status, cause: err };
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(e.message ?? '')) {
    return new AwsError('AWS_CREDENTIALS_UNAVAILABLE', message, opts);
  }
  if (/region is missing/i.test(e.message ?? '')) return new AwsError('AWS_REGION_UNKNOWN', message, opts);
  if (deniedCodes.has(name)) return new AwsError('AWS_ACCESS_DENIED', message, opts);
  if (throttledCodes.has(name)) return new AwsError('AWS_THROTTLED', message, opts);
  if (
    (status !== undefined && status >= 500) ||
    e.$fault === 'server' ||
    networkCodes.has(e.code ?? '') ||
    name === 'TimeoutError' ||
    name === 'RequestTimeout'
  ) {
    return new AwsError('AWS_UNAVAILABLE', message, opts);
  }
  return new AwsError('AWS_REQUEST_FAILED', message, opts);
}

/** The SDK error's name (its AWS error code), '' for anything else. */
export function sdkErrorName(err: unknown): string {
  return typeof err === 'object' && err !== null && typeof (err as { name?: unknown }).name === 'string'
    ? (err as { name: string }).name
    : '';
}
