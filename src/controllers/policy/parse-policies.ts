/**
 * AgentPolicy objects as listed from the API server -> inputs for decide(). The API server
 * already validated them against the CRD schema; this also applies the checks the schema
 * cannot express and keeps going past a bad object, returning it separately so the caller
 * can fail closed (hold every action while a policy is invalid) and report why.
 */

import { describeIssues } from '../../contract/envelope.ts';
import { AgentPolicy } from '../../crds/agent-policy.ts';
import { isIanaTimeZone } from '../../util/wall-clock.ts';
import type { PolicyInput } from './decide.ts';

export interface ParsedPolicies {
  policies: PolicyInput[];
  /** Objects that could not be read at all: the caller should hold actions and report these. */
  invalid: { name: string; reason: string }[];
  /** Usable policies with a problem worth a status condition (e.g. an unknown time zone). */
  warnings: { name: string; reason: string }[];
}

/** One AgentPolicy object as listed or watched: usable (maybe with a warning) or invalid. */
export interface ParsedPolicy {
  name: string;
  policy?: PolicyInput;
  /** Why the object could not be read at all. */
  invalid?: string;
  /** A problem of a usable policy worth a status condition (e.g. an unknown time zone). */
  warning?: string;
}

export function parsePolicy(item: unknown): ParsedPolicy {
  const name =
    (item as { metadata?: { name?: unknown } } | undefined)?.metadata?.name?.toString() ?? '<unnamed>';
  const parsed = AgentPolicy.safeParse(item);
  if (!parsed.success) return { name, invalid: describeIssues(parsed.error) };
  const out: ParsedPolicy = {
    name,
    policy: { metadata: { name: parsed.data.metadata.name }, spec: parsed.data.spec },
  };
  const badZones = (parsed.data.spec.maintenanceWindows ?? [])
    .map((w) => w.timezone)
    .filter((tz) => !isIanaTimeZone(tz));
  // Still usable: decide keeps such a window closed and says why.
  if (badZones.length) out.warning = `unknown time zone ${badZones.join(', ')} (window stays closed)`;
  return out;
}

/** Policies parsed one by one (the controllers parse each object as it arrives), together. */
export function combinePolicies(parsed: Iterable<ParsedPolicy>): ParsedPolicies {
  const out: ParsedPolicies = { policies: [], invalid: [], warnings: [] };
  for (const { name, policy, invalid, warning } of parsed) {
    if (invalid !== undefined) out.invalid.push({ name, reason: invalid });
    if (warning !== undefined) out.warnings.push({ name, reason: warning });
    if (policy) out.policies.push(policy);
  }
  return out;
}

export function parsePolicies(items: readonly unknown[]): ParsedPolicies {
  return combinePolicies(items.map(parsePolicy));
}
