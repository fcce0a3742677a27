/**
 * List-watch into a cache: the controllers' view of one collection, a Map by object name kept
 * by listWatch (kube/watch.ts) for as long as the term runs. The hooks run after the map was
 * updated, with the object it replaced, so a controller only says what a change means to it.
 */
import type { KubeClients } from '../../kube/clients.ts';
import { type KubeObject, listWatch, type WatchEventType } from '../../kube/watch.ts';
import type { Logger } from '../../observability/logger.ts';

export interface ObjectCacheOptions<Raw extends KubeObject, T> {
  clients: KubeClients;
  /** Collection path, e.g. `/api/v1/namespaces`. */
  path: string;
  signal: AbortSignal;
  log?: Logger;
  /** What is kept of each object (default: the object itself). */
  keep?: (raw: Raw) => T;
  /** After the first list and every relist; `before` is the map's previous content. */
  onList?: (objects: ReadonlyMap<string, T>, before: ReadonlyMap<string, T>) => void;
  /** After each watch event; `old` is what the map held for the name. */
  onEvent?: (type: WatchEventType, name: string, object: T, old: T | undefined) => void;
}

export interface ObjectCache<T> {
  /**
   * By name. A controller may put the answer to its own write here, so that its next look
   * does not see the older copy before the watch brings the new one.
   */
  readonly objects: Map<string, T>;
  /**
   * Resolves once the first list is in, or when the signal aborts first (the first list is
   * retried until then: the API server may be starting, a CRD may not be installed yet).
   */
  readonly ready: Promise<void>;
  /** Resolves when the watch has stopped, after the signal aborted. */
  readonly stopped: Promise<void>;
}

export const nameOf = (item: KubeObject): string => item.metadata?.name ?? '';

export function watchIntoCache<Raw extends KubeObject, T = Raw>(
  options: ObjectCacheOptions<Raw, T>,
): ObjectCache<T> {
  const objects = new Map<string, T>();
  const keep = options.keep ?? ((raw: Raw) => raw as unknown as T);
  const lw = listWatch<Raw>({
    clients: options.clients,
    path: options.path,
    signal: options.signal,
    ...(options.log ? { log: options.log } : {}),
    retryFirstList: true,
    onList: (items) => {
      const before = new Map(objects);
      objects.clear();
      for (const item of items) objects.set(nameOf(item), keep(item));
      options.onList?.(objects, before);
    },
    onEvent: (type, item) => {
      const name = nameOf(item);
      const old = objects.get(name);
      const kept = keep(item);
      if (type === 'DELETED') objects.delete(name);
      else objects.set(name, kept);
      options.onEvent?.(type, name, kept, old);
    },
  });
  // With retryFirstList, `ready` rejects only when the signal aborted first.
  return { objects, ready: lw.ready.catch(() => undefined), stopped: lw.stopped };
}
