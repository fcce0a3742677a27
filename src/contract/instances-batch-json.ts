/**
 * An InstancesBatch as the JSON text the control plane receives, checked one report at a
 * time. zod's parse returns a copy of what it checks, so parsing a 5,000-node snapshot whole
 * held it twice as objects; report by report, each copy dies young and only the text stays.
 * The text is exactly `JSON.stringify(InstancesBatch.parse(batch))`: the outbox stores it and
 * the client sends it as it is (no parse and re-check on the way out).
 */
import { z } from 'zod';
import { InstanceReport, InstancesBatch } from './reports.ts';
import { describeIssues } from './wire-envelope.ts';

const BatchHead = InstancesBatch.omit({ instances: true });

/** What the shipper needs to know of a stored batch without parsing its reports. */
export interface InstancesBatchText {
  seq: number;
  full: boolean;
  json: string;
}

export type InstancesBatchJsonResult = ({ ok: true } & InstancesBatchText) | { ok: false; reason: string };

export function instancesBatchJson(batch: InstancesBatch): InstancesBatchJsonResult {
  const head = BatchHead.safeParse(batch);
  if (!head.success) return { ok: false, reason: describeIssues(head.error) };
  const instances: unknown = batch.instances;
  if (!Array.isArray(instances)) {
    const whole = InstancesBatch.safeParse(batch);
    return { ok: false, reason: whole.success ? 'instances: not an array' : describeIssues(whole.error) };
  }
  const parts = new Array<string>(instances.length);
  for (let i = 0; i < instances.length; i++) {
    const report = InstanceReport.safeParse(instances[i]);
    if (!report.success) {
      const issues = report.error.issues.map((issue) => ({
        ...issue,
        path: ['instances', i, ...issue.path],
      }));
      return { ok: false, reason: describeIssues(new z.ZodError(issues)) };
    }
    parts[i] = JSON.stringify(report.data);
  }
  const { seq, full, removed } = head.data;
  const json = `{"seq":${seq},"full":${full},"instances":[${parts.join(',')}],"removed":${JSON.stringify(removed)}}`;
  return { ok: true, seq, full, json };
}

// Every stored batch starts so: the text above, and the older rows that were
// JSON.stringify(InstancesBatch.parse(batch)) (zod writes keys in the schema's order).
const head = /^\{"seq":(\d+),"full":(true|false),/;

/**
 * The seq and full flag of stored batch text, read from its first bytes; undefined when the
 * text does not start as instancesBatchJson writes it.
 */
export function instancesBatchHead(json: string): { seq: number; full: boolean } | undefined {
  const m = head.exec(json.slice(0, 64));
  return m ? { seq: Number(m[1]), full: m[2] === 'true' } : undefined;
}
