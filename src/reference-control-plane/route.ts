import type { Logger } from '../observability/logger.ts';
import type { ActionsRepo } from './actions-repo.ts';
import type { AgentRouteName } from './admin-schemas.ts';
import type { AuditRepo } from './audit-repo.ts';
import type { Db } from './db.ts';
import type { FaultInjector } from './faults.ts';
import type { HeartbeatsRepo } from './heartbeats-repo.ts';
import type { HostileMode } from './hostile.ts';
import type { InstancesRepo } from './instances-repo.ts';
import type { LongPollHub } from './long-poll.ts';
import type { RequestCounts } from './request-counts.ts';

/** What every handler can use: the database, its repositories and the server's state. */
export interface ControlPlaneContext {
  db: Db;
  actions: ActionsRepo;
  instances: InstancesRepo;
  audit: AuditRepo;
  heartbeats: HeartbeatsRepo;
  hub: LongPollHub;
  faults: FaultInjector;
  /** Hostile mode (off unless the server was started with it). */
  hostile: HostileMode;
  /** Requests received per method and route (benchmarks read it through the server handle). */
  requests: RequestCounts;
  leaseMs: number;
  logger: Logger;
}

export interface RouteInput {
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body (undefined for GET/DELETE or an empty body). */
  body: unknown;
  /** The authenticated cluster (agent routes only). */
  clusterId: string;
  /** Aborts when the client goes away or the server shuts down mid-request. */
  signal: AbortSignal;
}

export type RouteResult =
  | { status: number; body: unknown; headers?: Record<string, string> }
  /** Bytes sent as they are (hostile mode, injected faults): not necessarily JSON. */
  | { status: number; raw: string; contentType: string; headers?: Record<string, string> }
  /** The client is gone: nothing to send. */
  | 'no-response';

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path template as in OpenAPI: `/api/v1/agent/actions/{id}/status`; `{x}` matches one segment. */
  path: string;
  auth: 'agent' | 'admin' | 'none';
  /** For agent routes: the name faults and logs use. */
  name: AgentRouteName | string;
  handle(ctx: ControlPlaneContext, input: RouteInput): RouteResult | Promise<RouteResult>;
}

export function ok(body: unknown, status = 200): RouteResult {
  return { status, body };
}

/** Compiles a path template to a regular expression whose named groups are its parameters. */
export function compilePath(template: string): RegExp {
  const source = template
    .split(/(\{[A-Za-z_][A-Za-z0-9_]*\})/)
    .map((part) =>
      /^\{.*\}$/.test(part) ? `(?<${part.slice(1, -1)}>[^/]+)` : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('');
  return new RegExp(`^${source}$`);
}
