/**
 * DescribeInstances for a set of instance ids, in batches, rate-limited, paginated.
 *
 * By ids first (cheapest: one call per batch). EC2 fails the WHOLE call with
 * InvalidInstanceID.NotFound when any id in it is unknown (terminated long ago, another
 * account, not yet visible), so one bad id would lose the others: the ids the error names
 * are set aside and the rest asked again; when that fails too, or the message names none,
 * the batch is asked through the `instance-id` filter, which simply leaves unknown ids out.
 */
import type { DescribeInstancesCommandInput, Instance } from '@aws-sdk/client-ec2';
import type { Ec2Api } from './clients.ts';
import type { Ec2Facts } from './ec2-facts.ts';
import { sdkErrorName, toAwsError } from './errors.ts';
import type { TokenBucket } from './token-bucket.ts';

export interface DescribeResult {
  found: Map<string, Ec2Facts>;
  /** Asked for, not returned: unknown to EC2 (or not visible to this identity). */
  missing: string[];
  /** DescribeInstances calls made (pages and retries of the SDK not counted). */
  calls: number;
}

export interface Ec2DescriberOptions {
  api: Ec2Api;
  limiter: TokenBucket;
  /**
   * Instance ids per by-id call. Default 100, at most 1000. The SDK parses each answer whole
   * (XML text, then a tree, then its output shapes); the transient objects of 100
   * instances stay in V8's young generation and die there, 500 do not, and at 5,000 nodes
   * the agent's peak RSS was ~55 MiB lower with 100 (docs/benchmarks-scale.md, "Memory").
   */
  batchSize?: number;
  /** Values per `instance-id` filter call (EC2 caps values per filter at 200). Default 200. */
  filterChunk?: number;
}

const notFoundCodes = new Set(['InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed']);

/** The instance ids an InvalidInstanceID.* message names ("The instance IDs 'i-1, i-2' do not exist"). */
export function idsInMessage(message: string): string[] {
  return [...new Set(message.match(/\bi-[0-9a-f]{8,17}\b/g) ?? [])];
}

export function factsOf(instance: Instance): Ec2Facts {
  const facts: Ec2Facts = {
    // EC2 sends instanceLifecycle only for spot (and scheduled / capacity-block) instances.
    lifecycle: instance.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand',
  };
  if (instance.State?.Name) facts.state = instance.State.Name;
  if (instance.LaunchTime) facts.launchTime = new Date(instance.LaunchTime).toISOString();
  if (instance.SpotInstanceRequestId) facts.spotInstanceRequestId = instance.SpotInstanceRequestId;
  if (instance.InstanceType) facts.instanceType = instance.InstanceType;
  if (instance.Placement?.AvailabilityZone) facts.zone = instance.Placement.AvailabilityZone;
  return facts;
}

export class Ec2Describer {
  private readonly api: Ec2Api;
  private readonly limiter: TokenBucket;
  private readonly batchSize: number;
  private readonly filterChunk: number;

  constructor(options: Ec2DescriberOptions) {
    this.api = options.api;
    this.limiter = options.limiter;
    this.batchSize = Math.min(1000, Math.max(1, options.batchSize ?? 100));
    this.filterChunk = Math.min(200, Math.max(1, options.filterChunk ?? 200));
  }

  async describe(ids: readonly string[], signal?: AbortSignal): Promise<DescribeResult> {
    const unique = [...new Set(ids)];
    const result: DescribeResult = { found: new Map(), missing: [], calls: 0 };
    for (let i = 0; i < unique.length; i += this.batchSize) {
      await this.describeBatch(unique.slice(i, i + this.batchSize), result, signal);
    }
    result.missing = unique.filter((id) => !result.found.has(id));
    return result;
  }

  private async describeBatch(ids: string[], into: DescribeResult, signal?: AbortSignal): Promise<void> {
    try {
      await this.call({ InstanceIds: ids }, into, signal);
      return;
    } catch (err) {
      if (!notFoundCodes.has(sdkErrorName(err))) throw toAwsError(err, 'EC2 DescribeInstances');
      const named = new Set(idsInMessage((err as Error).message ?? ''));
      const rest = ids.filter((id) => !named.has(id));
      if (named.size > 0 && rest.length < ids.length && rest.length > 0) {
        try {
          await this.call({ InstanceIds: rest }, into, signal);
          return;
        } catch (again) {
          if (!notFoundCodes.has(sdkErrorName(again))) throw toAwsError(again, 'EC2 DescribeInstances');
        }
      } else if (rest.length === 0) {
        return; // every id of the batch is unknown
      }
    }
    for (let i = 0; i < ids.length; i += this.filterChunk) {
      const chunk = ids.slice(i, i + this.filterChunk);
      try {
        await this.call(
          { Filters: [{ Name: 'instance-id', Values: chunk }], MaxResults: 1000 },
          into,
          signal,
        );
      } catch (err) {
        throw toAwsError(err, 'EC2 DescribeInstances (instance-id filter)');
      }
    }
  }

  /** One query, all its pages. */
  private async call(
    input: DescribeInstancesCommandInput,
    into: DescribeResult,
    signal?: AbortSignal,
  ): Promise<void> {
    let nextToken: string | undefined;
    do {
      await this.limiter.take(signal);
      into.calls += 1;
      const page = await this.api.describeInstances(
        nextToken ? { ...input, NextToken: nextToken } : input,
        signal,
      );
      for (const reservation of page.Reservations ?? []) {
        for (const instance of reservation.Instances ?? []) {
          if (instance.InstanceId) into.found.set(instance.InstanceId, factsOf(instance));
        }
      }
      nextToken = page.NextToken || undefined;
    } while (nextToken);
  }
}
