/**
 * Turns what the control plane sends into AgentActions. Leader-only, fed by the PollLoop.
 *
 * For each envelope, in order:
 * - invalid (bad JSON shape, unknown type, bad payload): journal it and queue a `rejected`
 *   report with the reason — never an exception out of the loop, never retried forever. An
 *   envelope without a usable id cannot be answered; it becomes an audit event instead.
 * - valid and new: create the AgentAction (AlreadyExists is fine: a previous attempt got
 *   that far), then journal it and queue the `running` acknowledgement in one transaction.
 *   The object is created first so that a crash in between ends in a redelivery that finds
 *   the object, never in an acknowledged action with no object.
 * - already in the journal: a redelivery; nothing to do (its reports are in the outbox).
 */
import { randomUUID } from 'node:crypto';
import { parseEnvelope } from '../../contract/envelope.ts';
import { agentActionFor, agentActionName, agentActionPlural } from '../../crds/agent-action.ts';
import { apiGroup, apiVersionName } from '../../crds/common.ts';
import { statusCode } from '../../kube/api-errors.ts';
import type { KubeClients } from '../../kube/clients.ts';
import type { Logger } from '../../observability/logger.ts';
import type { StateStore } from '../../store/index.ts';

export interface AcceptOptions {
  clients: KubeClients;
  namespace: string;
  store: StateStore;
  log: Logger;
  now?: () => number;
}

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
      const state = store.journal.state(parsed.id);
      if (state === 'finished') {
        counts.duplicates++;
        continue;
      }
      if (state === 'new') store.journal.received(parsed.id, input ?? null);
      store.finishAndReport(parsed.id, {
        state: 'rejected',
        message: parsed.reason.slice(0, 4096),
        finishedAt: new Date(now()).toISOString(),
      });
      counts.rejected++;
      log.warn({ actionId: parsed.id, reason: parsed.reason }, 'action rejected');
      continue;
    }
    const action = parsed.action;
    if (store.journal.state(action.id) !== 'new') {
      counts.duplicates++;
      continue;
    }
    const body = agentActionFor(action, options.namespace, 'control-plane');
    try {
      await options.clients.custom.createNamespacedCustomObject({
        group: apiGroup,
        version: apiVersionName,
        namespace: options.namespace,
        plural: agentActionPlural,
        body,
      });
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
    }
    store.transaction(() => {
      store.journal.received(action.id, input);
      store.outbox.appendStatus(action.id, {
        state: 'running',
        message: `accepted as AgentAction ${options.namespace}/${agentActionName(action.id)}`,
      });
    });
    counts.accepted++;
  }
  return counts;
}
