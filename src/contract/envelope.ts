import { z } from 'zod';
import { ActionType } from '../crds/agent-action.ts';
import {
  CordonNodePayload,
  DeleteNodePayload,
  DrainNodePayload,
  PatchNodePayload,
  ScaleWorkloadPayload,
  UncordonNodePayload,
} from './payloads.ts';
import { SyncHibernationSchedulePayload } from './sync-hibernation-schedule.ts';
import { describeIssues, WireEnvelope } from './wire-envelope.ts';

// Defined in wire-envelope.ts (no action modules needed); re-exported for existing imports.
export { describeIssues, WireEnvelope } from './wire-envelope.ts';

/** Every action type the agent knows (crds/agent-action.ts ActionType), with its payload schema. */
export const actionPayloads = {
  cordon_node: CordonNodePayload,
  uncordon_node: UncordonNodePayload,
  drain_node: DrainNodePayload,
  scale_workload: ScaleWorkloadPayload,
  patch_node: PatchNodePayload,
  delete_node: DeleteNodePayload,
  sync_hibernation_schedule: SyncHibernationSchedulePayload,
} as const satisfies Record<ActionType, z.ZodType>;

export { ActionType };

/** Action types that take capacity away (policy counts them against disruption limits). */
export const disruptiveActionTypes: ReadonlySet<ActionType> = new Set([
  'cordon_node',
  'drain_node',
  'delete_node',
]);

type PayloadOf<T extends ActionType> = z.output<(typeof actionPayloads)[T]>;

/** A fully validated action: the envelope with its type's payload. */
export type Action = {
  [T in ActionType]: Omit<WireEnvelope, 'type' | 'payload'> & { type: T; payload: PayloadOf<T> };
}[ActionType];

export const Action = z.discriminatedUnion(
  'type',
  Object.entries(actionPayloads).map(([type, payload]) =>
    WireEnvelope.extend({ type: z.literal(type), payload }),
  ) as unknown as [z.ZodObject, ...z.ZodObject[]],
) as unknown as z.ZodType<Action>;

export type ParsedEnvelope =
  | { ok: true; action: Action }
  /** `id` is set when the envelope carried a usable id, so the rejection can be reported. */
  | { ok: false; id: string | undefined; reason: string };

/** The envelope's id when it is a usable uuid (so a refusal can be reported), else undefined. */
export function envelopeId(input: unknown): string | undefined {
  const rawId =
    typeof input === 'object' && input !== null && Object.hasOwn(input, 'id')
      ? (input as { id: unknown }).id
      : undefined;
  return z.uuid().safeParse(rawId).success ? (rawId as string) : undefined;
}

/**
 * Validates anything received as an action. Never throws: unknown types, bad payloads and
 * garbage all come back as `{ok: false, reason}` for a `rejected` report.
 */
export function parseEnvelope(input: unknown): ParsedEnvelope {
  const id = envelopeId(input);
  const wire = WireEnvelope.safeParse(input);
  if (!wire.success) return { ok: false, id, reason: `invalid envelope: ${describeIssues(wire.error)}` };
  const type = wire.data.type;
  // hasOwn, not `in`: "constructor" or "toString" must be unknown types, not a crash.
  if (!Object.hasOwn(actionPayloads, type)) {
    return { ok: false, id, reason: `unknown action type "${type.slice(0, 64)}"` };
  }
  const payload = actionPayloads[type as ActionType].safeParse(wire.data.payload);
  if (!payload.success) {
    return { ok: false, id, reason: `invalid ${type} payload: ${describeIssues(payload.error)}` };
  }
  return { ok: true, action: { ...wire.data, type, payload: payload.data } as Action };
}
