import { NodeTarget } from './node-identity.ts';

/** cordon_node: mark the node unschedulable (spec.unschedulable=true). */
export const CordonNodePayload = NodeTarget;
