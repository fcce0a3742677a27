/**
 * The action controller: watches AgentActions in the agent's namespace and AgentPolicies in
 * the cluster, and takes each action through expiry, the policy check, its executor and the
 * reporting of its outcome. Leader-only: `run(signal)` is called when this replica becomes
 * leader and `signal` aborts the moment it stops being one.
 *
 * One path for every action: the poller turns control-plane actions into AgentActions
 * (source control-plane); admins apply AgentActions themselves (source local).
 */
import { planDryRun } from '../../actions/dry-run.ts';
import { executorFor, runAction } from '../../actions/registry.ts';
import {
  ActionAbortedError,
  type ActionLimits,
  type ActionResult,
  type DrainTuning,
} from '../../actions/types.ts';
import type { Action } from '../../contract/envelope.ts';
import {
  type ActionPlan,
  type AgentAction,
  agentActionPlural,
  approvedAnnotation,
  terminalPhases,
} from '../../crds/agent-action.ts';
import { agentPolicyPlural } from '../../crds/agent-policy.ts';
import { apiGroup, apiVersionName } from '../../crds/common.ts';
import { statusCode } from '../../kube/api-errors.ts';
import type { KubeClients } from '../../kube/clients.ts';
import { type EventSink, eventScope } from '../../kube/events.ts';
import type { NodeCache, NodeLookup } from '../../kube/node-cache.ts';
import type { KubeObject } from '../../kube/watch.ts';
import type { Logger } from '../../observability/logger.ts';
import type { AgentMetrics } from '../../observability/metrics.ts';
import { isStateFileError, type StateStore } from '../../store/index.ts';
import { errorMessage } from '../../util/errors.ts';
import { planSyncSchedule } from '../hibernation/sync-plan.ts';
import {
  type Decision,
  decide,
  type EffectiveLimits,
  type PolicyInput,
  pausedBy,
  policyLabel,
  resolvePolicies,
  withAgentDryRun,
} from '../policy/decide.ts';
import { combinePolicies, type ParsedPolicy, parsePolicy } from '../policy/parse-policies.ts';
import { nameOf, watchIntoCache } from '../runtime/object-cache.ts';
import { aborted } from '../runtime/run-until-abort.ts';
import { WorkQueue } from '../runtime/work-queue.ts';
import { DrainOverrun } from './drain-overrun.ts';
import { countsAsDisruptive, factNeeds, type NodeCopies, resolveFacts } from './facts.ts';
import { planStep, supersededBy } from './plan.ts';
import { drainProgressFromCounts, evictionCounts } from './progress.ts';
import { ActionRecords } from './records.ts';
import type { FinalRecord } from './status.ts';

export interface ActionControllerOptions {
  clients: KubeClients;
  namespace: string;
  store: StateStore;
  events: EventSink;
  log: Logger;
  metrics?: AgentMetrics;
  now?: () => number;
  /** Actions reconciled at once (different targets; one target is always serialised). */
  concurrency?: number;
  /** Finished AgentActions are deleted this long after they finished. Default 24 h. */
  finishedTtlMs?: number;
  /**
   * An idempotent action still running after this long gets status Running (and a Started
   * Event); quicker ones go straight to their final status. Default 1 s.
   */
  runningStatusDelayMs?: number;
  /** Re-check interval for actions that wait (approval, windows, limits). Default 15 s. */
  waitRecheckMs?: number;
  drainTuning?: DrainTuning;
  /**
   * The leader's watch-fed, trimmed copies of the Nodes (its NodeCache, shared with the
   * inventory and run by the caller), so cordon/uncordon skip the GET of their node (a write
   * guarded by the copy's resourceVersion; a stale copy falls back to the read), and the
   * policy check counts unavailable nodes and reads control-plane roles without a request.
   * Absent: they always read.
   */
  nodes?: NodeLookup & Partial<Pick<NodeCache, 'values' | 'size'>>;
  /** Agent-wide dry run (`--dry-run`): acts like an AgentPolicy with dryRun: true. */
  dryRun?: boolean;
  /**
   * Whether the control plane accepts this agent (controlplane/access.ts). While it says to
   * hold, actions from the control plane that have not started wait (Pending, with why);
   * admins' own AgentActions and interrupted runs are not held. Absent: never held.
   */
  controlPlaneAccess?: { holdReason(): string | undefined; onChange(listener: () => void): () => void };
  /** Told the AgentPolicy that pauses the agent whenever it changes (undefined: not paused). */
  onPauseChange?: (policy: string | undefined) => void;
}

export class ActionController {
  private readonly options: ActionControllerOptions;
  private readonly now: () => number;
  // Filled by run()'s watches; empty until then.
  private actions = new Map<string, AgentAction>();
  private policies: ReadonlyMap<string, ParsedPolicy> = new Map();
  private readonly records: ActionRecords;
  /**
   * Outcomes decided in this process. The watch can deliver an older copy of an object
   * after its final status was written; with this the controller knows the result is not
   * lost and does not "repair" a status that is only late.
   */
  private readonly finals = new Map<string, FinalEntry>();
  /** Counters for tests and benchmarks. */
  readonly counters = { reconciles: 0, executions: 0, finished: 0, deleted: 0 };
  /** AgentAction names by target (supersededBy looks at one target, not at every action). */
  private readonly byTarget = new Map<string, Set<string>>();
  /**
   * Names of the disruptive AgentActions in phase Running (maxConcurrentDisruptiveActions),
   * kept up to date with every change of `actions` (trackRunning) rather than counted by a
   * scan per decision: the built-in defaults always limit concurrency, and a scan is O(n^2)
   * over a burst of thousands.
   */
  private readonly runningDisruptive = new Set<string>();
  private readonly drains = new DrainOverrun();
  private pausedBy: string | undefined;
  /**
   * Set once the first list of AgentPolicies is in. The action list may arrive first (or the
   * policy list may keep failing, e.g. RBAC): until then no action is looked at, so none is
   * ever decided against a partial (empty) policy set. The policy list re-queues them all.
   */
  private policiesListed = false;

  constructor(options: ActionControllerOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.records = new ActionRecords({
      clients: options.clients,
      store: options.store,
      events: options.events,
      now: this.now,
    });
  }

  /**
   * Runs until `signal` aborts. A failing first list of policies or actions is retried by
   * listWatch (the API server busy right after an election: with backoff; a refusal such as
   * 403 from RBAC or 404 without the CRDs: logged as an error, backoff up to 30 s), so the term is
   * never left without a controller and fixing RBAC or installing the CRDs is enough.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const { clients, namespace, log } = this.options;
    const queue = new WorkQueue({
      concurrency: this.options.concurrency ?? 16,
      laneOf: (name) => this.actions.get(name)?.spec.target,
      process: (name) => this.reconcile(name, queue, signal),
      onError: (name, err) => {
        // A state file that cannot be written (disk full) is logged once by the agent, not
        // once per action and retry.
        if (isStateFileError(err)) log.debug({ action: name, err }, 'reconcile failed; retrying');
        else log.warn({ action: name, err }, 'reconcile failed; retrying');
        queue.addAfter(name, 2_000);
      },
    });
    const watch = { clients, signal, log };
    const policies = watchIntoCache<KubeObject, ParsedPolicy>({
      ...watch,
      path: `/apis/${apiGroup}/${apiVersionName}/${agentPolicyPlural}`,
      keep: parsePolicy,
      onList: () => {
        this.policiesListed = true;
        this.notePause();
        // Every action, finished ones too: their reconcile (adopt or repair a final status)
        // waited for this list as well.
        this.requeue(queue, [...this.actions.values()]);
      },
      // A changed policy may release waiting actions.
      onEvent: () => {
        this.notePause();
        this.requeue(queue, this.unfinished());
      },
    });
    this.policies = policies.objects;
    const actions = watchIntoCache<AgentAction>({
      ...watch,
      path: `/apis/${apiGroup}/${apiVersionName}/namespaces/${namespace}/${agentActionPlural}`,
      onList: (objects) => {
        this.byTarget.clear();
        this.runningDisruptive.clear();
        for (const [name, item] of objects) {
          this.indexTarget(item);
          this.trackRunning(name, item);
        }
        for (const name of sortedByCreation(objects.values())) queue.add(name);
      },
      onEvent: (type, name, item) => {
        if (type === 'DELETED') {
          this.byTarget.get(item.spec?.target ?? '')?.delete(name);
          this.finals.delete(name);
          this.runningDisruptive.delete(name);
        } else {
          this.indexTarget(item);
          this.trackRunning(name, item);
          queue.add(name);
        }
      },
    });
    this.actions = actions.objects;
    const caches = [policies, actions];
    // Started once both lists are in (reconcile itself waits for the policies: policiesListed).
    await policies.ready;
    await actions.ready;
    if (signal.aborted) {
      await queue.stop();
      await Promise.allSettled(caches.map((c) => c.stopped));
      return;
    }
    // Access restored (or lost): the held actions are looked at again at once.
    const offAccess = this.options.controlPlaneAccess?.onChange(() => this.requeue(queue, this.unfinished()));
    log.info({ namespace }, 'action controller started');
    const gc = setInterval(() => this.collectGarbage(signal), 60_000);
    gc.unref();
    const overrun = setInterval(
      () => this.options.metrics?.drainBudgetOverrunSeconds.set(this.drains.overrunSeconds()),
      5_000,
    );
    overrun.unref();
    await aborted(signal);
    clearInterval(gc);
    offAccess?.();
    clearInterval(overrun);
    this.options.metrics?.drainBudgetOverrunSeconds.set(0);
    await queue.stop();
    await Promise.allSettled(caches.map((c) => c.stopped));
    log.info('action controller stopped');
  }

  private indexTarget(item: AgentAction): void {
    const target = item.spec?.target;
    if (!target) return;
    let names = this.byTarget.get(target);
    if (!names) {
      names = new Set();
      this.byTarget.set(target, names);
    }
    names.add(nameOf(item));
  }

  /** The AgentActions on the same target as `object` (itself included). */
  private sameTarget(object: AgentAction): AgentAction[] {
    const names = object.spec.target ? this.byTarget.get(object.spec.target) : undefined;
    const out: AgentAction[] = [];
    for (const name of names ?? []) {
      const other = this.actions.get(name);
      if (other) out.push(other);
    }
    return out;
  }

  /**
   * Queues actions again, oldest first: one target's actions run in the order they are taken
   * from the queue, so they must go in in createdAt order. The cache's own order is the API
   * list's (by name) and the watch's: a newer uncordon taken first would run before an older
   * cordon of the same node, which then is rejected as superseded.
   */
  private requeue(queue: WorkQueue, actions: readonly AgentAction[]): void {
    for (const name of sortedByCreation(actions)) queue.add(name);
  }

  private unfinished(): AgentAction[] {
    return [...this.actions.values()].filter((o) => !isTerminal(o));
  }

  /** Tells the agent (metrics, Lease status) when the pause starts or ends. */
  private notePause(): void {
    const now = pausedBy(combinePolicies(this.policies.values()).policies)?.metadata.name;
    if (now === this.pausedBy) return;
    this.pausedBy = now;
    this.options.log.warn(
      now ? { policy: now } : {},
      now ? 'paused: no action starts until resumed' : 'resumed: actions start again',
    );
    this.options.onPauseChange?.(now);
  }

  private async reconcile(name: string, queue: WorkQueue, signal: AbortSignal): Promise<void> {
    if (signal.aborted || !this.policiesListed) return;
    const object = this.actions.get(name);
    if (!object) return;
    this.counters.reconciles++;
    // Decided and done here, but the journal could not take the result yet (disk full): keep
    // retrying that write, never plan (and run) the action again.
    const pending = this.finals.get(name);
    if (pending && !pending.journaled) {
      await this.settleFinal(object, pending);
      return;
    }
    const id = object.spec.id;
    const entry = this.options.store.journal.entry(id);
    const step = planStep({
      object,
      journal: entry?.state ?? 'new',
      journalFinalState: entry?.finalState,
      runningHere: false,
      idempotent:
        executorFor(object.spec.type)?.idempotent ?? object.spec.type === 'sync_hibernation_schedule',
      now: this.now(),
    });
    switch (step.kind) {
      case 'none':
        return;
      case 'adopt-final':
        if (step.state !== 'running') this.records.adoptFinal(object, step.state);
        return;
      case 'repair-status': {
        if (step.state === 'running') return;
        const known = this.finals.get(name);
        if (known?.patched) return;
        await this.records.patchFinalStatus(
          object,
          known?.record ?? {
            state: step.state,
            message: `${step.state} (recovered from the agent's journal)`,
          },
          known?.finishedAt ?? new Date(entry?.finishedAt ?? this.now()).toISOString(),
        );
        if (known) known.patched = true;
        return;
      }
      case 'reject':
        await this.finish(object, { state: 'rejected', message: step.reason, reason: 'InvalidAction' });
        return;
      case 'expire':
        await this.finish(object, { state: 'expired', message: step.message, reason: 'Expired' });
        return;
      case 'fail-interrupted':
        await this.finish(object, {
          state: 'failed',
          message: 'agent restarted during execution; outcome unknown — verify the target',
          reason: 'Interrupted',
        });
        return;
      case 'evaluate':
        await this.evaluate(object, step.action, step.resume, queue, signal);
        return;
    }
  }

  private async evaluate(
    object: AgentAction,
    action: Action,
    resume: boolean,
    queue: WorkQueue,
    signal: AbortSignal,
  ) {
    const newer = resume ? undefined : supersededBy(object, this.sameTarget(object));
    if (newer) {
      await this.finish(object, {
        state: 'rejected',
        message: `superseded: the newer action ${newer.spec.id} on ${object.spec.target} already ran`,
        reason: 'Superseded',
        result: { supersededBy: newer.spec.id },
      });
      return;
    }
    const hold =
      object.spec.source === 'control-plane' && !resume && this.options.controlPlaneAccess?.holdReason();
    if (hold) {
      const message = `waiting: ${hold}`;
      if (object.status?.phase !== 'Pending' || object.status?.message !== message) {
        await this.records.patchStatus(object, { phase: 'Pending', message, reason: 'ControlPlaneDenied' });
      }
      queue.addAfter(nameOf(object), this.options.waitRecheckMs ?? 15_000);
      return;
    }
    const invalid = [...this.policies.values()].find((p) => p.invalid !== undefined);
    if (invalid) {
      const { name: policyName } = invalid;
      await this.finish(object, {
        state: 'rejected',
        message: `AgentPolicy ${policyName} is invalid (${invalid.invalid}); refusing every action until it is fixed`,
        reason: `AgentPolicy/${policyName}:invalid`,
      });
      return;
    }
    const { policies } = combinePolicies(this.policies.values());
    const decided = await this.decide(object, action, policies, signal);
    const decision = this.options.dryRun ? withAgentDryRun(decided) : decided;
    const rule = 'rule' in decision ? decision.rule : 'none';
    this.options.metrics?.policyDecisionsTotal.inc({ decision: decision.decision, rule });
    switch (decision.decision) {
      case 'refuse':
        await this.finish(object, {
          state: 'rejected',
          message: `refused by ${policyLabel(decision.policy)} (${decision.rule}): ${decision.message}`,
          reason: `AgentPolicy/${decision.policy}:${decision.rule}`,
          result: { policy: decision.policy, rule: decision.rule },
        });
        return;
      case 'dryRun': {
        // Rejected, not succeeded: nothing was done, and a control plane that read
        // "succeeded" would act on a change that never happened (docs/policy.md "Dry run").
        const plan = await this.dryRunPlan(action, policies, decision, signal);
        const first = plan.summary.split('\n')[0] ?? '';
        await this.finish(object, {
          state: 'rejected',
          message: `dry run (${decision.policies.map(policyLabel).join(', ')}), nothing was changed: ${first}`,
          reason: `AgentPolicy/${decision.policies[0]}:dryRun`,
          result: { dryRun: true, policies: decision.policies, rule: 'dryRun', plan },
          plan,
        });
        return;
      }
      case 'wait': {
        const phase = decision.rule === 'approval' ? 'WaitingApproval' : 'Pending';
        const message = `waiting: ${policyLabel(decision.policy)} (${decision.rule}): ${decision.message}`;
        if (object.status?.phase !== phase || object.status?.message !== message) {
          await this.records.patchStatus(object, {
            phase,
            message,
            reason: `AgentPolicy/${decision.policy}:${decision.rule}`,
          });
        }
        const retryIn = decision.retryAt ? decision.retryAt.getTime() - this.now() : Number.POSITIVE_INFINITY;
        queue.addAfter(nameOf(object), Math.min(retryIn, this.options.waitRecheckMs ?? 15_000));
        return;
      }
      case 'allow':
        await this.execute(object, action, decision, signal);
        return;
    }
  }

  private async decide(
    object: AgentAction,
    action: Action,
    policies: PolicyInput[],
    signal: AbortSignal,
  ): Promise<Decision> {
    const { nodes, namespace } = this.options;
    const copies = nodes?.values && nodes.size !== undefined ? (nodes as NodeCopies) : undefined;
    const needs = factNeeds(resolvePolicies(policies, namespace));
    const facts = await resolveFacts(this.options.clients, action, needs, signal, copies);
    const name = nameOf(object);
    return decide(action, policies, {
      now: new Date(this.now()),
      target: facts.target,
      runningDisruptiveActions: this.runningDisruptive.size - (this.runningDisruptive.has(name) ? 1 : 0),
      unavailableNodes: facts.unavailableNodes,
      totalNodes: facts.totalNodes,
      targetNodeUnavailable: facts.targetNodeUnavailable,
      approved: object.metadata.annotations?.[approvedAnnotation] === 'true',
      agentNamespace: namespace,
    });
  }

  /** Keeps runningDisruptive true to `actions` (call with every object stored there). */
  private trackRunning(name: string, object: AgentAction): void {
    if (object.status?.phase === 'Running' && countsAsDisruptive(object)) this.runningDisruptive.add(name);
    else this.runningDisruptive.delete(name);
  }

  /** Stores what this process knows of an action ahead of the watch. */
  private setAction(name: string, object: AgentAction): void {
    this.actions.set(name, object);
    this.trackRunning(name, object);
  }

  /** The dry run's plan; a plan that cannot be made says why instead (the action is still not run). */
  private async dryRunPlan(
    action: Action,
    policies: readonly PolicyInput[],
    limits: EffectiveLimits,
    signal: AbortSignal,
  ): Promise<ActionPlan> {
    const { clients, log } = this.options;
    try {
      if (action.type === 'sync_hibernation_schedule')
        return await planSyncSchedule(clients, action, policies, this.options.namespace, signal);
      return await planDryRun(action, {
        kube: clients,
        log: log.child({ actionId: action.id, type: action.type }),
        signal,
        now: this.now,
        events: eventScope(this.options.events),
        limits: executorLimits(limits),
      });
    } catch (err) {
      if (signal.aborted) throw err;
      const message = `the plan could not be made: ${errorMessage(err)}`;
      return { summary: message, wouldFail: true, details: { error: message } };
    }
  }

  private async execute(
    object: AgentAction,
    action: Action,
    decision: Extract<Decision, { decision: 'allow' }>,
    signal: AbortSignal,
  ): Promise<void> {
    const { clients, log, metrics } = this.options;
    // Count this action as Running for the concurrency limits of the ones checked after it.
    this.setAction(nameOf(object), { ...object, status: { ...object.status, phase: 'Running' } });
    // Idempotent executors: status Running only if still running after a moment (see
    // ActionRecords.start); quick actions then cost two API writes less.
    const idempotent = executorFor(action.type)?.idempotent === true;
    let started: Awaited<ReturnType<ActionRecords['start']>>;
    try {
      started = await this.records.start(object, {
        deferStatusMs: idempotent ? (this.options.runningStatusDelayMs ?? 1_000) : 0,
      });
    } catch (err) {
      // Not started (journal write failed, e.g. disk full): it must not look Running, or
      // the retry would take it for an interrupted run.
      this.setAction(nameOf(object), object);
      throw err;
    }
    const { startedAt, settle, wroteRunning } = started;
    this.counters.executions++;
    const t0 = this.now();
    metrics?.actionsRunning.inc({ type: action.type });
    const untrackDrain = this.drains.track(action, t0);
    let result: ActionResult;
    try {
      result = await runAction(action, {
        kube: clients,
        log: log.child({ actionId: action.id, type: action.type }),
        signal,
        now: this.now,
        // The executor's flush() waits for this action's Events only.
        events: eventScope(this.options.events),
        ...(this.options.nodes ? { nodes: this.options.nodes } : {}),
        limits: executorLimits(decision),
        ...(this.options.drainTuning ? { drainTuning: this.options.drainTuning } : {}),
        onProgress: (progress) => this.reportProgress(object, progress),
      });
    } catch (err) {
      if (err instanceof ActionAbortedError || signal.aborted) {
        // Not finished: the journal says started; whoever leads next resumes it.
        await settle();
        log.info({ actionId: action.id }, 'action interrupted (leadership lost or shutting down)');
        return;
      }
      result = { outcome: 'failed', message: `${action.type} failed: ${errorMessage(err)}`, details: {} };
    } finally {
      metrics?.actionsRunning.dec({ type: action.type });
      untrackDrain();
    }
    for (const [outcome, n] of Object.entries(evictionCounts(result.details))) {
      if (n > 0) metrics?.evictionsTotal.inc({ outcome }, n);
    }
    metrics?.actionDurationSeconds.observe({ type: action.type }, (this.now() - t0) / 1000);
    await settle();
    await this.finish(object, {
      state: result.outcome,
      message: result.message,
      ...(result.reason ? { reason: result.reason } : {}),
      result: { ...result.details, ...(result.reason ? { reason: result.reason } : {}) },
      startedAt,
      // Quick and never shown Running: no Started Event was sent, and no Succeeded one is.
      ...(wroteRunning() ? {} : { quiet: true }),
    });
  }

  private lastProgress = new Map<string, number>();

  private reportProgress(
    object: AgentAction,
    progress: { phase: string; counts: Record<string, number> },
  ): void {
    // At most one status write per action every 2 s: progress is for humans.
    const name = nameOf(object);
    // Monotonic: a wall-clock step back must not silence progress for the size of the step.
    const last = this.lastProgress.get(name) ?? Number.NEGATIVE_INFINITY;
    if (performance.now() - last < 2_000) return;
    this.lastProgress.set(name, performance.now());
    const drain = drainProgressFromCounts(progress.counts);
    this.records
      .patchStatus(object, { phase: 'Running', message: `${progress.phase}`, progress: { drain } })
      .catch((err: unknown) => this.options.log.debug({ err }, 'progress update failed'));
  }

  private async finish(object: AgentAction, record: FinalRecord): Promise<void> {
    const final: FinalEntry = {
      record,
      finishedAt: new Date(this.now()).toISOString(),
      patched: false,
      journaled: false,
    };
    this.finals.set(nameOf(object), final);
    await this.settleFinal(object, final);
  }

  /**
   * Journals the outcome (with its report) and writes the final status. When the state file
   * cannot take it (disk full) the outcome stays in memory (`finals`), the final status is
   * written first — so a restart or another leader adopts this outcome instead of running the
   * action again — and the error goes to the work queue, which retries the journal write
   * (reconcile → here) until the disk takes it. Reported once either way: the journal write
   * and the report are one transaction.
   */
  private async settleFinal(object: AgentAction, final: FinalEntry): Promise<void> {
    const { record } = final;
    if (!final.journaled) {
      try {
        // Awaited: durable (group commit) before anything else happens to this action.
        await this.records.journalFinal(object, record, final.finishedAt);
        final.journaled = true;
      } catch (err) {
        if (isStateFileError(err) && !final.patched) {
          await this.records
            .patchFinalStatus(object, record, final.finishedAt)
            .then(() => {
              final.patched = true;
            })
            .catch(() => undefined);
        }
        throw err;
      }
    }
    if (!final.patched) await this.records.patchFinalStatus(object, record, final.finishedAt);
    final.patched = true;
    this.setAction(nameOf(object), {
      ...object,
      status: { ...object.status, phase: finalPhase(record.state) },
    });
    this.lastProgress.delete(nameOf(object));
    this.counters.finished++;
    this.options.metrics?.actionsTotal.inc({
      type: object.spec.type,
      outcome: record.result?.dryRun ? 'dry_run' : record.state,
    });
  }

  /** Deletes finished AgentActions past the TTL, once their outcome is in the journal. */
  private async collectGarbage(signal: AbortSignal): Promise<void> {
    const ttl = this.options.finishedTtlMs ?? 24 * 3_600_000;
    for (const [name, object] of this.actions) {
      if (signal.aborted) return;
      const finishedAt = object.status?.finishedAt ? Date.parse(object.status.finishedAt) : undefined;
      if (!isTerminal(object) || finishedAt === undefined || this.now() - finishedAt < ttl) continue;
      if (this.options.store.journal.state(object.spec.id) !== 'finished') continue;
      try {
        await this.options.clients.custom.deleteNamespacedCustomObject({
          group: apiGroup,
          version: apiVersionName,
          namespace: this.options.namespace,
          plural: agentActionPlural,
          name,
        });
        this.counters.deleted++;
      } catch (err) {
        if (statusCode(err) !== 404) this.options.log.warn({ action: name, err }, 'GC failed');
      }
    }
  }
}

interface FinalEntry {
  record: FinalRecord;
  finishedAt: string;
  /** The final status is written. */
  patched: boolean;
  /** The journal has it, and its report is queued. */
  journaled: boolean;
}

function isTerminal(object: AgentAction): boolean {
  return object.status?.phase !== undefined && terminalPhases.has(object.status.phase);
}

function finalPhase(state: FinalRecord['state']) {
  return ({ succeeded: 'Succeeded', failed: 'Failed', rejected: 'Rejected', expired: 'Expired' } as const)[
    state
  ];
}

/** The policy's limits as the executors take them (actions/types.ts ActionLimits). */
function executorLimits(limits: EffectiveLimits): ActionLimits {
  return {
    ...limits.drain,
    maxReplicas: limits.scale.maxReplicas,
    maxScaleUpFactor: limits.scale.maxScaleUpFactor,
  };
}

function sortedByCreation(items: Iterable<AgentAction>): string[] {
  return [...items]
    .sort((a, b) => Date.parse(a.spec.createdAt) - Date.parse(b.spec.createdAt))
    .map((i) => nameOf(i));
}
