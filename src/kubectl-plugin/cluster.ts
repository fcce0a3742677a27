/**
 * What the kubectl plugin reads and writes, through the Kubernetes API only, with the user's
 * kubeconfig (and so the user's RBAC): the agent's Lease (leader and status annotation),
 * AgentActions, AgentPolicies. Every failure the user can act on is a PluginError with a
 * sentence that says what is wrong.
 */
import { KubeConfig, PatchStrategy, setHeaderOptions, type V1Lease } from '@kubernetes/client-node';
import { type AgentAction, agentActionPlural } from '../crds/agent-action.ts';
import { type AgentPolicySpec, agentPolicyPlural } from '../crds/agent-policy.ts';
import { AgentStatusReport, agentStatusAnnotation } from '../crds/agent-status.ts';
import { apiGroup, apiVersionName } from '../crds/common.ts';
import { statusCode } from '../kube/api-errors.ts';
import { createKubeClients, type KubeClients } from '../kube/clients.ts';
import { errorMessage } from '../util/errors.ts';

/** A failure to report in one sentence, with the exit code (1: the request failed; 2: bad usage). */
export class PluginError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

export interface PluginOptions {
  kubeconfig?: string;
  context?: string;
  namespace: string;
  leaseName: string;
}

export interface Plugin {
  clients: KubeClients;
  namespace: string;
  leaseName: string;
  now(): number;
  close(): Promise<void>;
}

export function connect(options: PluginOptions): Plugin {
  const kc = new KubeConfig();
  try {
    if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
    if (options.context) kc.setCurrentContext(options.context);
  } catch (err) {
    throw new PluginError(`cannot load the kubeconfig: ${errorMessage(err)}`);
  }
  let clients: KubeClients;
  try {
    clients = createKubeClients(kc);
  } catch (err) {
    throw new PluginError(`cannot use the kubeconfig: ${errorMessage(err)}`);
  }
  return {
    clients,
    namespace: options.namespace,
    leaseName: options.leaseName,
    now: Date.now,
    close: () => clients.close(),
  };
}

const crd = { group: apiGroup, version: apiVersionName };

/** An API error as one sentence, naming what was being done. */
function apiFailure(what: string, err: unknown): PluginError {
  const code = statusCode(err);
  const body = (err as { body?: unknown }).body;
  const reason =
    typeof body === 'string'
      ? (() => {
          try {
            return (JSON.parse(body) as { message?: string }).message ?? body;
          } catch {
            return body;
          }
        })()
      : errorMessage(err);
  if (code === 401) return new PluginError(`${what}: the API server did not accept your credentials (401)`);
  if (code === 403) return new PluginError(`${what}: forbidden by RBAC for your user (403): ${reason}`);
  return new PluginError(`${what}: ${code ? `HTTP ${code}: ` : ''}${reason}`);
}

export interface AgentLease {
  lease: V1Lease;
  holder?: string;
  /** When the holder last renewed (ms), and whether that renewal is still within the lease duration. */
  renewedAtMs?: number;
  live: boolean;
  status?: AgentStatusReport;
}

/**
 * The agent in the namespace, found by its Lease; throws "no agent installed" when the CRDs
 * are missing from the cluster or no agent ever ran in the namespace.
 */
export async function findAgent(p: Plugin): Promise<AgentLease> {
  await p.clients.custom
    .listNamespacedCustomObject({ ...crd, namespace: p.namespace, plural: agentActionPlural, limit: 1 })
    .catch((err: unknown) => {
      if (statusCode(err) === 404) {
        throw new PluginError(
          'no clusteropt agent is installed in this cluster: the AgentAction CRD (agentactions.clusteropt.io) is missing',
        );
      }
      throw apiFailure(`cannot list AgentActions in ${p.namespace}`, err);
    });
  let lease: V1Lease;
  try {
    lease = await p.clients.coordination.readNamespacedLease({ name: p.leaseName, namespace: p.namespace });
  } catch (err) {
    if (statusCode(err) === 404) {
      throw new PluginError(
        `no clusteropt agent in namespace ${p.namespace}: it has no Lease ${p.leaseName} (install the agent there, or pass -n NAMESPACE)`,
      );
    }
    throw apiFailure(`cannot read the Lease ${p.namespace}/${p.leaseName}`, err);
  }
  const spec = lease.spec ?? {};
  const renewed = spec.renewTime ? new Date(spec.renewTime as unknown as string).getTime() : undefined;
  const live =
    Boolean(spec.holderIdentity) &&
    renewed !== undefined &&
    p.now() - renewed < (spec.leaseDurationSeconds ?? 15) * 1000;
  const raw = lease.metadata?.annotations?.[agentStatusAnnotation];
  let status: AgentStatusReport | undefined;
  if (raw) {
    try {
      const parsed = AgentStatusReport.safeParse(JSON.parse(raw));
      if (parsed.success) status = parsed.data;
    } catch {
      // An unreadable annotation is shown as no status.
    }
  }
  return {
    lease,
    ...(spec.holderIdentity ? { holder: spec.holderIdentity } : {}),
    ...(renewed !== undefined ? { renewedAtMs: renewed } : {}),
    live,
    ...(status ? { status } : {}),
  };
}

export async function listActions(p: Plugin): Promise<AgentAction[]> {
  try {
    const list = (await p.clients.custom.listNamespacedCustomObject({
      ...crd,
      namespace: p.namespace,
      plural: agentActionPlural,
    })) as { items: AgentAction[] };
    return list.items;
  } catch (err) {
    throw apiFailure(`cannot list AgentActions in ${p.namespace}`, err);
  }
}

/** An action by object name (`act-<uuid>`) or by action id; "unknown action" when neither exists. */
export async function getAction(p: Plugin, ref: string): Promise<AgentAction> {
  const name = ref.startsWith('act-') ? ref.toLowerCase() : `act-${ref.toLowerCase()}`;
  try {
    return (await p.clients.custom.getNamespacedCustomObject({
      ...crd,
      namespace: p.namespace,
      plural: agentActionPlural,
      name,
    })) as AgentAction;
  } catch (err) {
    if (statusCode(err) === 404) {
      throw new PluginError(
        `unknown action "${ref}": no AgentAction ${name} in namespace ${p.namespace} (kubectl clusteropt actions lists them)`,
      );
    }
    throw apiFailure(`cannot read AgentAction ${name}`, err);
  }
}

export async function annotateAction(p: Plugin, name: string, annotations: Record<string, string>) {
  try {
    await p.clients.custom.patchNamespacedCustomObject(
      {
        ...crd,
        namespace: p.namespace,
        plural: agentActionPlural,
        name,
        body: { metadata: { annotations } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  } catch (err) {
    throw apiFailure(`cannot annotate AgentAction ${name}`, err);
  }
}

export interface PolicyObject {
  name: string;
  spec: AgentPolicySpec;
  annotations: Record<string, string>;
}

export async function listPolicies(p: Plugin): Promise<PolicyObject[]> {
  try {
    const list = (await p.clients.custom.listClusterCustomObject({ ...crd, plural: agentPolicyPlural })) as {
      items: { metadata?: { name?: string; annotations?: Record<string, string> }; spec?: AgentPolicySpec }[];
    };
    return list.items.map((i) => ({
      name: i.metadata?.name ?? '',
      spec: i.spec ?? {},
      annotations: i.metadata?.annotations ?? {},
    }));
  } catch (err) {
    throw apiFailure('cannot list AgentPolicies', err);
  }
}

export async function applyPolicy(
  p: Plugin,
  name: string,
  spec: AgentPolicySpec,
  annotations: Record<string, string>,
) {
  const body = {
    apiVersion: `${apiGroup}/${apiVersionName}`,
    kind: 'AgentPolicy',
    metadata: { name, annotations, labels: { 'app.kubernetes.io/managed-by': 'kubectl-clusteropt' } },
    spec,
  };
  try {
    await p.clients.custom.createClusterCustomObject({ ...crd, plural: agentPolicyPlural, body });
  } catch (err) {
    if (statusCode(err) !== 409) throw apiFailure(`cannot create AgentPolicy ${name}`, err);
    try {
      await p.clients.custom.patchClusterCustomObject(
        { ...crd, plural: agentPolicyPlural, name, body: { metadata: { annotations }, spec } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (patchErr) {
      throw apiFailure(`cannot update AgentPolicy ${name}`, patchErr);
    }
  }
}

export async function deletePolicy(p: Plugin, name: string): Promise<boolean> {
  try {
    await p.clients.custom.deleteClusterCustomObject({ ...crd, plural: agentPolicyPlural, name });
    return true;
  } catch (err) {
    if (statusCode(err) === 404) return false;
    throw apiFailure(`cannot delete AgentPolicy ${name}`, err);
  }
}
