import { AgentError } from '../util/errors.ts';

/**
 * Errors of the control-plane client. `code` is stable (metrics label, log field). No
 * message ever contains the API key: messages are built from the route, the HTTP status,
 * the server's error code/message (scrubbed of the key) and error codes.
 */
export class ControlPlaneError extends AgentError {
  /** HTTP status when the server answered. */
  readonly status: number | undefined;
  /** The server's Retry-After, in ms, when it sent one. */
  readonly retryAfterMs: number | undefined;
  /**
   * The `error.code` of a contract error body (`{error: {code, message}}`), when the answer
   * carried one: the control plane itself answered. Undefined for an answer without it (a
   * proxy, an ingress or a WAF in front of the control plane).
   */
  readonly serverCode: string | undefined;

  constructor(
    code: string,
    message: string,
    options: {
      cause?: unknown;
      retryable: boolean;
      status?: number;
      retryAfterMs?: number;
      serverCode?: string;
    },
  ) {
    super(code, message, { cause: options.cause, retryable: options.retryable });
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.serverCode = options.serverCode;
  }
}

type HttpDetail = { status?: number; retryAfterMs?: number; serverCode?: string; cause?: unknown };

/** 401/403: the key is wrong, revoked or for another cluster. Back off long; fix the Secret. */
export class CpUnauthorizedError extends ControlPlaneError {
  constructor(message: string, detail: HttpDetail = {}) {
    super('CP_UNAUTHORIZED', message, { ...detail, retryable: true });
  }
}

/** 429. */
export class CpRateLimitedError extends ControlPlaneError {
  constructor(message: string, detail: HttpDetail = {}) {
    super('CP_RATE_LIMITED', message, { ...detail, retryable: true });
  }
}

/** 5xx. */
export class CpServerError extends ControlPlaneError {
  constructor(message: string, detail: HttpDetail = {}) {
    super('CP_SERVER_ERROR', message, { ...detail, retryable: true });
  }
}

/** Not JSON, not matching the contract, truncated, unexpected redirect or encoding. */
export class CpBadResponseError extends ControlPlaneError {
  constructor(message: string, detail: HttpDetail = {}) {
    super('CP_BAD_RESPONSE', message, { ...detail, retryable: true });
  }
}

/** The response body (or its decompressed form) exceeded the cap; the connection was dropped. */
export class CpResponseTooLargeError extends ControlPlaneError {
  constructor(message: string, detail: HttpDetail = {}) {
    super('CP_RESPONSE_TOO_LARGE', message, { ...detail, retryable: true });
  }
}

/** Connect, headers, body or overall request timeout (and 408). */
export class CpTimeoutError extends ControlPlaneError {
  constructor(message: string, detail: HttpDetail = {}) {
    super('CP_TIMEOUT', message, { ...detail, retryable: true });
  }
}

/** Connection refused/reset, DNS failure, proxy failure. */
export class CpNetworkError extends ControlPlaneError {
  constructor(message: string, detail: HttpDetail = {}) {
    super('CP_NETWORK', message, { ...detail, retryable: true });
  }
}

/** TLS handshake or certificate verification failed (wrong CA bundle, wrong host name). */
export class CpTlsError extends ControlPlaneError {
  constructor(message: string, detail: HttpDetail = {}) {
    super('CP_TLS', message, { ...detail, retryable: true });
  }
}

/** 409 on a status report: the control plane refuses the transition. Delivered-but-refused. */
export class CpConflictError extends ControlPlaneError {
  constructor(message: string, detail: HttpDetail = {}) {
    super('CP_CONFLICT', message, { ...detail, retryable: false });
  }
}

/** 404: unknown action (on a status report: delivered-but-refused) or unknown route. */
export class CpNotFoundError extends ControlPlaneError {
  constructor(message: string, detail: HttpDetail = {}) {
    super('CP_NOT_FOUND', message, { ...detail, retryable: false });
  }
}

/** Any other 4xx (400, 413, 422, …): the server will never accept this body. */
export class CpRequestRejectedError extends ControlPlaneError {
  constructor(message: string, detail: HttpDetail = {}) {
    super('CP_REJECTED', message, { ...detail, retryable: false });
  }
}

/** The agent was about to send a body that does not match the contract (a bug or old row). */
export class CpInvalidRequestError extends ControlPlaneError {
  constructor(message: string) {
    super('CP_INVALID_REQUEST', message, { retryable: false });
  }
}

/** `http:` base URL without `allowInsecureHttp`. */
export class CpInsecureUrlError extends ControlPlaneError {
  constructor(message: string) {
    super('CP_INSECURE_URL', message, { retryable: false });
  }
}

/** Bad base URL, unreadable CA bundle, other configuration errors. */
export class CpConfigError extends ControlPlaneError {
  constructor(message: string, detail: HttpDetail = {}) {
    super('CP_CONFIG', message, { ...detail, retryable: false });
  }
}

/** The API key file cannot be read or holds no usable key. Names the path only. */
export class ApiKeyUnavailableError extends ControlPlaneError {
  constructor(message: string, detail: HttpDetail = {}) {
    super('CP_API_KEY_UNAVAILABLE', message, { ...detail, retryable: true });
  }
}

/** The server's Retry-After carried by a ControlPlaneError, if any. */
export function retryAfterOf(err: unknown): number | undefined {
  return err instanceof ControlPlaneError ? err.retryAfterMs : undefined;
}
