/**
 * Turns what the control plane sends into AgentActions. Leader-only, fed by the PollLoop.
 *
 * For each envelope (different targets in parallel, each target's actions in order):
 * - out of bounds (past maxActions in one poll, nested too deeply, too large: contract/bounds.ts)
 *   or invalid (bad JSON shape, unknown type, bad payload): journal it and queue a `rejected`
 *   report with the reason — never an exception out of the loop, never retried forever. All
 *   refusals of a batch are written in one transaction. An envelope without a usable id cannot
 *   be answered; it becomes an audit event instead, one per distinct reason with a count (2,000
 *   nulls are one event, not 2,000).
 * - its id already known to the journal: a redelivery; nothing to do (its reports are in the
 *   outbox). This holds for a refusal too: an invalid envelope under the id of an action that
 *   was accepted (or is running) never finishes that action.
 * - valid and new: create the AgentAction (AlreadyExists is fine: a previous attempt got
 *   that far), then journal it and queue the `running` acknowledgement in one transaction.
 *   The object is created first so that a crash in between ends in a redelivery that finds
 *   the object, never in an acknowledged action with no object. An action whose object the
 *   API server can never store (refused as invalid or too large: 400/413/422) is rejected
 *   like an invalid one; throwing would fail the whole batch on every redelivery and block
 *   the actions queued behind it.
 */
import { randomUUID } from 'node:crypto';
import { agentActionFor, describeActionTarget } from '../../contract/action-object.ts';
import { envelopeOutOfBounds } from '../../contract/bounds.ts';
import { type Action, envelopeId, parseEnvelope } from '../../contract/envelope.ts';
import { agentActionName, agentActionPlural } from '../../crds/agent-action.ts';
import { apiGroup, apiVersionName } from '../../crds/common.ts';
import { apiErrorMessage, statusCode } from '../../kube/api-errors.ts';
import type { KubeClients } from '../../kube/clients.ts';
import type { Logger } from '../../observability/logger.ts';
import { commitGroupFor } from '../../store/commit-group.ts';
import type { StateStore } from '../../store/index.ts';

/** Actions taken from one poll response by default (the agent asks for no more: `limit`). */
export const defaultMaxActionsPerPoll = 100;

export interface AcceptOptions {
  clients: KubeClients;
  namespace: string;
  store: StateStore;
  log: Logger;
  now?: () => number;
  /** Targets whose AgentActions are created at once (one target is always in order). Default 8. */
  concurrency?: number;
  /**
   * Agent clock minus the control plane's, measured on the poll response that delivered this
   * batch (util/clock-skew.ts); kept in each AgentAction's spec. Default 0.
   */
  clockSkewMs?: number;
  /** Actions looked at per batch; the rest are refused with the reason. Default 100. */
  maxActions?: number;
}

/** API server answers to a create that will be the same on every retry. */
const permanentCreateFailures = new Set([400, 413, 422]);

export interface AcceptCounts {
  accepted: number;
  rejected: number;
  duplicates: number;
  unanswerable: number;
}

export async function acceptEnvelopes(raw: unknown[], options: AcceptOptions): Promise<AcceptCounts> {
  const counts: AcceptCounts = { accepted: 0, rejected: 0, duplicates: 0, unanswerable: 0 };
  const maxActions = options.maxActions ?? defaultMaxActionsPerPoll;
  const refusals: Refusal[] = [];
  const unanswerable = new Map<string, { count: number; sample: string }>();
  // Valid new actions, by target, in the order received.
  const lanes = new Map<string, { action: Action; input: unknown }[]>();
  raw.forEach((input, index) => {
    const outOfBounds =
      index >= maxActions
        ? `too many actions in one poll response (${raw.length}); the agent takes at most ${maxActions} at a time and did not look at this one: send it again`
        : envelopeOutOfBounds(input);
    const parsed = outOfBounds
      ? ({ ok: false, id: envelopeId(input), reason: outOfBounds } as const)
      : parseEnvelope(input);
    if (!parsed.ok) {
      if (parsed.id === undefined) {
        counts.unanswerable++;
        const group = unanswerable.get(parsed.reason);
        if (group) group.count++;
        else unanswerable.set(parsed.reason, { count: 1, sample: outOfBounds ? '' : sampleOf(input) });
      } else {
        // Not stored as received when out of bounds: the journal keeps what can be read back.
        refusals.push({
          id: parsed.id,
          input: outOfBounds ? { id: parsed.id, refused: outOfBounds } : input,
          reason: parsed.reason,
        });
      }
      return;
    }
    const action = parsed.action;
    if (options.store.journal.state(action.id) !== 'new') {
      counts.duplicates++;
      return;
    }
    const target = describeActionTarget(action);
    const lane = lanes.get(target);
    if (lane) lane.push({ action, input });
    else lanes.set(target, [{ action, input }]);
  });
  const refused = refuseAll(refusals, unanswerable, options);
  counts.rejected += refused;
  counts.duplicates += refusals.length - refused;
  // Targets in parallel (creating AgentActions one at a time caps a batch at one API round
  // trip per action); each target's actions in order, so the controller, which serialises
  // a target's actions in the order their objects appear, applies them in the order sent.
  // A lane stops at its first failure (a later action on that target must not overtake
  // it); the first failure is thrown once every lane has settled.
  const queue = [...lanes.values()];
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    for (let lane = queue.shift(); lane; lane = queue.shift()) {
      for (const { action, input } of lane) {
        try {
          counts[await acceptOne(action, input, options)]++;
        } catch (err) {
          failure ??= { err };
          break;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, queue.length) }, worker));
  if (failure) throw failure.err;
  return counts;
}

/** Creates the AgentAction of a valid action, then journals and acknowledges it. */
async function acceptOne(
  action: Action,
  input: unknown,
  options: AcceptOptions,
): Promise<'accepted' | 'rejected' | 'duplicates'> {
  const { store } = options;
  // The same id twice in one batch: the first one got here already.
  if (store.journal.state(action.id) !== 'new') return 'duplicates';
  const body = agentActionFor(action, options.namespace, 'control-plane', options.clockSkewMs);
  try {
    await options.clients.custom.createNamespacedCustomObject({
      group: apiGroup,
      version: apiVersionName,
      namespace: options.namespace,
      plural: agentActionPlural,
      body,
    });
  } catch (err) {
    const code = statusCode(err);
    if (code !== undefined && permanentCreateFailures.has(code)) {
      const reason = `the API server refused the AgentAction: ${apiErrorMessage(err)}`;
      return refuseAll([{ id: action.id, input, reason }], new Map(), options) === 1
        ? 'rejected'
        : 'duplicates';
    }
    if (code !== 409) throw err;
  }
  // Journal + acknowledgement in one transaction, group-committed with the other lanes'
  // (and the controller's) journal writes; durable before the shipper can send it.
  return commitGroupFor(store).run(() => {
    if (store.journal.state(action.id) !== 'new') return 'duplicates';
    store.journal.received(action.id, input);
    store.outbox.appendStatus(action.id, {
      state: 'running',
      message: `accepted as AgentAction ${options.namespace}/${agentActionName(action.id)}`,
    });
    return 'accepted';
  });
}

interface Refusal {
  id: string;
  input: unknown;
  reason: string;
}

/**
 * Journals each refused action and queues its `rejected` report (atomically with the
 * journal's `finished`), and queues one audit event per distinct reason for the envelopes
 * that cannot be answered, all in ONE transaction (one fsync for a batch of garbage, not one
 * per envelope). Only ids the journal does not know are refused; a known id is a redelivery
 * (or a hostile copy of a real action) and is left alone. Returns how many were refused.
 */
function refuseAll(
  refusals: readonly Refusal[],
  unanswerable: ReadonlyMap<string, { count: number; sample: string }>,
  options: AcceptOptions,
): number {
  if (refusals.length === 0 && unanswerable.size === 0) return 0;
  const { store, log } = options;
  const now = new Date((options.now ?? Date.now)()).toISOString();
  let refused = 0;
  store.transaction(() => {
    for (const { id, input, reason } of refusals) {
      if (store.journal.state(id) !== 'new') continue;
      store.journal.received(id, input ?? null);
      store.finishAndReport(id, { state: 'rejected', message: reason.slice(0, 4096), finishedAt: now });
      refused++;
    }
    for (const [reason, { count, sample }] of unanswerable) {
      store.outbox.appendAudit({
        id: randomUUID(),
        timestamp: now,
        event: 'action.unanswerable',
        resource: '',
        message: `received ${count} action(s) that cannot be answered: ${reason}`.slice(0, 4096),
        details: { count, ...(sample ? { sample } : {}) },
      });
    }
  });
  for (const { id, reason } of refusals.slice(0, 20)) {
    log.warn({ actionId: id, reason: reason.slice(0, 1024) }, 'action rejected');
  }
  if (refusals.length > 20) log.warn({ more: refusals.length - 20 }, 'more actions rejected');
  for (const [reason, { count }] of unanswerable) {
    log.warn({ reason: reason.slice(0, 1024), count }, 'actions without a usable id ignored');
  }
  return refused;
}

/** The first 512 characters of an envelope's JSON (bounded depth: checked before). */
function sampleOf(input: unknown): string {
  return (JSON.stringify(input ?? null) ?? 'undefined').slice(0, 512);
}
