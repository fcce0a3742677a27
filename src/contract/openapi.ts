import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { compareCodeUnits } from '../util/compare.ts';
import { Action, actionPayloads, WireEnvelope } from './envelope.ts';
import {
  AuditEvent,
  AuditEventsBatch,
  ErrorBody,
  EventsResponse,
  Heartbeat,
  HeartbeatResponse,
  InstanceReport,
  InstancesBatch,
  InstancesResponse,
  maxStatusBatchReports,
  PollResponseDocumented,
  StatusBatchRequest,
  StatusBatchResponse,
  StatusReport,
  StatusResponse,
} from './reports.ts';

/**
 * The control-plane contract as an OpenAPI 3.1 document, generated from the zod schemas the
 * agent and the reference control plane use, so the control-plane team builds against the
 * same source of truth. The reference control plane adds its admin API and writes the whole
 * document to openapi.json (reference-control-plane/openapi-document.ts); a unit test fails
 * when the committed file is stale.
 *
 * Schemas are rendered with io 'input': each one describes what its parser accepts (fields
 * with defaults are optional), which is what the sending side must produce.
 */

/** Bump on any change an existing control plane or agent would notice. */
export const contractVersion = '1.1.0';

export const openApiJsonPath = fileURLToPath(new URL('./openapi.json', import.meta.url));

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
export const json = (name: string) => ({ content: { 'application/json': { schema: ref(name) } } });

function pascal(snake: string): string {
  return snake.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}

export type JsonObject = Record<string, unknown>;

/**
 * A part of the document defined elsewhere (the reference control plane's admin API): its
 * tag, paths, security scheme and schemas, merged after the agent contract's own.
 */
export interface OpenApiPart {
  tag: { name: string; description: string };
  paths: JsonObject;
  securitySchemes: JsonObject;
  schemas: Array<[z.ZodType, string]>;
}

/** Renders the schemas as components; schemas shared by several action types get one entry plus aliases. */
function componentSchemas(extra: OpenApiPart['schemas']): Record<string, JsonObject> {
  const registry = z.registry<{ id: string }>();
  const aliases: Record<string, string> = {};
  const named = new Map<z.ZodType, string>();
  const add = (schema: z.ZodType, id: string) => {
    const existing = named.get(schema);
    if (existing) {
      aliases[id] = existing;
      return;
    }
    named.set(schema, id);
    registry.add(schema, { id });
  };

  add(WireEnvelope, 'ActionEnvelope');
  add(PollResponseDocumented, 'PollResponse');
  add(Action as unknown as z.ZodType, 'Action');
  for (const [type, schema] of Object.entries(actionPayloads)) add(schema, `${pascal(type)}Payload`);
  add(StatusReport, 'StatusReport');
  add(StatusResponse, 'StatusResponse');
  add(StatusBatchRequest, 'StatusBatchRequest');
  add(StatusBatchResponse, 'StatusBatchResponse');
  add(InstanceReport, 'InstanceReport');
  add(InstancesBatch, 'InstancesBatch');
  add(InstancesResponse, 'InstancesResponse');
  add(AuditEvent, 'AuditEvent');
  add(AuditEventsBatch, 'AuditEventsBatch');
  add(EventsResponse, 'EventsResponse');
  add(Heartbeat, 'Heartbeat');
  add(HeartbeatResponse, 'HeartbeatResponse');
  add(ErrorBody, 'ErrorBody');
  for (const [schema, id] of extra) add(schema, id);

  const rendered = z.toJSONSchema(registry, {
    io: 'input',
    target: 'draft-2020-12',
    uri: (id) => `#/components/schemas/${id}`,
  }).schemas as Record<string, JsonObject>;
  const schemas: Record<string, JsonObject> = {};
  for (const [id, schema] of Object.entries(rendered)) {
    // Inside an OpenAPI document the dialect and location are implied.
    const { $schema: _dialect, $id: _id, ...rest } = schema;
    schemas[id] = rest;
  }
  for (const [alias, target] of Object.entries(aliases)) {
    schemas[alias] = { ...ref(target), description: `Same schema as ${target}.` };
  }
  return Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => compareCodeUnits(a, b)));
}

export const errorResponse = (description: string, headers?: JsonObject) => ({
  description,
  ...(headers ? { headers } : {}),
  ...json('ErrorBody'),
});
const retryAfter = {
  'Retry-After': {
    description: 'Seconds to wait before trying again.',
    schema: { type: 'integer', minimum: 0 },
  },
};
const responses = {
  BadRequest: errorResponse(
    'The body or query did not match the schema; `error.issues` lists what is wrong.',
  ),
  Unauthorized: errorResponse('Missing, malformed, unknown or wrong credential.'),
  Forbidden: errorResponse('The API key has been revoked (or its cluster disabled).'),
  NotFound: errorResponse('No such object for this caller.'),
  PayloadTooLarge: errorResponse('The body is larger than the server accepts (the reference server: 5 MiB).'),
  TooManyRequests: errorResponse('Slow down; honour Retry-After.', retryAfter),
  ServiceUnavailable: errorResponse(
    'Temporarily unavailable; retry with backoff, honour Retry-After.',
    retryAfter,
  ),
};
export const r = (name: keyof typeof responses) => ({ $ref: `#/components/responses/${name}` });
const agentErrors = {
  '401': r('Unauthorized'),
  '403': r('Forbidden'),
  '429': r('TooManyRequests'),
  '503': r('ServiceUnavailable'),
};
const agentPostErrors = { '400': r('BadRequest'), ...agentErrors, '413': r('PayloadTooLarge') };
export const idParam = (what: string) => ({
  name: 'id',
  in: 'path',
  required: true,
  description: `The ${what} id.`,
  schema: { type: 'string', format: 'uuid' },
});

const agentTag = 'agent';
const agentSecurity = [{ agentApiKey: [] }];

function agentPaths(): JsonObject {
  return {
    '/api/v1/agent/actions': {
      get: {
        operationId: 'pollActions',
        tags: [agentTag],
        summary: 'Long-poll for actions',
        description:
          "Returns the queued actions of the key's cluster, oldest first, as soon as there are any, or an empty list after `wait` seconds. Returned actions are leased to the caller (the reference server: 60 s); an action whose lease runs out without a status report is delivered again, so the agent must de-duplicate by id. Actions past `expiresAt` are not delivered: they become `expired`. Each envelope is delivered as stored: the agent validates type and payload and reports `rejected` for anything it cannot run.",
        security: agentSecurity,
        parameters: [
          {
            name: 'wait',
            in: 'query',
            description: 'Seconds to hold the request when nothing is queued (clamped to 0..60).',
            schema: { type: 'number', minimum: 0, maximum: 60, default: 0 },
          },
          {
            name: 'limit',
            in: 'query',
            description:
              'Most actions to return (1..1000). The agent sends its maxActionsPerPoll and rejects, with the reason, any action past it in one response.',
            schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        ],
        responses: {
          '200': { description: 'Leased actions (possibly none).', ...json('PollResponse') },
          '400': r('BadRequest'),
          ...agentErrors,
        },
      },
    },
    '/api/v1/agent/actions/{id}/status': {
      post: {
        operationId: 'reportActionStatus',
        tags: [agentTag],
        summary: "Report an action's state",
        description:
          'Transitions: queued|leased -> running|succeeded|failed|rejected|expired; running -> succeeded|failed|rejected|expired. Terminal states are final. Reporting the state the action is already in is idempotent (200, `changed: false`), whatever the rest of the body. `running` ends the lease: the action is not redelivered while the agent owns it.',
        security: agentSecurity,
        parameters: [idParam('action')],
        requestBody: { required: true, ...json('StatusReport') },
        responses: {
          '200': { description: 'Accepted (or already in that state).', ...json('StatusResponse') },
          ...agentPostErrors,
          '404': r('NotFound'),
          '409': errorResponse(
            'Illegal transition (e.g. succeeded -> running); `error.state` is the current state.',
          ),
        },
      },
    },
    '/api/v1/agent/actions/status': {
      post: {
        operationId: 'reportActionStatuses',
        tags: [agentTag],
        summary: 'Report the states of many actions at once (contract 1.1)',
        description: `Up to ${maxStatusBatchReports} status reports in one request, applied in array order; one action may appear several times (its reports in the order they happened). Each entry means exactly what the same body means on /actions/{id}/status, with the same idempotency; the answer has one result per entry, in order, whose \`status\` is what the per-action route would have answered (200, 400, 404, 409). An invalid or refused entry does not affect the others. Added in contract 1.1: an agent that gets 404 or 405 here is talking to an older control plane and falls back to /actions/{id}/status, one request per report.`,
        security: agentSecurity,
        requestBody: { required: true, ...json('StatusBatchRequest') },
        responses: {
          '200': { description: 'One result per entry, in order.', ...json('StatusBatchResponse') },
          ...agentPostErrors,
        },
      },
    },
    '/api/v1/agent/instances': {
      post: {
        operationId: 'reportInstances',
        tags: [agentTag],
        summary: 'Report instance state (full snapshot or delta)',
        description:
          "`seq` grows by one per batch. A `full` batch replaces the cluster's whole set and restarts the sequence at its seq. A delta upserts `instances` and deletes `removed` (node names); it must carry last seq + 1, otherwise the answer is `{accepted: false, resync: true}` and nothing is applied: send a full snapshot. A delta repeating the last seq is accepted without being applied again.",
        security: agentSecurity,
        requestBody: { required: true, ...json('InstancesBatch') },
        responses: {
          '200': {
            description: 'Applied, a duplicate, or refused with resync.',
            ...json('InstancesResponse'),
          },
          ...agentPostErrors,
        },
      },
    },
    '/api/v1/agent/events': {
      post: {
        operationId: 'reportEvents',
        tags: [agentTag],
        summary: 'Append audit events',
        description:
          'Events are immutable; the event id is the idempotency key: a resent event is counted as a duplicate and ignored.',
        security: agentSecurity,
        requestBody: { required: true, ...json('AuditEventsBatch') },
        responses: {
          '200': { description: 'Counts of stored and duplicate events.', ...json('EventsResponse') },
          ...agentPostErrors,
        },
      },
    },
    '/api/v1/agent/heartbeat': {
      post: {
        operationId: 'heartbeat',
        tags: [agentTag],
        summary: 'Agent heartbeat',
        security: agentSecurity,
        requestBody: { required: true, ...json('Heartbeat') },
        responses: {
          '200': { description: 'Stored; may carry settings for the agent.', ...json('HeartbeatResponse') },
          ...agentPostErrors,
        },
      },
    },
  };
}

/** The document: the agent contract, then each part (the admin API when the reference control plane builds it). */
export function buildOpenApiDocument(parts: OpenApiPart[] = []): JsonObject {
  return {
    openapi: '3.1.0',
    info: {
      title: 'clusteropt control-plane contract',
      version: contractVersion,
      description:
        'The agent-facing HTTP API of the clusteropt control plane (tag `agent`), generated from the zod schemas in src/contract, plus the admin API of the reference control plane shipped with the agent (tag `reference-control-plane-admin`; not part of the platform). All bodies are JSON; servers may gzip answers when asked with Accept-Encoding. Errors are `{error: {code, message}}`.',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    tags: [
      { name: agentTag, description: "Called by the agent; authenticated with the cluster's API key." },
      ...parts.map((part) => part.tag),
    ],
    paths: Object.assign(agentPaths(), ...parts.map((part) => part.paths)),
    components: {
      securitySchemes: {
        agentApiKey: {
          type: 'http',
          scheme: 'bearer',
          description:
            "The cluster's API key, `co_<prefix>_<secret>`: the 8-character prefix names the key, only a SHA-256 of the secret is stored and compared in constant time. Missing or wrong: 401; revoked: 403.",
        },
        ...Object.assign({}, ...parts.map((part) => part.securitySchemes)),
      },
      schemas: componentSchemas(parts.flatMap((part) => part.schemas)),
      responses,
    },
  };
}
