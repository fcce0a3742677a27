/**
 * "No PodDisruptionBudget violated", observed: watches the pods of a budget's selector and
 * records, at every pod event, how many are healthy as the disruption controller counts
 * them (Ready and not terminating). A sample below `minAvailable` is a violation.
 *
 * Shared by the drain tests (test/k8s/actions-drain.test.ts) and the fault suite
 * (test/k8s/faults-*.test.ts, agent-failover). No vitest imports.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { createKubeClients } from '../../src/kube/clients.ts';
import { podFacts } from '../../src/kube/pods.ts';
import { listWatch } from '../../src/kube/watch.ts';

export interface BudgetWatchOptions {
  namespace: string;
  /** The budget's selector (matchLabels). */
  matchLabels: Record<string, string>;
  /** Samples below this count as violations (once the count has reached it: see `armed`). */
  minAvailable?: number;
}

export interface BudgetFloor {
  /** Fewest healthy pods seen at any moment since the watch started. */
  floor: number;
  /** Pod events seen (each one a sample). */
  samples: number;
  /** The count had reached minAvailable at least once (only then do violations count). */
  armed: boolean;
  /** Samples below minAvailable after arming: when and how many were healthy. */
  violations: { at: string; healthy: number }[];
  /** Healthy pods at the moment of the last sample. */
  last: number;
}

export interface BudgetWatch {
  /** Resolves after the first list. */
  ready: Promise<void>;
  /** What has been seen so far (the watch keeps going). */
  current(): BudgetFloor;
  /** Stops watching; what was seen. */
  stop(): Promise<BudgetFloor>;
}

export function watchBudgetFloor(kc: KubeConfig, options: BudgetWatchOptions): BudgetWatch {
  const abort = new AbortController();
  const pods = new Map<string, boolean>();
  const minAvailable = options.minAvailable ?? 0;
  const seen: BudgetFloor = {
    floor: Number.POSITIVE_INFINITY,
    samples: 0,
    armed: false,
    violations: [],
    last: 0,
  };
  const sample = () => {
    let healthy = 0;
    for (const ok of pods.values()) if (ok) healthy++;
    seen.floor = Math.min(seen.floor, healthy);
    seen.samples++;
    seen.last = healthy;
    if (healthy >= minAvailable) seen.armed = true;
    else if (seen.armed) seen.violations.push({ at: new Date().toISOString(), healthy });
  };
  const healthy = (raw: Record<string, unknown>) => {
    const p = podFacts(raw);
    return p.ready && p.deletionTimestampMs === undefined;
  };
  const labelSelector = Object.entries(options.matchLabels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const watch = listWatch<Record<string, unknown>>({
    clients: createKubeClients(kc),
    path: `/api/v1/namespaces/${options.namespace}/pods`,
    query: { labelSelector },
    signal: abort.signal,
    onList: (items) => {
      pods.clear();
      for (const i of items) pods.set(podFacts(i).uid, healthy(i));
      sample();
    },
    onEvent: (type, obj) => {
      const uid = podFacts(obj).uid;
      if (type === 'DELETED') pods.delete(uid);
      else pods.set(uid, healthy(obj));
      sample();
    },
  });
  return {
    ready: watch.ready,
    current: () => ({ ...seen, violations: [...seen.violations] }),
    async stop() {
      abort.abort();
      await watch.stopped;
      return { ...seen, violations: [...seen.violations] };
    },
  };
}
