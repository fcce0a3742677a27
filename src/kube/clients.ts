/**
 * The typed API clients the executors use, built from one KubeConfig.
 *
 * Why not `kc.makeApiClient` directly: client-node 2.0.1 builds a new undici Agent for every
 * request (KubeConfig.applySecurityAuthentication -> createDispatcher), so every call opens a
 * fresh TLS connection and nothing is reused. A drain makes hundreds of calls; the handshakes
 * cost more than the calls. Here every request of these clients (and of the watch helper)
 * goes through one shared dispatcher instead, which keeps connections alive and reuses them.
 * Authentication is still applied per request by the KubeConfig (token refresh keeps working);
 * only the dispatcher the KubeConfig made is swapped for the pooled one. (A client
 * certificate rotated on disk needs new clients: the pool keeps the one it started with.)
 */

import type https from 'node:https';
import {
  ApisApi,
  AppsV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  createConfiguration,
  type KubeConfig,
  PolicyV1Api,
  type RequestContext,
  type SecurityAuthentication,
  ServerConfiguration,
  VersionApi,
} from '@kubernetes/client-node';
import { Agent, type Dispatcher } from 'undici';

export interface KubeClients {
  kc: KubeConfig;
  /** The API server's base URL (no trailing slash). */
  server: string;
  core: CoreV1Api;
  apps: AppsV1Api;
  /** API group discovery (`/apis`). */
  apis: ApisApi;
  batch: BatchV1Api;
  policy: PolicyV1Api;
  custom: CustomObjectsApi;
  /** Leases (leader election). */
  coordination: CoordinationV1Api;
  version: VersionApi;
  /** Applies auth and the pooled dispatcher to a raw request (used by the watch helper). */
  auth: SecurityAuthentication;
  /** Closes the pooled connections (shutdown, end of a test). */
  close(): Promise<void>;
}

/**
 * Wraps a KubeConfig's authentication so that every request shares one dispatcher: an undici
 * Agent with the KubeConfig's TLS material, HTTP/1.1 with keep-alive. HTTP/1.1 on purpose:
 * undici 8 negotiates HTTP/2 by default, and with HTTP/2 we saw an uncaught
 * `InformationalError: socket idle timeout` from its session idle timer (an uncaught
 * exception would kill the agent); HTTP/1.1 keep-alive has no such path and is just as fast
 * here (connections are opened once and reused).
 * Clusters reached through a proxy keep client-node's own per-request dispatcher.
 */
class PooledAuthentication implements SecurityAuthentication {
  private readonly kc: KubeConfig;
  private pooled: Promise<Dispatcher | undefined> | undefined;

  constructor(kc: KubeConfig) {
    this.kc = kc;
  }

  getName(): string {
    return 'kubeconfig authentication (pooled connections)';
  }

  async close(): Promise<void> {
    const pool = await this.pooled;
    this.pooled = undefined;
    await pool?.close();
  }

  async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await this.kc.applySecurityAuthentication(context);
    this.pooled ??= this.createPool();
    const pooled = await this.pooled;
    if (pooled) context.setDispatcher(pooled as never);
  }

  private async createPool(): Promise<Dispatcher | undefined> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster || cluster.proxyUrl || !cluster.server.startsWith('https:')) return undefined;
    const tls: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(tls);
    return new Agent({
      allowH2: false,
      keepAliveTimeout: 30_000,
      connect: {
        ...(tls.ca ? { ca: tls.ca } : {}),
        ...(tls.cert ? { cert: tls.cert } : {}),
        ...(tls.key ? { key: tls.key } : {}),
        ...(tls.pfx ? { pfx: tls.pfx } : {}),
        ...(tls.passphrase ? { passphrase: tls.passphrase } : {}),
        ...(tls.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {}),
        ...((tls as { servername?: string }).servername
          ? { servername: (tls as { servername?: string }).servername }
          : {}),
        keepAlive: true,
        keepAliveInitialDelay: 30_000,
      },
    });
  }
}

export function createKubeClients(kc: KubeConfig): KubeClients {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const auth = new PooledAuthentication(kc);
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: auth },
  });
  return {
    kc,
    server: cluster.server.replace(/\/+$/, ''),
    core: new CoreV1Api(configuration),
    apps: new AppsV1Api(configuration),
    apis: new ApisApi(configuration),
    batch: new BatchV1Api(configuration),
    policy: new PolicyV1Api(configuration),
    custom: new CustomObjectsApi(configuration),
    coordination: new CoordinationV1Api(configuration),
    version: new VersionApi(configuration),
    auth,
    close: () => auth.close(),
  };
}
