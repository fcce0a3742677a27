/**
 * AgentPolicy objects as listed from the API server -> inputs for decide(). The API server
 * already validated them against the CRD schema; this also applies the checks the schema
 * cannot express and keeps going past a bad object, returning it separately so the caller
 * can fail closed (hold every action while a policy is invalid) and report why.
 */
import { describeIssues } from '../../contract/envelope.ts';
import { AgentPolicy } from '../../crds/agent-policy.ts';
import type { PolicyInput } from './decide.ts';
import { isValidTimeZone } from './maintenance-window.ts';

export interface ParsedPolicies {
  policies: PolicyInput[];
  /** Objects that could not be read at all: the caller should hold actions and report these. */
  invalid: { name: string; reason: string }[];
  /** Usable policies with a problem worth a status condition (e.g. an unknown time zone). */
  warnings: { name: string; reason: string }[];
}

export function parsePolicies(items: readonly unknown[]): ParsedPolicies {
  const out: ParsedPolicies = { policies: [], invalid: [], warnings: [] };
  for (const item of items) {
    const name =
      (item as { metadata?: { name?: unknown } } | undefined)?.metadata?.name?.toString() ?? '<unnamed>';
    const parsed = AgentPolicy.safeParse(item);
    if (!parsed.success) {
      out.invalid.push({ name, reason: describeIssues(parsed.error) });
      continue;
    }
    const badZones = (parsed.data.spec.maintenanceWindows ?? [])
      .map((w) => w.timezone)
      .filter((tz) => !isValidTimeZone(tz));
    if (badZones.length) {
      // Still usable: decide keeps such a window closed and says why.
      out.warnings.push({ name, reason: `unknown time zone ${badZones.join(', ')} (window stays closed)` });
    }
    out.policies.push({ metadata: { name: parsed.data.metadata.name }, spec: parsed.data.spec });
  }
  return out;
}
