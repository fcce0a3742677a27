import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../observability/logger.ts';
import { ActionsRepo } from './actions-repo.ts';
import { ReferenceControlPlaneAdmin } from './admin-client.ts';
import { resolveAdminToken } from './admin-token.ts';
import { AuditRepo } from './audit-repo.ts';
import { openDatabase } from './db.ts';
import { FaultInjector } from './faults.ts';
import { HeartbeatsRepo } from './heartbeats-repo.ts';
import { HostileMode } from './hostile.ts';
import { createControlPlaneServer } from './http-server.ts';
import { InstancesRepo } from './instances-repo.ts';
import { LongPollHub } from './long-poll.ts';
import { type RequestCount, RequestCounts } from './request-counts.ts';
import type { ControlPlaneContext } from './route.ts';

export { AdminRequestError, ReferenceControlPlaneAdmin } from './admin-client.ts';
export type { AdminAction, FaultRuleInput } from './admin-schemas.ts';
export { countsBetween, type RequestCount } from './request-counts.ts';

export interface ReferenceControlPlaneOptions {
  /** SQLite file (created if missing). */
  dbPath: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** How long a delivered action stays leased before it is redelivered. Default 60; fractions allowed. */
  leaseSeconds?: number;
  /** Admin bearer token; otherwise from adminTokenFile, $CLUSTEROPT_ADMIN_TOKEN or `<db>.admin-token`. */
  adminToken?: string;
  adminTokenFile?: string;
  /** Largest request body (default 5 MiB). */
  bodyLimitBytes?: number;
  /** How often to look for actions inserted by another process while polls wait (default 250 ms). */
  probeIntervalMs?: number;
  /** Hostile mode (hostile.ts): raw poll answers and reports about unknown actions. Tests only. */
  hostile?: boolean;
  logger?: Logger;
}

export interface ReferenceControlPlane {
  /** `http://host:port`, without a trailing slash. */
  url: string;
  adminToken: string;
  /** Where the admin token was read from or written to, if a file. */
  adminTokenFile: string | undefined;
  /** Admin client bound to this server. */
  admin: ReferenceControlPlaneAdmin;
  /**
   * Requests received so far per method and route (cumulative; subtract two snapshots with
   * countsBetween for a window). In-process only: not part of the HTTP API.
   */
  requestCounts(): RequestCount[];
  /** Answers held polls with an empty list, finishes in-flight requests, closes the database. */
  close(): Promise<void>;
}

/**
 * Starts the reference control plane: the agent-facing contract of DESIGN.md plus the admin
 * API, over one SQLite file. Used by `clusteropt-agent control-plane serve`, the tests, the
 * benchmarks and the local demo.
 */
export async function startReferenceControlPlane(
  options: ReferenceControlPlaneOptions,
): Promise<ReferenceControlPlane> {
  const logger = options.logger ?? createLogger({ name: 'reference-control-plane' });
  const admin = resolveAdminToken({
    dbPath: options.dbPath,
    token: options.adminToken,
    tokenFile: options.adminTokenFile,
    create: true,
  });
  const db = openDatabase(options.dbPath);
  const actions = new ActionsRepo(db);
  let seenRowid = actions.maxRowid();
  const hub = new LongPollHub({
    probeIntervalMs: options.probeIntervalMs ?? 250,
    probe: () => {
      const max = actions.maxRowid();
      if (max <= seenRowid) return [];
      const changed = actions.clustersWithActionsAfter(seenRowid);
      seenRowid = max;
      return changed;
    },
    onProbeError: (err) => logger.warn({ err }, 'probe for new actions failed'),
  });
  const ctx: ControlPlaneContext = {
    db,
    actions,
    instances: new InstancesRepo(db),
    audit: new AuditRepo(db),
    heartbeats: new HeartbeatsRepo(db),
    hub,
    faults: new FaultInjector(),
    hostile: new HostileMode(options.hostile === true),
    requests: new RequestCounts(),
    leaseMs: Math.round((options.leaseSeconds ?? 60) * 1000),
    logger,
  };
  const server = createControlPlaneServer(ctx, {
    adminToken: admin.token,
    ...(options.bodyLimitBytes === undefined ? {} : { bodyLimitBytes: options.bodyLimitBytes }),
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    db.close();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      hub.close();
      const force = setTimeout(() => server.closeAllConnections(), 5000);
      force.unref();
      server.close(() => {
        clearTimeout(force);
        db.close();
        resolve();
      });
      server.closeIdleConnections();
    });
    return closing;
  };

  return {
    url,
    adminToken: admin.token,
    adminTokenFile: admin.file,
    admin: new ReferenceControlPlaneAdmin({ url, adminToken: admin.token }),
    requestCounts: () => ctx.requests.snapshot(),
    close,
  };
}
