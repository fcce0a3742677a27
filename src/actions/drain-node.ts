import { z } from 'zod';
import { NodeTarget } from './node-identity.ts';

/** drain_node: cordon, then evict pods with kubectl drain's rules (see docs/drain.md). */
export const DrainNodePayload = NodeTarget.extend({
  timeoutSeconds: z.int().min(1).max(86_400),
  gracePeriodSeconds: z.int().min(0).max(86_400).optional(),
  force: z.boolean().default(false),
  deleteEmptyDirData: z.boolean().default(false),
  ignoreDaemonSets: z.boolean().default(true),
  deadline: z.iso.datetime({ offset: true }).optional(),
});
export type DrainNodePayload = z.infer<typeof DrainNodePayload>;
