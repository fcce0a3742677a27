/**
 * The one list+watch helper: list a collection (paginated), then watch it from the list's
 * resourceVersion, resuming from the last seen version when the server closes the stream and
 * relisting when the version is too old (410) or the watch fails. Objects are delivered as
 * the API's raw JSON (timestamps are strings); callers keep only the fields they need.
 *
 * Why not client-node's Watch/Informer: the Watch opens a fresh TLS connection per call
 * (see clients.ts) and the informer stops for good on most errors and never paginates.
 */
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { type Dispatcher, fetch } from 'undici';
import type { Logger } from '../observability/logger.ts';
import { Backoff, sleep } from '../util/backoff.ts';
import { AgentError, errorMessage } from '../util/errors.ts';
import type { KubeClients } from './clients.ts';

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ListWatchOptions<T extends KubeObject> {
  clients: KubeClients;
  /** Collection path, e.g. `/api/v1/pods`. */
  path: string;
  /** fieldSelector / labelSelector etc., used for the list and the watch alike. */
  query?: Record<string, string>;
  /** Called with the full set after the first list and after every relist. */
  onList: (items: T[]) => void;
  onEvent: (type: WatchEventType, object: T) => void;
  signal: AbortSignal;
  log?: Logger;
  /** Reconnect when the stream is silent this long (bookmarks keep healthy watches chatty). */
  inactivityMs?: number;
  pageSize?: number;
}

export interface ListWatch {
  /** Resolves after the first list was delivered; rejects if that first list fails. */
  ready: Promise<void>;
  /** Resolves when the loop has stopped (after the signal aborted). */
  stopped: Promise<void>;
}

export class KubeRequestError extends AgentError {
  readonly statusCode: number;
  readonly body: string;
  constructor(statusCode: number, path: string, body: string) {
    super('kube_request_failed', `GET ${path}: HTTP ${statusCode}: ${body.slice(0, 300)}`, {
      retryable: statusCode >= 500 || statusCode === 429,
    });
    this.statusCode = statusCode;
    this.body = body;
  }
}

class WatchExpiredError extends Error {}

/** A raw authenticated request through the pooled dispatcher. */
async function rawFetch(
  clients: KubeClients,
  path: string,
  query: Record<string, string>,
  signal: AbortSignal,
): Promise<Awaited<ReturnType<typeof fetch>>> {
  const url = new URL(clients.server + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const ctx = new RequestContext(url.toString(), HttpMethod.GET);
  await clients.auth.applySecurityAuthentication(ctx);
  return fetch(url, {
    method: 'GET',
    headers: ctx.getHeaders(),
    dispatcher: ctx.getDispatcher() as Dispatcher | undefined,
    signal,
  });
}

export async function getJson<T>(
  clients: KubeClients,
  path: string,
  query: Record<string, string>,
  signal: AbortSignal,
): Promise<T> {
  const res = await rawFetch(clients, path, query, signal);
  const text = await res.text();
  if (res.status !== 200) throw new KubeRequestError(res.status, path, text);
  return JSON.parse(text) as T;
}

/** Lists every page; returns the items and the collection's resourceVersion. */
export async function listAll<T>(
  clients: KubeClients,
  path: string,
  query: Record<string, string>,
  signal: AbortSignal,
  pageSize = 500,
): Promise<{ items: T[]; resourceVersion: string }> {
  const items: T[] = [];
  let continueToken: string | undefined;
  let resourceVersion = '';
  do {
    const page = await getJson<{
      items?: T[];
      metadata?: { resourceVersion?: string; continue?: string };
    }>(
      clients,
      path,
      { ...query, limit: String(pageSize), ...(continueToken ? { continue: continueToken } : {}) },
      signal,
    );
    items.push(...(page.items ?? []));
    resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    continueToken = page.metadata?.continue || undefined;
  } while (continueToken);
  return { items, resourceVersion };
}

/**
 * Streams one watch until the server ends it (returns the last resourceVersion), the
 * version expires (throws WatchExpiredError) or it fails/goes silent (throws).
 */
async function streamWatch<T extends KubeObject>(
  options: ListWatchOptions<T>,
  fromVersion: string,
  onVersion: (rv: string) => void,
): Promise<void> {
  const inactivityMs = options.inactivityMs ?? 90_000;
  const local = new AbortController();
  const onAbort = () => local.abort(options.signal.reason);
  options.signal.addEventListener('abort', onAbort, { once: true });
  let silenceTimer: NodeJS.Timeout | undefined;
  const armSilenceTimer = () => {
    clearTimeout(silenceTimer);
    silenceTimer = setTimeout(
      () => local.abort(new Error(`watch silent for ${inactivityMs} ms`)),
      inactivityMs,
    );
  };
  try {
    armSilenceTimer();
    const res = await rawFetch(
      options.clients,
      options.path,
      {
        ...options.query,
        watch: '1',
        resourceVersion: fromVersion,
        allowWatchBookmarks: 'true',
        // The server ends the watch after this; a new one resumes from the last version.
        timeoutSeconds: String(240 + Math.floor(Math.random() * 60)),
      },
      local.signal,
    );
    if (res.status === 410) throw new WatchExpiredError('resourceVersion too old');
    if (res.status !== 200 || !res.body) {
      throw new KubeRequestError(res.status, options.path, res.body ? await res.text() : '');
    }
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of res.body) {
      armSilenceTimer();
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline).trim();
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        if (line === '') continue;
        const event = JSON.parse(line) as { type: string; object: T & { code?: number; message?: string } };
        if (event.type === 'ERROR') {
          if (event.object.code === 410) throw new WatchExpiredError(event.object.message ?? 'expired');
          throw new Error(`watch error: ${event.object.message ?? JSON.stringify(event.object)}`);
        }
        const rv = event.object.metadata?.resourceVersion;
        if (rv) onVersion(rv);
        if (event.type === 'BOOKMARK') continue;
        options.onEvent(event.type as WatchEventType, event.object);
      }
    }
  } finally {
    clearTimeout(silenceTimer);
    options.signal.removeEventListener('abort', onAbort);
    local.abort();
  }
}

export function listWatch<T extends KubeObject>(options: ListWatchOptions<T>): ListWatch {
  let resolveReady!: () => void;
  let rejectReady!: (err: unknown) => void;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  // A caller that only awaits `stopped` must not see an unhandled rejection.
  ready.catch(() => undefined);
  const backoff = new Backoff({ baseMs: 200, maxMs: 5_000 });
  const path = options.path;

  const loop = async () => {
    let first = true;
    let version: string | undefined;
    while (!options.signal.aborted) {
      try {
        if (version === undefined) {
          const listed = await listAll<T>(
            options.clients,
            path,
            options.query ?? {},
            options.signal,
            options.pageSize,
          );
          version = listed.resourceVersion;
          options.onList(listed.items);
          if (first) {
            first = false;
            resolveReady();
          }
        }
        await streamWatch(options, version, (rv) => {
          version = rv;
        });
        backoff.reset();
      } catch (err) {
        if (options.signal.aborted) break;
        if (first) {
          rejectReady(err);
          return;
        }
        const expired = err instanceof WatchExpiredError;
        // Any failure other than a clean end: relist, since events may have been missed.
        version = undefined;
        if (!expired) {
          options.log?.debug({ path, err: errorMessage(err) }, 'watch failed; relisting');
          await sleep(backoff.next(), options.signal).catch(() => undefined);
        }
      }
    }
  };
  const stopped = loop();
  return { ready, stopped };
}
