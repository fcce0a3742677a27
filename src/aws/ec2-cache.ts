/**
 * EC2 facts per instance id with a TTL. Expired entries keep being served until a refresh
 * replaces them: during an AWS outage the reports carry the last known facts rather than
 * flapping to none. Ids EC2 did not know are remembered for a shorter time (a new instance
 * can take a moment to become visible: EC2 is eventually consistent).
 */
import type { Ec2Facts } from './ec2-facts.ts';
import type { DescribeResult } from './ec2-instances.ts';

export interface Ec2CacheOptions {
  describe: (ids: readonly string[], signal?: AbortSignal) => Promise<DescribeResult>;
  /** Default 5 min. */
  ttlMs?: number;
  /** Default 60 s. */
  notFoundTtlMs?: number;
  now?: () => number;
}

interface Entry {
  /** null: EC2 did not return it. */
  facts: Ec2Facts | null;
  fetchedAt: number;
}

export function sameFacts(a: Ec2Facts | null | undefined, b: Ec2Facts | null | undefined): boolean {
  if (!a || !b) return !a === !b;
  return (
    a.state === b.state &&
    a.launchTime === b.launchTime &&
    a.lifecycle === b.lifecycle &&
    a.spotInstanceRequestId === b.spotInstanceRequestId &&
    a.instanceType === b.instanceType &&
    a.zone === b.zone
  );
}

export class Ec2InstanceCache {
  private readonly entries = new Map<string, Entry>();
  private readonly options: Ec2CacheOptions;
  private readonly ttlMs: number;
  private readonly notFoundTtlMs: number;
  private readonly now: () => number;

  constructor(options: Ec2CacheOptions) {
    this.options = options;
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.notFoundTtlMs = options.notFoundTtlMs ?? 60_000;
    // Intervals only: monotonic, so a wall-clock step (NTP) cannot stall or rush them.
    this.now = options.now ?? (() => performance.now());
  }

  get(instanceId: string): Ec2Facts | undefined {
    return this.entries.get(instanceId)?.facts ?? undefined;
  }

  /** Ids never fetched or past their TTL. */
  due(ids: Iterable<string>): string[] {
    const now = this.now();
    const due: string[] = [];
    for (const id of ids) {
      const e = this.entries.get(id);
      if (e === undefined || now - e.fetchedAt >= (e.facts ? this.ttlMs : this.notFoundTtlMs)) due.push(id);
    }
    return due;
  }

  /**
   * Describes the due ones among `ids`; returns the ids whose facts changed (new, changed,
   * or gone). On failure nothing is changed and the error is thrown.
   */
  async refresh(ids: Iterable<string>, signal?: AbortSignal): Promise<{ changed: string[]; calls: number }> {
    const due = this.due(ids);
    if (due.length === 0) return { changed: [], calls: 0 };
    const result = await this.options.describe(due, signal);
    const now = this.now();
    const changed: string[] = [];
    for (const id of due) {
      const facts = result.found.get(id) ?? null;
      const before = this.entries.get(id);
      if (!sameFacts(before?.facts, facts)) changed.push(id);
      this.entries.set(id, { facts, fetchedAt: now });
    }
    return { changed, calls: result.calls };
  }

  /** Forgets ids no node refers to any more. */
  retainOnly(ids: ReadonlySet<string>): void {
    for (const id of this.entries.keys()) if (!ids.has(id)) this.entries.delete(id);
  }

  get size(): number {
    return this.entries.size;
  }
}
