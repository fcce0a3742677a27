/**
 * "No PodDisruptionBudget violated", observed: watches the pods of a budget's selector and
 * records, at every pod event, how many are available. A sample below `minAvailable` is a
 * violation.
 *
 * Available: the pod has been Ready (it counted for the budget) and is not terminating or
 * gone. A pod that turns NotReady without being deleted stays counted: that is an
 * involuntary disruption (kube's node lifecycle controller marks the pods of a node that
 * stopped heartbeating NotReady, e.g. after a long API server outage), which budgets do not
 * govern and the agent cannot cause; what the agent can do — evict or delete — is what the
 * count measures. The Ready-only count (the disruption controller's own view) is recorded
 * beside it as `readyFloor`.
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
  /** Fewest available pods seen at any moment since the watch started. */
  floor: number;
  /** Fewest Ready, not terminating pods seen (dips below `floor` are involuntary: NotReady, not deleted). */
  readyFloor: number;
  /** Pod events seen (each one a sample). */
  samples: number;
  /** The count had reached minAvailable at least once (only then do violations count). */
  armed: boolean;
  /** Samples below minAvailable after arming: when and how many were available. */
  violations: { at: string; healthy: number }[];
  /** Available pods at the moment of the last sample. */
  last: number;
  /** Lists after the first (a watch that broke): dips between the break and the list are not seen. */
  relists: number;
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
  /** Per pod uid: Ready now, and counted (has been Ready, not terminating). */
  const pods = new Map<string, { ready: boolean; counted: boolean }>();
  const minAvailable = options.minAvailable ?? 0;
  const seen: BudgetFloor = {
    floor: Number.POSITIVE_INFINITY,
    readyFloor: Number.POSITIVE_INFINITY,
    samples: 0,
    armed: false,
    violations: [],
    last: 0,
    relists: -1,
  };
  const sample = () => {
    let healthy = 0;
    let ready = 0;
    for (const p of pods.values()) {
      if (p.counted) healthy++;
      if (p.ready) ready++;
    }
    seen.floor = Math.min(seen.floor, healthy);
    seen.readyFloor = Math.min(seen.readyFloor, ready);
    seen.samples++;
    seen.last = healthy;
    if (healthy >= minAvailable) seen.armed = true;
    else if (seen.armed) seen.violations.push({ at: new Date().toISOString(), healthy });
  };
  const update = (raw: Record<string, unknown>, listed: boolean) => {
    const p = podFacts(raw);
    const terminating = p.deletionTimestampMs !== undefined;
    const before = listed ? undefined : pods.get(p.uid);
    const ready = p.ready && !terminating;
    pods.set(p.uid, { ready, counted: !terminating && (p.ready || (before?.counted ?? false)) });
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
      seen.relists++;
      // A relist (after a watch broke) keeps what was known to have counted.
      const known = new Map(pods);
      pods.clear();
      for (const i of items) {
        const uid = podFacts(i).uid;
        const before = known.get(uid);
        update(i, true);
        if (before?.counted && podFacts(i).deletionTimestampMs === undefined)
          pods.set(uid, { ...pods.get(uid)!, counted: true });
      }
      sample();
    },
    onEvent: (type, obj) => {
      const uid = podFacts(obj).uid;
      if (type === 'DELETED') pods.delete(uid);
      else update(obj, false);
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
