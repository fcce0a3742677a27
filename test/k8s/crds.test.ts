/**
 * The generated CRDs on the real API server: they install (twice, idempotently), valid
 * objects are accepted, invalid ones are refused with our CEL messages, kubectl shows the
 * printer columns, and status is a subresource.
 *
 * The CRDs stay installed afterwards: they are shared cluster infrastructure (other test
 * files install the same ones with installCrds); the objects this file creates are deleted.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ApiextensionsV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentActionFor } from '../../src/contract/action-object.ts';
import { parseEnvelope } from '../../src/contract/envelope.ts';
import { type AgentAction, agentActionPlural } from '../../src/crds/agent-action.ts';
import { type AgentPolicySpec, agentPolicyPlural } from '../../src/crds/agent-policy.ts';
import { apiGroup, apiVersion, apiVersionName } from '../../src/crds/common.ts';
import { apiErrorMessage } from '../../src/kube/api-errors.ts';
import { installCrds } from '../../src/kube/install-crds.ts';
import {
  clusterBinDir,
  createNamespace,
  deleteNamespace,
  loadTestKubeConfig,
  testKubeconfigPath,
  uniqueName,
} from '../support/kube.ts';

const kc = loadTestKubeConfig();
const custom = kc.makeApiClient(CustomObjectsApi);
const group = apiGroup;
const version = apiVersionName;

/** A drain_node AgentAction; the payload also carries an unknown field the CRD must keep. */
function newAction(id: string, namespace: string): AgentAction {
  const parsed = parseEnvelope({
    id,
    type: 'drain_node',
    payload: { nodeName: 'ip-10-0-0-1.ec2.internal', timeoutSeconds: 600 },
    createdAt: '2026-03-02T10:00:00Z',
    deadline: '2026-03-02T11:00:00Z',
  });
  if (!parsed.ok) throw new Error(parsed.reason);
  const action = agentActionFor(parsed.action, namespace, 'control-plane');
  return { ...action, spec: { ...action.spec, payload: { ...action.spec.payload, extra: { kept: true } } } };
}

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return apiErrorMessage(err);
  }
  throw new Error('expected the API server to refuse the object');
}

function policyBody(name: string, spec: unknown) {
  return { apiVersion, kind: 'AgentPolicy', metadata: { name }, spec };
}

describe('clusteropt.io CRDs', () => {
  let ns = '';
  const policies: string[] = [];

  beforeAll(async () => {
    ns = await createNamespace(kc, 'crds');
  });

  afterAll(async () => {
    await deleteNamespace(kc, ns);
    for (const name of policies) {
      await custom
        .deleteClusterCustomObject({ group, version, plural: agentPolicyPlural, name })
        .catch(() => undefined);
    }
  });

  it('installCrds applies every CRD idempotently and waits for Established', async () => {
    const first = await installCrds(kc);
    // Other CRDs of the project may sit in manifests/crds/ too.
    expect(first).toEqual(
      expect.arrayContaining([`${agentActionPlural}.${group}`, `${agentPolicyPlural}.${group}`]),
    );
    const api = kc.makeApiClient(ApiextensionsV1Api);
    const name = `${agentActionPlural}.${group}`;
    const before = await api.readCustomResourceDefinition({ name });
    await installCrds(kc);
    const after = await api.readCustomResourceDefinition({ name });
    // Applying the same manifests again changes nothing.
    expect(after.metadata?.generation).toBe(before.metadata?.generation);
    expect(after.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');
    expect(after.spec.names.shortNames).toEqual(['aact']);
  });

  it('accepts a valid AgentAction, keeps the free-form payload, and refuses spec changes', async () => {
    const id = crypto.randomUUID();
    const action = newAction(id, ns);
    const created = (await custom.createNamespacedCustomObject({
      group,
      version,
      namespace: ns,
      plural: agentActionPlural,
      body: action,
    })) as AgentAction;
    expect(created.metadata.name).toBe(`act-${id}`);
    expect(created.spec.payload).toEqual({
      nodeName: 'ip-10-0-0-1.ec2.internal',
      timeoutSeconds: 600,
      force: false,
      forceDeleteAtBudgetEnd: false,
      deleteEmptyDirData: false,
      ignoreDaemonSets: true,
      extra: { kept: true },
    });
    expect(created.spec.target).toBe('node/ip-10-0-0-1.ec2.internal');

    const changed = { ...created, spec: { ...created.spec, target: 'node/other' } };
    const message = await rejection(
      custom.replaceNamespacedCustomObject({
        group,
        version,
        namespace: ns,
        plural: agentActionPlural,
        name: created.metadata.name as string,
        body: changed,
      }),
    );
    expect(message).toContain('spec is immutable; create a new AgentAction instead');

    // Metadata (e.g. the approval annotation) can still change.
    const annotated = {
      ...created,
      metadata: { ...created.metadata, annotations: { 'clusteropt.io/approved': 'true' } },
    };
    const updated = (await custom.replaceNamespacedCustomObject({
      group,
      version,
      namespace: ns,
      plural: agentActionPlural,
      name: created.metadata.name as string,
      body: annotated,
    })) as AgentAction;
    expect(updated.metadata.annotations?.['clusteropt.io/approved']).toBe('true');
  });

  it('refuses AgentActions with an unknown type or a bad id', async () => {
    const action = newAction(crypto.randomUUID(), ns);
    const badType = await rejection(
      custom.createNamespacedCustomObject({
        group,
        version,
        namespace: ns,
        plural: agentActionPlural,
        body: { ...action, spec: { ...action.spec, type: 'reboot_node' } },
      }),
    );
    expect(badType).toMatch(/spec\.type: Unsupported value: "reboot_node"/);
    const badId = await rejection(
      custom.createNamespacedCustomObject({
        group,
        version,
        namespace: ns,
        plural: agentActionPlural,
        body: { ...action, spec: { ...action.spec, id: 'not-a-uuid' } },
      }),
    );
    expect(badId).toMatch(/spec\.id/);
  });

  it('status is a subresource: the main endpoint ignores status, /status ignores spec', async () => {
    const action = newAction(crypto.randomUUID(), ns);
    const name = action.metadata.name as string;
    const created = (await custom.createNamespacedCustomObject({
      group,
      version,
      namespace: ns,
      plural: agentActionPlural,
      body: { ...action, status: { phase: 'Succeeded' } },
    })) as AgentAction;
    expect(created.status).toBeUndefined();

    const status = {
      phase: 'Running',
      startedAt: '2026-03-02T10:00:05Z',
      progress: { drain: { total: 3, evicted: 1, pending: 1, blocked: 1 } },
      conditions: [
        {
          type: 'Started',
          status: 'True',
          reason: 'Executing',
          message: 'drain started',
          lastTransitionTime: '2026-03-02T10:00:05Z',
        },
      ],
      result: { anything: ['goes', 1] },
    };
    const withStatus = (await custom.replaceNamespacedCustomObjectStatus({
      group,
      version,
      namespace: ns,
      plural: agentActionPlural,
      name,
      body: { ...created, spec: { ...created.spec, target: 'node/changed-through-status' }, status },
    })) as AgentAction;
    expect(withStatus.status).toEqual(status);
    expect(withStatus.spec.target).toBe(created.spec.target);

    const relabelled = (await custom.replaceNamespacedCustomObject({
      group,
      version,
      namespace: ns,
      plural: agentActionPlural,
      name,
      body: {
        ...withStatus,
        metadata: { ...withStatus.metadata, labels: { a: 'b' } },
        status: { phase: 'Failed' },
      },
    })) as AgentAction;
    expect(relabelled.metadata.labels).toEqual({ a: 'b' });
    expect(relabelled.status?.phase).toBe('Running');

    const badPhase = await rejection(
      custom.replaceNamespacedCustomObjectStatus({
        group,
        version,
        namespace: ns,
        plural: agentActionPlural,
        name,
        body: { ...relabelled, status: { phase: 'Exploded' } },
      }),
    );
    expect(badPhase).toMatch(/status\.phase: Unsupported value: "Exploded"/);
  });

  it('kubectl get aact shows TYPE, TARGET, PHASE, AGE', async () => {
    const action = newAction(crypto.randomUUID(), ns);
    const created = (await custom.createNamespacedCustomObject({
      group,
      version,
      namespace: ns,
      plural: agentActionPlural,
      body: action,
    })) as AgentAction;
    await custom.patchNamespacedCustomObjectStatus({
      group,
      version,
      namespace: ns,
      plural: agentActionPlural,
      name: created.metadata.name as string,
      body: [
        { op: 'add', path: '/status', value: { phase: 'WaitingApproval', reason: 'AgentPolicy/x:approval' } },
      ],
    });
    const kubectl = (args: string[]) =>
      execFileSync(join(clusterBinDir(), 'kubectl'), ['--kubeconfig', testKubeconfigPath(), ...args], {
        encoding: 'utf8',
      });
    const out = kubectl(['get', 'aact', '-n', ns, created.metadata.name as string]);
    const [header, row] = out.trim().split('\n');
    expect(header?.split(/\s+/)).toEqual(['NAME', 'TYPE', 'TARGET', 'PHASE', 'AGE']);
    expect(row?.split(/\s+/).slice(0, 4)).toEqual([
      created.metadata.name,
      'drain_node',
      'node/ip-10-0-0-1.ec2.internal',
      'WaitingApproval',
    ]);
    const wide = kubectl([
      'get',
      'agentactions.clusteropt.io',
      '-n',
      ns,
      '-o',
      'wide',
      created.metadata.name as string,
    ]);
    expect(wide.split('\n')[0]?.split(/\s+/)).toEqual([
      'NAME',
      'TYPE',
      'TARGET',
      'PHASE',
      'AGE',
      'SOURCE',
      'REASON',
      'MESSAGE',
    ]);
    expect(wide).toContain('AgentPolicy/x:approval');
    // The category lists our kinds together.
    expect(kubectl(['get', 'clusteropt', '-n', ns])).toContain(created.metadata.name as string);
  });

  it('accepts a full AgentPolicy and applies defaults', async () => {
    const name = uniqueName('apol');
    policies.push(name);
    const spec: AgentPolicySpec = {
      allowedActionTypes: ['cordon_node', 'drain_node'],
      protectedNamespaces: ['kube-system'],
      protectedNodeSelector: { matchLabels: { 'clusteropt.io/protected': 'true' } },
      protectedWorkloadSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['db'] }] },
      maxConcurrentDisruptiveActions: 2,
      maxUnavailableNodes: 0,
      maintenanceWindows: [{ days: ['Sat', 'Sun'], from: '22:00', to: '24:00', timezone: 'Europe/Berlin' }],
      dryRun: false,
      approval: 'required',
      drain: { maxGracePeriodSeconds: 120, allowForce: false },
    };
    const created = (await custom.createClusterCustomObject({
      group,
      version,
      plural: agentPolicyPlural,
      body: policyBody(name, {
        ...spec,
        maintenanceWindows: [{ days: ['Mon'], from: '01:00', to: '05:00' }],
      }),
    })) as { spec: AgentPolicySpec };
    expect(created.spec.maintenanceWindows?.[0]?.timezone).toBe('UTC');
    const out = execFileSync(
      join(clusterBinDir(), 'kubectl'),
      ['--kubeconfig', testKubeconfigPath(), 'get', 'apol', name],
      { encoding: 'utf8' },
    );
    expect(out.split('\n')[0]?.split(/\s+/)).toEqual([
      'NAME',
      'DRY-RUN',
      'APPROVAL',
      'MAX-CONCURRENT',
      'MAX-UNAVAILABLE',
      'AGE',
    ]);
    expect(out.split('\n')[1]?.split(/\s+/).slice(0, 5)).toEqual([name, 'false', 'required', '2', '0']);
  });

  it.each([
    [
      'empty days',
      { maintenanceWindows: [{ days: [], from: '01:00', to: '02:00' }] },
      'days must not be empty',
    ],
    [
      'bad from',
      { maintenanceWindows: [{ days: ['Mon'], from: '25:00', to: '02:00' }] },
      'from must be HH:MM between 00:00 and 23:59',
    ],
    [
      'bad to',
      { maintenanceWindows: [{ days: ['Mon'], from: '01:00', to: '2am' }] },
      'to must be HH:MM between 00:00 and 24:00',
    ],
    [
      'from equals to',
      { maintenanceWindows: [{ days: ['Mon'], from: '01:00', to: '01:00' }] },
      'from and to must differ',
    ],
    [
      'empty window list',
      { maintenanceWindows: [] },
      'maintenanceWindows must not be empty; remove the field to allow any time',
    ],
    [
      'In without values',
      { protectedNodeSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } },
      'operators In and NotIn need at least one value; Exists and DoesNotExist take none',
    ],
    [
      'Exists with values',
      { protectedWorkloadSelector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] } },
      'operators In and NotIn need at least one value; Exists and DoesNotExist take none',
    ],
    [
      'negative maxUnavailableNodes',
      { maxUnavailableNodes: -1 },
      // An int-or-string field: the API server shows the CEL rule's message, not the value.
      'spec.maxUnavailableNodes: Invalid value: "": must be a number of nodes or a percentage like "10%"',
    ],
    ['unknown approval', { approval: 'maybe' }, 'spec.approval: Unsupported value: "maybe"'],
    ['unknown action type', { allowedActionTypes: ['reboot_node'] }, 'Unsupported value: "reboot_node"'],
  ])('refuses an AgentPolicy with %s', async (_what, spec, expected) => {
    const name = uniqueName('apol-bad');
    policies.push(name);
    const message = await rejection(
      custom.createClusterCustomObject({
        group,
        version,
        plural: agentPolicyPlural,
        body: policyBody(name, spec),
      }),
    );
    expect(message).toContain(expected);
  });

  it('AgentPolicy spec and status are updated independently', async () => {
    const name = uniqueName('apol');
    policies.push(name);
    const created = (await custom.createClusterCustomObject({
      group,
      version,
      plural: agentPolicyPlural,
      body: policyBody(name, { dryRun: true }),
    })) as { metadata: { generation: number }; spec: AgentPolicySpec; status?: unknown };
    const status = {
      observedGeneration: created.metadata.generation,
      conditions: [
        {
          type: 'Valid',
          status: 'True',
          reason: 'Parsed',
          message: '',
          lastTransitionTime: '2026-03-02T10:00:00Z',
        },
      ],
    };
    const withStatus = (await custom.replaceClusterCustomObjectStatus({
      group,
      version,
      plural: agentPolicyPlural,
      name,
      body: { ...created, spec: { dryRun: false }, status },
    })) as typeof created;
    expect(withStatus.spec.dryRun).toBe(true);
    expect(withStatus.status).toEqual(status);
    const newSpec = (await custom.replaceClusterCustomObject({
      group,
      version,
      plural: agentPolicyPlural,
      name,
      body: { ...withStatus, spec: { dryRun: false, approval: 'none' }, status: {} },
    })) as typeof created;
    expect(newSpec.spec).toEqual({ dryRun: false, approval: 'none' });
    expect(newSpec.status).toEqual(status);
    expect(newSpec.metadata.generation).toBe(created.metadata.generation + 1);
  });
});
