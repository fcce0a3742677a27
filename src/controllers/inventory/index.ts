/**
 * The inventory: nodes → instance reports (deltas and full snapshots) in the outbox, with
 * EC2 facts when the nodes run on AWS. See docs/inventory.md.
 */
import { randomUUID } from 'node:crypto';
import type { AwsClientOptions } from '../../aws/clients.ts';
import { AwsEnrichment, type AwsEnrichmentOptions } from '../../aws/enrichment.ts';
import { type AwsAuditNotice, AwsFailureReport } from '../../aws/failure-report.ts';
import type { AuditEvent } from '../../contract/reports.ts';
import type { Logger } from '../../observability/logger.ts';
import type { AppendResult } from '../../store/index.ts';
import { type InstanceOutbox, InventoryReporter, type InventoryReporterOptions } from './reporter.ts';

export { keptLabelKeys, type RawNode, type TrimmedNode, trimNode } from '../../kube/trim-node.ts';
export { applyInstanceDelta, diffInstances, type InstanceDelta, sameInstance } from './instance-delta.ts';
export {
  type Ec2Source,
  type InstanceOutbox,
  type InventoryHooks,
  InventoryReporter,
  type InventoryReporterOptions,
  type InventoryStats,
} from './reporter.ts';
export { lifecycleFromLabels, parseAwsProviderId, toInstance, withEc2 } from './to-instance.ts';

export interface InventoryOutbox extends InstanceOutbox {
  appendAudit(event: AuditEvent): AppendResult;
}

/** `nodes` is the leader's NodeCache, run by the caller (see InventoryReporterOptions). */
export interface InventoryOptions extends Omit<InventoryReporterOptions, 'outbox' | 'ec2' | 'logger'> {
  /** StateStore['outbox']. */
  outbox: InventoryOutbox;
  logger?: Logger;
  /**
   * EC2 enrichment settings; `false` turns it off. Either way AWS is only called when some
   * node has an `aws://` providerID.
   */
  aws?: false | (AwsClientOptions & Omit<AwsEnrichmentOptions, 'aws' | 'failures' | 'logger'>);
}

export interface Inventory {
  reporter: InventoryReporter;
  enrichment: AwsEnrichment | undefined;
  /** The AWS account (STS GetCallerIdentity) for the heartbeat, once known. */
  readonly awsAccountId: string | undefined;
  /** Runs the reporter and the enrichment until `signal` aborts (not the node cache: its owner does). */
  run(signal: AbortSignal): Promise<void>;
}

/** AWS failures as audit events (one per change, see AwsFailureReport). */
export function auditEventOf(notice: AwsAuditNotice, now = new Date()): AuditEvent {
  return {
    id: randomUUID(),
    timestamp: now.toISOString(),
    event: notice.event,
    resource: notice.resource,
    message: notice.message.slice(0, 4096),
    details: notice.details,
  };
}

export function createInventory(options: InventoryOptions): Inventory {
  const { aws, outbox, logger, ...reporterOptions } = options;
  const log = logger?.child({ component: 'inventory' });
  let enrichment: AwsEnrichment | undefined;
  if (aws !== false) {
    // One object carries both kinds of settings; each consumer reads only its own keys.
    const settings = aws ?? {};
    enrichment = new AwsEnrichment({
      ...settings,
      aws: settings,
      failures: new AwsFailureReport({
        ...(log ? { logger: log } : {}),
        emit: (notice) => outbox.appendAudit(auditEventOf(notice)),
      }),
      ...(log ? { logger: log } : {}),
    });
  }
  const reporter = new InventoryReporter({
    ...reporterOptions,
    outbox,
    ...(enrichment ? { ec2: enrichment } : {}),
    ...(log ? { logger: log } : {}),
  });
  return {
    reporter,
    enrichment,
    get awsAccountId() {
      return enrichment?.accountId;
    },
    async run(signal) {
      await Promise.all([reporter.run(signal), enrichment?.run(signal)]);
    },
  };
}
