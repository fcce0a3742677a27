import { NodeTarget } from './node-identity.ts';

/** uncordon_node: undo what the agent's cordon or drain added, nothing else. */
export const UncordonNodePayload = NodeTarget;
