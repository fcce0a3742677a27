/**
 * A watch-fed copy of the Nodes, trimmed to what the node executors decide on (uid,
 * providerID, resourceVersion, unschedulable, taints, the agent's cordon mark), so a cordon
 * or an uncordon need not GET its node first: at 100 actions/s that GET is 100 API requests
 * a second.
 *
 * The copy is only ever a starting point for a write guarded by its resourceVersion (see
 * `patchCachedNode` in nodes.ts): a stale copy makes that write fail with 409 and the
 * executor falls back to a fresh read. Nothing is ever decided on the copy alone: a
 * "nothing to do", a missing node or an identity mismatch seen in the copy are all checked
 * against a fresh read first.
 */
import type { V1Node, V1Taint } from '@kubernetes/client-node';
import { cordonedByAnnotation } from '../actions/marks.ts';
import type { Logger } from '../observability/logger.ts';
import { Backoff, sleep } from '../util/backoff.ts';
import { errorMessage } from '../util/errors.ts';
import type { KubeClients } from './clients.ts';
import { listWatch } from './watch.ts';

/** What the node executors ask of a cache: the node as last seen, or undefined. */
export interface NodeLookup {
  get(name: string): V1Node | undefined;
}

interface RawNode {
  metadata?: {
    name?: string;
    uid?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
  spec?: { unschedulable?: boolean; providerID?: string; taints?: V1Taint[] };
}

/** The fields the cordon/uncordon plans read; everything else is dropped. */
export function trimNode(raw: RawNode): V1Node {
  const meta = raw.metadata ?? {};
  const mark = meta.annotations?.[cordonedByAnnotation];
  const spec = raw.spec ?? {};
  return {
    metadata: {
      ...(meta.name === undefined ? {} : { name: meta.name }),
      ...(meta.uid === undefined ? {} : { uid: meta.uid }),
      ...(meta.resourceVersion === undefined ? {} : { resourceVersion: meta.resourceVersion }),
      ...(mark === undefined ? {} : { annotations: { [cordonedByAnnotation]: mark } }),
    },
    spec: {
      ...(spec.unschedulable === undefined ? {} : { unschedulable: spec.unschedulable }),
      ...(spec.providerID === undefined ? {} : { providerID: spec.providerID }),
      ...(spec.taints === undefined ? {} : { taints: spec.taints }),
    },
  };
}

export class NodeCache implements NodeLookup {
  private readonly nodes = new Map<string, V1Node>();
  private synced = false;
  private readonly clients: KubeClients;
  private readonly log: Logger | undefined;

  constructor(clients: KubeClients, options: { log?: Logger } = {}) {
    this.clients = clients;
    this.log = options.log;
  }

  /** The node as last seen by the watch; undefined before the first list or when unknown. */
  get(name: string): V1Node | undefined {
    return this.synced ? this.nodes.get(name) : undefined;
  }

  get size(): number {
    return this.nodes.size;
  }

  /**
   * Lists and watches until `signal` aborts. A failed first list is retried with backoff;
   * until a list succeeded, `get` answers undefined (the executors then read the node).
   */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ baseMs: 1_000, maxMs: 30_000 });
    try {
      while (!signal.aborted) {
        const watch = listWatch<RawNode & { metadata?: { name?: string } }, V1Node>({
          clients: this.clients,
          path: '/api/v1/nodes',
          signal,
          ...(this.log ? { log: this.log } : {}),
          transform: trimNode,
          onList: (items) => {
            this.nodes.clear();
            for (const node of items) this.nodes.set(node.metadata?.name ?? '', node);
            this.synced = true;
          },
          onEvent: (type, node) => {
            const name = node.metadata?.name ?? '';
            if (type === 'DELETED') this.nodes.delete(name);
            else this.nodes.set(name, node);
          },
        });
        try {
          await watch.ready;
          await watch.stopped;
          return;
        } catch (err) {
          if (signal.aborted) return;
          this.log?.warn({ err: errorMessage(err) }, 'node cache: first list failed; retrying');
          await sleep(backoff.next(), signal).catch(() => undefined);
        }
      }
    } finally {
      this.synced = false;
      this.nodes.clear();
    }
  }
}
