/**
 * HibernationSchedule (clusteropt.io/v1alpha1, cluster-scoped, short name `hsched`): when the
 * workloads a schedule selects sleep and wake. The schemas live with the controller
 * (src/controllers/hibernation/spec.ts, the pure core that also parses the objects); this
 * module gives the CRD generator (definitions.ts) the names and the spec/status to render,
 * like agent-action.ts and agent-policy.ts do for theirs.
 */
export {
  HibernationSchedule,
  HibernationScheduleSpec,
  HibernationScheduleStatus,
  hibernationScheduleKind,
  hibernationSchedulePlural,
} from '../controllers/hibernation/spec.ts';

export const hibernationScheduleSingular = 'hibernationschedule';
export const hibernationScheduleShortName = 'hsched';
