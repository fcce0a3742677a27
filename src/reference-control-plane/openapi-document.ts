/**
 * The OpenAPI document as committed in src/contract/openapi.json: the agent contract
 * (contract/openapi.ts) plus the admin API of this reference control plane, which is not part
 * of the agent contract and so is described here. `clusteropt-agent openapi [--write|--check]`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import {
  buildOpenApiDocument,
  errorResponse,
  idParam,
  type JsonObject,
  json,
  type OpenApiPart,
  openApiJsonPath,
  r,
} from '../contract/openapi.ts';
import * as admin from './admin-schemas.ts';

const adminErrors = { '401': r('Unauthorized') };
const adminTag = 'reference-control-plane-admin';
const adminSecurity = [{ adminToken: [] }];

function adminOp(
  operationId: string,
  summary: string,
  options: {
    params?: JsonObject[];
    body?: string;
    ok: string;
    status?: '200' | '201';
    errors?: JsonObject;
    description?: string;
  },
): JsonObject {
  return {
    operationId,
    tags: [adminTag],
    summary,
    ...(options.description ? { description: options.description } : {}),
    security: adminSecurity,
    ...(options.params ? { parameters: options.params } : {}),
    ...(options.body ? { requestBody: { required: true, ...json(options.body) } } : {}),
    responses: {
      [options.status ?? '200']: { description: 'OK', ...json(options.ok) },
      ...(options.body ? { '400': r('BadRequest') } : {}),
      ...adminErrors,
      ...options.errors,
    },
  };
}

function adminPaths(): JsonObject {
  const cluster = [idParam('cluster')];
  const action = [idParam('action')];
  const notFound = { '404': r('NotFound') };
  return {
    '/healthz': {
      get: {
        operationId: 'healthz',
        tags: [adminTag],
        summary: 'Liveness of the reference control plane',
        responses: {
          '200': {
            description: 'Serving.',
            content: {
              'application/json': {
                schema: { type: 'object', properties: { ok: { const: true } }, required: ['ok'] },
              },
            },
          },
        },
      },
    },
    '/admin/v1/clusters': {
      get: adminOp('adminListClusters', 'List clusters', { ok: 'AdminClusterList' }),
      post: adminOp('adminCreateCluster', 'Create a cluster and its first API key (shown once)', {
        body: 'AdminCreateClusterRequest',
        ok: 'AdminClusterCreated',
        status: '201',
      }),
    },
    '/admin/v1/clusters/{id}': {
      get: adminOp('adminGetCluster', 'Get a cluster', {
        params: cluster,
        ok: 'AdminCluster',
        errors: notFound,
      }),
    },
    '/admin/v1/clusters/{id}/api-keys': {
      post: adminOp('adminCreateApiKey', 'Create a further API key for the cluster (rotation)', {
        params: cluster,
        ok: 'AdminApiKeyCreated',
        status: '201',
        errors: notFound,
      }),
    },
    '/admin/v1/clusters/{id}/status': {
      post: adminOp('adminSetClusterStatus', 'Enable or disable a cluster', {
        description:
          "A disabled cluster's agent gets 403 `CLUSTER_DISABLED` on every agent route (held polls too); the agent then starts no action until the cluster is active again.",
        params: cluster,
        body: 'AdminClusterStatusRequest',
        ok: 'AdminCluster',
        errors: notFound,
      }),
    },
    '/admin/v1/clusters/{id}/hostile/polls': {
      post: adminOp('adminHostilePoll', 'Hostile mode: answer the next polls with raw bytes', {
        description:
          "Only on a server started with --hostile (otherwise 404 `HOSTILE_MODE_OFF`): the next `count` polls of the cluster are answered 200 with `body` exactly as given (any bytes: deep nesting, junk, envelopes of any shape). For the agent's hostile-control-plane tests; not part of the agent contract.",
        params: cluster,
        body: 'AdminHostilePollRequest',
        ok: 'AdminHostilePollQueued',
        status: '201',
        errors: notFound,
      }),
    },
    '/admin/v1/clusters/{id}/hostile/reports': {
      get: adminOp('adminHostileReports', 'Hostile mode: reports about actions the store does not know', {
        description:
          'Only with --hostile: status reports the agent sent about the ids of raw poll answers, which a normal server answers with 404 and this one keeps.',
        params: cluster,
        ok: 'AdminUnknownReportList',
        errors: notFound,
      }),
    },
    '/admin/v1/api-keys/{id}/revoke': {
      post: adminOp('adminRevokeApiKey', 'Revoke an API key (requests with it then get 403)', {
        params: [idParam('API key')],
        ok: 'AdminApiKeyRevoked',
        errors: notFound,
      }),
    },
    '/admin/v1/clusters/{id}/actions/counts': {
      get: adminOp('adminCountActions', "How many of the cluster's actions are in each state", {
        params: cluster,
        ok: 'AdminActionCounts',
        errors: notFound,
      }),
    },
    '/admin/v1/clusters/{id}/actions': {
      get: adminOp(
        'adminListActions',
        "List the cluster's actions with state, message, result and deliveries",
        {
          params: [
            ...cluster,
            { name: 'state', in: 'query', schema: { type: 'string', enum: admin.StoredActionState.options } },
          ],
          ok: 'AdminActionList',
          errors: notFound,
        },
      ),
      post: adminOp('adminEnqueueAction', 'Queue an action for the cluster (wakes its long-polls)', {
        description:
          'The payload is stored as given (any JSON value) and the type is not checked against the known types: the agent validates and rejects. `expiresInSeconds` is a shorthand for `expiresAt`.',
        params: cluster,
        body: 'AdminEnqueueRequest',
        ok: 'AdminAction',
        status: '201',
        errors: { ...notFound, '409': errorResponse('An action with this id already exists.') },
      }),
    },
    '/admin/v1/clusters/{id}/status-log': {
      get: adminOp('adminClusterStatusLog', "Every accepted transition of the cluster's actions", {
        params: cluster,
        ok: 'AdminStatusLog',
        errors: notFound,
      }),
    },
    '/admin/v1/clusters/{id}/instances': {
      get: adminOp('adminListInstances', "The cluster's instances and last applied seq", {
        params: cluster,
        ok: 'AdminInstanceList',
        errors: notFound,
      }),
    },
    '/admin/v1/clusters/{id}/events': {
      get: adminOp('adminListEvents', "The cluster's audit events", {
        params: cluster,
        ok: 'AdminAuditEventList',
        errors: notFound,
      }),
    },
    '/admin/v1/clusters/{id}/heartbeat': {
      get: adminOp('adminLastHeartbeat', "The cluster's last heartbeat", {
        params: cluster,
        ok: 'AdminHeartbeat',
        errors: notFound,
      }),
    },
    '/admin/v1/actions/{id}': {
      get: adminOp('adminGetAction', 'Get one action', {
        params: action,
        ok: 'AdminAction',
        errors: notFound,
      }),
    },
    '/admin/v1/actions/{id}/status-log': {
      get: adminOp('adminActionStatusLog', 'Every accepted transition of one action', {
        params: action,
        ok: 'AdminStatusLog',
        errors: notFound,
      }),
    },
    '/admin/v1/faults': {
      get: adminOp('adminListFaults', 'List active fault rules', { ok: 'AdminFaultList' }),
      post: adminOp('adminAddFault', 'Add a fault rule (test hook)', {
        description:
          'The next `count` agent requests (to `routes`, default all) are delayed by `delayMs`, then answered with `status` (+ Retry-After) or cut off (`reset`); with only `delayMs` they are then served normally. With `body`, the answer is that text (text/html) instead of a contract error body: what an ingress or a WAF in front of the control plane sends. For client tests; not part of the agent contract.',
        body: 'AdminFaultRule',
        ok: 'AdminFaultList',
        status: '201',
      }),
      delete: adminOp('adminClearFaults', 'Remove all fault rules', { ok: 'AdminFaultList' }),
    },
  };
}

export const adminOpenApi: OpenApiPart = {
  tag: {
    name: adminTag,
    description: 'Reference control plane only: set-up, inspection and fault injection for tests.',
  },
  paths: adminPaths(),
  securitySchemes: {
    adminToken: {
      type: 'http',
      scheme: 'bearer',
      description: "The reference control plane's admin token.",
    },
  },
  schemas: [
    [admin.CreateClusterRequest, 'AdminCreateClusterRequest'],
    [admin.Cluster, 'AdminCluster'],
    [admin.ClusterCreated, 'AdminClusterCreated'],
    [admin.ClusterList, 'AdminClusterList'],
    [admin.ApiKeyCreated, 'AdminApiKeyCreated'],
    [admin.ApiKeyRevoked, 'AdminApiKeyRevoked'],
    [admin.EnqueueRequest, 'AdminEnqueueRequest'],
    [admin.AdminAction, 'AdminAction'],
    [admin.AdminActionList, 'AdminActionList'],
    [admin.AdminActionCounts, 'AdminActionCounts'],
    [admin.StatusLogEntry, 'AdminStatusLogEntry'],
    [admin.StatusLog, 'AdminStatusLog'],
    [admin.StoredInstance, 'AdminInstance'],
    [admin.InstanceList, 'AdminInstanceList'],
    [admin.StoredAuditEvent, 'AdminAuditEvent'],
    [admin.AuditEventList, 'AdminAuditEventList'],
    [admin.StoredHeartbeat, 'AdminHeartbeat'],
    [admin.FaultRule, 'AdminFaultRule'],
    [admin.FaultList, 'AdminFaultList'],
    [admin.ClusterStatusRequest, 'AdminClusterStatusRequest'],
    [admin.HostilePollRequest, 'AdminHostilePollRequest'],
    [admin.HostilePollQueued, 'AdminHostilePollQueued'],
    [admin.UnknownReportList, 'AdminUnknownReportList'],
  ],
};

/** The document exactly as committed in openapi.json. */
export function renderOpenApiDocument(): string {
  return `${JSON.stringify(buildOpenApiDocument([adminOpenApi]), null, 2)}\n`;
}

/** `openapi [--write | --check]`: print the document, write openapi.json, or fail when it is stale. */
export async function main(argv: string[]): Promise<number> {
  const text = renderOpenApiDocument();
  if (argv.includes('--write')) {
    writeFileSync(openApiJsonPath, text);
    process.stderr.write(`wrote ${openApiJsonPath}\n`);
    return 0;
  }
  if (argv.includes('--check')) {
    let committed = '';
    try {
      committed = readFileSync(openApiJsonPath, 'utf8');
    } catch {}
    if (committed === text) return 0;
    process.stderr.write(
      `${openApiJsonPath} is stale: run node src/reference-control-plane/openapi-document.ts --write\n`,
    );
    return 1;
  }
  // `openapi | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  process.stdout.write(text);
  return 0;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
