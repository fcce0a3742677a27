/**
 * The busy load of the cp-load benchmark, the same for the agent and the naive poller: a
 * steady open-loop stream of cordon/uncordon actions enqueued on the control plane (each
 * node alternates; the next enqueue is scheduled from the start, so a slow enqueue does not
 * lower the rate), and node churn for the inventory (a kwok node created, and the oldest
 * churn node deleted, every `churnSeconds`).
 */
import { performance } from 'node:perf_hooks';
import type { KubeConfig } from '@kubernetes/client-node';
import type { ReferenceControlPlaneAdmin } from '../../../src/reference-control-plane/admin-client.ts';
import { sleep } from '../../../src/util/backoff.ts';
import { createNodes, deleteNodes } from '../common/kube.ts';

export interface LoadOptions {
  admin: ReferenceControlPlaneAdmin;
  clusterId: string;
  kc: KubeConfig;
  /** Nodes the actions go to, round robin. */
  nodes: readonly string[];
  /** Which of them are cordoned now (kept across phases so each action changes its node). */
  cordoned: Set<string>;
  actionsPerSecond: number;
  churnSeconds: number;
  /** Prefix of churn node names (unique per run). */
  churnPrefix: string;
}

export interface RunningLoad {
  /** Date.now() of every enqueue, to count actions per window (the windows are wall clock). */
  enqueuedAt: number[];
  churn: { created: number; deleted: number };
  /** Stops the stream and the churn; resolves once the last enqueue and node call returned. */
  stop(): Promise<void>;
}

export function startLoad(options: LoadOptions): RunningLoad {
  const controller = new AbortController();
  const { signal } = controller;
  const enqueuedAt: number[] = [];
  const churn = { created: 0, deleted: 0 };
  let next = 0;

  const stream = (async () => {
    const start = performance.now();
    while (!signal.aborted) {
      const node = options.nodes[next % options.nodes.length]!;
      const cordon = !options.cordoned.has(node);
      await options.admin.enqueue(options.clusterId, {
        type: cordon ? 'cordon_node' : 'uncordon_node',
        payload: { nodeName: node },
      });
      if (cordon) options.cordoned.add(node);
      else options.cordoned.delete(node);
      enqueuedAt.push(Date.now());
      next += 1;
      const due = start + (next * 1000) / options.actionsPerSecond;
      await sleep(Math.max(0, due - performance.now()), signal).catch(() => undefined);
    }
  })();

  const alive: string[] = [];
  const churning = (async () => {
    let serial = 0;
    while (!signal.aborted) {
      await sleep(options.churnSeconds * 1000, signal).catch(() => undefined);
      if (signal.aborted) break;
      const name = `${options.churnPrefix}-${serial++}`;
      await createNodes(options.kc, [name]);
      alive.push(name);
      churn.created += 1;
      // Keep a handful alive, so each churn step is one create and one delete.
      if (alive.length > 3) {
        await deleteNodes(options.kc, [alive.shift()!]);
        churn.deleted += 1;
      }
    }
  })();

  return {
    enqueuedAt,
    churn,
    async stop() {
      controller.abort();
      await Promise.all([stream, churning]);
      await deleteNodes(options.kc, alive.splice(0));
    },
  };
}
