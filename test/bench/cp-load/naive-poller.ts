/**
 * The baseline of the cp-load benchmark: a naive agent that short-polls the control plane
 * every 5 s (the poller the latency benchmark models, made real here so its requests can be
 * counted). It does the same work the agent does for cordon/uncordon, with the simplest
 * client a contract-1.0 integration would write:
 *
 * - every 5 s (fixed schedule): GET /api/v1/agent/actions?wait=0 (answered at once);
 * - each action: merge-patch the node's spec.unschedulable, then one final status report on
 *   the per-action route (no `running` report: the baseline sends less than the agent; and,
 *   like the agent, no audit event: those are for actions that did not come from the control
 *   plane, which learns of its own actions from the status reports);
 * - the inventory: list the nodes each tick and POST one instances delta when a report
 *   changed (full snapshot first), mapped with the agent's own trimNode/toInstance;
 * - a heartbeat every 60 s.
 *
 * It runs in the benchmark's process; the control plane sees it over real HTTP through the
 * agent's own ControlPlaneClient.
 */
import { CoreV1Api, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { InstanceReport } from '../../../src/contract/reports.ts';
import { WireEnvelope } from '../../../src/contract/wire-envelope.ts';
import { toInstance } from '../../../src/controllers/inventory/to-instance.ts';
import type { ControlPlaneClient } from '../../../src/controlplane/client.ts';
import { type RawNode, trimNode } from '../../../src/kube/trim-node.ts';
import { sleep } from '../../../src/util/backoff.ts';

export interface NaivePollerOptions {
  client: ControlPlaneClient;
  kc: KubeConfig;
  intervalMs?: number;
  heartbeatIntervalMs?: number;
}

export interface NaivePollerCounters {
  ticks: number;
  actions: number;
  errors: number;
}

export class NaivePoller {
  readonly counters: NaivePollerCounters = { ticks: 0, actions: 0, errors: 0 };
  private readonly core: CoreV1Api;
  private sent = new Map<string, string>();
  private seq = 0;
  private lastHeartbeat = Number.NEGATIVE_INFINITY;

  private readonly options: NaivePollerOptions;

  constructor(options: NaivePollerOptions) {
    this.options = options;
    this.core = options.kc.makeApiClient(CoreV1Api);
  }

  /** Ticks every intervalMs (from the start, not from the end of the last tick) until aborted. */
  async run(signal: AbortSignal): Promise<void> {
    const interval = this.options.intervalMs ?? 5000;
    const start = performance.now();
    while (!signal.aborted) {
      try {
        await this.tick(signal);
      } catch (err) {
        if (signal.aborted) break;
        this.counters.errors += 1;
        console.error(`naive poller: ${(err as Error).message}`);
      }
      this.counters.ticks += 1;
      const next = start + this.counters.ticks * interval;
      await sleep(Math.max(0, next - performance.now()), signal).catch(() => undefined);
    }
  }

  private async tick(signal: AbortSignal): Promise<void> {
    const { client } = this.options;
    const now = performance.now();
    if (now - this.lastHeartbeat >= (this.options.heartbeatIntervalMs ?? 60_000)) {
      this.lastHeartbeat = now;
      await client.heartbeat(
        { agentVersion: 'naive-poller', outboxDepth: 0, nodeCount: this.sent.size },
        signal,
      );
    }
    for (const raw of (await client.pollActions(0, signal)).actions) {
      const action = WireEnvelope.parse(raw);
      const nodeName = (action.payload as { nodeName: string }).nodeName;
      const startedAt = new Date().toISOString();
      await this.core.patchNode(
        { name: nodeName, body: { spec: { unschedulable: action.type === 'cordon_node' } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      const message = `${action.type} ${nodeName} done`;
      await client.reportStatus(
        action.id,
        { state: 'succeeded', message, startedAt, finishedAt: new Date().toISOString() },
        signal,
      );
      this.counters.actions += 1;
    }
    await this.sendInventoryChanges(signal);
  }

  /** One delta of what changed since the last batch (the first is a full snapshot). */
  private async sendInventoryChanges(signal: AbortSignal): Promise<void> {
    const list = await this.core.listNode();
    const now = new Map<string, InstanceReport>();
    for (const node of list.items) {
      const report = toInstance(trimNode(node as RawNode));
      now.set(report.nodeName, report);
    }
    const full = this.seq === 0;
    const changed = [...now.values()].filter((r) => full || this.sent.get(r.nodeName) !== JSON.stringify(r));
    const removed = [...this.sent.keys()].filter((name) => !now.has(name));
    if (!full && changed.length === 0 && removed.length === 0) return;
    await this.options.client.sendInstances({ seq: this.seq, full, instances: changed, removed }, signal);
    this.seq += 1;
    this.sent = new Map([...now].map(([name, r]) => [name, JSON.stringify(r)]));
  }
}
