/**
 * Sleep and wake passes: list the workloads, decide per workload (workload-plan.ts), write
 * one guarded patch each, record events. Idempotent: a pass that stopped halfway (crash,
 * lost leadership, a failed write) simply runs again; workloads already done are recognised
 * by their record.
 */

import type { HibernationScheduleSpec } from '../../crds/hibernation-schedule.ts';
import { apiErrorMessage, isConflict, isNotFound } from '../../kube/api-errors.ts';
import type { KubeClients } from '../../kube/clients.ts';
import type { EventSink, EventType } from '../../kube/events.ts';
import type { Logger } from '../../observability/logger.ts';
import type { PolicyInput } from '../policy/decide.ts';
import type { Labels } from '../policy/label-selector.ts';
import {
  allKinds,
  kindApis,
  labelSelectorQuery,
  listHpas,
  listWorkloads,
  patchWorkload,
  readWorkload,
  scaleWorkload,
} from './cluster.ts';
import { hibernatedByLabel, hibernatedByValue } from './restore-record.ts';
import {
  covers,
  type HpaFacts,
  namespaceCovered,
  planSleep,
  planWake,
  type SkipCode,
  type SleepStep,
  scaleTo,
  sleepPatch,
  type WakeStep,
  type WorkloadFacts,
  wakePatch,
  workloadKey,
} from './workload-plan.ts';

export interface PassContext {
  clients: KubeClients;
  events: EventSink;
  log: Logger;
  signal: AbortSignal;
  /** The schedule the pass runs for. */
  schedule: string;
  now: Date;
  /** Decide and report, write nothing. */
  dryRun: boolean;
  /** Patches in flight at once. */
  concurrency: number;
  /**
   * Keys (`uid/resourceVersion/reason`) already reported: wake passes run on every reconcile
   * while awake, and a workload they must leave alone would otherwise get an event each time.
   */
  reported: Set<string>;
}

export interface PassOutcome {
  /** Put to sleep / restored by this pass (dry run: would be). */
  changed: number;
  /** Already asleep under this schedule (sleep pass). */
  held: number;
  /** Woken without restoring: changed while asleep, or only a stale mark removed (wake pass). */
  released: number;
  skipped: { key: string; code: SkipCode; reason: string }[];
  failed: { key: string; message: string }[];
}

/** A Deployment or StatefulSet (scaleTo is undefined for a CronJob). */
type ScalableRef = { kind: 'Deployment' | 'StatefulSet'; namespace: string; name: string };

const emptyOutcome = (): PassOutcome => ({ changed: 0, held: 0, released: 0, skipped: [], failed: [] });

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function emit(ctx: PassContext, w: WorkloadFacts, type: EventType, reason: string, message: string): void {
  ctx.events.emit(
    {
      apiVersion: kindApis[w.kind].apiVersion,
      kind: w.kind,
      name: w.name,
      namespace: w.namespace,
      uid: w.uid,
    },
    type,
    reason,
    `${message} (HibernationSchedule ${ctx.schedule})`,
  );
}

/**
 * Plans and writes one workload. On 409 (it changed between the list and the write) it is
 * read again and planned again, once; a second conflict is a failure the next pass retries.
 */
async function applyOne<S extends { kind: string }>(
  ctx: PassContext,
  first: WorkloadFacts,
  plan: (w: WorkloadFacts) => S,
  write: (w: WorkloadFacts, step: S) => Promise<void>,
): Promise<void> {
  let w: WorkloadFacts | undefined = first;
  for (let attempt = 0; w !== undefined; attempt++) {
    const step = plan(w);
    try {
      await write(w, step);
      return;
    } catch (err) {
      if (isNotFound(err)) return; // deleted meanwhile: nothing to do
      if (!isConflict(err) || attempt > 0) throw err;
      w = await readWorkload(ctx.clients, w, ctx.signal);
    }
  }
}

export interface SleepPassInput {
  spec: HibernationScheduleSpec;
  /** Every namespace's labels (from the namespace watch). */
  namespaces: ReadonlyMap<string, Labels>;
  /** Namespaces never covered (excludedNamespaces). */
  excluded: readonly string[];
  policies: readonly PolicyInput[];
  refresh: boolean;
}

/** The sleep pass: every covered workload not yet asleep is recorded and scaled to zero (suspended). */
export async function runSleepPass(ctx: PassContext, input: SleepPassInput): Promise<PassOutcome> {
  const { spec } = input;
  const outcome = emptyOutcome();
  const namespaces = [...input.namespaces]
    .filter(([name, labels]) => namespaceCovered(spec, name, labels, input.excluded))
    .map(([name]) => name);
  if (namespaces.length === 0) return outcome;
  // Our own mark must not change what a selector selects; a selector naming it is applied here only.
  const query = labelSelectorQuery(spec.workloadSelector);
  const labelSelector = query?.includes(hibernatedByLabel) ? undefined : query;
  const candidates: WorkloadFacts[] = [];
  for (const kind of spec.kinds) {
    const listed = await listWorkloads(ctx.clients, kind, { namespaces, labelSelector }, ctx.signal);
    for (const w of listed) {
      if (covers(spec, w, input.namespaces.get(w.namespace), input.excluded)) candidates.push(w);
    }
  }
  const hpas = new Map<string, HpaFacts>();
  if (candidates.some((w) => w.kind !== 'CronJob')) {
    for (const hpa of await listHpas(ctx.clients, namespaces, ctx.signal)) {
      hpas.set(workloadKey({ kind: hpa.targetKind, namespace: hpa.namespace, name: hpa.targetName }), hpa);
    }
  }
  const plan = (w: WorkloadFacts): SleepStep => {
    const hpa = hpas.get(workloadKey(w));
    return planSleep(w, {
      schedule: ctx.schedule,
      now: ctx.now,
      policies: input.policies,
      refresh: input.refresh,
      ...(hpa ? { hpa } : {}),
    });
  };
  const write = async (w: WorkloadFacts, step: SleepStep) => {
    const key = workloadKey(w);
    if (step.kind === 'held') {
      outcome.held++;
      return;
    }
    if (step.kind === 'skip') {
      outcome.skipped.push({ key, code: step.code, reason: step.reason });
      emit(ctx, w, 'Normal', 'HibernationSkipped', `Not put to sleep: ${step.reason}`);
      return;
    }
    if (!ctx.dryRun) {
      const rv = await patchWorkload(ctx.clients, w, sleepPatch(w, step.record));
      const replicas = scaleTo(w, step);
      if (replicas !== undefined) await scaleWorkload(ctx.clients, w as ScalableRef, replicas, rv);
    }
    outcome.changed++;
    const what =
      w.kind === 'CronJob'
        ? `Suspended (was suspend ${w.suspend === true})`
        : `Scaled from ${w.replicas} to 0 replicas`;
    const hpa = step.record.hpa ? `; HPA ${step.record.hpa.name} left as it is` : '';
    emit(ctx, w, 'Normal', 'Hibernated', `${ctx.dryRun ? 'Dry run, would have: ' : ''}${what}${hpa}`);
  };
  await forEachLimit(candidates, ctx.concurrency, async (w) => {
    try {
      await applyOne(ctx, w, plan, write);
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      outcome.failed.push({ key: workloadKey(w), message: apiErrorMessage(err) });
    }
  });
  return outcome;
}

/** Every workload this schedule's mark is on, in any namespace and kind. */
export async function listMarked(
  ctx: Pick<PassContext, 'clients' | 'signal'>,
  schedule: string,
): Promise<WorkloadFacts[]> {
  const labelSelector = `${hibernatedByLabel}=${hibernatedByValue(schedule)}`;
  const out: WorkloadFacts[] = [];
  for (const kind of allKinds) {
    out.push(...(await listWorkloads(ctx.clients, kind, { namespaces: 'all', labelSelector }, ctx.signal)));
  }
  return out;
}

/**
 * The wake pass over the given marked workloads (listMarked; the caller may filter them, e.g.
 * to those no longer covered): each gets exactly what its record says back, unless it was
 * changed while asleep (then it keeps that). Waking is never refused by policy or
 * do-not-disrupt: it gives the owner their own state back.
 */
export async function runWakePass(ctx: PassContext, marked: readonly WorkloadFacts[]): Promise<PassOutcome> {
  const outcome = emptyOutcome();
  const plan = (w: WorkloadFacts): WakeStep => planWake(w, ctx.schedule);
  const write = async (w: WorkloadFacts, step: WakeStep) => {
    const key = workloadKey(w);
    if (step.kind === 'leave') {
      outcome.skipped.push({ key, code: step.code, reason: step.reason });
      const once = `${w.uid}/${w.resourceVersion}/${step.code}`;
      if (!ctx.reported.has(once)) {
        ctx.reported.add(once);
        emit(ctx, w, 'Warning', 'HibernationSkipped', `Not woken: ${step.reason}; left as it is`);
        ctx.log.warn({ workload: key, reason: step.reason }, 'hibernated workload left as it is');
      }
      return;
    }
    if (!ctx.dryRun) {
      // Replicas back first (guarded: decided on what was read), marks last: interrupted in
      // between, it is restored and still marked. The marks' removal after a scale is not
      // guarded: the workload's controller updates its status right after the scale, and
      // removing our own marks cannot overwrite anyone's change.
      const replicas = scaleTo(w, step);
      if (replicas !== undefined)
        await scaleWorkload(ctx.clients, w as ScalableRef, replicas, w.resourceVersion);
      const patch = wakePatch(w, step);
      if (replicas !== undefined) delete (patch.metadata as { resourceVersion?: string }).resourceVersion;
      await patchWorkload(ctx.clients, w, patch);
    }
    if (step.kind === 'restore') {
      outcome.changed++;
      const what =
        w.kind === 'CronJob'
          ? `Restored suspend ${step.record.suspend}`
          : `Scaled from 0 to ${step.record.replicas} replicas`;
      emit(ctx, w, 'Normal', 'Restored', `${ctx.dryRun ? 'Dry run, would have: ' : ''}${what}`);
    } else {
      outcome.released++;
      emit(ctx, w, 'Normal', 'HibernationReleased', `Woken without restoring: ${step.reason}`);
    }
  };
  await forEachLimit(marked, ctx.concurrency, async (w) => {
    try {
      await applyOne(ctx, w, plan, write);
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      outcome.failed.push({ key: workloadKey(w), message: apiErrorMessage(err) });
    }
  });
  return outcome;
}
