import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { CpBadResponseError, CpResponseTooLargeError, CpTimeoutError } from './errors.ts';

const gunzipAsync = promisify(gunzip);

export interface ReadBodyOptions {
  /** Cap on the bytes received and, separately, on the decompressed bytes. */
  maxBytes: number;
  /** The Content-Length header, when sent. */
  contentLength: string | string[] | undefined;
  /** The Content-Encoding header, when sent. */
  contentEncoding: string | string[] | undefined;
  /** For messages: "GET /api/v1/agent/actions". */
  what: string;
  status: number;
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Reads a response body into memory without ever holding more than `maxBytes`: a declared
 * Content-Length above the cap is refused before reading; a streamed body is counted chunk
 * by chunk and the stream destroyed (which makes undici drop the connection) as soon as
 * it passes the cap; gzip is decompressed with the same cap on the output (zip bombs).
 */
export async function readCappedBody(body: Readable, options: ReadBodyOptions): Promise<Buffer> {
  const { maxBytes, what, status } = options;
  const tooLarge = (detail: string) =>
    new CpResponseTooLargeError(`${what}: response body ${detail} exceeds the ${maxBytes}-byte cap`, {
      status,
    });

  const declared = Number(single(options.contentLength));
  if (Number.isFinite(declared) && declared > maxBytes) {
    const err = tooLarge(`of ${declared} bytes (Content-Length)`);
    body.destroy(err);
    throw err;
  }

  const chunks: Buffer[] = [];
  let received = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (received > maxBytes) {
        const err = tooLarge('streamed so far');
        body.destroy(err);
        throw err;
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof CpResponseTooLargeError) throw err;
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
    if (code === 'UND_ERR_BODY_TIMEOUT') {
      throw new CpTimeoutError(`${what}: timed out reading the response body`, { status, cause: err });
    }
    throw new CpBadResponseError(
      `${what}: response body truncated after ${received} bytes (${code || 'error'})`,
      {
        status,
        cause: err,
      },
    );
  }
  const raw = Buffer.concat(chunks, received);

  const encoding = (single(options.contentEncoding) ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '' || raw.length === 0) return raw;
  if (encoding !== 'gzip' && encoding !== 'x-gzip') {
    throw new CpBadResponseError(`${what}: unsupported Content-Encoding "${encoding.slice(0, 32)}"`, {
      status,
    });
  }
  try {
    return await gunzipAsync(raw, { maxOutputLength: maxBytes });
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
    if (code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError)
      throw tooLarge('after gzip decompression');
    throw new CpBadResponseError(`${what}: invalid gzip body (${code || 'error'})`, { status, cause: err });
  }
}
