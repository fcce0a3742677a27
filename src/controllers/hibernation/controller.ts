/**
 * The HibernationSchedule controller. Leader-only: `run(signal)` is called when this replica
 * becomes leader and `signal` aborts when it stops being one.
 *
 * It watches HibernationSchedules, Namespaces (their labels decide coverage) and AgentPolicies
 * (protection, dry run), and reconciles a schedule on any change of it, when a namespace's
 * labels change, at the schedule's next transition (a timer, not polling) and at least every
 * `safetyIntervalMs` (5 min; catches workload label changes and clock jumps). Everything it
 * needs is in the cluster — the schedules, their status, the records on the workloads — and
 * the clock and tz database are local, so it needs no control plane and a fresh instance
 * (restart, new leader) continues where the last one stopped.
 */

import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '../../contract/reports.ts';
import { agentPolicyPlural } from '../../crds/agent-policy.ts';
import { apiGroup, apiVersion, apiVersionName } from '../../crds/common.ts';
import {
  type HibernationScheduleStatus,
  hibernationScheduleKind,
  hibernationSchedulePlural,
  HibernationScheduleStatus as StatusSchema,
} from '../../crds/hibernation-schedule.ts';
import type { KubeClients } from '../../kube/clients.ts';
import type { EventSink } from '../../kube/events.ts';
import { mergePatch } from '../../kube/merge-patch.ts';
import type { KubeObject } from '../../kube/watch.ts';
import type { Logger } from '../../observability/logger.ts';
import { Backoff } from '../../util/backoff.ts';
import type { Labels } from '../policy/label-selector.ts';
import { combinePolicies, type ParsedPolicy, parsePolicy } from '../policy/parse-policies.ts';
import { nameOf, watchIntoCache } from '../runtime/object-cache.ts';
import { aborted } from '../runtime/run-until-abort.ts';
import { WorkQueue } from '../runtime/work-queue.ts';
import { allKinds, listWorkloads } from './cluster.ts';
import { listMarked, type PassContext, type PassOutcome, runSleepPass, runWakePass } from './passes.ts';
import {
  hibernatedByLabel,
  hibernatedByValue,
  hibernationRestoreAnnotation,
  parseRestoreRecord,
} from './restore-record.ts';
import type { Evaluation } from './schedule.ts';
import {
  nextStatus,
  planReconcile,
  type ReconcilePlan,
  type StatusInput,
  sameStatus,
} from './schedule-plan.ts';
import { covers, excludedNamespaces, type WorkloadFacts } from './workload-plan.ts';

export interface HibernationControllerOptions {
  clients: KubeClients;
  log: Logger;
  events: EventSink;
  /** ms since epoch; tests drive the schedule with it. */
  now?: () => number;
  /** The agent's own namespace: never put to sleep. */
  agentNamespace?: string;
  /** Agent-wide dry run: passes decide and report, write nothing (like an AgentPolicy dryRun). */
  dryRun?: boolean;
  /** Where audit events go (the SQLite outbox in the agent). */
  audit?: (event: AuditEvent) => void;
  /** Longest time between two reconciles of a schedule. Default 5 min. */
  safetyIntervalMs?: number;
  /** Workload patches in flight at once. Default 8. */
  concurrency?: number;
  /**
   * Wall-clock steps (src/util/clock-jump.ts). Transition timers are monotonic durations
   * computed from the wall clock, so after a step they would fire at the wrong wall time (up
   * to the safety interval late): on a step every schedule is reconciled at once and its
   * timer re-armed from the new time.
   */
  clockJumps?: { onJump(listener: (jump: { deltaMs: number }) => void): () => void };
  /**
   * While this says the control plane refuses the agent (controlplane/access.ts), no sleep
   * pass runs (nothing new is put to sleep) and the schedule's status says why; waking goes
   * on, so a disabled cluster's workloads end up awake.
   */
  controlPlaneAccess?: { deniedReason(): string | undefined; onChange(listener: () => void): () => void };
}

interface ScheduleObject extends KubeObject {
  metadata?: KubeObject['metadata'] & { generation?: number; labels?: Record<string, string> };
  spec?: unknown;
  status?: unknown;
}

/**
 * Pins a schedule to the agent installed in that namespace. Unlabelled schedules are applied by
 * every agent (the normal case: one agent per cluster); with two installs in one cluster (a
 * migration, a staging agent beside the production one) this keeps them from applying the same
 * schedule twice. The other agents still know the schedule exists (its workloads are no orphans).
 */
export const agentNamespaceLabel = 'clusteropt.io/agent-namespace';

/** What one reconcile works from. */
interface ReconcileStep {
  name: string;
  object: ScheduleObject;
  now: Date;
  previous: HibernationScheduleStatus | undefined;
  policy: ReturnType<HibernationController['policyView']>;
}

/** Queue key of the sweep that wakes workloads whose schedule no longer exists. */
const orphanSweep = '\0orphans';

const scheduleCollection = `/apis/${apiGroup}/${apiVersionName}/${hibernationSchedulePlural}`;

export class HibernationController {
  private readonly options: HibernationControllerOptions;
  private readonly now: () => number;
  // Filled by run()'s watches; empty until then.
  private schedules = new Map<string, ScheduleObject>();
  private namespaces: ReadonlyMap<string, Labels> = new Map();
  private policyObjects: ReadonlyMap<string, ParsedPolicy> = new Map();
  private readonly failures = new Map<string, Backoff>();
  private readonly reported = new Set<string>();
  private queue: WorkQueue | undefined;
  private signal: AbortSignal | undefined;
  private started = false;
  private resolveReady!: () => void;
  /** Resolves once the first lists are in and the first reconciles are queued. */
  readonly ready: Promise<void>;
  /** Counters for tests and metrics. */
  readonly counters = { reconciles: 0, sleepPasses: 0, wakePasses: 0, statusWrites: 0 };

  constructor(options: HibernationControllerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.ready = new Promise((resolve) => {
      this.resolveReady = resolve;
    });
  }

  async run(signal: AbortSignal): Promise<void> {
    const { clients, log } = this.options;
    this.signal = signal;
    // One reconcile at a time: passes of overlapping schedules never race for a workload.
    const queue = new WorkQueue({
      concurrency: 1,
      laneOf: () => undefined,
      process: (name) => (name === orphanSweep ? this.sweepOrphans() : this.reconcile(name)),
      onError: (name, err) => {
        if (signal.aborted) return;
        log.warn({ schedule: name, err }, 'hibernation reconcile failed; retrying');
        this.retryLater(name);
      },
    });
    this.queue = queue;
    const watch = { clients, signal, log };
    const schedules = watchIntoCache<ScheduleObject>({
      ...watch,
      path: scheduleCollection,
      onList: (objects, before) => {
        for (const name of before.keys()) if (!objects.has(name)) this.forget(name);
        this.triggerAll();
        this.trigger(orphanSweep);
      },
      onEvent: (type, name) => {
        if (type === 'DELETED') {
          this.forget(name);
          // Its workloads are orphans now: wake them (no finalizer needed, see docs).
          this.trigger(orphanSweep);
        } else {
          this.trigger(name);
        }
      },
    });
    this.schedules = schedules.objects;
    const namespaces = watchIntoCache<{ metadata?: { name?: string; labels?: Labels } }, Labels>({
      ...watch,
      path: '/api/v1/namespaces',
      keep: (item) => item.metadata?.labels ?? {},
      onList: () => this.triggerAll(),
      onEvent: (type, _name, labels, old) => {
        // Only a label change of an existing namespace can change what is covered now; a new
        // namespace is picked up by the next sleep transition (like any new workload).
        if (type !== 'DELETED' && old !== undefined && JSON.stringify(old) !== JSON.stringify(labels)) {
          this.triggerAll();
        }
      },
    });
    this.namespaces = namespaces.objects;
    const policies = watchIntoCache<KubeObject, ParsedPolicy>({
      ...watch,
      path: `/apis/${apiGroup}/${apiVersionName}/${agentPolicyPlural}`,
      keep: parsePolicy,
      // A fixed policy releases a refused sleep pass; dry run on or off shows in status.
      onEvent: () => this.triggerAll(),
    });
    this.policyObjects = policies.objects;
    const caches = [schedules, namespaces, policies];
    await Promise.all(caches.map((c) => c.ready));
    if (signal.aborted) {
      await queue.stop();
      await Promise.allSettled(caches.map((c) => c.stopped));
      return;
    }
    this.started = true;
    const offJump = this.options.clockJumps?.onJump((jump) => {
      log.info({ deltaMs: Math.round(jump.deltaMs) }, 'wall clock stepped: re-evaluating every schedule');
      this.triggerAll();
    });
    const offAccess = this.options.controlPlaneAccess?.onChange(() => this.triggerAll());
    this.triggerAll();
    this.trigger(orphanSweep);
    this.resolveReady();
    log.info({ schedules: this.schedules.size, clients: clients.server }, 'hibernation controller started');
    await aborted(signal);
    offJump?.();
    offAccess?.();
    await queue.stop();
    await Promise.allSettled(caches.map((c) => c.stopped));
    log.info('hibernation controller stopped');
  }

  /**
   * Reconciles every schedule now and resolves when that is done (tests drive the clock and
   * then call this; production relies on the timers and watch events).
   */
  async reconcileNow(): Promise<void> {
    await this.ready;
    this.triggerAll();
    await this.idle();
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    return this.queue?.idle() ?? Promise.resolve();
  }

  private forget(name: string): void {
    this.queue?.forget(name);
    this.failures.delete(name);
  }

  private triggerAll(): void {
    for (const name of this.schedules.keys()) this.trigger(name);
  }

  /** Before the first lists are all in, nothing runs: run() then queues every schedule. */
  private trigger(name: string): void {
    if (this.started) this.queue?.add(name);
  }

  private retryLater(name: string): void {
    const backoff = this.failures.get(name) ?? new Backoff({ baseMs: 5_000, maxMs: 300_000 });
    this.failures.set(name, backoff);
    this.requeueAfter(name, Math.max(1_000, backoff.next()));
  }

  /** The next look at `name` replaces any pending one: the latest reconcile knows best. */
  private requeueAfter(name: string, ms: number): void {
    if (this.signal?.aborted) return;
    this.queue?.forget(name);
    this.queue?.addAfter(name, Math.max(0, Math.min(ms, this.options.safetyIntervalMs ?? 300_000)));
  }

  private passContext(schedule: string, now: Date, dryRun: boolean): PassContext {
    return {
      clients: this.options.clients,
      events: this.options.events,
      log: this.options.log,
      signal: this.signal ?? new AbortController().signal,
      schedule,
      now,
      dryRun,
      concurrency: this.options.concurrency ?? 8,
      reported: this.reported,
    };
  }

  private async reconcile(name: string): Promise<void> {
    const object = this.schedules.get(name);
    if (!object) return;
    const pinned = object.metadata?.labels?.[agentNamespaceLabel];
    if (pinned !== undefined && pinned !== this.options.agentNamespace) {
      this.forget(name);
      return;
    }
    this.counters.reconciles++;
    const now = new Date(this.now());
    const plan = planReconcile(object, now);
    const step: ReconcileStep = {
      name,
      object,
      now,
      previous: readStatus(object.status),
      policy: this.policyView(),
    };
    const { status, nextTransition, failed } =
      plan.kind === 'asleep' ? await this.reconcileAsleep(step, plan) : await this.reconcileAwake(step, plan);
    await this.writeStatus(name, object, step.previous, status);
    if (failed > 0) {
      this.retryLater(name);
      return;
    }
    this.failures.delete(name);
    const untilNext = nextTransition ? nextTransition.getTime() - now.getTime() : Number.POSITIVE_INFINITY;
    this.requeueAfter(name, untilNext);
  }

  /** Asleep: a sleep pass at a transition (or refresh), and waking what is no longer covered. */
  private async reconcileAsleep(step: ReconcileStep, plan: Extract<ReconcilePlan, { kind: 'asleep' }>) {
    const { name, object, now, previous, policy } = step;
    const ctx = this.passContext(name, now, policy.dryRun);
    const excluded = excludedNamespaces(policy.policies, this.options.agentNamespace);
    const denied = this.options.controlPlaneAccess?.deniedReason();
    let sleep: PassOutcome | undefined;
    let refusal: string | undefined;
    if (plan.sleepPass !== 'none') {
      if (denied) {
        refusal = `${denied}; nothing is put to sleep until it accepts the agent again`;
      } else if (policy.invalid.length > 0) {
        // Fail closed, like the action controller: a policy we cannot read may protect something.
        const names = policy.invalid.map((p) => `${p.name} (${p.reason})`).join(', ');
        refusal = `AgentPolicy ${names} is invalid; nothing is put to sleep until it is fixed`;
      } else {
        this.counters.sleepPasses++;
        sleep = await runSleepPass(ctx, {
          spec: plan.spec,
          namespaces: this.namespaces,
          excluded,
          policies: policy.policies,
          refresh: plan.sleepPass === 'refresh',
        });
      }
    }
    // Whatever is no longer covered (selectors, excludes, kinds changed) wakes now.
    const uncovered = (await listMarked(ctx, name)).filter(
      (w) => !covers(plan.spec, w, this.namespaces.get(w.namespace), excluded),
    );
    const woken = uncovered.length > 0 ? await runWakePass(ctx, uncovered) : undefined;
    const failed = [...(sleep?.failed ?? []), ...(woken?.failed ?? [])];
    const counts = sleep
      ? { scaled: sleep.changed + sleep.held, restored: woken?.changed ?? 0, skipped: sleep.skipped.length }
      : previous?.counts && woken
        ? { ...previous.counts, restored: previous.counts.restored + woken.changed }
        : undefined;
    const error = refusal ?? describeFailures(failed);
    const status = nextStatus(previous, {
      generation: object.metadata?.generation,
      now,
      state: error ? 'Error' : 'Asleep',
      evaluation: plan.evaluation,
      summary: plan.summary,
      ...(counts ? { counts } : {}),
      ...(error ? { error } : {}),
      ready: error
        ? {
            status: 'False',
            reason: refusal ? (denied ? 'ControlPlaneDenied' : 'PolicyInvalid') : 'PassFailed',
            message: error,
          }
        : readyApplied(plan.evaluation, policy.dryRun, policy.dryRunPolicies),
    });
    if (sleep) this.reportSleep(name, object, sleep, plan.sleepPass, policy.dryRun, now);
    if (woken) this.reportWake(name, object, woken, 'no longer covered', now);
    return { status, nextTransition: plan.evaluation.nextTransition, failed: failed.length };
  }

  /** Awake, suspended or unreadable: nothing of this schedule stays asleep. */
  private async reconcileAwake(step: ReconcileStep, plan: Exclude<ReconcilePlan, { kind: 'asleep' }>) {
    const { name, object, now, previous, policy } = step;
    const ctx = this.passContext(name, now, policy.dryRun);
    this.counters.wakePasses++;
    const woken = await runWakePass(ctx, await listMarked(ctx, name));
    const transition = previous?.state !== stateOf(plan.kind);
    const counts =
      transition || woken.changed > 0
        ? {
            scaled: transition ? 0 : (previous?.counts?.scaled ?? 0),
            restored: (transition ? 0 : (previous?.counts?.restored ?? 0)) + woken.changed,
            skipped: woken.skipped.length,
          }
        : undefined;
    const input: StatusInput = {
      generation: object.metadata?.generation,
      now,
      state: 'Awake',
      ...(counts ? { counts } : {}),
      ready: { status: 'True', reason: 'Applied', message: '' },
    };
    let nextTransition: Date | undefined;
    if (plan.kind === 'invalid') {
      input.state = 'Error';
      input.error = plan.message;
      input.ready = { status: 'False', reason: 'InvalidSpec', message: plan.message };
    } else {
      input.summary = plan.summary;
      if (plan.kind === 'suspended') {
        input.state = 'Suspended';
        input.ready = {
          status: 'True',
          reason: 'Suspended',
          message: 'spec.suspended is true: nothing sleeps',
        };
      } else {
        nextTransition = plan.evaluation.nextTransition;
        input.evaluation = plan.evaluation;
        input.ready = readyApplied(plan.evaluation, policy.dryRun, policy.dryRunPolicies);
      }
      const passError = describeFailures(woken.failed);
      if (passError) {
        input.state = 'Error';
        input.error = passError;
        input.ready = { status: 'False', reason: 'PassFailed', message: passError };
      }
    }
    // A new schedule that finds nothing to wake is not news.
    if ((transition && previous?.state !== undefined) || woken.changed > 0 || woken.failed.length > 0) {
      this.reportWake(name, object, woken, plan.kind === 'awake' ? 'schedule' : plan.kind, now);
    }
    return { status: nextStatus(previous, input), nextTransition, failed: woken.failed.length };
  }

  private async writeStatus(
    name: string,
    object: ScheduleObject,
    previous: HibernationScheduleStatus | undefined,
    status: HibernationScheduleStatus,
  ): Promise<void> {
    if (sameStatus(previous, status)) return;
    // A merge patch: fields the new status no longer has are removed explicitly.
    const body: Record<string, unknown> = { ...status };
    for (const key of Object.keys(previous ?? {})) if (!(key in status)) body[key] = null;
    const updated = (await this.options.clients.custom.patchClusterCustomObjectStatus(
      {
        group: apiGroup,
        version: apiVersionName,
        plural: hibernationSchedulePlural,
        name,
        body: { status: body },
      },
      mergePatch,
    )) as ScheduleObject;
    this.counters.statusWrites++;
    // The watch brings the same object soon; until then a reconcile must not see the old status.
    if (this.schedules.get(name) === object) this.schedules.set(name, updated);
  }

  /** The AgentPolicies as they are now, and whether passes must only pretend (dry run). */
  private policyView() {
    const { policies, invalid } = combinePolicies(this.policyObjects.values());
    const dryRunPolicies = policies.filter((p) => p.spec.dryRun === true).map((p) => p.metadata.name);
    return {
      policies,
      invalid,
      dryRunPolicies,
      dryRun: this.options.dryRun === true || dryRunPolicies.length > 0,
    };
  }

  /** Wakes marked workloads whose schedule no longer exists. */
  private async sweepOrphans(): Promise<void> {
    const { dryRun } = this.policyView();
    const ctxFor = (schedule: string) => this.passContext(schedule, new Date(this.now()), dryRun);
    const probe = ctxFor('');
    const marked: WorkloadFacts[] = [];
    for (const kind of allKinds) {
      marked.push(
        ...(await listWorkloads(
          probe.clients,
          kind,
          { namespaces: 'all', labelSelector: hibernatedByLabel },
          probe.signal,
        )),
      );
    }
    const known = new Set([...this.schedules.keys()].map(hibernatedByValue));
    const orphans = new Map<string, WorkloadFacts[]>();
    for (const w of marked) {
      if (known.has(w.labels[hibernatedByLabel] ?? '')) continue;
      const value = w.annotations[hibernationRestoreAnnotation];
      const parsed = value === undefined ? undefined : parseRestoreRecord(value);
      const schedule = parsed?.ok ? parsed.record.schedule : (w.labels[hibernatedByLabel] ?? '');
      if (this.schedules.has(schedule)) continue;
      orphans.set(schedule, [...(orphans.get(schedule) ?? []), w]);
    }
    for (const [schedule, workloads] of orphans) {
      const outcome = await runWakePass(ctxFor(schedule), workloads);
      this.options.log.info(
        { schedule, restored: outcome.changed, released: outcome.released, left: outcome.skipped.length },
        'woke workloads of a HibernationSchedule that no longer exists',
      );
      this.audit(
        'hibernation.orphans_woken',
        schedule,
        `woke ${outcome.changed} workloads of deleted schedule`,
        outcome,
      );
      if (outcome.failed.length > 0) throw new Error(describeFailures(outcome.failed));
    }
  }

  private reportSleep(
    name: string,
    object: ScheduleObject,
    outcome: PassOutcome,
    kind: 'transition' | 'refresh' | 'none',
    dryRun: boolean,
    now: Date,
  ): void {
    const message =
      `${dryRun ? 'Dry run: would put' : 'Put'} ${outcome.changed} workloads to sleep` +
      `${outcome.held ? `, ${outcome.held} already asleep` : ''}` +
      `${outcome.skipped.length ? `, ${outcome.skipped.length} skipped` : ''}` +
      `${outcome.failed.length ? `, ${outcome.failed.length} failed` : ''}` +
      `${kind === 'refresh' ? ' (an awake period was missed)' : ''}`;
    this.scheduleEvent(object, outcome.failed.length ? 'Warning' : 'Normal', 'Sleeping', message);
    this.audit('hibernation.sleep', name, message, outcome, now);
  }

  private reportWake(
    name: string,
    object: ScheduleObject,
    outcome: PassOutcome,
    why: string,
    now: Date,
  ): void {
    const message =
      `Restored ${outcome.changed} workloads (${why})` +
      `${outcome.released ? `, ${outcome.released} kept what they were changed to` : ''}` +
      `${outcome.skipped.length ? `, ${outcome.skipped.length} left as they are` : ''}` +
      `${outcome.failed.length ? `, ${outcome.failed.length} failed` : ''}`;
    this.scheduleEvent(object, outcome.failed.length ? 'Warning' : 'Normal', 'Woken', message);
    this.audit('hibernation.wake', name, message, outcome, now);
  }

  private scheduleEvent(
    object: ScheduleObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): void {
    this.options.events.emit(
      {
        apiVersion: apiVersion,
        kind: hibernationScheduleKind,
        name: nameOf(object),
        ...(object.metadata?.uid ? { uid: object.metadata.uid } : {}),
      },
      type,
      reason,
      message,
    );
  }

  private audit(
    event: string,
    schedule: string,
    message: string,
    outcome: PassOutcome,
    now = new Date(this.now()),
  ) {
    if (!this.options.audit) return;
    try {
      this.options.audit({
        id: randomUUID(),
        timestamp: now.toISOString(),
        event,
        resource: `hibernationschedule/${schedule}`,
        message: message.slice(0, 4096),
        details: {
          changed: outcome.changed,
          held: outcome.held,
          released: outcome.released,
          skipped: outcome.skipped.slice(0, 50),
          failed: outcome.failed.slice(0, 50),
        },
      });
    } catch (err) {
      this.options.log.warn({ err }, 'could not queue the hibernation audit event');
    }
  }
}

function stateOf(kind: 'awake' | 'suspended' | 'invalid') {
  return kind === 'awake' ? 'Awake' : kind === 'suspended' ? 'Suspended' : 'Error';
}

/** The status as stored; a status that does not parse (edited by hand) counts as none. */
function readStatus(raw: unknown): HibernationScheduleStatus | undefined {
  const parsed = StatusSchema.safeParse(raw ?? {});
  return parsed.success ? parsed.data : undefined;
}

/**
 * The Ready condition when the schedule is applied. The message says why the state holds and
 * until when: stable for the whole period, so a reconcile in the middle writes nothing.
 */
function readyApplied(evaluation: Evaluation, dryRun: boolean, policies: string[]) {
  const until = evaluation.nextTransition
    ? ` until ${evaluation.nextTransition.toISOString()}`
    : ' (it never changes)';
  const reason =
    evaluation.source === 'override' ? evaluation.reason : `${evaluation.state} by the schedule${until}`;
  if (!dryRun) return { status: 'True' as const, reason: 'Applied', message: reason };
  const who = policies.length > 0 ? `AgentPolicy ${policies.join(', ')}` : 'the agent runs with --dry-run';
  return {
    status: 'True' as const,
    reason: 'DryRun',
    message: `dry run (${who}): nothing is changed; ${reason}`,
  };
}

function describeFailures(failed: PassOutcome['failed']): string | undefined {
  if (failed.length === 0) return undefined;
  const shown = failed.slice(0, 5).map((f) => `${f.key}: ${f.message}`);
  return `${failed.length} workload(s) could not be changed (retrying): ${shown.join('; ')}${failed.length > 5 ? '; …' : ''}`;
}
