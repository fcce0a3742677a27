/**
 * Turns what the control plane sends into AgentActions. Leader-only, fed by the PollLoop.
 *
 * For each envelope (different targets in parallel, each target's actions in order):
 * - invalid (bad JSON shape, unknown type, bad payload): journal it and queue a `rejected`
 *   report with the reason — never an exception out of the loop, never retried forever. An
 *   envelope without a usable id cannot be answered; it becomes an audit event instead.
 * - valid and new: create the AgentAction (AlreadyExists is fine: a previous attempt got
 *   that far), then journal it and queue the `running` acknowledgement in one transaction.
 *   The object is created first so that a crash in between ends in a redelivery that finds
 *   the object, never in an acknowledged action with no object. An action whose object the
 *   API server can never store (too large for etcd, or refused as invalid: 400/413/422) is
 *   rejected like an invalid one; throwing would fail the whole batch on every redelivery
 *   and block the actions queued behind it.
 * - already in the journal: a redelivery; nothing to do (its reports are in the outbox).
 */
import { randomUUID } from 'node:crypto';
import { agentActionFor, describeActionTarget } from '../../contract/action-object.ts';
import { type Action, parseEnvelope } from '../../contract/envelope.ts';
import { agentActionName, agentActionPlural } from '../../crds/agent-action.ts';
import { apiGroup, apiVersionName } from '../../crds/common.ts';
import { apiErrorMessage, statusCode } from '../../kube/api-errors.ts';
import type { KubeClients } from '../../kube/clients.ts';
import type { Logger } from '../../observability/logger.ts';
import { commitGroupFor } from '../../store/commit-group.ts';
import type { StateStore } from '../../store/index.ts';

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
}

/**
 * Largest AgentAction the poller creates. etcd refuses requests over 1.5 MiB by default
 * ("etcdserver: request is too large", HTTP 500, which looks retryable but never succeeds).
 */
export const maxAgentActionBytes = 1024 * 1024;

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
  const { store, log } = options;
  const now = options.now ?? Date.now;
  // Valid new actions, by target, in the order received.
  const lanes = new Map<string, { action: Action; input: unknown }[]>();
  for (const input of raw) {
    const parsed = parseEnvelope(input);
    if (!parsed.ok) {
      if (parsed.id === undefined) {
        counts.unanswerable++;
        log.warn({ reason: parsed.reason }, 'action without a usable id ignored');
        store.outbox.appendAudit({
          id: randomUUID(),
          timestamp: new Date(now()).toISOString(),
          event: 'action.unanswerable',
          resource: '',
          message: `received an action that cannot be answered: ${parsed.reason}`.slice(0, 4096),
          details: { sample: JSON.stringify(input ?? null).slice(0, 512) },
        });
        continue;
      }
      if (reject(parsed.id, input, parsed.reason, options)) counts.rejected++;
      else counts.duplicates++;
      continue;
    }
    const action = parsed.action;
    if (store.journal.state(action.id) !== 'new') {
      counts.duplicates++;
      continue;
    }
    const target = describeActionTarget(action);
    const lane = lanes.get(target);
    if (lane) lane.push({ action, input });
    else lanes.set(target, [{ action, input }]);
  }
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
  const bytes = Buffer.byteLength(JSON.stringify(body));
  if (bytes > maxAgentActionBytes) {
    const reason = `action too large: its AgentAction would be ${bytes} bytes; the API server stores at most ${maxAgentActionBytes}`;
    return reject(action.id, input, reason, options) ? 'rejected' : 'duplicates';
  }
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
      return reject(action.id, input, reason, options) ? 'rejected' : 'duplicates';
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

/**
 * Journals `id` (if new) and queues its `rejected` report with `reason`, atomically with the
 * journal's `finished`. Returns false when the action was already finished (a redelivery).
 */
function reject(id: string, input: unknown, reason: string, options: AcceptOptions): boolean {
  const { store, log } = options;
  const now = options.now ?? Date.now;
  const state = store.journal.state(id);
  if (state === 'finished') return false;
  store.transaction(() => {
    if (state === 'new') store.journal.received(id, input ?? null);
    store.finishAndReport(id, {
      state: 'rejected',
      message: reason.slice(0, 4096),
      finishedAt: new Date(now()).toISOString(),
    });
  });
  log.warn({ actionId: id, reason: reason.slice(0, 1024) }, 'action rejected');
  return true;
}
