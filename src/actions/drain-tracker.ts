/**
 * Pure bookkeeping of the pods a drain waits for, fed by the node's pod watch (no I/O, no
 * timers: the caller passes the time and asks when to look again).
 *
 * A waited-for pod is done when:
 * - it is gone (DELETED event, or absent from a relist), or another pod has its name (a new
 *   UID: the old one is gone, its replacement is not ours to wait for);
 * - the node is NotReady and the pod's deletion is older than its grace period plus a margin:
 *   no kubelet is going to finish it ('stuck-on-not-ready-node');
 * - kubectl's skip-wait-for-delete-timeout applies: its deletion is older than that timeout
 *   ('deleted-long-ago').
 */
import { type PodFacts, podKey } from '../kube/pods.ts';

export type DoneReason = 'gone' | 'replaced' | 'stuck-on-not-ready-node' | 'deleted-long-ago';

export interface DonePod {
  pod: PodFacts;
  reason: DoneReason;
  atMs: number;
}

export interface TrackerOptions {
  /** Extra wait after a pod's deletion deadline on a NotReady node. */
  notReadyMarginMs: number;
  /** 0/undefined: disabled. */
  skipWaitForDeleteTimeoutMs?: number | undefined;
}

interface Waiting {
  pod: PodFacts;
  sinceMs: number;
}

export class DrainTracker {
  private readonly options: TrackerOptions;
  private readonly waiting = new Map<string, Waiting>(); // by uid
  /** UIDs seen deleted (or absent) while we were not (yet) waiting for them. */
  private readonly goneUids = new Set<string>();
  /** Current uid per namespace/name on the node, as far as the watch told us. */
  private readonly uidByKey = new Map<string, string>();
  /** The newest facts the watch gave for each pod still on the node (by uid). */
  private readonly latest = new Map<string, PodFacts>();
  private nodeReady = true;
  private readonly doneQueue: DonePod[] = [];

  constructor(options: TrackerOptions) {
    this.options = options;
  }

  /** Start waiting for a pod (after its eviction or deletion was accepted). */
  wait(pod: PodFacts, nowMs: number): void {
    if (this.goneUids.has(pod.uid)) {
      this.doneQueue.push({ pod, reason: 'gone', atMs: nowMs });
      return;
    }
    const current = this.uidByKey.get(podKey(pod));
    if (current !== undefined && current !== pod.uid) {
      this.doneQueue.push({ pod, reason: 'replaced', atMs: nowMs });
      return;
    }
    if (current === undefined) this.uidByKey.set(podKey(pod), pod.uid);
    // The watch may already have shown the deletion (the event can beat the API response).
    const newest = this.latest.get(pod.uid) ?? pod;
    if (!this.waiting.has(pod.uid)) this.waiting.set(pod.uid, { pod: newest, sinceMs: nowMs });
  }

  /** The newest facts the watch gave for a pod still on the node. */
  latestFacts(uid: string): PodFacts | undefined {
    return this.latest.get(uid);
  }

  /** True when the watch already saw this pod go. */
  isGone(uid: string): boolean {
    return this.goneUids.has(uid);
  }

  /** ADDED/MODIFIED: refresh what we know (deletion timestamp, grace). */
  upsert(pod: PodFacts, nowMs: number): void {
    const key = podKey(pod);
    const previous = this.uidByKey.get(key);
    this.uidByKey.set(key, pod.uid);
    this.latest.set(pod.uid, pod);
    if (previous !== undefined && previous !== pod.uid) {
      this.latest.delete(previous);
      this.finish(previous, 'replaced', nowMs);
    }
    const w = this.waiting.get(pod.uid);
    if (w) w.pod = pod;
  }

  deleted(pod: Pick<PodFacts, 'uid' | 'namespace' | 'name'>, nowMs: number): void {
    this.goneUids.add(pod.uid);
    this.latest.delete(pod.uid);
    if (this.uidByKey.get(podKey(pod)) === pod.uid) this.uidByKey.delete(podKey(pod));
    this.finish(pod.uid, 'gone', nowMs);
  }

  /** A fresh list of the node's pods: whatever is missing from it is gone. */
  relisted(pods: readonly PodFacts[], nowMs: number): void {
    const present = new Set(pods.map((p) => p.uid));
    for (const uid of [...this.waiting.keys()]) {
      if (!present.has(uid)) {
        this.goneUids.add(uid);
        this.finish(uid, 'gone', nowMs);
      }
    }
    this.uidByKey.clear();
    this.latest.clear();
    for (const pod of pods) this.upsert(pod, nowMs);
  }

  setNodeReady(ready: boolean): void {
    this.nodeReady = ready;
  }

  /** Applies the time-based rules; returns (and forgets) every pod finished since the last call. */
  takeDone(nowMs: number): DonePod[] {
    for (const [uid, w] of this.waiting) {
      const reason = this.timedOutReason(w.pod, nowMs);
      if (reason) this.finish(uid, reason, nowMs);
    }
    return this.doneQueue.splice(0);
  }

  /** When a time-based rule can next finish a pod (ms since epoch), if any. */
  nextTimedCheck(): number | undefined {
    let next: number | undefined;
    for (const w of this.waiting.values()) {
      for (const at of this.timedCandidates(w.pod)) next = next === undefined ? at : Math.min(next, at);
    }
    return next;
  }

  get pendingCount(): number {
    return this.waiting.size;
  }

  pending(): PodFacts[] {
    return [...this.waiting.values()].map((w) => w.pod);
  }

  private finish(uid: string, reason: DoneReason, nowMs: number): void {
    const w = this.waiting.get(uid);
    if (!w) return;
    this.waiting.delete(uid);
    this.doneQueue.push({ pod: w.pod, reason, atMs: nowMs });
  }

  private timedCandidates(pod: PodFacts): number[] {
    if (pod.deletionTimestampMs === undefined) return [];
    const out: number[] = [];
    // deletionTimestamp is when the grace period ends (request time + grace).
    if (!this.nodeReady) out.push(pod.deletionTimestampMs + this.options.notReadyMarginMs);
    const skip = this.options.skipWaitForDeleteTimeoutMs ?? 0;
    // kubectl compares whole seconds with ">", hence the extra second.
    if (skip > 0) out.push(pod.deletionTimestampMs + skip + 1000);
    return out;
  }

  private timedOutReason(pod: PodFacts, nowMs: number): DoneReason | undefined {
    if (pod.deletionTimestampMs === undefined) return undefined;
    if (!this.nodeReady && nowMs >= pod.deletionTimestampMs + this.options.notReadyMarginMs) {
      return 'stuck-on-not-ready-node';
    }
    const skip = this.options.skipWaitForDeleteTimeoutMs ?? 0;
    if (skip > 0 && nowMs >= pod.deletionTimestampMs + skip + 1000) return 'deleted-long-ago';
    return undefined;
  }
}
