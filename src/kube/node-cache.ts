/**
 * The leader's one list+watch of the Nodes: one trimmed copy per node, read by the node
 * executors (cordon/uncordon, through `get`) and by the inventory reporter (through
 * `subscribe` and `values`). At 5,000 nodes a second watch would double the list traffic,
 * the transient memory of the first list and the copies kept; so nothing else in the leader
 * watches all Nodes (test/k8s/agent-node-watch.test.ts counts them).
 *
 * The copy keeps the union of what both read, in the Node's own shape (so it is a RawNode for
 * the inventory's trimNode and a V1Node for the executors): uid, resourceVersion, providerID,
 * unschedulable, taints, the agent's cordon mark, the labels the inventory reports, the
 * control-plane role labels (the policy check's protectControlPlaneNodes) and whether the
 * node is Ready.
 *
 * For the executors a copy is only ever a starting point for a write guarded by its
 * resourceVersion (see `patchCachedNode` in nodes.ts): a stale copy makes that write fail
 * with 409 and the executor falls back to a fresh read. Nothing is ever decided on the copy
 * alone: a "nothing to do", a missing node or an identity mismatch seen in the copy are all
 * checked against a fresh read first.
 */
import type { V1Node, V1NodeStatus, V1Taint } from '@kubernetes/client-node';
import { cordonedByAnnotation } from '../contract/marks.ts';
import type { Logger } from '../observability/logger.ts';
import type { KubeClients } from './clients.ts';
import { controlPlaneNodeLabels } from './nodes.ts';
import { keptLabelKeys } from './trim-node.ts';
import { listWatch } from './watch.ts';

/** What the node executors ask of a cache: the node as last seen, or undefined. */
export interface NodeLookup {
  get(name: string): V1Node | undefined;
}

/** Told of every change to the copies, a relist's included (as per-node changes). */
export interface NodeListener {
  /** A node was added (`previous` undefined) or its copy replaced. */
  changed(node: V1Node, previous: V1Node | undefined): void;
  /** A node was deleted, or is no longer in a relist. */
  deleted(node: V1Node): void;
}

interface RawNode {
  metadata?: {
    name?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: { unschedulable?: boolean; providerID?: string; taints?: V1Taint[] };
  status?: { conditions?: Array<{ type?: string; status?: string }> };
}

/** Every Ready node's copy shares this status: the inventory reads only "Ready is True". */
const readyStatus: V1NodeStatus = Object.freeze({
  conditions: Object.freeze([Object.freeze({ type: 'Ready', status: 'True' })]) as V1NodeStatus['conditions'],
});

/** The fields the executors and the inventory read; everything else is dropped. */
export function trimNode(raw: RawNode): V1Node {
  const meta = raw.metadata ?? {};
  const mark = meta.annotations?.[cordonedByAnnotation];
  const spec = raw.spec ?? {};
  let labels: Record<string, string> | undefined;
  for (const key of [...keptLabelKeys, ...controlPlaneNodeLabels]) {
    const value = meta.labels?.[key];
    if (value === undefined) continue;
    labels ??= {};
    labels[key] = value;
  }
  const ready = raw.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  return {
    metadata: {
      ...(meta.name === undefined ? {} : { name: meta.name }),
      ...(meta.uid === undefined ? {} : { uid: meta.uid }),
      ...(meta.resourceVersion === undefined ? {} : { resourceVersion: meta.resourceVersion }),
      ...(labels === undefined ? {} : { labels }),
      ...(mark === undefined ? {} : { annotations: { [cordonedByAnnotation]: mark } }),
    },
    spec: {
      ...(spec.unschedulable === undefined ? {} : { unschedulable: spec.unschedulable }),
      ...(spec.providerID === undefined ? {} : { providerID: spec.providerID }),
      ...(spec.taints === undefined ? {} : { taints: spec.taints }),
    },
    ...(ready ? { status: readyStatus } : {}),
  };
}

export interface NodeCacheOptions {
  log?: Logger;
  /** Only nodes matching this label selector (tests, or a sharded inventory). */
  labelSelector?: string;
  /** Passed to the list+watch helper. */
  pageSize?: number;
  inactivityMs?: number;
}

export class NodeCache implements NodeLookup {
  private nodes = new Map<string, V1Node>();
  private synced = false;
  private readonly listeners = new Set<NodeListener>();
  private readonly clients: KubeClients;
  private readonly options: NodeCacheOptions;
  private resolveReady!: () => void;
  private rejectReady!: (err: unknown) => void;
  /**
   * Resolves after the first list; rejects only when `run`'s signal aborted first (listWatch
   * keeps trying a failing first list, refusals included, and logs it).
   */
  readonly ready: Promise<void>;

  constructor(clients: KubeClients, options: NodeCacheOptions = {}) {
    this.clients = clients;
    this.options = options;
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Someone who never awaits `ready` must not see an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  /** The node as last seen by the watch; undefined before the first list or when unknown. */
  get(name: string): V1Node | undefined {
    return this.synced ? this.nodes.get(name) : undefined;
  }

  /** Every copy (none before the first list). */
  values(): IterableIterator<V1Node> {
    return this.nodes.values();
  }

  get size(): number {
    return this.nodes.size;
  }

  /** Listens to changes until the returned function is called. */
  subscribe(listener: NodeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Lists and watches until `signal` aborts; once per instance (one per leadership term).
   * A failing first list is retried inside listWatch (a refusal such as a 403 with a backoff up
   * to 30 s, logged as an error); until a list succeeded, `get` answers undefined (the executors then
   * read the node).
   */
  async run(signal: AbortSignal): Promise<void> {
    const { log, labelSelector, pageSize, inactivityMs } = this.options;
    const watch = listWatch<RawNode, V1Node>({
      clients: this.clients,
      path: '/api/v1/nodes',
      ...(labelSelector ? { query: { labelSelector } } : {}),
      signal,
      retryFirstList: true,
      ...(log ? { log } : {}),
      ...(pageSize ? { pageSize } : {}),
      ...(inactivityMs ? { inactivityMs } : {}),
      transform: trimNode,
      onList: (items) => this.replaceAll(items),
      onEvent: (type, node) => {
        const name = node.metadata?.name ?? '';
        const previous = this.nodes.get(name);
        if (type === 'DELETED') {
          if (!previous) return;
          this.nodes.delete(name);
          for (const l of this.listeners) l.deleted(previous);
        } else {
          this.nodes.set(name, node);
          for (const l of this.listeners) l.changed(node, previous);
        }
      },
    });
    try {
      await watch.ready;
      this.resolveReady();
    } catch (err) {
      this.rejectReady(err); // aborted before the first list
    }
    try {
      await watch.stopped;
    } finally {
      this.synced = false;
      this.nodes.clear();
    }
  }

  /** A (re)list: the new set replaces the old, and listeners hear of each difference. */
  private replaceAll(items: V1Node[]): void {
    const before = this.nodes;
    this.nodes = new Map();
    for (const node of items) this.nodes.set(node.metadata?.name ?? '', node);
    this.synced = true;
    for (const [name, node] of this.nodes) {
      for (const l of this.listeners) l.changed(node, before.get(name));
    }
    for (const [name, node] of before) {
      if (!this.nodes.has(name)) for (const l of this.listeners) l.deleted(node);
    }
  }
}
