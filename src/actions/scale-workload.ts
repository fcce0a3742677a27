import { isDoNotDisrupt } from '../contract/marks.ts';
import type { ScaleWorkloadPayload } from '../contract/payloads.ts';
import { apiErrorMessage, isConflict } from '../kube/api-errors.ts';
import {
  apiVersionOf,
  readScale,
  readWorkloadMeta,
  replaceScale,
  resolveScaleTarget,
  type ScaleTarget,
  UnsupportedKindError,
  WorkloadNotFoundError,
} from '../kube/scale.ts';
import {
  type ActionContext,
  type ActionExecutor,
  type ActionOf,
  type ActionResult,
  failed,
  succeeded,
  throwIfAborted,
} from './types.ts';

/** The AgentPolicy scale limits when no policy sets them (docs/policy.md). */
export const defaultScaleLimits = { maxReplicas: 100, maxScaleUpFactor: 2 } as const;

/**
 * The scale-up limits, shared by the policy check (controllers/policy/decide.ts) and this
 * executor (which checks again on the replicas it read right before writing). Scaling down is
 * never refused here.
 */
export function scaleUpRefusal(
  current: number,
  target: number,
  limits: { maxReplicas: number; maxScaleUpFactor: number },
): { rule: 'maxReplicas' | 'maxScaleUpFactor'; message: string } | undefined {
  if (target <= current) return undefined;
  if (target > limits.maxReplicas) {
    return {
      rule: 'maxReplicas',
      message: `scaling up from ${current} to ${target} replicas exceeds scale.maxReplicas ${limits.maxReplicas}`,
    };
  }
  const most = Math.floor(Math.max(current, 1) * limits.maxScaleUpFactor);
  if (target > most) {
    return {
      rule: 'maxScaleUpFactor',
      message: `scaling up from ${current} to ${target} replicas is more than scale.maxScaleUpFactor ${limits.maxScaleUpFactor} times (at most ${most})`,
    };
  }
  return undefined;
}

export type ScaleDecision =
  | { kind: 'noop' }
  | { kind: 'scale' }
  | { kind: 'conflict'; message: string }
  | { kind: 'refused'; message: string }
  | { kind: 'over-limit'; message: string };

/**
 * Pure: what to do given the live replicas. Already at the target is success whatever
 * expectedReplicas says: that is also what a replay after a crash finds, and the state the
 * action asked for holds. A scale-down of a do-not-disrupt workload is refused, and so is a
 * scale-up past the policy's limits (checked again here on the replicas read right before the
 * write: the policy check read them a moment earlier).
 */
export function decideScale(
  payload: Pick<ScaleWorkloadPayload, 'replicas' | 'expectedReplicas'>,
  currentReplicas: number,
  doNotDisrupt: boolean,
  limits: { maxReplicas: number; maxScaleUpFactor: number } = defaultScaleLimits,
): ScaleDecision {
  if (currentReplicas === payload.replicas) return { kind: 'noop' };
  const overLimit = scaleUpRefusal(currentReplicas, payload.replicas, limits);
  if (overLimit) return { kind: 'over-limit', message: `${overLimit.message}; not changed` };
  if (payload.expectedReplicas !== undefined && payload.expectedReplicas !== currentReplicas) {
    return {
      kind: 'conflict',
      message: `expected ${payload.expectedReplicas} replicas but found ${currentReplicas}; not changed`,
    };
  }
  if (doNotDisrupt && payload.replicas < currentReplicas) {
    return {
      kind: 'refused',
      message: 'workload is annotated clusteropt.io/do-not-disrupt=true; not scaled down',
    };
  }
  return { kind: 'scale' };
}

export interface ScaleDetails {
  namespace: string;
  kind: string;
  apiVersion?: string;
  name: string;
  from?: number;
  to: number;
  expectedReplicas?: number;
  [key: string]: unknown;
}

export const scaleWorkloadExecutor: ActionExecutor<'scale_workload'> = {
  type: 'scale_workload',
  idempotent: true,
  async execute(action: ActionOf<'scale_workload'>, ctx: ActionContext): Promise<ActionResult> {
    const p = action.payload;
    throwIfAborted(ctx, action.id);
    const details: ScaleDetails = {
      namespace: p.namespace,
      kind: p.kind,
      name: p.name,
      to: p.replicas,
      ...(p.expectedReplicas !== undefined ? { expectedReplicas: p.expectedReplicas } : {}),
    };
    let target: ScaleTarget;
    try {
      target = await resolveScaleTarget(ctx.kube, p.kind, p.namespace, p.name);
    } catch (err) {
      if (err instanceof UnsupportedKindError) return failed('unsupported_kind', err.message, details);
      throw err;
    }
    details.apiVersion = apiVersionOf(target);
    const what = `${target.kind} ${p.namespace}/${p.name}`;
    try {
      const [scale, meta] = await Promise.all([
        readScale(ctx.kube, target),
        readWorkloadMeta(ctx.kube, target),
      ]);
      details.from = scale.replicas;
      const decision = decideScale(p, scale.replicas, isDoNotDisrupt(meta.annotations), {
        maxReplicas: ctx.limits?.maxReplicas ?? defaultScaleLimits.maxReplicas,
        maxScaleUpFactor: ctx.limits?.maxScaleUpFactor ?? defaultScaleLimits.maxScaleUpFactor,
      });
      if (decision.kind === 'noop') {
        return succeeded(`${what} already has ${p.replicas} replicas`, details, 'already_done');
      }
      if (decision.kind === 'conflict') return failed('conflict', `${what}: ${decision.message}`, details);
      if (decision.kind === 'refused')
        return failed('do_not_disrupt', `${what}: ${decision.message}`, details);
      if (decision.kind === 'over-limit')
        return failed('policy_limit', `${what}: ${decision.message}`, details);
      throwIfAborted(ctx, action.id);
      try {
        await replaceScale(ctx.kube, target, p.replicas, scale.resourceVersion);
      } catch (err) {
        // Someone changed the workload between our read and our write: never overwrite.
        if (isConflict(err)) {
          return failed(
            'conflict',
            `${what} changed while being scaled (${apiErrorMessage(err)}); not changed`,
            details,
            true,
          );
        }
        throw err;
      }
      ctx.events.emit(
        {
          apiVersion: apiVersionOf(target),
          kind: target.kind,
          name: p.name,
          namespace: p.namespace,
          uid: meta.uid,
        },
        'Normal',
        'ClusteroptScaled',
        `Scaled from ${scale.replicas} to ${p.replicas} replicas (clusteropt action ${action.id})`,
      );
      await ctx.events.flush();
      return succeeded(`${what} scaled from ${scale.replicas} to ${p.replicas} replicas`, details);
    } catch (err) {
      if (err instanceof WorkloadNotFoundError) return failed('workload_not_found', err.message, details);
      throw err;
    }
  },
};
