/**
 * The hostile mode of the reference control plane (`control-plane serve --hostile`): what a
 * compromised or buggy control plane could send, for the tests that hold the agent to its
 * guardrails (test/k8s/hostile-control-plane.test.ts, docs/security.md). Off by default: the
 * admin routes that drive it answer 404 unless the server was started with it.
 *
 * - Raw poll answers: the next polls of a cluster get exactly the given bytes (a poison pill
 *   nested 100,000 levels deep, 2,000 nulls, envelopes of any shape), not leased actions.
 * - Reports about actions the store does not know (the ids of those raw envelopes) are
 *   accepted and kept, so a test can see that every refusal reached the control plane with
 *   its reason.
 * Disabling a cluster (403 on every agent route) and answers from "an ingress" (status codes
 * with non-contract bodies) are not hostile-only: see the cluster status and fault routes.
 */
import type { StatusReport } from '../contract/reports.ts';

export interface UnknownReport {
  actionId: string;
  state: StatusReport['state'];
  message: string;
  receivedAt: string;
}

export class HostileMode {
  readonly enabled: boolean;
  private readonly polls = new Map<string, { body: string; remaining: number }[]>();
  private readonly reports = new Map<string, UnknownReport[]>();

  constructor(enabled: boolean) {
    this.enabled = enabled;
  }

  /** Queues a raw answer for the next `count` polls of the cluster. */
  addPollAnswer(clusterId: string, body: string, count: number): void {
    const queue = this.polls.get(clusterId) ?? [];
    queue.push({ body, remaining: count });
    this.polls.set(clusterId, queue);
  }

  /** The raw answer for this poll, if one is queued (and uses it up). */
  takePollAnswer(clusterId: string): string | undefined {
    if (!this.enabled) return undefined;
    const queue = this.polls.get(clusterId);
    const head = queue?.[0];
    if (!queue || !head) return undefined;
    head.remaining -= 1;
    if (head.remaining <= 0) queue.shift();
    return head.body;
  }

  /** Whether a raw answer waits for this cluster (a long poll then returns at once). */
  hasPollAnswer(clusterId: string): boolean {
    return this.enabled && (this.polls.get(clusterId)?.length ?? 0) > 0;
  }

  /** Keeps a report about an action the store does not know; false when the mode is off. */
  recordUnknown(clusterId: string, actionId: string, report: StatusReport): boolean {
    if (!this.enabled) return false;
    const list = this.reports.get(clusterId) ?? [];
    // Same report twice is one (the per-action route is idempotent).
    if (!list.some((r) => r.actionId === actionId && r.state === report.state)) {
      list.push({
        actionId,
        state: report.state,
        message: report.message ?? '',
        receivedAt: new Date().toISOString(),
      });
    }
    this.reports.set(clusterId, list);
    return true;
  }

  unknownReports(clusterId: string): UnknownReport[] {
    return [...(this.reports.get(clusterId) ?? [])];
  }
}
