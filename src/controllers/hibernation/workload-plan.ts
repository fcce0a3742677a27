/**
 * What a pass does to one workload, decided from facts alone (pure; the passes in passes.ts
 * read the facts and apply the patches). docs/hibernation.md "Sleep and wake" is the rule
 * book; each branch below is one row of its tables.
 */
import { doNotDisruptAnnotation, isDoNotDisrupt } from '../../contract/marks.ts';
import type { HibernationKind, HibernationScheduleSpec } from '../../crds/hibernation-schedule.ts';
import { compareCodeUnits } from '../../util/compare.ts';
import { type PolicyInput, resolvePolicies } from '../policy/decide.ts';
import { type Labels, selectorMatches } from '../policy/label-selector.ts';
import {
  encodeRestoreRecord,
  hibernatedByLabel,
  hibernatedByValue,
  hibernationRestoreAnnotation,
  parseRestoreRecord,
  type RestoreRecord,
} from './restore-record.ts';

/**
 * Namespaces no schedule covers, whatever it selects: the system namespaces and the agent's
 * own, as long as any AgentPolicy protects them (protectSystemNamespaces, on by default: see
 * controllers/policy/defaults.ts). An admin's protectedNamespaces are skipped with a reason
 * instead (protectedBy), so they show in the schedule's events.
 */
export function excludedNamespaces(policies: readonly PolicyInput[], agentNamespace?: string): string[] {
  return [...new Set(resolvePolicies(policies, agentNamespace).flatMap((p) => p.systemNamespaces))];
}

/** The parts of a Deployment, StatefulSet or CronJob the passes look at. */
export interface WorkloadFacts {
  kind: HibernationKind;
  namespace: string;
  name: string;
  uid?: string;
  resourceVersion: string;
  labels: Labels;
  annotations: Labels;
  /** `Kind/name` of a controller ownerReference: an operator manages the workload. */
  controller?: string;
  /** Deployment, StatefulSet: spec.replicas. */
  replicas?: number;
  /** CronJob: spec.suspend. */
  suspend?: boolean;
  /** StatefulSet with persistentVolumeClaimRetentionPolicy.whenScaled: Delete. */
  deletesVolumesOnScaleDown?: boolean;
}

/** An HPA that targets a workload. */
export interface HpaFacts {
  namespace: string;
  name: string;
  targetKind: string;
  targetName: string;
  minReplicas: number;
  /** Created by a KEDA ScaledObject (it would scale the workload up again). */
  keda: boolean;
}

export const workloadKey = (w: { kind: string; namespace: string; name: string }): string =>
  `${w.kind}/${w.namespace}/${w.name}`;

/** The labels a schedule's selector sees: without the agent's own mark, so marking never changes coverage. */
function ownLabelsRemoved(labels: Labels): Labels {
  if (!Object.hasOwn(labels, hibernatedByLabel)) return labels;
  const { [hibernatedByLabel]: _mark, ...rest } = labels;
  return rest;
}

/** Whether a namespace is one a schedule covers: not excluded (excludedNamespaces), matching namespaceSelector. */
export function namespaceCovered(
  spec: Pick<HibernationScheduleSpec, 'namespaceSelector'>,
  namespace: string,
  labels: Labels | undefined,
  excluded: readonly string[],
): boolean {
  if (excluded.includes(namespace)) return false;
  return labels !== undefined && selectorMatches(spec.namespaceSelector, labels);
}

/**
 * Whether a schedule covers a workload: its kind is listed, its namespace is not a system
 * namespace and matches namespaceSelector, its labels match workloadSelector (absent: all),
 * and no exclude entry matches it (an entry matches when every field it sets matches).
 * `namespaceLabels` undefined: the namespace is unknown (being created or deleted): not covered.
 */
export function covers(
  spec: Pick<HibernationScheduleSpec, 'kinds' | 'namespaceSelector' | 'workloadSelector' | 'exclude'>,
  workload: Pick<WorkloadFacts, 'kind' | 'namespace' | 'name' | 'labels'>,
  namespaceLabels: Labels | undefined,
  excluded: readonly string[],
): boolean {
  if (!spec.kinds.includes(workload.kind)) return false;
  if (!namespaceCovered(spec, workload.namespace, namespaceLabels, excluded)) return false;
  if (spec.workloadSelector && !selectorMatches(spec.workloadSelector, ownLabelsRemoved(workload.labels))) {
    return false;
  }
  return !(spec.exclude ?? []).some(
    (e) =>
      (e.namespace === undefined || e.namespace === workload.namespace) &&
      (e.kind === undefined || e.kind === workload.kind) &&
      (e.name === undefined || e.name === workload.name),
  );
}

/** The first AgentPolicy that protects a workload from being scaled, as a reason; undefined: none. */
export function protectedBy(
  policies: readonly PolicyInput[],
  workload: Pick<WorkloadFacts, 'namespace' | 'labels'>,
): string | undefined {
  const sorted = [...policies].sort((a, b) => compareCodeUnits(a.metadata.name, b.metadata.name));
  for (const { metadata, spec } of sorted) {
    if (spec.protectedNamespaces?.includes(workload.namespace)) {
      return `AgentPolicy ${metadata.name} protects namespace ${workload.namespace}`;
    }
    if (
      spec.protectedWorkloadSelector &&
      selectorMatches(spec.protectedWorkloadSelector, ownLabelsRemoved(workload.labels))
    ) {
      return `AgentPolicy ${metadata.name} protects it (protectedWorkloadSelector)`;
    }
  }
  return undefined;
}

/** Stable codes for skips (events, audit details, tests). */
export type SkipCode =
  | 'do_not_disrupt'
  | 'protected'
  | 'owned'
  | 'autoscaled_to_zero'
  | 'deletes_volumes'
  | 'other_schedule'
  | 'record_unreadable';

export type SleepStep =
  /** Record + mark (CronJob: and suspend true), then replicas 0 through /scale. */
  | { kind: 'sleep'; record: RestoreRecord }
  /** Already asleep under this schedule: nothing to do. */
  | { kind: 'held' }
  | { kind: 'skip'; code: SkipCode; reason: string };

export interface SleepContext {
  schedule: string;
  now: Date;
  policies: readonly PolicyInput[];
  /** The HPA targeting the workload, if any. */
  hpa?: HpaFacts;
  /**
   * A sleep pass after a whole awake period was missed (the agent was down): a workload still
   * holding this schedule's record but running again is recorded afresh and put back to sleep,
   * which is what a wake pass followed by a sleep pass would have done.
   */
  refresh: boolean;
}

function isAsleepNow(w: WorkloadFacts): boolean {
  return w.kind === 'CronJob' ? w.suspend === true : w.replicas === 0;
}

/** The sleep pass's decision for one covered workload. */
export function planSleep(w: WorkloadFacts, ctx: SleepContext): SleepStep {
  const existing = w.annotations[hibernationRestoreAnnotation];
  if (existing !== undefined) {
    const parsed = parseRestoreRecord(existing);
    if (!parsed.ok) return { kind: 'skip', code: 'record_unreadable', reason: parsed.reason };
    if (parsed.record.schedule !== ctx.schedule) {
      return {
        kind: 'skip',
        code: 'other_schedule',
        reason: `already asleep under HibernationSchedule ${parsed.record.schedule} (schedules overlap)`,
      };
    }
    if (isAsleepNow(w)) return { kind: 'held' };
    // Recorded but still running with what was recorded: a sleep interrupted between its two
    // writes (sleepPatch): finish it with the record as it is.
    if (w.kind !== 'CronJob' && w.replicas === parsed.record.replicas)
      return { kind: 'sleep', record: parsed.record };
    if (!ctx.refresh) return { kind: 'held' };
    // refresh: fall through and record what it runs with now.
  }
  if (isDoNotDisrupt(w.annotations)) {
    return { kind: 'skip', code: 'do_not_disrupt', reason: `annotated ${doNotDisruptAnnotation}: "true"` };
  }
  const protection = protectedBy(ctx.policies, w);
  if (protection !== undefined) return { kind: 'skip', code: 'protected', reason: protection };
  if (w.controller !== undefined) {
    return {
      kind: 'skip',
      code: 'owned',
      reason: `managed by ${w.controller}, which would undo a scale-down`,
    };
  }
  if (ctx.hpa && (ctx.hpa.keda || ctx.hpa.minReplicas === 0)) {
    const who = ctx.hpa.keda ? `KEDA (HPA ${ctx.hpa.name})` : `HPA ${ctx.hpa.name} with minReplicas 0`;
    return {
      kind: 'skip',
      code: 'autoscaled_to_zero',
      reason: `scaled by ${who}, which would scale it up again`,
    };
  }
  if (w.deletesVolumesOnScaleDown) {
    return {
      kind: 'skip',
      code: 'deletes_volumes',
      reason:
        'persistentVolumeClaimRetentionPolicy.whenScaled is Delete: scaling down would delete its volumes',
    };
  }
  const at = ctx.now.toISOString();
  const record: RestoreRecord =
    w.kind === 'CronJob'
      ? { schedule: ctx.schedule, suspend: w.suspend === true, at }
      : { schedule: ctx.schedule, replicas: w.replicas ?? 1, at };
  if (ctx.hpa && w.kind !== 'CronJob') record.hpa = { name: ctx.hpa.name, minReplicas: ctx.hpa.minReplicas };
  return { kind: 'sleep', record };
}

export type WakeStep =
  /** The recorded replicas back through /scale (CronJob: suspend in the patch), then record and mark removed. */
  | { kind: 'restore'; record: RestoreRecord }
  /** Changed while asleep: keep the current value, remove record and mark. */
  | { kind: 'release'; record: RestoreRecord; reason: string }
  /** A mark without a record (removed by hand): remove the mark, nothing to restore. */
  | { kind: 'unmark'; reason: string }
  /** Leave it as it is and report (a guess could scale production wrongly). */
  | { kind: 'leave'; code: SkipCode; reason: string };

/** The wake pass's decision for one workload marked with this schedule's label. */
export function planWake(w: WorkloadFacts, schedule: string): WakeStep {
  const value = w.annotations[hibernationRestoreAnnotation];
  if (value === undefined) {
    return {
      kind: 'unmark',
      reason: `labelled ${hibernatedByLabel} but has no ${hibernationRestoreAnnotation}`,
    };
  }
  const parsed = parseRestoreRecord(value);
  if (!parsed.ok) return { kind: 'leave', code: 'record_unreadable', reason: parsed.reason };
  const record = parsed.record;
  if (record.schedule !== schedule) {
    return {
      kind: 'leave',
      code: 'other_schedule',
      reason: `its record names HibernationSchedule ${record.schedule}, not ${schedule}`,
    };
  }
  const recordFits = w.kind === 'CronJob' ? record.suspend !== undefined : record.replicas !== undefined;
  if (!recordFits) {
    return { kind: 'leave', code: 'record_unreadable', reason: `the record does not fit a ${w.kind}` };
  }
  // Asleep, or already back at the recorded replicas (a wake interrupted between its writes).
  if (isAsleepNow(w) || (w.kind !== 'CronJob' && w.replicas === record.replicas))
    return { kind: 'restore', record };
  const now = w.kind === 'CronJob' ? 'is no longer suspended' : `has ${w.replicas} replicas`;
  return {
    kind: 'release',
    record,
    reason: `changed while asleep (${now}); keeping that instead of ${describeRecorded(record)}`,
  };
}

/** "3 replicas" / "suspend false". */
export function describeRecorded(record: RestoreRecord): string {
  return record.replicas !== undefined ? `${record.replicas} replicas` : `suspend ${record.suspend}`;
}

/**
 * The merge patch that records a workload's sleep: record and mark, guarded by the
 * resourceVersion it was read with (409 instead of overwriting a change). A CronJob's
 * suspend goes in the same patch; replicas change only through the /scale subresource (the
 * agent may patch a Deployment's or StatefulSet's metadata but never its spec: RBAC and the
 * chart's admission policy hold it to that), in a second write after this one (passes.ts), so
 * a crash between the two leaves the record with the workload still running, never a workload
 * at 0 without its record; the next pass finishes it (planSleep).
 */
export function sleepPatch(w: WorkloadFacts, record: RestoreRecord): Record<string, unknown> {
  return {
    metadata: {
      resourceVersion: w.resourceVersion,
      annotations: { [hibernationRestoreAnnotation]: encodeRestoreRecord(record) },
      labels: { [hibernatedByLabel]: hibernatedByValue(record.schedule) },
    },
    ...(w.kind === 'CronJob' ? { spec: { suspend: true } } : {}),
  };
}

/**
 * The merge patch of a wake step: the marks go (a CronJob's suspend comes back with them).
 * A Deployment's or StatefulSet's replicas are restored through /scale before this patch
 * (passes.ts), so a crash between them leaves it restored and still marked, which the next
 * wake pass only unmarks (planWake).
 */
export function wakePatch(
  w: WorkloadFacts,
  step: Exclude<WakeStep, { kind: 'leave' }>,
): Record<string, unknown> {
  const metadata = {
    resourceVersion: w.resourceVersion,
    annotations: { [hibernationRestoreAnnotation]: null },
    labels: { [hibernatedByLabel]: null },
  };
  if (step.kind === 'restore' && w.kind === 'CronJob')
    return { metadata, spec: { suspend: step.record.suspend } };
  return { metadata };
}

/** The replicas a step sets through /scale: undefined for a CronJob or when nothing changes. */
export function scaleTo(w: WorkloadFacts, step: SleepStep | WakeStep): number | undefined {
  if (w.kind === 'CronJob') return undefined;
  const wanted = step.kind === 'sleep' ? 0 : step.kind === 'restore' ? step.record.replicas : undefined;
  return wanted === undefined || wanted === w.replicas ? undefined : wanted;
}
