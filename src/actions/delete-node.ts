import { DrainNodePayload } from './drain-node.ts';

/** delete_node: drain with the same options, then delete the Node with a UID precondition. */
export const DeleteNodePayload = DrainNodePayload;
