/**
 * The agent's Prometheus metrics, in their own Registry (never prom-client's global one, so
 * tests and embedded uses get a fresh set). All names start with `clusteropt_agent_`.
 * Label values are small closed sets (action types, outcomes, HTTP codes), never ids or
 * names, so series counts stay bounded.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export const metricPrefix = 'clusteropt_agent_';

export interface AgentMetrics {
  registry: Registry;
  /** Finished actions; outcome: succeeded | failed | rejected | expired | dry_run. */
  actionsTotal: Counter<'type' | 'outcome'>;
  /** Time from start of execution to finish, per action type. */
  actionDurationSeconds: Histogram<'type'>;
  /** Eviction attempts; outcome: evicted | blocked (429/PDB) | not_found | deleted (forced) | error. */
  evictionsTotal: Counter<'outcome'>;
  /** Records waiting in the SQLite outbox. */
  outboxDepth: Gauge;
  /** Age of the oldest record waiting in the outbox (0 when empty). */
  outboxOldestAgeSeconds: Gauge;
  pollRequestsTotal: Counter;
  /** Failed long-polls; code: HTTP status, or an error code such as timeout / network. */
  pollErrorsTotal: Counter<'code'>;
  /** 1 while this replica holds the Lease. */
  leader: Gauge;
  /** List+watch loops restarted (relist after 410, reconnect after an error). */
  watchRestartsTotal: Counter<'resource'>;
  /** Policy decisions; decision: allow | refuse | wait | dryRun; rule: the rule, `none` for allow/dryRun. */
  policyDecisionsTotal: Counter<'decision' | 'rule'>;
  /** Always 1; the labels say which build runs. */
  buildInfo: Gauge<'version' | 'revision' | 'node_version'>;
  /** 1 while the state file takes writes; 0 while they fail (disk full, read-only, I/O error). */
  stateWritable: Gauge;
  /** State-file writes that failed, by code (STATE_DISK_FULL, STATE_UNWRITABLE, ...). */
  stateWriteErrorsTotal: Counter<'code'>;
  /** Wall-clock steps (NTP) seen by the agent, by direction (forward, backward). */
  clockJumpsTotal: Counter<'direction'>;
  /** Agent clock minus the control plane's, from the last poll's Date header; 0 when under 2 s. */
  controlPlaneClockSkewSeconds: Gauge;
  /** Corrupt state files moved aside at start (the agent then started with a fresh one). */
  stateCorruptRecoveriesTotal: Counter;
  /** Rows pruned from the state file by its timer; table: journal | outbox. */
  statePrunedRowsTotal: Counter<'table'>;
  /** Requests to the control plane by route template and outcome (`2xx`, or the error code). */
  controlPlaneRequestsTotal: Counter<'route' | 'outcome'>;
  /** Duration of control-plane requests by route (long polls last up to their wait). */
  controlPlaneRequestDurationSeconds: Histogram<'route'>;
  /** Actions executing right now, by type (a drain in progress counts under drain_node). */
  actionsRunning: Gauge<'type'>;
  /** How long the drain furthest past its time budget has been running past it; 0 when none is. */
  drainBudgetOverrunSeconds: Gauge;
  /**
   * 1 while the agent starts no new action, by reason: policy (an AgentPolicy with paused:
   * true, kubectl clusteropt pause), controlplane_forbidden (403: the cluster is disabled),
   * controlplane_unauthorized (401). Control-plane reasons hold only control-plane actions.
   */
  paused: Gauge<'reason'>;
}

/** The reasons of clusteropt_agent_paused (always exported, 0 when not paused). */
export const pauseReasons = ['policy', 'controlplane_forbidden', 'controlplane_unauthorized'] as const;
export type PauseReason = (typeof pauseReasons)[number];
/** The reasons ControlPlaneAccess sets (the policy pause is the action controller's). */
export const controlPlanePauseReasons = ['controlplane_forbidden', 'controlplane_unauthorized'] as const;

export interface MetricsOptions {
  /** Process and Node.js runtime metrics (process_*, nodejs_*), unprefixed as dashboards expect. */
  defaultMetrics?: boolean;
  version?: string;
  /** Source revision of the build (the image's REVISION build argument). */
  revision?: string;
}

export function createMetrics(options: MetricsOptions = {}): AgentMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const metrics: AgentMetrics = {
    registry,
    actionsTotal: new Counter({
      name: `${metricPrefix}actions_total`,
      help: 'Actions finished, by type and outcome (succeeded, failed, rejected, expired, dry_run).',
      labelNames: ['type', 'outcome'],
      registers,
    }),
    actionDurationSeconds: new Histogram({
      name: `${metricPrefix}action_duration_seconds`,
      help: 'Duration of action execution, by type.',
      labelNames: ['type'],
      // Cordons take milliseconds, drains minutes to hours.
      buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
      registers,
    }),
    evictionsTotal: new Counter({
      name: `${metricPrefix}evictions_total`,
      help: 'Pod eviction attempts, by outcome (evicted, blocked, not_found, deleted, error).',
      labelNames: ['outcome'],
      registers,
    }),
    outboxDepth: new Gauge({
      name: `${metricPrefix}outbox_depth`,
      help: 'Records waiting in the outbox to be shipped to the control plane.',
      registers,
    }),
    outboxOldestAgeSeconds: new Gauge({
      name: `${metricPrefix}outbox_oldest_age_seconds`,
      help: 'Age of the oldest record waiting in the outbox, 0 when empty.',
      registers,
    }),
    pollRequestsTotal: new Counter({
      name: `${metricPrefix}poll_requests_total`,
      help: 'Long-poll requests sent to the control plane.',
      registers,
    }),
    pollErrorsTotal: new Counter({
      name: `${metricPrefix}poll_errors_total`,
      help: 'Failed long-poll requests, by HTTP status or error code.',
      labelNames: ['code'],
      registers,
    }),
    leader: new Gauge({
      name: `${metricPrefix}leader`,
      help: '1 while this replica holds the leader Lease, else 0.',
      registers,
    }),
    watchRestartsTotal: new Counter({
      name: `${metricPrefix}watch_restarts_total`,
      help: 'List+watch loops restarted (relist or reconnect), by resource.',
      labelNames: ['resource'],
      registers,
    }),
    policyDecisionsTotal: new Counter({
      name: `${metricPrefix}policy_decisions_total`,
      help: 'AgentPolicy decisions, by decision (allow, refuse, wait, dryRun) and rule.',
      labelNames: ['decision', 'rule'],
      registers,
    }),
    buildInfo: new Gauge({
      name: `${metricPrefix}build_info`,
      help: 'Always 1; labels identify the running build (version, source revision, Node.js version).',
      labelNames: ['version', 'revision', 'node_version'],
      registers,
    }),
    stateWritable: new Gauge({
      name: `${metricPrefix}state_writable`,
      help: '1 while the state file (SQLite) takes writes, 0 while they fail (disk full, read-only, I/O error).',
      registers,
    }),
    stateWriteErrorsTotal: new Counter({
      name: `${metricPrefix}state_write_errors_total`,
      help: 'Failed writes to the state file, by code (STATE_DISK_FULL, STATE_UNWRITABLE, STATE_LOCKED, STATE_CORRUPT).',
      labelNames: ['code'],
      registers,
    }),
    clockJumpsTotal: new Counter({
      name: `${metricPrefix}clock_jumps_total`,
      help: 'Wall-clock steps (NTP, manual) detected against the monotonic clock, by direction.',
      labelNames: ['direction'],
      registers,
    }),
    controlPlaneClockSkewSeconds: new Gauge({
      name: `${metricPrefix}controlplane_clock_skew_seconds`,
      help: "Agent wall clock minus the control plane's, measured from the last poll response's Date header (0 when under 2 s). Action instants are translated by it.",
      registers,
    }),
    stateCorruptRecoveriesTotal: new Counter({
      name: `${metricPrefix}state_corrupt_recoveries_total`,
      help: 'Corrupt state files moved aside at start; the agent started with a fresh file (unshipped reports and the journal were lost).',
      registers,
    }),
    statePrunedRowsTotal: new Counter({
      name: `${metricPrefix}state_pruned_rows_total`,
      help: 'Rows pruned from the state file (retention and size bounds), by table (journal, outbox).',
      labelNames: ['table'],
      registers,
    }),
    controlPlaneRequestsTotal: new Counter({
      name: `${metricPrefix}controlplane_requests_total`,
      help: 'Requests to the control plane, by route template and outcome (2xx, or an error code such as CP_NETWORK, CP_UNAUTHORIZED, CP_SERVER_ERROR).',
      labelNames: ['route', 'outcome'],
      registers,
    }),
    controlPlaneRequestDurationSeconds: new Histogram({
      name: `${metricPrefix}controlplane_request_duration_seconds`,
      help: 'Duration of control-plane requests, by route template (long polls last up to their wait).',
      labelNames: ['route'],
      buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    actionsRunning: new Gauge({
      name: `${metricPrefix}actions_running`,
      help: 'Actions executing right now, by type.',
      labelNames: ['type'],
      registers,
    }),
    drainBudgetOverrunSeconds: new Gauge({
      name: `${metricPrefix}drain_budget_overrun_seconds`,
      help: 'Seconds the running drain furthest past its time budget has spent past it; 0 when no drain is.',
      registers,
    }),
    paused: new Gauge({
      name: `${metricPrefix}paused`,
      help: '1 while the agent starts no new action, by reason (policy: an AgentPolicy with paused: true; controlplane_forbidden: HTTP 403, the cluster is disabled; controlplane_unauthorized: HTTP 401).',
      labelNames: ['reason'],
      registers,
    }),
  };
  metrics.leader.set(0);
  metrics.drainBudgetOverrunSeconds.set(0);
  metrics.stateWritable.set(1);
  for (const reason of pauseReasons) metrics.paused.set({ reason }, 0);
  metrics.outboxDepth.set(0);
  metrics.outboxOldestAgeSeconds.set(0);
  metrics.buildInfo.set(
    {
      version: options.version ?? 'unknown',
      revision: options.revision ?? 'unknown',
      node_version: process.version,
    },
    1,
  );
  return metrics;
}
