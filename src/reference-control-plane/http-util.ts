import type { IncomingMessage, ServerResponse } from 'node:http';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { z } from 'zod';
import { describeIssues } from '../contract/wire-envelope.ts';
import { AgentError } from '../util/errors.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** Every error answer: `{error: {code, message, ...}}` with an HTTP status. */
export class HttpError extends AgentError {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly extra: Record<string, unknown>;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { headers?: Record<string, string>; extra?: Record<string, unknown> } = {},
  ) {
    super(code, message);
    this.status = status;
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
  }

  toBody(): { error: Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.extra } };
  }
}

/** Checks a parsed body against a schema; 400 with the zod issues when it does not fit. */
export function validate<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new HttpError(400, 'INVALID_BODY', describeIssues(parsed.error), {
    extra: {
      issues: parsed.error.issues.slice(0, 50).map((i) => ({ path: i.path.map(String), message: i.message })),
    },
  });
}

/**
 * Reads a request body of at most `limit` bytes (after gunzip when Content-Encoding is
 * gzip). A bigger body is still read to the end (up to 4 x limit) so the client gets a clean
 * 413 rather than a reset connection while it is still sending.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip') {
    throw new HttpError(415, 'UNSUPPORTED_ENCODING', `content-encoding "${encoding}" is not supported`);
  }
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    received += chunk.length;
    if (received > limit * 4) {
      throw new HttpError(413, 'BODY_TOO_LARGE', `request body is larger than ${limit} bytes`, {
        headers: { connection: 'close' },
      });
    }
    if (received <= limit) chunks.push(chunk);
  }
  if (received > limit)
    throw new HttpError(413, 'BODY_TOO_LARGE', `request body is larger than ${limit} bytes`);
  const raw = Buffer.concat(chunks);
  if (encoding === 'identity') return raw;
  try {
    return await gunzipAsync(raw, { maxOutputLength: limit });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new HttpError(413, 'BODY_TOO_LARGE', `request body is larger than ${limit} bytes once unzipped`);
    }
    throw new HttpError(400, 'INVALID_GZIP', 'request body is not valid gzip');
  }
}

/** JSON.parse of a body; an empty body is `undefined` (the schema then says what is missing). */
export function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, 'INVALID_JSON', `request body is not JSON: ${(err as Error).message}`);
  }
}

/** True when Accept-Encoding lists gzip (or *) with a non-zero q. */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding?.trim() !== 'gzip' && coding?.trim() !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

/** Bodies below this are sent as is: gzip would not pay for itself. */
const gzipThreshold = 1024;

export async function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<void> {
  if (res.headersSent || res.destroyed) return;
  let payload: Buffer = Buffer.from(JSON.stringify(body), 'utf8');
  const out: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    vary: 'Accept-Encoding',
    ...headers,
  };
  if (payload.length >= gzipThreshold && acceptsGzip(req.headers['accept-encoding'])) {
    payload = await gzipAsync(payload);
    out['content-encoding'] = 'gzip';
  }
  out['content-length'] = String(payload.length);
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, out);
  res.end(payload);
}

/** Sends bytes as they are (hostile mode, an injected answer of an ingress). */
export function sendRaw(
  res: ServerResponse,
  status: number,
  body: string,
  contentType: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const payload = Buffer.from(body, 'utf8');
  res.writeHead(status, {
    'content-type': contentType,
    'cache-control': 'no-store',
    'content-length': String(payload.length),
    ...headers,
  });
  res.end(payload);
}
