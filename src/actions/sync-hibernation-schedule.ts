/**
 * The sync_hibernation_schedule executor: creates or updates the HibernationSchedule the
 * control plane names (payload: src/contract/sync-hibernation-schedule.ts). Idempotent: the
 * same payload twice is one change and then "already up to date". An update replaces the spec
 * with the object's resourceVersion, so a concurrent edit is re-read instead of overwritten;
 * status (the controller's) and metadata (labels, annotations) are kept.
 */

import { syncedByAnnotation } from '../contract/marks.ts';
import {
  type SyncHibernationSchedulePayload,
  specFromSyncPayload,
} from '../contract/sync-hibernation-schedule.ts';
import { apiGroup, apiVersion, apiVersionName } from '../crds/common.ts';
import {
  HibernationScheduleSpec,
  hibernationScheduleKind,
  hibernationSchedulePlural,
} from '../crds/hibernation-schedule.ts';
import { apiErrorMessage, isConflict, isNotFound, statusCode } from '../kube/api-errors.ts';
import type { KubeClients } from '../kube/clients.ts';
import { canonicalJson } from '../util/canonical-json.ts';
import { ActionAbortedError, type ActionExecutor, type ActionResult, failed, succeeded } from './types.ts';

const api = {
  group: apiGroup,
  version: apiVersionName,
  plural: hibernationSchedulePlural,
};

interface StoredSchedule {
  metadata?: {
    name?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    generation?: number;
  };
  spec?: unknown;
}

export const syncHibernationScheduleExecutor: ActionExecutor<'sync_hibernation_schedule'> = {
  type: 'sync_hibernation_schedule',
  idempotent: true,
  execute: (action, ctx) => syncSchedule(ctx.kube, action.id, action.payload, ctx.signal),
};

export async function syncSchedule(
  clients: KubeClients,
  actionId: string,
  payload: SyncHibernationSchedulePayload,
  signal: AbortSignal,
): Promise<ActionResult> {
  const name = payload.name;
  // Normalised like the API server stores it (defaults filled), so "unchanged" is exact.
  const spec = HibernationScheduleSpec.parse(specFromSyncPayload(payload));
  const details: Record<string, unknown> = { name };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (signal.aborted) throw new ActionAbortedError(actionId, signal.reason);
    let existing: StoredSchedule | undefined;
    try {
      existing = (await clients.custom.getClusterCustomObject({ ...api, name })) as StoredSchedule;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      if (existing === undefined) {
        const created = (await clients.custom.createClusterCustomObject({
          ...api,
          body: {
            apiVersion: apiVersion,
            kind: hibernationScheduleKind,
            metadata: { name, annotations: { [syncedByAnnotation]: actionId } },
            spec,
          },
        })) as StoredSchedule;
        return succeeded(`created HibernationSchedule ${name}`, {
          ...details,
          operation: 'created',
          generation: created.metadata?.generation,
        });
      }
      const current = HibernationScheduleSpec.safeParse(existing.spec);
      if (current.success && canonicalJson(current.data) === canonicalJson(spec)) {
        return succeeded(
          `HibernationSchedule ${name} is already up to date`,
          { ...details, operation: 'unchanged', generation: existing.metadata?.generation },
          'already_done',
        );
      }
      const replaced = (await clients.custom.replaceClusterCustomObject({
        ...api,
        name,
        body: {
          ...existing,
          metadata: {
            ...existing.metadata,
            annotations: { ...existing.metadata?.annotations, [syncedByAnnotation]: actionId },
          },
          spec,
        },
      })) as StoredSchedule;
      return succeeded(`updated HibernationSchedule ${name}`, {
        ...details,
        operation: 'updated',
        generation: replaced.metadata?.generation,
      });
    } catch (err) {
      // Created or changed by someone else between our read and our write: read again.
      if (isConflict(err)) continue;
      const code = statusCode(err);
      if (code === 422 || code === 400) {
        return failed(
          'api_error',
          `the API server refused HibernationSchedule ${name}: ${apiErrorMessage(err)}`,
          details,
        );
      }
      throw err;
    }
  }
  return failed(
    'conflict',
    `HibernationSchedule ${name} kept changing while being synced; try again`,
    details,
    true,
  );
}
