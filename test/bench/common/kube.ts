/**
 * Cluster helpers for the fault tests and benchmarks that must also run as plain `node`
 * scripts (test/support/kube.ts needs vitest's `inject`): a cluster (the given kubeconfig,
 * or a test cluster of their own), bulk kwok nodes, a node watch, waitFor.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { KubeClients } from '../../../src/kube/clients.ts';
import { listWatch, type WatchEventType } from '../../../src/kube/watch.ts';

export { waitFor } from '../../support/wait.ts';

export interface BenchCluster {
  kubeconfigPath: string;
  kc: KubeConfig;
  /** True when this process started the cluster (and stop() stops it). */
  owned: boolean;
  restartApiServer?: (downMs: number) => Promise<void>;
  stop(): Promise<void>;
}

/** The cluster at `kubeconfig`, or a fresh test cluster in a temp state dir. */
export async function useCluster(
  options: { kubeconfig?: string; verbose?: boolean } = {},
): Promise<BenchCluster> {
  if (options.kubeconfig) {
    const kc = new KubeConfig();
    kc.loadFromFile(options.kubeconfig);
    return { kubeconfigPath: options.kubeconfig, kc, owned: false, stop: async () => {} };
  }
  const { startTestCluster } = await import('../../cluster/launcher.ts');
  const stateDir = mkdtempSync(join(tmpdir(), 'clusteropt-bench-cluster-'));
  const cluster = await startTestCluster({ stateDir, verbose: options.verbose ?? false });
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfigPath);
  return {
    kubeconfigPath: cluster.kubeconfigPath,
    kc,
    owned: true,
    restartApiServer: (downMs) => cluster.restartApiServer(downMs),
    async stop() {
      await cluster.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

/** A kwok Node; `managed: false` leaves it to nobody (never Ready: cheapest for cordon tests). */
export function kwokNodeBody(
  name: string,
  options: { managed?: boolean; labels?: Record<string, string> } = {},
): V1Node {
  const managed = options.managed ?? true;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        type: 'kwok',
        ...options.labels,
      },
      annotations: {
        ...(managed ? { 'kwok.x-k8s.io/node': 'fake' } : {}),
        'node.alpha.kubernetes.io/ttl': '0',
      },
    },
    spec: {},
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
      capacity: { cpu: '32', memory: '256Gi', pods: '110' },
    },
  };
}

/** Runs `fn` over `items` with at most `concurrency` in flight. */
export async function forEachLimit<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

export async function createNodes(
  kc: KubeConfig,
  names: readonly string[],
  options: { managed?: boolean; labels?: Record<string, string>; concurrency?: number } = {},
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await forEachLimit(names, options.concurrency ?? 16, async (name) => {
    await core.createNode({ body: kwokNodeBody(name, options) });
  });
}

export async function deleteNodes(kc: KubeConfig, names: readonly string[], concurrency = 16): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  await forEachLimit(names, concurrency, async (name) => {
    await core.deleteNode({ name }).catch(() => undefined);
  });
}

export interface NodeWatch {
  /** Resolves after the initial list. */
  ready: Promise<void>;
  /** Called for each node event (raw JSON objects). */
  onEvent(listener: (type: WatchEventType, node: RawNode) => void): () => void;
  stop(): Promise<void>;
}

export interface RawNode {
  metadata?: { name?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string> };
  spec?: { unschedulable?: boolean };
}

/** Watches nodes selected by `labelSelector` with the agent's own list+watch helper. */
export function watchNodes(clients: KubeClients, labelSelector: string): NodeWatch {
  const controller = new AbortController();
  const listeners = new Set<(type: WatchEventType, node: RawNode) => void>();
  const lw = listWatch<RawNode>({
    clients,
    path: '/api/v1/nodes',
    query: { labelSelector },
    signal: controller.signal,
    onList: () => {},
    onEvent: (type, node) => {
      for (const l of listeners) l(type, node);
    },
  });
  return {
    ready: lw.ready,
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async stop() {
      controller.abort();
      await lw.stopped;
    },
  };
}
