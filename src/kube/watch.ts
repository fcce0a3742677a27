/**
 * The one list+watch helper: list a collection (paginated), then watch it from the list's
 * resourceVersion, resuming from the last seen version when the server closes the stream and
 * relisting when the version is too old (410) or the watch fails; on request it also retries a
 * first list that fails for a retryable reason (`retryFirstList`). Objects are the API's raw
 * JSON (timestamps are strings), or what the caller's `transform` makes of each: it runs on
 * every item as it streams in and on every watch event's object, so a caller that keeps a
 * few fields of a large collection (the node inventory) never holds more than a few raw
 * objects at a time, and nothing here keeps a list reachable while the watch runs.
 *
 * Why not client-node's Watch/Informer: the Watch opens a fresh TLS connection per call
 * (see clients.ts) and the informer stops for good on most errors and never paginates.
 */

import type { Logger } from '../observability/logger.ts';
import { Backoff, sleep } from '../util/backoff.ts';
import { apiErrorMessage, isRetryableKubeError } from './api-errors.ts';
import type { KubeClients } from './clients.ts';
import { ListItemSplitter } from './list-items.ts';
import { type KubeRequest, kubeFetch, kubeJson, kubeResponseError } from './raw.ts';

export interface KubeObject {
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/**
 * `Raw` is the API object as parsed JSON, `T` what the callbacks receive: `Raw` itself, or
 * `transform(raw)` when a transform is given.
 */
export interface ListWatchOptions<Raw extends KubeObject, T = Raw> {
  clients: KubeClients;
  /** Collection path, e.g. `/api/v1/pods`. */
  path: string;
  /** fieldSelector / labelSelector etc., used for the list and the watch alike. */
  query?: Record<string, string>;
  /**
   * Applied to each listed item as soon as it is parsed (the raw item is then dropped) and to
   * each watch event's object (DELETED ones too) before `onEvent`.
   */
  transform?: (raw: Raw) => T;
  /** Called with the full set after the first list and after every relist. */
  onList: (items: T[]) => void;
  onEvent: (type: WatchEventType, object: T) => void;
  signal: AbortSignal;
  log?: Logger;
  /** Reconnect when the stream is silent this long (bookmarks keep healthy watches chatty). */
  inactivityMs?: number;
  pageSize?: number;
  /**
   * true (the leader's long-lived watches): the first list is tried until it succeeds or the
   * signal aborts, so `ready` only rejects on abort. A retryable failure (5xx, 429, network;
   * the API server busy right after an election or down for a while) is tried again with the
   * relists' backoff and logged as a warning; a refusal (403 from RBAC, 404 for a CRD not
   * installed yet …) may need a human, so it is logged as an error and tried with a slower
   * backoff (1 s doubling to 30 s: a CRD applied just after the agent started is picked up
   * quickly) — the agent then recovers by itself once RBAC or the CRD is fixed, with no
   * restart. Each is logged once per change of error, not per try.
   * false (default; a drain's watches): any failure of the first list rejects `ready`, so a
   * caller with a budget never waits on a failing list.
   */
  retryFirstList?: boolean;
}

export interface ListWatch {
  /**
   * Resolves after the first list was delivered; rejects if that first list fails (never with
   * `retryFirstList`), or with the signal's reason if the signal aborts before it was delivered.
   */
  ready: Promise<void>;
  /** Resolves when the loop has stopped (after the signal aborted). */
  stopped: Promise<void>;
}

class WatchExpiredError extends Error {}

/** A GET of one object or list page, parsed; throws ApiException for anything but 200. */
export function getJson<T>(
  clients: KubeClients,
  path: string,
  query: Record<string, string>,
  signal: AbortSignal,
): Promise<T> {
  return kubeJson<T>(clients, { method: 'GET', path, query, signal });
}

/**
 * Lists a collection page by page, handing the items to `onItems` as they stream in, each
 * parsed on its own (list-items.ts: a page never exists whole); returns the collection's
 * resourceVersion.
 */
export async function listPages<Raw>(
  clients: KubeClients,
  path: string,
  query: Record<string, string>,
  signal: AbortSignal,
  onItems: (items: Raw[]) => void,
  pageSize = 500,
): Promise<string> {
  let continueToken: string | undefined;
  let resourceVersion = '';
  do {
    const pageQuery = {
      ...query,
      limit: String(pageSize),
      ...(continueToken ? { continue: continueToken } : {}),
    };
    const request: KubeRequest = { method: 'GET', path, query: pageQuery, signal };
    const res = await kubeFetch(clients, request);
    if (res.status !== 200 || !res.body) throw await kubeResponseError(res, request);
    const splitter = new ListItemSplitter();
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      deliverItems(splitter.push(decoder.decode(chunk as Uint8Array, { stream: true })), onItems);
    }
    deliverItems(splitter.push(decoder.decode()), onItems);
    const page = splitter.end<{ metadata?: { resourceVersion?: string; continue?: string } }>();
    resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    continueToken = page.metadata?.continue || undefined;
  } while (continueToken);
  return resourceVersion;
}

/** Parses and delivers items; a function of its own so the parsed objects live in its frame only. */
function deliverItems<Raw>(texts: string[], onItems: (items: Raw[]) => void): void {
  if (texts.length > 0) onItems(texts.map((t) => JSON.parse(t) as Raw));
}

/**
 * Lists every page; returns the items and the collection's resourceVersion. With `transform`,
 * each item is transformed as soon as it is parsed and the raw one dropped, so a caller that
 * keeps a few fields of a large list never holds the raw list.
 */
export async function listAll<Raw, T = Raw>(
  clients: KubeClients,
  path: string,
  query: Record<string, string>,
  signal: AbortSignal,
  options: { transform?: (raw: Raw) => T; pageSize?: number } = {},
): Promise<{ items: T[]; resourceVersion: string }> {
  const items: T[] = [];
  const transform = options.transform;
  const resourceVersion = await listPages<Raw>(
    clients,
    path,
    query,
    signal,
    (some) => {
      for (const raw of some) items.push(transform ? transform(raw) : (raw as unknown as T));
    },
    options.pageSize,
  );
  return { items, resourceVersion };
}

/**
 * Streams one watch until the server ends it (returns the last resourceVersion), the
 * version expires (throws WatchExpiredError) or it fails/goes silent (throws).
 */
async function streamWatch<Raw extends KubeObject, T>(
  options: ListWatchOptions<Raw, T>,
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
    const request: KubeRequest = {
      method: 'GET',
      path: options.path,
      query: {
        ...options.query,
        watch: '1',
        resourceVersion: fromVersion,
        allowWatchBookmarks: 'true',
        // The server ends the watch after this; a new one resumes from the last version.
        timeoutSeconds: String(240 + Math.floor(Math.random() * 60)),
      },
      signal: local.signal,
    };
    const res = await kubeFetch(options.clients, request);
    if (res.status === 410) throw new WatchExpiredError('resourceVersion too old');
    if (res.status !== 200 || !res.body) throw await kubeResponseError(res, request);
    const decoder = new TextDecoder();
    let buffered = '';
    for await (const chunk of res.body) {
      armSilenceTimer();
      buffered = deliverLines(
        options,
        buffered + decoder.decode(chunk as Uint8Array, { stream: true }),
        onVersion,
      );
    }
  } finally {
    clearTimeout(silenceTimer);
    options.signal.removeEventListener('abort', onAbort);
    local.abort();
  }
}

/**
 * Delivers every complete line of `text` as a watch event; returns the incomplete rest. A
 * function of its own so that the parsed events live in its frame only: the suspended
 * `for await` of streamWatch would otherwise keep the last raw object reachable until the
 * next chunk arrives.
 */
function deliverLines<Raw extends KubeObject, T>(
  options: ListWatchOptions<Raw, T>,
  text: string,
  onVersion: (rv: string) => void,
): string {
  let rest = text;
  let newline = rest.indexOf('\n');
  while (newline >= 0) {
    const line = rest.slice(0, newline).trim();
    rest = rest.slice(newline + 1);
    newline = rest.indexOf('\n');
    if (line === '') continue;
    const event = JSON.parse(line) as { type: string; object: Raw & { code?: number; message?: string } };
    if (event.type === 'ERROR') {
      if (event.object.code === 410) throw new WatchExpiredError(event.object.message ?? 'expired');
      throw new Error(`watch error: ${event.object.message ?? JSON.stringify(event.object)}`);
    }
    const rv = event.object.metadata?.resourceVersion;
    if (rv) onVersion(rv);
    if (event.type === 'BOOKMARK') continue;
    const object = options.transform ? options.transform(event.object) : (event.object as unknown as T);
    options.onEvent(event.type as WatchEventType, object);
  }
  return rest;
}

/**
 * Lists (all pages, each item through `transform`), delivers the set to `onList` and returns
 * the list's resourceVersion. Its own frame holds the transformed items, so once it returned
 * the watch that follows keeps nothing of the list alive.
 */
async function relist<Raw extends KubeObject, T>(options: ListWatchOptions<Raw, T>): Promise<string> {
  const { items, resourceVersion } = await listAll<Raw, T>(
    options.clients,
    options.path,
    options.query ?? {},
    options.signal,
    { transform: options.transform, pageSize: options.pageSize },
  );
  options.onList(items);
  return resourceVersion;
}

export function listWatch<T extends KubeObject>(options: ListWatchOptions<T, T>): ListWatch;
export function listWatch<Raw extends KubeObject, T>(
  options: ListWatchOptions<Raw, T> & { transform: (raw: Raw) => T },
): ListWatch;
export function listWatch<Raw extends KubeObject, T>(options: ListWatchOptions<Raw, T>): ListWatch {
  let resolveReady!: () => void;
  let rejectReady!: (err: unknown) => void;
  const ready = new Promise<void>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  // A caller that only awaits `stopped` must not see an unhandled rejection.
  ready.catch(() => undefined);
  const backoff = new Backoff({ baseMs: 200, maxMs: 5_000 });
  const refusedBackoff = new Backoff({ baseMs: 1_000, maxMs: 30_000 });
  const path = options.path;
  const signal = options.signal;

  const loop = async () => {
    let first = true;
    let version: string | undefined;
    // First-list failures so far, and the last one logged (a warning per new error, not per try).
    let failedStarts = 0;
    let loggedStartError: string | undefined;
    try {
      while (!signal.aborted) {
        try {
          if (version === undefined) {
            version = await relist(options);
            if (first) {
              first = false;
              if (failedStarts > 0) options.log?.info({ path, failedStarts }, 'listed after failed attempts');
              resolveReady();
            }
          }
          await streamWatch(options, version, (rv) => {
            version = rv;
          });
          backoff.reset();
        } catch (err) {
          if (signal.aborted) break;
          if (first) {
            if (!options.retryFirstList) {
              rejectReady(err);
              first = false;
              return;
            }
            failedStarts++;
            const retryable = isRetryableKubeError(err);
            const retryInMs = retryable ? backoff.next() : refusedBackoff.next();
            const message = apiErrorMessage(err);
            if (message !== loggedStartError) {
              if (retryable) options.log?.warn({ path, err: message }, 'list failed; retrying');
              else
                options.log?.error(
                  { path, err: message, retryInMs },
                  'list refused (RBAC? CRD not installed?); retrying until it is allowed',
                );
              loggedStartError = message;
            }
            await sleep(retryInMs, signal).catch(() => undefined);
            continue;
          }
          const expired = err instanceof WatchExpiredError;
          // Any failure other than a clean end: relist, since events may have been missed.
          version = undefined;
          if (!expired) {
            options.log?.debug({ path, err }, 'watch failed; relisting');
            await sleep(backoff.next(), signal).catch(() => undefined);
          }
        }
      }
    } finally {
      // Aborted before (or during) the first list: `ready` must not stay pending forever.
      if (first) rejectReady(signal.reason ?? new Error(`list of ${path} aborted`));
    }
  };
  const stopped = loop();
  return { ready, stopped };
}
