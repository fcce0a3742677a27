/**
 * The AgentAction object for an action: what the poller (source control-plane) or a test
 * creates, and the TARGET column it shows.
 */
import {
  type ActionSource,
  type AgentAction,
  type AgentActionSpec,
  agentActionKind,
  agentActionName,
} from '../crds/agent-action.ts';
import { apiVersion } from '../crds/common.ts';
import type { Action } from './envelope.ts';

/** The TARGET column: `node/<name>`, `deployment/<ns>/<name>`, `hibernationschedule/<name>`. */
export function describeActionTarget(action: Action): string {
  switch (action.type) {
    case 'cordon_node':
    case 'uncordon_node':
    case 'drain_node':
    case 'delete_node':
    case 'patch_node':
      return `node/${action.payload.nodeName}`;
    case 'scale_workload':
      return `${action.payload.kind.toLowerCase()}/${action.payload.namespace}/${action.payload.name}`;
    case 'sync_hibernation_schedule':
      return `hibernationschedule/${action.payload.name}`;
  }
}

/** The AgentAction object the poller (source control-plane) or a test creates for an action. */
export function agentActionFor(
  action: Action,
  namespace: string,
  source: ActionSource,
  clockSkewMs = 0,
): AgentAction {
  const spec: AgentActionSpec = {
    id: action.id,
    type: action.type,
    payload: action.payload as Record<string, unknown>,
    createdAt: action.createdAt,
    source,
    target: describeActionTarget(action).slice(0, 512),
  };
  if (action.expiresAt !== undefined) spec.expiresAt = action.expiresAt;
  if (action.deadline !== undefined) spec.deadline = action.deadline;
  if (clockSkewMs !== 0) spec.clockSkewMs = clockSkewMs;
  return {
    apiVersion,
    kind: agentActionKind,
    metadata: { name: agentActionName(action.id), namespace },
    spec,
  };
}
