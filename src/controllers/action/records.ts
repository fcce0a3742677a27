/**
 * Where an action's progress is written: the SQLite journal + outbox (what the control plane
 * will be told, durable across crashes and outages) and the AgentAction's status (what
 * admins see with kubectl). The journal/outbox write always comes first and is one
 * transaction; the status patch follows and is repaired from the journal if it is lost.
 *
 * Actions from the control plane are reported as status reports; actions an admin applied
 * (source: local) are unknown to the control plane and are reported as audit events.
 */

import { randomUUID } from 'node:crypto';
import type { ActionState, StatusReport } from '../../contract/reports.ts';
import { type AgentAction, type AgentActionStatus, agentActionPlural } from '../../crds/agent-action.ts';
import { apiGroup, apiVersion, apiVersionName } from '../../crds/common.ts';
import type { KubeClients } from '../../kube/clients.ts';
import type { EventSink, EventType } from '../../kube/events.ts';
import { mergePatch } from '../../kube/merge-patch.ts';
import { type CommitGroup, commitGroupFor } from '../../store/commit-group.ts';
import type { StateStore } from '../../store/index.ts';
import { type FinalRecord, finalStatus, runningStatus } from './status.ts';

export class ActionRecords {
  private readonly clients: KubeClients;
  private readonly store: StateStore;
  private readonly events: EventSink;
  private readonly now: () => number;
  private readonly commits: CommitGroup;

  constructor(options: { clients: KubeClients; store: StateStore; events: EventSink; now: () => number }) {
    this.clients = options.clients;
    this.store = options.store;
    this.events = options.events;
    this.now = options.now;
    this.commits = commitGroupFor(options.store);
  }

  private ensureReceived(object: AgentAction): void {
    if (this.store.journal.state(object.spec.id) === 'new')
      this.store.journal.received(object.spec.id, object.spec);
  }

  /**
   * Journal `started` (durable before anything is executed; group-committed with whatever
   * else is being journaled at that moment, see CommitGroup), then status Running and the
   * Started event.
   *
   * The control plane hears `running` once per action: the poller journals `received`
   * together with that acknowledgement (one transaction), so an action the journal already
   * has is acknowledged. Only an action this journal has never seen (the controller saw its
   * object first, or another replica's poller accepted it) gets its `running` report here,
   * in the same transaction as `started`.
   *
   * With `deferStatusMs` > 0 the status write waits that long and is skipped if the action
   * finished first: a cordon takes milliseconds, and its Running status (one status write,
   * one Event, one watch event) would be stale before anyone saw it; the final status
   * carries `startedAt`. Use it only for idempotent executors: another replica that takes
   * over reads status Running as "interrupted mid-execution", which matters when re-running
   * is not safe. With 0 the write is done (awaited) before returning.
   * `settle()` cancels a write that has not begun and waits for one in flight, so the final
   * status is always written after it. Running writes never fail the action (cosmetic: the
   * journal is the record and the final status follows).
   */
  async start(
    object: AgentAction,
    options: { deferStatusMs?: number } = {},
  ): Promise<{ startedAt: string; settle: () => Promise<void>; wroteRunning: () => boolean }> {
    const id = object.spec.id;
    const startedAt = object.status?.startedAt ?? new Date(this.now()).toISOString();
    await this.commits.run(() => {
      const state = this.store.journal.state(id);
      if (state !== 'new' && state !== 'received') return;
      if (state === 'new') this.store.journal.received(id, object.spec);
      this.store.journal.started(id);
      if (object.spec.source !== 'control-plane') {
        this.store.outbox.appendAudit(this.audit(object, 'action.started', `started ${object.spec.type}`));
      } else if (state === 'new') {
        this.store.outbox.appendStatus(id, { state: 'running', message: 'executing', startedAt });
      }
    });
    const writeRunning = async () => {
      this.event(
        object,
        'Normal',
        'Started',
        `executing ${object.spec.type} on ${object.spec.target ?? '?'}`,
      );
      await this.patchStatus(object, runningStatus(object.spec.type, startedAt, this.now())).catch(
        () => undefined,
      );
    };
    const deferMs = options.deferStatusMs ?? 0;
    if (deferMs <= 0 || object.status?.phase === 'Running') {
      if (object.status?.phase !== 'Running') await writeRunning();
      return { startedAt, settle: async () => {}, wroteRunning: () => true };
    }
    let writing: Promise<void> | undefined;
    const timer = setTimeout(() => {
      writing = writeRunning();
    }, deferMs);
    timer.unref();
    return {
      startedAt,
      settle: async () => {
        clearTimeout(timer);
        await writing;
      },
      wroteRunning: () => writing !== undefined,
    };
  }

  /**
   * Journal `finished` + the final report (control plane) or audit event (local) in ONE
   * transaction (group-committed, see CommitGroup): when the promise resolves the outcome is
   * durable; it rejects (e.g. a state file that cannot be written) with nothing recorded. A
   * no-op when the journal already has the action finished.
   */
  journalFinal(object: AgentAction, record: FinalRecord, finishedAt: string): Promise<void> {
    const id = object.spec.id;
    return this.commits.run(() => {
      this.ensureReceived(object);
      if (this.store.journal.state(id) === 'finished') return;
      if (object.spec.source === 'control-plane') {
        const report: StatusReport = {
          state: record.state,
          message: record.message.slice(0, 4096),
          finishedAt,
          ...(record.result === undefined ? {} : { result: record.result }),
          ...(record.startedAt === undefined ? {} : { startedAt: record.startedAt }),
        };
        this.store.finishAndReport(id, report);
      } else {
        this.store.journal.finished(id, record.state);
        this.store.outbox.appendAudit(
          this.audit(object, `action.${record.state}`, record.message, {
            ...(record.reason ? { reason: record.reason } : {}),
            ...(record.result ? { result: record.result } : {}),
          }),
        );
      }
    });
  }

  async patchFinalStatus(object: AgentAction, record: FinalRecord, finishedAt: string): Promise<void> {
    const status = finalStatus(record, finishedAt, this.now());
    const phase = status.phase;
    await this.patchStatus(object, status);
    if (record.quiet && record.state === 'succeeded') return;
    this.event(
      object,
      record.state === 'succeeded' ? 'Normal' : 'Warning',
      phase,
      `${object.spec.type} ${record.state}: ${record.message}`,
    );
  }

  /** Records a final state someone else wrote in the status (another replica, a crash). */
  adoptFinal(object: AgentAction, state: Exclude<ActionState, 'running'>): void {
    const id = object.spec.id;
    this.ensureReceived(object);
    if (object.spec.source !== 'control-plane') {
      this.store.journal.finished(id, state);
      return;
    }
    const status = object.status ?? {};
    this.store.finishAndReport(id, {
      state,
      message: (status.message ?? '').slice(0, 4096),
      ...(status.result ? { result: status.result } : {}),
      ...(status.startedAt ? { startedAt: status.startedAt } : {}),
      ...(status.finishedAt ? { finishedAt: status.finishedAt } : {}),
    });
  }

  async patchStatus(object: AgentAction, status: AgentActionStatus): Promise<void> {
    await this.clients.custom.patchNamespacedCustomObjectStatus(
      {
        group: apiGroup,
        version: apiVersionName,
        namespace: object.metadata.namespace ?? '',
        plural: agentActionPlural,
        name: object.metadata.name ?? '',
        body: { status: { ...status, observedGeneration: object.metadata.generation } },
      },
      mergePatch,
    );
  }

  event(object: AgentAction, type: EventType, reason: string, message: string): void {
    this.events.emit(
      {
        apiVersion,
        kind: 'AgentAction',
        name: object.metadata.name ?? '',
        ...(object.metadata.namespace ? { namespace: object.metadata.namespace } : {}),
        ...(object.metadata.uid ? { uid: object.metadata.uid } : {}),
      },
      type,
      reason,
      `${message} (action ${object.spec.id})`.slice(0, 1024),
    );
  }

  private audit(object: AgentAction, event: string, message: string, details?: Record<string, unknown>) {
    return {
      id: randomUUID(),
      timestamp: new Date(this.now()).toISOString(),
      event,
      resource: `agentaction/${object.metadata.namespace}/${object.metadata.name}`,
      actionId: object.spec.id,
      message: message.slice(0, 4096),
      details: { type: object.spec.type, target: object.spec.target, source: object.spec.source, ...details },
    };
  }
}
