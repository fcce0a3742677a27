import type { z } from 'zod';
import { ErrorBody } from '../contract/reports.ts';
import { AgentError } from '../util/errors.ts';
import type { StoredActionState } from './actions-repo.ts';
import {
  AdminAction,
  AdminActionCounts,
  AdminActionList,
  ApiKeyCreated,
  ApiKeyRevoked,
  AuditEventList,
  Cluster,
  ClusterCreated,
  ClusterList,
  type CreateClusterRequest,
  type EnqueueRequest,
  FaultList,
  type FaultRuleInput,
  HostilePollQueued,
  InstanceList,
  StatusLog,
  StoredHeartbeat,
  UnknownReportList,
} from './admin-schemas.ts';

/** An admin request answered with an error status (or an answer that did not fit its schema). */
export class AdminRequestError extends AgentError {
  readonly status: number;

  constructor(status: number, code: string, message: string) {
    super(code, message, { retryable: status >= 500 });
    this.status = status;
  }
}

/**
 * Typed client of the reference control plane's admin API, for tests, benchmarks, the demo
 * and the CLI's `--server` mode. Every answer is checked against its schema.
 */
export class ReferenceControlPlaneAdmin {
  private readonly url: string;
  private readonly token: string;

  constructor(options: { url: string; adminToken: string }) {
    this.url = options.url.replace(/\/+$/, '');
    this.token = options.adminToken;
  }

  private async request<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    body?: unknown,
  ): Promise<z.output<S>> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new AdminRequestError(res.status, 'invalid_response', `${method} ${path}: answer is not JSON`);
    }
    if (!res.ok) {
      const err = ErrorBody.safeParse(json);
      throw err.success
        ? new AdminRequestError(
            res.status,
            err.data.error.code,
            `${method} ${path}: ${err.data.error.message}`,
          )
        : new AdminRequestError(res.status, 'http_error', `${method} ${path}: HTTP ${res.status}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new AdminRequestError(
        res.status,
        'invalid_response',
        `${method} ${path}: ${parsed.error.message}`,
      );
    }
    return parsed.data;
  }

  createCluster(input: CreateClusterRequest): Promise<ClusterCreated> {
    return this.request('POST', '/admin/v1/clusters', ClusterCreated, input);
  }

  listClusters(): Promise<z.infer<typeof Cluster>[]> {
    return this.request('GET', '/admin/v1/clusters', ClusterList).then((r) => r.clusters);
  }

  getCluster(clusterId: string): Promise<z.infer<typeof Cluster>> {
    return this.request('GET', `/admin/v1/clusters/${enc(clusterId)}`, Cluster);
  }

  /** A further key for the cluster (rotation); the old ones keep working until revoked. */
  createApiKey(clusterId: string): Promise<z.infer<typeof ApiKeyCreated>> {
    return this.request('POST', `/admin/v1/clusters/${enc(clusterId)}/api-keys`, ApiKeyCreated, {});
  }

  /** A disabled cluster's agent gets 403 (CLUSTER_DISABLED) on every agent route. */
  setClusterStatus(clusterId: string, status: 'active' | 'disabled'): Promise<z.infer<typeof Cluster>> {
    return this.request('POST', `/admin/v1/clusters/${enc(clusterId)}/status`, Cluster, { status });
  }

  /** Hostile mode: the next `count` polls of the cluster get `body` as it is. */
  async queueRawPoll(clusterId: string, body: string, count = 1): Promise<void> {
    await this.request('POST', `/admin/v1/clusters/${enc(clusterId)}/hostile/polls`, HostilePollQueued, {
      body,
      count,
    });
  }

  /** Hostile mode: reports received about actions the store does not know. */
  unknownReports(clusterId: string): Promise<z.infer<typeof UnknownReportList>['reports']> {
    return this.request(
      'GET',
      `/admin/v1/clusters/${enc(clusterId)}/hostile/reports`,
      UnknownReportList,
    ).then((r) => r.reports);
  }

  async revokeApiKey(apiKeyId: string): Promise<void> {
    await this.request('POST', `/admin/v1/api-keys/${enc(apiKeyId)}/revoke`, ApiKeyRevoked, {});
  }

  enqueue(clusterId: string, input: EnqueueRequest): Promise<AdminAction> {
    return this.request('POST', `/admin/v1/clusters/${enc(clusterId)}/actions`, AdminAction, input);
  }

  listActions(clusterId: string, options: { state?: StoredActionState } = {}): Promise<AdminAction[]> {
    const query = options.state ? `?state=${enc(options.state)}` : '';
    return this.request('GET', `/admin/v1/clusters/${enc(clusterId)}/actions${query}`, AdminActionList).then(
      (r) => r.actions,
    );
  }

  /** Actions per state (cheap: one GROUP BY; use it to wait for a backlog to drain). */
  countActions(clusterId: string): Promise<Record<StoredActionState, number>> {
    return this.request('GET', `/admin/v1/clusters/${enc(clusterId)}/actions/counts`, AdminActionCounts).then(
      (r) => r.counts as Record<StoredActionState, number>,
    );
  }

  getAction(actionId: string): Promise<AdminAction> {
    return this.request('GET', `/admin/v1/actions/${enc(actionId)}`, AdminAction);
  }

  /** Every accepted transition of one action (enqueue, leases, agent reports, expiry). */
  actionStatusLog(actionId: string): Promise<z.infer<typeof StatusLog>['entries']> {
    return this.request('GET', `/admin/v1/actions/${enc(actionId)}/status-log`, StatusLog).then(
      (r) => r.entries,
    );
  }

  clusterStatusLog(clusterId: string): Promise<z.infer<typeof StatusLog>['entries']> {
    return this.request('GET', `/admin/v1/clusters/${enc(clusterId)}/status-log`, StatusLog).then(
      (r) => r.entries,
    );
  }

  listInstances(clusterId: string): Promise<InstanceList> {
    return this.request('GET', `/admin/v1/clusters/${enc(clusterId)}/instances`, InstanceList);
  }

  listEvents(clusterId: string): Promise<AuditEventList['events']> {
    return this.request('GET', `/admin/v1/clusters/${enc(clusterId)}/events`, AuditEventList).then(
      (r) => r.events,
    );
  }

  /** The last heartbeat, or undefined when the cluster has not sent one. */
  async lastHeartbeat(clusterId: string): Promise<StoredHeartbeat | undefined> {
    try {
      return await this.request('GET', `/admin/v1/clusters/${enc(clusterId)}/heartbeat`, StoredHeartbeat);
    } catch (err) {
      if (err instanceof AdminRequestError && err.code === 'HEARTBEAT_NOT_FOUND') return undefined;
      throw err;
    }
  }

  /** Test hook: see FaultRule in admin-schemas.ts. */
  addFault(rule: FaultRuleInput): Promise<FaultList> {
    return this.request('POST', '/admin/v1/faults', FaultList, rule);
  }

  listFaults(): Promise<FaultList> {
    return this.request('GET', '/admin/v1/faults', FaultList);
  }

  clearFaults(): Promise<FaultList> {
    return this.request('DELETE', '/admin/v1/faults', FaultList);
  }
}

const enc = encodeURIComponent;
