import { readFileSync } from 'node:fs';
import { getCACertificates } from 'node:tls';
import { type Dispatcher, EnvHttpProxyAgent } from 'undici';
import type { z } from 'zod';
import { type InstancesBatchText, instancesBatchJson } from '../contract/instances-batch-json.ts';
import {
  type AuditEvent,
  AuditEventsBatch,
  ErrorBody,
  Heartbeat,
  HeartbeatResponse,
  type InstancesBatch,
  InstancesResponse,
  PollResponse,
  type StatusBatchEntry,
  StatusBatchRequest,
  StatusBatchResponse,
  type StatusBatchResult,
  StatusReport,
} from '../contract/reports.ts';
import { describeIssues } from '../contract/wire-envelope.ts';
import { parseRetryAfter } from '../util/backoff.ts';
import { clockSkewMs } from '../util/clock-skew.ts';
import type { ApiKeyProvider } from './api-key-source.ts';
import {
  ControlPlaneError,
  CpBadResponseError,
  CpConfigError,
  CpConflictError,
  CpInsecureUrlError,
  CpInvalidRequestError,
  CpNetworkError,
  CpNotFoundError,
  CpRateLimitedError,
  CpRequestRejectedError,
  CpServerError,
  CpTimeoutError,
  CpTlsError,
  CpUnauthorizedError,
} from './errors.ts';
import { readCappedBody } from './read-body.ts';

export interface ControlPlaneClientOptions {
  /** e.g. `https://cp.example.com` or `https://example.com/clusteropt` (path prefix kept). */
  baseUrl: string;
  apiKey: ApiKeyProvider;
  /** Permit `http:` base URLs. Local development only: the API key would travel in clear. */
  allowInsecureHttp?: boolean;
  /**
   * PEM bundle of CAs trusted on top of Node's default ones (the bundled Mozilla list and
   * NODE_EXTRA_CA_CERTS), e.g. a private control-plane CA or a TLS-inspecting proxy's.
   */
  caFile?: string;
  connectTimeoutMs?: number;
  /** Headers and body (between chunks) timeout, and overall deadline, of ordinary requests. */
  requestTimeoutMs?: number;
  /** Added to `wait` for long-poll requests. */
  longPollMarginMs?: number;
  /** Largest response body accepted, compressed or decompressed. Default 10 MiB. */
  maxResponseBytes?: number;
  userAgent?: string;
  /** Where HTTPS_PROXY/HTTP_PROXY/NO_PROXY are read from; default process.env. */
  env?: Record<string, string | undefined>;
  /** Called after every request (metrics): route template, outcome (`2xx`…, or error code). */
  observe?: (event: { route: string; outcome: string; durationMs: number }) => void;
}

export interface SendInstancesResult {
  accepted: boolean;
  resync: boolean;
}

interface CallOptions<T> {
  method: 'GET' | 'POST';
  /** Route template for messages and metrics, e.g. `POST /api/v1/agent/actions/{id}/status`. */
  route: string;
  /** Path relative to the base URL, without the leading slash. */
  path: string;
  /** Sent as JSON (checked by the caller with checkOutgoing), or as it is when JsonText. */
  body?: unknown;
  schema: z.ZodType<T>;
  /** An empty 2xx body is accepted and parsed as `{}`. */
  allowEmpty: boolean;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  /** Gets the response headers and the wall-clock time they arrived (before the body). */
  onHeaders?: (headers: Dispatcher.ResponseData['headers'], receivedAtMs: number) => void;
}

/** What one long poll returned. */
export interface PolledActions {
  /** Raw envelopes, validated one by one by the caller. */
  actions: unknown[];
  /** Agent clock minus the control plane's, from the response's Date header (clock-skew.ts). */
  clockSkewMs: number;
}

/** Route template of the long poll (metrics tell its failures apart from the other routes'). */
export const pollRoute = 'GET /api/v1/agent/actions';

const MiB = 1024 * 1024;
const errorBodyCap = 64 * 1024;
const AnyJson = {
  safeParse: (v: unknown) => ({ success: true as const, data: v }),
} as unknown as z.ZodType<unknown>;

/**
 * The agent's HTTP client for the control plane (DESIGN.md, contract table). Every failure
 * is a typed ControlPlaneError with a stable code; nothing is retried here (the poll loop
 * and the outbox shipper own retry policy).
 */
export class ControlPlaneClient {
  readonly baseUrl: URL;
  private readonly apiKey: ApiKeyProvider;
  private readonly dispatcher: Dispatcher;
  private readonly requestTimeoutMs: number;
  private readonly longPollMarginMs: number;
  private readonly maxResponseBytes: number;
  private readonly userAgent: string;
  private readonly observe: ControlPlaneClientOptions['observe'];

  constructor(options: ControlPlaneClientOptions) {
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch {
      throw new CpConfigError(`control-plane URL "${options.baseUrl.slice(0, 200)}" is not a valid URL`);
    }
    if (base.username !== '' || base.password !== '') {
      throw new CpConfigError(
        'control-plane URL must not carry credentials; the API key comes from its file',
      );
    }
    if (base.protocol === 'http:' && options.allowInsecureHttp !== true) {
      throw new CpInsecureUrlError(
        `control-plane URL ${base.origin} uses plain http: the API key would be sent unencrypted. ` +
          'Use https, or set allowInsecureHttp for local development only.',
      );
    }
    if (base.protocol !== 'https:' && base.protocol !== 'http:') {
      throw new CpConfigError(`control-plane URL scheme ${base.protocol} is not supported (use https)`);
    }
    if (!base.pathname.endsWith('/')) base.pathname = `${base.pathname}/`;
    base.search = '';
    base.hash = '';
    this.baseUrl = base;
    this.apiKey = options.apiKey;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.longPollMarginMs = options.longPollMarginMs ?? 10_000;
    this.maxResponseBytes = options.maxResponseBytes ?? 10 * MiB;
    this.userAgent = options.userAgent ?? 'clusteropt-agent';
    this.observe = options.observe;

    let ca: string | undefined;
    if (options.caFile !== undefined) {
      try {
        ca = readFileSync(options.caFile, 'utf8');
      } catch (err) {
        throw new CpConfigError(`cannot read CA bundle file ${options.caFile}: ${codeOf(err) || 'error'}`, {
          cause: err,
        });
      }
      if (!ca.includes('-----BEGIN CERTIFICATE-----')) {
        throw new CpConfigError(`CA bundle file ${options.caFile} holds no PEM certificate`);
      }
    }
    const env = options.env ?? process.env;
    // Appended, not replacing: a bundle for a proxy must not make public CAs untrusted, and
    // undici replaces the defaults whenever `ca` is given.
    const tls = ca === undefined ? {} : { ca: [...getCACertificates('default'), ca] };
    // EnvHttpProxyAgent: HTTPS_PROXY/HTTP_PROXY/NO_PROXY semantics. Values are passed
    // explicitly so `env` (tests, config) rather than the process decides; '' means none.
    this.dispatcher = new EnvHttpProxyAgent({
      httpProxy: env.HTTP_PROXY ?? env.http_proxy ?? '',
      httpsProxy: env.HTTPS_PROXY ?? env.https_proxy ?? '',
      noProxy: env.NO_PROXY ?? env.no_proxy ?? '',
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      // `connect` is used for direct connections, `requestTls` for the origin behind a proxy.
      connect: tls,
      requestTls: tls,
      headersTimeout: this.requestTimeoutMs,
      bodyTimeout: this.requestTimeoutMs,
    });
  }

  /**
   * Long-poll for actions, at most `limit` of them (the contract's `limit`; a control plane
   * that sends more gets the rest refused by the poller). Returns the raw envelopes; the
   * caller validates each with parseEnvelope (so one bad action is rejected by id, not the
   * whole batch).
   */
  async pollActions(waitSeconds: number, signal?: AbortSignal, limit?: number): Promise<PolledActions> {
    const wait = Math.max(0, Math.floor(waitSeconds));
    let skew = 0;
    const res = await this.call({
      method: 'GET',
      route: pollRoute,
      path: `api/v1/agent/actions?wait=${wait}${limit === undefined ? '' : `&limit=${Math.max(1, Math.floor(limit))}`}`,
      schema: PollResponse,
      allowEmpty: false,
      timeoutMs: wait * 1000 + this.longPollMarginMs,
      signal,
      onHeaders: (headers, receivedAtMs) => {
        skew = clockSkewMs(headers.date, receivedAtMs);
      },
    });
    return { actions: res.actions, clockSkewMs: skew };
  }

  /** POST a status report. 409 → CP_CONFLICT, 404 → CP_NOT_FOUND (delivered-but-refused). */
  async reportStatus(actionId: string, report: StatusReport, signal?: AbortSignal): Promise<void> {
    await this.call({
      method: 'POST',
      route: 'POST /api/v1/agent/actions/{id}/status',
      path: `api/v1/agent/actions/${encodeURIComponent(actionId)}/status`,
      body: checkOutgoing(StatusReport, report, 'status report'),
      schema: AnyJson,
      allowEmpty: true,
      timeoutMs: this.requestTimeoutMs,
      signal,
    });
  }

  /**
   * POST many status reports at once (contract 1.1). Returns one result per entry, in order.
   * An older control plane answers 404/405 (see `isMissingRoute`); the caller then falls back
   * to `reportStatus`, one request per report.
   */
  async reportStatuses(entries: StatusBatchEntry[], signal?: AbortSignal): Promise<StatusBatchResult[]> {
    const res = await this.call({
      method: 'POST',
      route: 'POST /api/v1/agent/actions/status',
      path: 'api/v1/agent/actions/status',
      body: checkOutgoing(StatusBatchRequest, { reports: entries }, 'status batch'),
      schema: StatusBatchResponse,
      allowEmpty: false,
      timeoutMs: this.requestTimeoutMs,
      signal,
    });
    const misfit =
      res.results.length !== entries.length
        ? `${res.results.length} results for ${entries.length} reports`
        : res.results.findIndex((r, i) => r.actionId.toLowerCase() !== entries[i]!.actionId.toLowerCase()) >=
            0
          ? 'results not in the order of the reports'
          : undefined;
    if (misfit) {
      throw new CpBadResponseError(`POST /api/v1/agent/actions/status: ${misfit}`, { status: 200 });
    }
    return res.results;
  }

  async sendInstances(batch: InstancesBatch, signal?: AbortSignal): Promise<SendInstancesResult> {
    const checked = instancesBatchJson(batch);
    if (!checked.ok)
      throw new CpInvalidRequestError(`refusing to send an invalid instances batch: ${checked.reason}`);
    return this.sendInstancesJson(checked, signal);
  }

  /**
   * POST a batch already checked and written as text (the outbox's rows): sent as it is, so a
   * full snapshot is not parsed, checked and written again on its way out.
   */
  async sendInstancesJson(batch: InstancesBatchText, signal?: AbortSignal): Promise<SendInstancesResult> {
    const res = await this.call({
      method: 'POST',
      route: 'POST /api/v1/agent/instances',
      path: 'api/v1/agent/instances',
      body: new JsonText(batch.json),
      schema: InstancesResponse,
      allowEmpty: false,
      timeoutMs: this.requestTimeoutMs,
      signal,
    });
    return { accepted: res.accepted, resync: res.resync };
  }

  async sendEvents(events: AuditEvent[], signal?: AbortSignal): Promise<void> {
    await this.call({
      method: 'POST',
      route: 'POST /api/v1/agent/events',
      path: 'api/v1/agent/events',
      body: checkOutgoing(AuditEventsBatch, { events }, 'audit events batch'),
      schema: AnyJson,
      allowEmpty: true,
      timeoutMs: this.requestTimeoutMs,
      signal,
    });
  }

  /** Returns the settings the control plane sent back, if any. */
  async heartbeat(heartbeat: Heartbeat, signal?: AbortSignal): Promise<Record<string, unknown> | undefined> {
    const res = await this.call({
      method: 'POST',
      route: 'POST /api/v1/agent/heartbeat',
      path: 'api/v1/agent/heartbeat',
      body: checkOutgoing(Heartbeat, heartbeat, 'heartbeat'),
      schema: HeartbeatResponse,
      allowEmpty: true,
      timeoutMs: this.requestTimeoutMs,
      signal,
    });
    return res.settings;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  private async call<T>(options: CallOptions<T>): Promise<T> {
    const started = performance.now();
    let outcome = 'UNKNOWN';
    try {
      const result = await this.send(options);
      outcome = '2xx';
      return result;
    } catch (err) {
      outcome = err instanceof ControlPlaneError ? err.code : 'ABORTED';
      throw err;
    } finally {
      this.observe?.({ route: options.route, outcome, durationMs: performance.now() - started });
    }
  }

  private async send<T>(options: CallOptions<T>): Promise<T> {
    const { route } = options;
    const key = this.apiKey.current();
    const url = new URL(options.path, this.baseUrl);
    // bodyTimeout only measures gaps between chunks; the deadline bounds the whole exchange
    // (a server dripping one byte per minute).
    const deadline = AbortSignal.timeout(options.timeoutMs + 5_000);
    const signal = options.signal === undefined ? deadline : AbortSignal.any([options.signal, deadline]);
    const headers: Record<string, string> = {
      authorization: `Bearer ${key}`,
      accept: 'application/json',
      'accept-encoding': 'gzip',
      'user-agent': this.userAgent,
    };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = options.body instanceof JsonText ? options.body.text : JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }

    let res: Dispatcher.ResponseData;
    try {
      res = await this.dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: options.method,
        headers,
        body: body ?? null,
        signal,
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
    } catch (err) {
      throw this.transportError(err, route, options.signal, deadline);
    }

    options.onHeaders?.(res.headers, Date.now());
    const status = res.statusCode;
    const ok = status >= 200 && status < 300;
    let raw: Buffer;
    try {
      raw = await readCappedBody(res.body, {
        maxBytes: ok ? this.maxResponseBytes : Math.min(errorBodyCap, this.maxResponseBytes),
        contentLength: res.headers['content-length'],
        contentEncoding: res.headers['content-encoding'],
        what: route,
        status,
      });
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (deadline.aborted)
        throw new CpTimeoutError(`${route}: request deadline exceeded`, { status, cause: err });
      // An error body that is too large or broken still has a meaningful status.
      if (!ok) throw this.statusError(status, res.headers, Buffer.alloc(0), route, key);
      throw err;
    }
    if (!ok) throw this.statusError(status, res.headers, raw, route, key);

    if (raw.length === 0) {
      if (options.allowEmpty) return parseWith(options.schema, {}, route, status);
      throw new CpBadResponseError(`${route}: empty response body (HTTP ${status})`, { status });
    }
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      const type = String(res.headers['content-type'] ?? 'none').slice(0, 60);
      throw new CpBadResponseError(
        `${route}: response is not JSON (HTTP ${status}, content-type ${type}, starts with "${snippet(raw, key)}")`,
        { status, cause: err },
      );
    }
    return parseWith(options.schema, json, route, status);
  }

  private statusError(
    status: number,
    headers: Record<string, string | string[] | undefined>,
    raw: Buffer,
    route: string,
    key: string,
  ): ControlPlaneError {
    const body = contractErrorBody(raw);
    const detail = `${route}: HTTP ${status}${
      body
        ? ` (${scrub(`${body.code}: ${body.message}`, key).slice(0, 300)})`
        : raw.length
          ? ` ("${snippet(raw, key)}")`
          : ''
    }`;
    const retryAfterMs = parseRetryAfter(headers['retry-after']);
    const d = {
      status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      ...(body ? { serverCode: body.code } : {}),
    };
    if (status === 401) {
      return new CpUnauthorizedError(`${detail} — the API key was refused; check the mounted Secret`, d);
    }
    if (status === 403) {
      return new CpUnauthorizedError(
        `${detail} — the control plane refuses this agent (a disabled cluster or a revoked key)`,
        d,
      );
    }
    if (status === 429) return new CpRateLimitedError(detail, d);
    if (status === 408) return new CpTimeoutError(detail, d);
    if (status === 409) return new CpConflictError(detail, d);
    if (status === 404) return new CpNotFoundError(detail, d);
    if (status >= 500) return new CpServerError(detail, d);
    if (status >= 400) return new CpRequestRejectedError(detail, d);
    // 1xx/3xx: redirects are not followed (the bearer key must not travel to another host).
    return new CpBadResponseError(`${detail} (unexpected status; redirects are not followed)`, d);
  }

  private transportError(
    err: unknown,
    route: string,
    callerSignal: AbortSignal | undefined,
    deadline: AbortSignal,
  ): unknown {
    // The caller cancelled (shutdown, lost leadership): not a control-plane failure.
    if (callerSignal?.aborted) return callerSignal.reason;
    const code = codeOf(err) || codeOf((err as { cause?: unknown } | undefined)?.cause);
    const where = `${route} to ${this.baseUrl.origin}`;
    if (deadline.aborted) return new CpTimeoutError(`${where}: request deadline exceeded`, { cause: err });
    if (
      ['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'].includes(
        code,
      )
    ) {
      return new CpTimeoutError(`${where}: timed out (${code})`, { cause: err });
    }
    if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|HOSTNAME|ALTNAME/.test(code)) {
      return new CpTlsError(`${where}: TLS failure (${code}); check the CA bundle and the host name`, {
        cause: err,
      });
    }
    return new CpNetworkError(`${where}: ${code || errName(err)}`, { cause: err });
  }
}

/**
 * The control plane does not have the route (an older one): 404 or 405 on the request
 * itself. For the batch status route, whose per-action outcomes come in a 200 body, this can
 * only mean the route is missing.
 */
export function isMissingRoute(err: unknown): boolean {
  const status = err instanceof ControlPlaneError ? err.status : undefined;
  return status === 404 || status === 405 || status === 501;
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, route: string, status: number): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new CpBadResponseError(
      `${route}: response does not match the contract: ${describeIssues(parsed.error)}`,
      {
        status,
      },
    );
  }
  return parsed.data;
}

/** A body that is already JSON text (checked when it was written). */
class JsonText {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

function checkOutgoing<T>(schema: z.ZodType<T>, value: T, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new CpInvalidRequestError(`refusing to send an invalid ${what}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** The contract error body (`{error: {code, message}}`) of an answer, if it is one. */
function contractErrorBody(raw: Buffer): { code: string; message: string } | undefined {
  if (raw.length === 0) return undefined;
  try {
    const parsed = ErrorBody.safeParse(JSON.parse(raw.toString('utf8')));
    return parsed.success ? parsed.data.error : undefined;
  } catch {
    return undefined;
  }
}

/** The first bytes of a body, printable, without the API key (a server might echo it). */
function snippet(raw: Buffer, key: string): string {
  const text = raw
    .subarray(0, 4096)
    .toString('utf8')
    .replace(/[^\x20-\x7e]+/g, ' ');
  return scrub(text, key).slice(0, 120);
}

function scrub(text: string, key: string): string {
  let out = text;
  const secret = key.split('_').at(-1) ?? '';
  for (const s of [key, secret]) if (s.length >= 8) out = out.split(s).join('[REDACTED]');
  return out;
}

function codeOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : '';
}

function errName(err: unknown): string {
  return err instanceof Error ? err.name : 'error';
}
