/**
 * The CustomResourceDefinitions of clusteropt.io, built from the zod schemas. This is the
 * single source: manifests/crds/*.yaml are generated from it (generate.ts) and a unit test
 * fails when they are stale.
 */
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import { z } from 'zod';
import { AgentActionSpec, AgentActionStatus, agentActionKind, agentActionPlural } from './agent-action.ts';
import { AgentPolicySpec, AgentPolicyStatus, agentPolicyKind, agentPolicyPlural } from './agent-policy.ts';
import { apiGroup, apiVersionName } from './common.ts';
import {
  HibernationScheduleSpec,
  HibernationScheduleStatus,
  hibernationScheduleKind,
  hibernationSchedulePlural,
  hibernationScheduleShortName,
  hibernationScheduleSingular,
} from './hibernation-schedule.ts';
import { type JsonSchema, toStructuralSchema } from './structural-schema.ts';

function structural(schema: z.ZodType): JsonSchema {
  const json = z.toJSONSchema(schema, { target: 'openapi-3.0', io: 'input', unrepresentable: 'throw' });
  return toStructuralSchema(json as JsonSchema);
}

/** The whole object's schema: metadata is the API server's, spec and status are ours. */
function objectSchema(description: string, spec: z.ZodType, status: z.ZodType): JsonSchema {
  return {
    type: 'object',
    description,
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: structural(spec),
      status: structural(status),
    },
  };
}

type PrinterColumn = NonNullable<
  NonNullable<V1CustomResourceDefinition['spec']['versions'][number]['additionalPrinterColumns']>
>[number];

interface CrdShape {
  kind: string;
  plural: string;
  singular: string;
  shortName: string;
  scope: 'Namespaced' | 'Cluster';
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  printerColumns: PrinterColumn[];
}

/** One served+stored version with a status subresource: the shape every CRD of ours has. */
function crd(shape: CrdShape): V1CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${shape.plural}.${apiGroup}` },
    spec: {
      group: apiGroup,
      scope: shape.scope,
      names: {
        kind: shape.kind,
        listKind: `${shape.kind}List`,
        plural: shape.plural,
        singular: shape.singular,
        shortNames: [shape.shortName],
        categories: ['clusteropt'],
      },
      versions: [
        {
          name: apiVersionName,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: shape.printerColumns,
          schema: { openAPIV3Schema: objectSchema(shape.description, shape.spec, shape.status) },
        },
      ],
    },
  } as V1CustomResourceDefinition;
}

export function agentActionCrd(): V1CustomResourceDefinition {
  return crd({
    kind: agentActionKind,
    plural: agentActionPlural,
    singular: 'agentaction',
    shortName: 'aact',
    scope: 'Namespaced',
    description: 'One action the agent runs (or refuses): the envelope in spec, the outcome in status.',
    spec: AgentActionSpec,
    status: AgentActionStatus,
    printerColumns: [
      { name: 'Type', type: 'string', jsonPath: '.spec.type' },
      { name: 'Target', type: 'string', jsonPath: '.spec.target' },
      { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      { name: 'Source', type: 'string', jsonPath: '.spec.source', priority: 1 },
      { name: 'Reason', type: 'string', jsonPath: '.status.reason', priority: 1 },
      { name: 'Message', type: 'string', jsonPath: '.status.message', priority: 1 },
    ],
  });
}

export function agentPolicyCrd(): V1CustomResourceDefinition {
  return crd({
    kind: agentPolicyKind,
    plural: agentPolicyPlural,
    singular: 'agentpolicy',
    shortName: 'apol',
    scope: 'Cluster',
    description: 'Guardrails for the clusteropt agent. Several policies combine; the most restrictive wins.',
    spec: AgentPolicySpec,
    status: AgentPolicyStatus,
    printerColumns: [
      { name: 'Dry-Run', type: 'boolean', jsonPath: '.spec.dryRun' },
      { name: 'Approval', type: 'string', jsonPath: '.spec.approval' },
      { name: 'Max-Concurrent', type: 'integer', jsonPath: '.spec.maxConcurrentDisruptiveActions' },
      { name: 'Max-Unavailable', type: 'integer', jsonPath: '.spec.maxUnavailableNodes' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      { name: 'Allowed-Types', type: 'string', jsonPath: '.spec.allowedActionTypes', priority: 1 },
    ],
  });
}

export function hibernationScheduleCrd(): V1CustomResourceDefinition {
  return crd({
    kind: hibernationScheduleKind,
    plural: hibernationSchedulePlural,
    singular: hibernationScheduleSingular,
    shortName: hibernationScheduleShortName,
    scope: 'Cluster',
    description:
      'When the workloads a schedule selects sleep (scaled to zero, CronJobs suspended) and are restored.',
    spec: HibernationScheduleSpec,
    status: HibernationScheduleStatus,
    printerColumns: [
      { name: 'State', type: 'string', jsonPath: '.status.state' },
      { name: 'Next Transition', type: 'date', jsonPath: '.status.nextTransition' },
      { name: 'Timezone', type: 'string', jsonPath: '.spec.timezone' },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      { name: 'Next State', type: 'string', jsonPath: '.status.nextState', priority: 1 },
      { name: 'Schedule', type: 'string', jsonPath: '.status.summary', priority: 1 },
      { name: 'Message', type: 'string', jsonPath: '.status.lastError', priority: 1 },
    ],
  });
}

/** Every CRD the agent owns, with the file each is written to under manifests/crds/. */
export function allCrds(): { file: string; crd: V1CustomResourceDefinition }[] {
  return [
    { file: `${apiGroup}_${agentActionPlural}.yaml`, crd: agentActionCrd() },
    { file: `${apiGroup}_${agentPolicyPlural}.yaml`, crd: agentPolicyCrd() },
    { file: `${apiGroup}_${hibernationSchedulePlural}.yaml`, crd: hibernationScheduleCrd() },
  ];
}
