import { createServer, type IncomingMessage, type Server } from 'node:http';
import { sleep } from '../util/backoff.ts';
import { errorMessage } from '../util/errors.ts';
import { adminRoutes } from './admin-routes.ts';
import type { AgentRouteName } from './admin-schemas.ts';
import { agentRoutes } from './agent-routes.ts';
import { authenticateApiKey } from './clusters-repo.ts';
import { HttpError, parseJson, readBody, sendJson, sendRaw } from './http-util.ts';
import { bearerToken, tokenMatches } from './keys.ts';
import { type ControlPlaneContext, compilePath, type Route, type RouteResult } from './route.ts';

export const defaultBodyLimitBytes = 5 * 1024 * 1024;

export interface HttpServerOptions {
  adminToken: string;
  bodyLimitBytes?: number;
}

/** Every route the server answers (the OpenAPI document is checked against this list). */
export const allRoutes: readonly Route[] = [...agentRoutes, ...adminRoutes];
const compiled = allRoutes.map((route) => ({ route, pattern: compilePath(route.path) }));

function decodeParams(groups: Record<string, string>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, value] of Object.entries(groups)) {
    try {
      params[name] = decodeURIComponent(value);
    } catch {
      params[name] = value; // malformed %-escape: the handler's lookup simply finds nothing
    }
  }
  return params;
}

function match(method: string, path: string): { route: Route; params: Record<string, string> } | HttpError {
  const allowed: string[] = [];
  for (const { route, pattern } of compiled) {
    const m = pattern.exec(path);
    if (!m) continue;
    if (route.method === method) return { route, params: decodeParams(m.groups ?? {}) };
    allowed.push(route.method);
  }
  if (allowed.length === 0)
    return new HttpError(404, 'ROUTE_NOT_FOUND', `no route ${method} ${path.slice(0, 200)}`);
  return new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${path.slice(0, 200)}`, {
    headers: { allow: allowed.join(', ') },
  });
}

/**
 * The control plane's HTTP server: routing, authentication, fault injection, body limits,
 * JSON and gzip. Handlers live in agent-routes.ts and admin-routes.ts. Keys and tokens are
 * never logged; logs carry the route name, status, duration and cluster id.
 */
export function createControlPlaneServer(ctx: ControlPlaneContext, options: HttpServerOptions): Server {
  const bodyLimit = options.bodyLimitBytes ?? defaultBodyLimitBytes;

  async function handle(
    req: IncomingMessage,
    signal: AbortSignal,
    log: { route?: string; clusterId?: string },
  ): Promise<RouteResult> {
    const url = new URL(req.url ?? '/', 'http://control-plane.invalid');
    const found = match(req.method ?? 'GET', url.pathname);
    ctx.requests.received(req.method ?? 'GET', found instanceof HttpError ? undefined : found.route.path);
    if (found instanceof HttpError) throw found;
    const { route, params } = found;
    log.route = route.name;

    let clusterId = '';
    if (route.auth === 'agent') {
      const fault = ctx.faults.take(route.name as AgentRouteName);
      if (fault) {
        if (fault.delayMs) await sleep(fault.delayMs, signal).catch(() => undefined);
        if (signal.aborted) return 'no-response';
        if (fault.reset) {
          req.socket.destroy();
          return 'no-response';
        }
        const retryAfter: Record<string, string> =
          fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) };
        if (fault.status !== undefined && fault.body !== undefined) {
          return { status: fault.status, raw: fault.body, contentType: 'text/html', headers: retryAfter };
        }
        if (fault.status !== undefined) {
          throw new HttpError(fault.status, 'INJECTED_FAULT', `injected ${fault.status} (admin fault rule)`, {
            headers: retryAfter,
          });
        }
      }
      const auth = authenticateApiKey(ctx.db, bearerToken(req.headers.authorization));
      if (!auth.ok) {
        throw auth.reason === 'disabled'
          ? new HttpError(403, 'CLUSTER_DISABLED', 'the cluster is disabled: the agent must not act for it')
          : auth.reason === 'revoked'
            ? new HttpError(403, 'API_KEY_REVOKED', 'the API key has been revoked')
            : new HttpError(
                401,
                'UNAUTHENTICATED',
                'a valid API key is required (Authorization: Bearer co_...)',
                {
                  headers: { 'www-authenticate': 'Bearer' },
                },
              );
      }
      clusterId = auth.clusterId;
      log.clusterId = clusterId;
    } else if (route.auth === 'admin') {
      const token = bearerToken(req.headers.authorization);
      if (!token || !tokenMatches(token, options.adminToken)) {
        throw new HttpError(
          401,
          'UNAUTHENTICATED',
          'the admin token is required (Authorization: Bearer ...)',
          {
            headers: { 'www-authenticate': 'Bearer' },
          },
        );
      }
    }

    const body =
      route.method === 'POST' || route.method === 'PUT'
        ? parseJson(await readBody(req, bodyLimit))
        : undefined;
    return route.handle(ctx, { params, query: url.searchParams, body, clusterId, signal });
  }

  const server = createServer((req, res) => {
    const started = performance.now();
    const log: { route?: string; clusterId?: string } = {};
    const abort = new AbortController();
    // 'close' before the answer was written means the client went away (or we are
    // destroying the connection): stop waiting for it.
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    // Once shutdown has begun, every answer closes its connection so the server can stop.
    const closing = (): Record<string, string> => (ctx.hub.isClosed ? { connection: 'close' } : {});
    handle(req, abort.signal, log)
      .then(async (result) => {
        if (result === 'no-response') return;
        if ('raw' in result) {
          sendRaw(res, result.status, result.raw, result.contentType, { ...closing(), ...result.headers });
          return;
        }
        await sendJson(req, res, result.status, result.body, { ...closing(), ...result.headers });
      })
      .catch(async (err: unknown) => {
        if (err instanceof HttpError) {
          await sendJson(req, res, err.status, err.toBody(), { ...closing(), ...err.headers });
          return;
        }
        ctx.logger.error({ err, route: log.route }, 'request failed');
        await sendJson(
          req,
          res,
          500,
          { error: { code: 'INTERNAL_ERROR', message: errorMessage(err) } },
          closing(),
        );
      })
      .catch((err: unknown) => {
        ctx.logger.error({ err }, 'could not send the answer');
        res.destroy();
      })
      .finally(() => {
        ctx.logger.debug(
          {
            method: req.method,
            route: log.route,
            status: res.statusCode,
            ms: Math.round(performance.now() - started),
            clusterId: log.clusterId,
          },
          'request',
        );
      });
  });
  return server;
}
