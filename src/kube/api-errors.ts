/**
 * Reading Kubernetes API failures. client-node 2.0 throws `ApiException` with the HTTP
 * `code`, the response `body` as text (a JSON `Status` for API errors) and lower-cased
 * `headers`; watches fail with `statusCode` instead. These helpers hide the difference.
 */
import { parseRetryAfter } from '../util/backoff.ts';
import { AgentError } from '../util/errors.ts';

/** The parts of a metav1.Status the agent looks at. */
export interface ApiStatus {
  code?: number;
  reason?: string;
  message?: string;
  details?: { causes?: { type?: string; message?: string }[] };
}

export function statusCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** The Status object of an API error, when its body carried one. */
export function apiStatus(err: unknown): ApiStatus | undefined {
  if (typeof err !== 'object' || err === null || !('body' in err)) return undefined;
  const body = (err as { body: unknown }).body;
  if (typeof body === 'object' && body !== null) return body as ApiStatus;
  if (typeof body !== 'string' || body === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null ? (parsed as ApiStatus) : undefined;
  } catch {
    return undefined;
  }
}

/** A short, log-friendly description: the Status message when there is one. */
export function apiErrorMessage(err: unknown): string {
  const status = apiStatus(err);
  const code = statusCode(err);
  if (status?.message) return code ? `${code}: ${status.message}` : status.message;
  if (err instanceof Error) {
    // ApiException messages embed the headers; keep the first line only.
    return err.message.split('\n')[0] ?? err.message;
  }
  return String(err);
}

export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;

/**
 * The one rule for "may trying the same request later help": no answer at all (network,
 * cut-off body), 408, 429 or a 5xx. The agent's own errors say so themselves.
 */
export function isRetryableKubeError(err: unknown): boolean {
  if (err instanceof AgentError) return err.retryable;
  const code = statusCode(err);
  return code === undefined || code === 408 || code === 429 || code >= 500;
}
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;
export const isTooManyRequests = (err: unknown): boolean => statusCode(err) === 429;

/** The server's Retry-After in ms (429 and some 5xx carry it). */
export function retryAfterMs(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('headers' in err)) return undefined;
  const headers = (err as { headers?: Record<string, string | undefined> }).headers;
  if (!headers) return undefined;
  return parseRetryAfter(headers['retry-after'] ?? headers['Retry-After']);
}

/**
 * The eviction API's 500 "This pod has more than one PodDisruptionBudget, which the eviction
 * subresource does not support." It can be transient (an overlapping PDB being fixed), so the
 * drain retries it like a 429 (Karpenter does the same) instead of failing like kubectl.
 */
export function isMultiplePdbError(err: unknown): boolean {
  return statusCode(err) === 500 && /more than one PodDisruptionBudget/i.test(apiErrorMessage(err));
}

/** 403 because the pod's namespace is being deleted (eviction is refused there; delete works). */
export function isNamespaceTerminating(err: unknown): boolean {
  if (statusCode(err) !== 403) return false;
  const causes = apiStatus(err)?.details?.causes ?? [];
  return causes.some((c) => c.type === 'NamespaceTerminating');
}
