import { type FSWatcher, readFileSync, statSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '../observability/logger.ts';
import { ApiKeyUnavailableError } from './errors.ts';

/** What the client needs: the current key, and (optionally) a signal when it changes. */
export interface ApiKeyProvider {
  current(): string;
  onChange?(listener: () => void): () => void;
}

// Visible ASCII only: anything else would be an invalid header value (and undici's error
// for that could quote it).
const headerSafe = /^[\x21-\x7e]+$/;
const keyShape = /^(co_[A-Za-z0-9]{8})_/;

/**
 * The API key from a file (a mounted Secret). Kubernetes updates Secret volumes by writing a
 * new timestamped directory and renaming the `..data` symlink over the old one, so the file
 * path never changes but what it resolves to does. Two ways to notice:
 * - fs.watch on the directory (the rename is an event there) → re-read at once and tell
 *   listeners (the poll loop retries immediately after a 401);
 * - a stat of the path on every use (dev, inode, size, mtime of the resolved file) as the
 *   fallback when watch events are lost (some volume types, inotify limits).
 * The key never appears in logs, errors or metrics: only the path, and the key's visible
 * prefix (`co_xxxxxxxx`, the part the control plane shows) when it has that shape.
 */
export class ApiKeySource implements ApiKeyProvider {
  readonly path: string;
  private readonly logger: Logger | undefined;
  private key: string | undefined;
  private signature: string | undefined;
  private dirty = true;
  private watcher: FSWatcher | undefined;
  private readonly listeners = new Set<() => void>();
  private lastProblem: string | undefined;

  constructor(options: { path: string; logger?: Logger; watch?: boolean }) {
    this.path = options.path;
    this.logger = options.logger;
    if (options.watch !== false) this.startWatching();
  }

  /** The current key. Throws CP_API_KEY_UNAVAILABLE when no key could ever be read. */
  current(): string {
    let signature: string;
    try {
      const st = statSync(this.path);
      signature = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      return this.fallback(`cannot stat API key file ${this.path}: ${codeOf(err)}`);
    }
    if (!this.dirty && signature === this.signature && this.key !== undefined) return this.key;
    return this.reload(signature);
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The visible part of the key for logs, e.g. `co_ab12cd34_…`, or a placeholder. */
  describe(): string {
    const match = this.key === undefined ? null : keyShape.exec(this.key);
    return match ? `${match[1]}_…` : '(key without the co_<prefix>_ shape)';
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
  }

  private reload(signature: string): string {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      return this.fallback(`cannot read API key file ${this.path}: ${codeOf(err)}`);
    }
    const key = text.trim();
    if (key === '') return this.fallback(`API key file ${this.path} is empty`);
    if (!headerSafe.test(key)) {
      return this.fallback(`API key file ${this.path} holds characters not allowed in an HTTP header`);
    }
    const changed = this.key !== undefined && key !== this.key;
    this.key = key;
    this.signature = signature;
    this.dirty = false;
    if (this.lastProblem !== undefined) {
      this.logger?.info({ path: this.path }, 'API key file readable again');
      this.lastProblem = undefined;
    }
    if (changed) {
      this.logger?.info(
        { path: this.path, keyPrefix: this.describe() },
        'API key changed; using the new key',
      );
      for (const listener of this.listeners) {
        try {
          listener();
        } catch {
          // A listener's failure must not fail the request that noticed the change.
        }
      }
    }
    return key;
  }

  /**
   * A read failed. Keep using the last good key (a Secret being re-mounted should not stop
   * the agent; a revoked key shows up as 401s anyway); without one, throw.
   */
  private fallback(problem: string): string {
    if (problem !== this.lastProblem) {
      this.lastProblem = problem;
      this.logger?.warn(
        { path: this.path },
        this.key === undefined ? problem : `${problem}; keeping the last key read`,
      );
    }
    if (this.key === undefined) throw new ApiKeyUnavailableError(problem);
    return this.key;
  }

  private startWatching(): void {
    try {
      const dir = dirname(this.path);
      const name = basename(this.path);
      this.watcher = watch(dir, { persistent: false }, (_event, filename) => {
        // Secret volumes rename `..data`; plain files are rewritten in place. Anything
        // touching the key or the symlink farm counts.
        if (filename === null || filename === name || filename.startsWith('..')) this.onWatchEvent();
      });
      this.watcher.on('error', () => {
        // The directory went away or watching is unsupported: the stat check still works.
        this.close();
      });
    } catch {
      this.watcher = undefined;
    }
  }

  private onWatchEvent(): void {
    this.dirty = true;
    // Re-read now so listeners (who retry after a 401) hear about a new key promptly.
    setImmediate(() => {
      try {
        this.current();
      } catch {
        // Reported through the logger by fallback(); the next request will throw.
      }
    });
  }
}

function codeOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err
    ? String((err as { code: unknown }).code)
    : 'error';
}
