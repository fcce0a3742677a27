/**
 * The inventory reporter: follow the Nodes (the leader's one node watch, NodeCache), map each
 * to an InstanceReport, and queue batches into the outbox: a full snapshot first, then deltas of what changed,
 * coalesced over `coalesceMs`, with `seq` going up by one per batch. A full snapshot again
 * every `fullSnapshotIntervalMs`, when emitting is switched on (leadership), and when the
 * outbox says one is required (the control plane answered `resync`, or instance rows were
 * compacted away). Changes that do not alter a report (heartbeats, other labels) queue
 * nothing.
 */

import type { V1Node } from '@kubernetes/client-node';
import { regionFromZone } from '../../aws/clients.ts';
import type { Ec2Facts } from '../../aws/ec2-facts.ts';
import type { InstanceReport, InstancesBatch } from '../../contract/reports.ts';
import type { NodeCache, NodeListener } from '../../kube/node-cache.ts';
import { type RawNode, sameTrimmedNode, trimNode } from '../../kube/trim-node.ts';
import type { Logger } from '../../observability/logger.ts';
import type { AppendResult } from '../../store/index.ts';
import { sleep } from '../../util/backoff.ts';
import { errorMessage } from '../../util/errors.ts';
import { untilAborted } from '../runtime/run-until-abort.ts';
import { diffInstances, isEmptyDelta } from './instance-delta.ts';
import { parseAwsProviderId, toInstance, withEc2 } from './to-instance.ts';

/** The slice of the outbox the reporter uses (StateStore['outbox'] fits). */
export interface InstanceOutbox {
  appendInstances(batch: InstancesBatch): AppendResult;
  readonly fullSnapshotRequired: boolean;
}

/** The slice of AwsEnrichment the reporter uses. */
export interface Ec2Source {
  get(instanceId: string): Ec2Facts | undefined;
  want(instanceIds: ReadonlySet<string>, regionHint?: string): void;
  settled(timeoutMs: number): Promise<void>;
  onChanged(listener: (instanceIds: string[]) => void): () => void;
}

export interface InventoryHooks {
  /** A batch was queued. */
  batch?(info: { seq: number; full: boolean; instances: number; removed: number }): void;
}

export interface InventoryReporterOptions {
  /**
   * The nodes, shared with the action controller; whoever created it runs it (the reporter
   * only reads and listens). Its label selector, if any, is the inventory's.
   */
  nodes: NodeCache;
  outbox: InstanceOutbox;
  ec2?: Ec2Source;
  logger?: Logger;
  /** Changes within this window go into one delta. Default 1 s. */
  coalesceMs?: number;
  /** Interval between periodic full snapshots. Default 10 min. */
  fullSnapshotIntervalMs?: number;
  /** How long the first snapshot waits for EC2 facts (later ones come as deltas). Default 3 s. */
  initialEc2WaitMs?: number;
  /** false: watch, but queue nothing until setEmitting(true) (non-leader replicas). Default true. */
  emitting?: boolean;
  /** First seq. Default 0 (the first batch is always full, which restarts the sequence). */
  firstSeq?: number;
  hooks?: InventoryHooks;
  now?: () => number;
}

export interface InventoryStats {
  nodes: number;
  seq: number;
  fullSnapshots: number;
  deltas: number;
  /** Watch events that changed nothing the reports carry (dropped). */
  ignoredEvents: number;
  /** ms from run() to the end of the first node list. */
  firstListMs: number | undefined;
  /** ms from run() to the first queued full snapshot, once there was one. */
  firstSnapshotMs: number | undefined;
}

export class InventoryReporter {
  private readonly options: InventoryReporterOptions;
  private readonly now: () => number;
  /** The one stored copy of each node (the reporter keeps none of its own). */
  private readonly nodes: NodeCache;
  /** What the receiver holds, as far as the queued batches go. */
  private sent = new Map<string, InstanceReport>();
  private readonly dirty = new Set<string>();
  private instanceIdsChanged = true;
  private emitting: boolean;
  private fullNeeded = true;
  private lastFullAt = 0;
  private seq: number;
  private startedAt = 0;
  private readonly counters = { fullSnapshots: 0, deltas: 0, ignoredEvents: 0 };
  private firstSnapshotMs: number | undefined;
  private firstListMs: number | undefined;
  private appendFailing: string | undefined;

  constructor(options: InventoryReporterOptions) {
    this.options = options;
    this.nodes = options.nodes;
    // Intervals only: monotonic, so a wall-clock step (NTP) cannot stall or rush them.
    this.now = options.now ?? (() => performance.now());
    this.emitting = options.emitting ?? true;
    this.seq = options.firstSeq ?? 0;
  }

  get stats(): InventoryStats {
    return {
      nodes: this.nodes.size,
      seq: this.seq,
      ...this.counters,
      firstListMs: this.firstListMs,
      firstSnapshotMs: this.firstSnapshotMs,
    };
  }

  /** Node count for the heartbeat. */
  get nodeCount(): number {
    return this.nodes.size;
  }

  /** Leadership: while off, nodes are watched but nothing is queued; on again starts with a full snapshot. */
  setEmitting(on: boolean): void {
    if (on && !this.emitting) this.fullNeeded = true;
    this.emitting = on;
  }

  /** Makes the next batch a full snapshot (e.g. on the control plane's request). */
  requestFullSnapshot(): void {
    this.fullNeeded = true;
  }

  /** Runs until `signal` aborts (the node cache retries a failing first list itself). */
  async run(signal: AbortSignal): Promise<void> {
    this.startedAt = this.now();
    const offEc2 = this.options.ec2?.onChanged((ids) => this.markInstancesDirty(ids));
    const offNodes = this.nodes.subscribe(this.listener);
    try {
      await untilAborted(this.nodes.ready, signal);
      this.firstListMs = this.now() - this.startedAt;
      await this.waitForEc2(signal);
      const coalesceMs = this.options.coalesceMs ?? 1000;
      while (!signal.aborted) {
        this.tick();
        await sleep(coalesceMs, signal);
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      offEc2?.();
      offNodes();
    }
  }

  /**
   * Queues what is due now: a full snapshot, a delta, or nothing. Exposed for tests; the
   * run loop calls it every coalesceMs.
   */
  tick(): void {
    if (this.instanceIdsChanged) this.publishWantedIds();
    if (!this.emitting) return;
    try {
      const full =
        this.fullNeeded ||
        this.options.outbox.fullSnapshotRequired ||
        this.now() - this.lastFullAt >= (this.options.fullSnapshotIntervalMs ?? 600_000);
      if (full) this.queueFull();
      else if (this.dirty.size > 0) this.queueDelta();
      if (this.appendFailing !== undefined) {
        this.options.logger?.info({ previous: this.appendFailing }, 'queueing instance reports recovered');
        this.appendFailing = undefined;
      }
    } catch (err) {
      // Nothing was queued and nothing forgotten: the same batch is tried on the next tick.
      const message = errorMessage(err);
      if (message !== this.appendFailing) {
        this.options.logger?.error({ err: message }, 'could not queue instance report');
      }
      this.appendFailing = message;
    }
  }

  private async waitForEc2(signal: AbortSignal): Promise<void> {
    const ec2 = this.options.ec2;
    if (!ec2) return;
    this.publishWantedIds();
    await untilAborted(ec2.settled(this.options.initialEc2WaitMs ?? 3000), signal);
  }

  /**
   * The cache's changes (a relist's too, node by node): a change the report does not carry
   * (heartbeats, other labels) is counted and dropped, any other marks the node dirty.
   */
  private readonly listener: NodeListener = {
    changed: (node, previous) => {
      const after = trimNode(node as RawNode);
      const before = previous === undefined ? undefined : trimNode(previous as RawNode);
      if (before !== undefined && sameTrimmedNode(before, after)) {
        this.counters.ignoredEvents += 1;
        return;
      }
      this.dirty.add(after.name);
      if (before?.providerId !== after.providerId) this.instanceIdsChanged = true;
    },
    deleted: (node) => {
      this.dirty.add(node.metadata?.name ?? '');
      this.instanceIdsChanged = true;
    },
  };

  /** The report of a cached node (trimmed to the inventory's view on the way). */
  private report(node: V1Node): InstanceReport {
    const base = toInstance(trimNode(node as RawNode));
    const ec2 = this.options.ec2;
    return ec2 && base.instanceId ? withEc2(base, ec2.get(base.instanceId)) : base;
  }

  private queueFull(): void {
    const current = new Map<string, InstanceReport>();
    for (const node of this.nodes.values()) current.set(node.metadata?.name ?? '', this.report(node));
    const batch: InstancesBatch = {
      seq: this.seq,
      full: true,
      instances: [...current.values()],
      removed: [],
    };
    this.options.outbox.appendInstances(batch);
    this.afterQueued(batch);
    this.sent = current;
    this.dirty.clear();
    this.fullNeeded = false;
    this.lastFullAt = this.now();
    this.counters.fullSnapshots += 1;
    if (this.firstSnapshotMs === undefined) {
      this.firstSnapshotMs = this.now() - this.startedAt;
      // One line per process: how long the start took (the benchmark reads it too).
      this.options.logger?.info(
        {
          seq: batch.seq,
          instances: batch.instances.length,
          listMs: this.firstListMs,
          snapshotMs: this.firstSnapshotMs,
        },
        'first full instance snapshot queued',
      );
    }
  }

  private queueDelta(): void {
    const current = new Map<string, InstanceReport>();
    for (const name of this.dirty) {
      const node = this.nodes.get(name);
      if (node) current.set(name, this.report(node));
    }
    const delta = diffInstances(this.sent, current, this.dirty);
    if (!isEmptyDelta(delta)) {
      const batch: InstancesBatch = {
        seq: this.seq,
        full: false,
        instances: delta.upserts,
        removed: delta.removed,
      };
      this.options.outbox.appendInstances(batch);
      this.afterQueued(batch);
      for (const name of delta.removed) this.sent.delete(name);
      for (const r of delta.upserts) this.sent.set(r.nodeName, r);
      this.counters.deltas += 1;
    }
    this.dirty.clear();
  }

  private afterQueued(batch: InstancesBatch): void {
    this.seq += 1;
    this.options.hooks?.batch?.({
      seq: batch.seq,
      full: batch.full,
      instances: batch.instances.length,
      removed: batch.removed.length,
    });
    this.options.logger?.debug(
      { seq: batch.seq, full: batch.full, instances: batch.instances.length, removed: batch.removed.length },
      'instance report queued',
    );
  }

  /** Tells the EC2 source which instance ids the nodes name now. */
  private publishWantedIds(): void {
    this.instanceIdsChanged = false;
    const ec2 = this.options.ec2;
    if (!ec2) return;
    const ids = new Set<string>();
    let zone: string | undefined;
    for (const node of this.nodes.values()) {
      const aws = parseAwsProviderId(node.spec?.providerID);
      if (aws?.instanceId) ids.add(aws.instanceId);
      zone ??= aws?.zone;
    }
    ec2.want(ids, regionFromZone(zone));
  }

  private markInstancesDirty(instanceIds: string[]): void {
    const changed = new Set(instanceIds);
    for (const node of this.nodes.values()) {
      const id = parseAwsProviderId(node.spec?.providerID)?.instanceId;
      if (id !== undefined && changed.has(id)) this.dirty.add(node.metadata?.name ?? '');
    }
  }
}
