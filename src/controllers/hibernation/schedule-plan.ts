/**
 * What one reconcile of a HibernationSchedule does, decided from the object and the clock
 * (pure), and the status it then writes. Passes are edge-triggered: a sleep pass runs when
 * the schedule says asleep and status.state is not Asleep (a transition, or a failed pass to
 * retry); wake passes are cheap (they list by label) and run on every reconcile that is not
 * asleep, so nothing this schedule put to sleep stays asleep by accident.
 */

import { describeIssues } from '../../contract/envelope.ts';
import { compileWindows, describeMatrix, normalizeMatrix } from '../../crds/hibernation-matrix.ts';
import {
  type HibernationPhase,
  HibernationSchedule,
  type HibernationScheduleSpec,
  type HibernationScheduleStatus,
} from '../../crds/hibernation-schedule.ts';
import { canonicalJson } from '../../util/canonical-json.ts';
import { type Evaluation, evaluate } from './schedule.ts';

export type ReconcilePlan =
  /** The spec cannot be used: report it; nothing is kept asleep by a schedule the agent cannot read. */
  | { kind: 'invalid'; message: string }
  /** spec.suspended: wake everything. */
  | { kind: 'suspended'; spec: HibernationScheduleSpec; summary: string }
  | {
      kind: 'asleep';
      spec: HibernationScheduleSpec;
      evaluation: Evaluation;
      summary: string;
      /**
       * transition: the state changes (or the last pass failed) — a full sleep pass.
       * refresh: a whole awake period was missed (status.nextTransition has passed while the
       * state was already Asleep): a sleep pass that also re-records workloads running again.
       * none: only wake what is no longer covered.
       */
      sleepPass: 'transition' | 'refresh' | 'none';
    }
  | { kind: 'awake'; spec: HibernationScheduleSpec; evaluation: Evaluation; summary: string };

interface ScheduleObject {
  metadata?: { name?: string; generation?: number };
  status?: HibernationScheduleStatus;
}

export function planReconcile(object: unknown, now: Date): ReconcilePlan {
  const parsed = HibernationSchedule.safeParse(object);
  if (!parsed.success) return { kind: 'invalid', message: `invalid spec: ${describeIssues(parsed.error)}` };
  const { spec } = parsed.data;
  const matrix =
    spec.matrix !== undefined ? normalizeMatrix(spec.matrix) : compileWindows(spec.windows ?? []);
  const summary = describeMatrix(matrix);
  if (spec.suspended) return { kind: 'suspended', spec, summary };
  let evaluation: Evaluation;
  try {
    const override = spec.override
      ? { state: spec.override.state, until: new Date(spec.override.until) }
      : undefined;
    evaluation = evaluate(matrix, spec.timezone, now, override);
  } catch (err) {
    return { kind: 'invalid', message: `cannot evaluate the schedule: ${(err as Error).message}` };
  }
  if (evaluation.state === 'awake') return { kind: 'awake', spec, evaluation, summary };
  const { status, metadata } = object as ScheduleObject;
  let sleepPass: 'transition' | 'refresh' | 'none' = 'none';
  if (status?.state !== 'Asleep') {
    sleepPass = 'transition';
  } else if (
    status.observedGeneration === metadata?.generation &&
    status.nextTransition !== undefined &&
    Date.parse(status.nextTransition) <= now.getTime()
  ) {
    sleepPass = 'refresh';
  }
  return { kind: 'asleep', spec, evaluation, summary, sleepPass };
}

export interface StatusInput {
  generation: number | undefined;
  now: Date;
  state: HibernationPhase;
  evaluation?: Evaluation;
  summary?: string;
  counts?: HibernationScheduleStatus['counts'];
  error?: string;
  ready: { status: 'True' | 'False'; reason: string; message: string };
}

/** RFC 3339 with second precision, as Kubernetes writes times. */
export function kubeTime(date: Date): string {
  return new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** The status after a reconcile; lastTransition and the condition's time only move on change. */
export function nextStatus(
  previous: HibernationScheduleStatus | undefined,
  input: StatusInput,
): HibernationScheduleStatus {
  const status: HibernationScheduleStatus = { state: input.state };
  if (input.generation !== undefined) status.observedGeneration = input.generation;
  const next = input.evaluation?.nextTransition;
  if (next !== undefined && input.state !== 'Suspended') {
    // Exact to the millisecond: a transition can fall on :30 or at a DST shift.
    status.nextTransition = next.toISOString();
    status.nextState = input.evaluation?.state === 'asleep' ? 'Awake' : 'Asleep';
  }
  status.lastTransition =
    previous?.state === input.state && previous.lastTransition !== undefined
      ? previous.lastTransition
      : kubeTime(input.now);
  if (input.summary !== undefined) status.summary = input.summary.slice(0, 2048);
  const counts = input.counts ?? previous?.counts;
  if (counts !== undefined) status.counts = counts;
  if (input.error !== undefined) status.lastError = input.error.slice(0, 32_768);
  const old = previous?.conditions?.find((c) => c.type === 'Ready');
  status.conditions = [
    {
      type: 'Ready',
      status: input.ready.status,
      reason: input.ready.reason,
      message: input.ready.message.slice(0, 32_768),
      lastTransitionTime:
        old?.status === input.ready.status && old.lastTransitionTime
          ? old.lastTransitionTime
          : kubeTime(input.now),
      ...(input.generation !== undefined ? { observedGeneration: input.generation } : {}),
    },
  ];
  return status;
}

/** True when writing `next` would change nothing visible. */
export function sameStatus(a: HibernationScheduleStatus | undefined, b: HibernationScheduleStatus): boolean {
  return canonicalJson(a ?? {}) === canonicalJson(b);
}
