/**
 * The marks the agent leaves on objects, so it can later undo exactly what it did and admins
 * can see who did what. These strings are part of the product (docs/actions.md): never rename.
 */

/** On a Node the agent made unschedulable; the value is the id of the action that did. */
export const cordonedByAnnotation = 'clusteropt.io/cordoned-by';

/** NoSchedule taint a drain puts on its node; the value is the drain's action id. */
export const drainingTaintKey = 'clusteropt.io/draining';
export const drainingTaintEffect = 'NoSchedule';

/** On a pod or workload: the agent never evicts or scales it down (like karpenter.sh/do-not-disrupt). */
export const doNotDisruptAnnotation = 'clusteropt.io/do-not-disrupt';

export const isDoNotDisrupt = (annotations: Record<string, string> | undefined): boolean =>
  annotations?.[doNotDisruptAnnotation] === 'true';

/**
 * On a Node: the taints patch_node added (JSON list of `key:Effect`), so removing one of them
 * later is known to undo the agent's own change, while removing any other taint is treated
 * as disruptive by the policy check (docs/policy.md "patch_node").
 */
export const patchedTaintsAnnotation = 'clusteropt.io/patched-taints';

/** Marks only the agent's own bookkeeping may change; patch_node refuses to touch them directly. */
export const agentOwnedAnnotations: readonly string[] = [cordonedByAnnotation, patchedTaintsAnnotation];
export const agentOwnedTaintKeys: readonly string[] = [drainingTaintKey];

/** On the schedule: the id of the action that last created or changed it. */
export const syncedByAnnotation = 'clusteropt.io/synced-by-action';
