/**
 * `clusteropt-agent run`: the in-cluster agent. Every replica watches and serves health;
 * only the Lease holder polls the control plane, executes actions and ships the outbox.
 *
 * Start-up refuses to run (exit 1, one clear message) when the configuration is invalid or
 * the state file cannot be opened safely: running without the outbox would lose results.
 * SIGTERM/SIGINT: leadership work is aborted (executors stop at a safe point and leave the
 * action `started` in the journal for the next leader to resume), the Lease is released,
 * the state file is checkpointed and closed.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { configUsage, loadConfig } from '../config/load.ts';
import type { AgentConfig } from '../config/schema.ts';
import { ActionController } from '../controllers/action/controller.ts';
import { acceptEnvelopes } from '../controllers/action/poller.ts';
import { HibernationController } from '../controllers/hibernation/controller.ts';
import { createInventory } from '../controllers/inventory/index.ts';
import { pollRoute } from '../controlplane/client.ts';
import {
  ApiKeySource,
  ControlPlaneAccess,
  ControlPlaneClient,
  OutboxShipper,
  PollLoop,
} from '../controlplane/index.ts';
import { type AgentStatusReport, agentStatusAnnotation } from '../crds/agent-status.ts';
import { createKubeClients, type KubeClients } from '../kube/clients.ts';
import { EventRecorder } from '../kube/events.ts';
import { NodeCache } from '../kube/node-cache.ts';
import { createHealthServer, recencyCheck } from '../observability/health.ts';
import { createLogger, type Logger } from '../observability/logger.ts';
import {
  type AgentMetrics,
  controlPlanePauseReasons,
  createMetrics,
  pauseReasons,
} from '../observability/metrics.ts';
import { LeaderElector } from '../operator/leader-election.ts';
import { StateStore } from '../store/index.ts';
import { sleep } from '../util/backoff.ts';
import { ClockJumpDetector } from '../util/clock-jump.ts';
import { errorMessage } from '../util/errors.ts';
import { agentVersion, buildRevision } from './version.ts';

export async function main(argv: string[]): Promise<number> {
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig({ argv });
  } catch (err) {
    process.stderr.write(`clusteropt-agent run: ${errorMessage(err)}\n`);
    return 2;
  }
  if (loaded.help) {
    process.stdout.write(configUsage());
    return 0;
  }
  const log = createLogger({ level: loaded.config.logLevel });
  for (const w of loaded.warnings) log.warn(w);
  const agent = await startAgent(loaded.config, log).catch((err: unknown) => {
    // The message only: a start failure is the user's to fix (a setting, the state file), not a stack trace.
    log.fatal({ err: errorMessage(err), code: (err as { code?: string }).code }, 'agent cannot start');
    return undefined;
  });
  if (!agent) return 1;
  const stop = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const signal = await stop;
  log.info({ signal }, 'shutting down');
  await agent.stop();
  log.info('stopped');
  return 0;
}

export interface RunningAgent {
  identity: string;
  store: StateStore;
  metrics: AgentMetrics;
  healthAddress: { host: string; port: number };
  isLeader(): boolean;
  stop(): Promise<void>;
}

function loadKubeConfig(config: AgentConfig): KubeConfig {
  const kc = new KubeConfig();
  if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromCluster();
  return kc;
}

/** Starts every part of the agent; used by `main` and by tests that run the agent in-process. */
export async function startAgent(config: AgentConfig, log: Logger): Promise<RunningAgent> {
  const metrics = createMetrics({ version: agentVersion, revision: buildRevision });
  const { store, recovered } = StateStore.openRecovering({ path: join(config.stateDir, 'agent.db') });
  if (recovered) {
    // Said three ways: a log line now, a metric, and an audit event for the control plane.
    metrics.stateCorruptRecoveriesTotal.inc();
    log.error(
      { movedTo: recovered.movedTo, reason: recovered.reason },
      'state file was corrupt: moved aside and started with a fresh one; unshipped reports and the journal are lost (AgentActions remain the record)',
    );
    store.outbox.appendAudit({
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      event: 'state.corrupt_recovered',
      resource: recovered.movedTo,
      message:
        `the agent's state file was corrupt (${recovered.reason}); it was moved to ${recovered.movedTo} and the agent started with a fresh one`.slice(
          0,
          4096,
        ),
      details: { movedTo: recovered.movedTo },
    });
  }
  const interrupted = store.journal.interruptedActions();
  if (interrupted.length > 0) {
    log.info(
      { count: interrupted.length },
      'actions were running when the agent stopped; they resume from their AgentActions',
    );
  }
  const kc = loadKubeConfig(config);
  const clients = createKubeClients(kc);
  const kubeReachable = recencyCheck('kube-api', 60_000);
  const health = createHealthServer({ registry: metrics.registry, log });
  health.addReadinessCheck({
    name: 'state-store',
    check: () => {
      if (!store.isOpen) return { ok: false, message: 'closed' };
      const w = store.writeState;
      if (w.kind === 'failing') return { ok: false, message: `${w.code}: ${w.message}` };
      return store.stats().overCapacity ? { ok: false, message: 'outbox over capacity' } : { ok: true };
    },
  });
  // Disk full / read-only state file: one line when it starts, one when it ends (not one per
  // row); readiness fails meanwhile; nothing is executed without its journal entry, and
  // results wait in memory (see docs/outbox.md "Disk full").
  const seenWriteFailures: Record<string, number> = {};
  const syncWriteFailureMetric = () => {
    for (const [code, n] of Object.entries(store.writeFailures)) {
      const delta = n - (seenWriteFailures[code] ?? 0);
      if (delta > 0) metrics.stateWriteErrorsTotal.inc({ code }, delta);
      seenWriteFailures[code] = n;
    }
  };
  const wakeOnWritable = new Set<() => void>();
  store.onWriteStateChange((state, previous) => {
    syncWriteFailureMetric();
    if (state.kind === 'failing') {
      metrics.stateWritable.set(0);
      log.error(
        { code: state.code, err: state.message, path: store.path },
        'state file cannot be written: not ready; no new action is taken or started until it can (retrying every second)',
      );
    } else {
      metrics.stateWritable.set(1);
      log.info(
        {
          path: store.path,
          failedWrites: previous.kind === 'failing' ? previous.failures : 0,
          failingForMs: previous.kind === 'failing' ? Date.now() - previous.since : 0,
        },
        'state file writable again: resuming',
      );
      for (const wake of wakeOnWritable) wake();
    }
  });
  const onWritable = (wake: () => void) => {
    wakeOnWritable.add(wake);
    return () => wakeOnWritable.delete(wake);
  };
  const clockJumps = new ClockJumpDetector();
  clockJumps.onJump((jump) => {
    metrics.clockJumpsTotal.inc({ direction: jump.direction });
    log.warn(
      { deltaMs: Math.round(jump.deltaMs), direction: jump.direction },
      'wall clock stepped (NTP?): leases and budgets are monotonic; schedules are re-evaluated',
    );
  });
  clockJumps.start();
  health.addReadinessCheck(kubeReachable);
  const healthAddress = await health.listen(config.listenHealth);

  const apiKey = new ApiKeySource({ path: config.apiKeyFile, logger: log });
  const controlPlaneStatus: AgentStatusReport['controlPlane'] = {};
  let readiness: { ok: boolean; failing: string[] } = { ok: false, failing: ['starting'] };
  let pausedBy: string | undefined;
  const statusReport = (): AgentStatusReport => {
    const stats = store.isOpen ? store.stats() : { depth: 0, oldestAgeMs: 0 };
    return {
      version: agentVersion,
      ready: readiness.ok,
      ...(readiness.failing.length ? { notReady: readiness.failing.slice(0, 16) } : {}),
      controlPlane: { ...controlPlaneStatus },
      outbox: { depth: stats.depth, oldestAgeSeconds: Math.round(stats.oldestAgeMs / 1000) },
      ...(pausedBy ? { pausedBy } : {}),
      updatedAt: new Date().toISOString(),
    };
  };
  const client = new ControlPlaneClient({
    baseUrl: config.controlPlaneUrl,
    apiKey,
    allowInsecureHttp: config.allowInsecureHttp,
    ...(config.caFile ? { caFile: config.caFile } : {}),
    userAgent: `clusteropt-agent/${agentVersion}`,
    observe: ({ route, outcome, durationMs }) => {
      noteControlPlaneOutcome(controlPlaneStatus, outcome);
      metrics.controlPlaneRequestsTotal.inc({ route, outcome });
      metrics.controlPlaneRequestDurationSeconds.observe({ route }, durationMs / 1000);
      if (route === pollRoute && outcome !== '2xx') metrics.pollErrorsTotal.inc({ code: outcome });
    },
  });
  const events = new EventRecorder(clients, { log });
  const namespace = config.namespace;
  const leaseNamespace = config.leaderElection.leaseNamespace ?? namespace;
  const identity = config.leaderElection.identity ?? `${process.env.POD_NAME ?? hostname()}`;

  // The leader's view of whether the control plane accepts this agent (a fresh one per term).
  let access: ControlPlaneAccess | undefined;
  health.addReadinessCheck({
    name: 'control-plane-access',
    check: () => {
      const denied = access?.deniedReason();
      return denied
        ? {
            ok: false,
            message: `${denied}; no action from the control plane is started until it answers again`,
          }
        : { ok: true };
    },
  });
  const root = new AbortController();
  const leaderWork = async (signal: AbortSignal) => {
    metrics.leader.set(1);
    log.info({ identity }, 'leading: polling, executing and shipping');
    const termAccess = new ControlPlaneAccess();
    access = termAccess;
    termAccess.onChange((state) => {
      const reason = termAccess.pauseReason();
      for (const r of controlPlanePauseReasons) metrics.paused.set({ reason: r }, r === reason ? 1 : 0);
      if (state.kind === 'denied') {
        log.error(
          { status: state.status, err: state.message },
          'the control plane refuses this agent: no action from it is started, nothing new is put to sleep, until it answers again',
        );
      } else if (state.kind === 'allowed') {
        log.info('the control plane accepts this agent');
      }
    });
    // The leader's one list+watch of all Nodes: the executors' copies and the inventory's.
    const nodes = new NodeCache(clients, { log: log.child({ component: 'node-cache' }) });
    const controller = new ActionController({
      clients,
      namespace,
      store,
      events,
      log: log.child({ component: 'action-controller' }),
      metrics,
      finishedTtlMs: config.actionTtlSeconds * 1000,
      drainTuning: { concurrency: config.drainConcurrency },
      dryRun: config.dryRun,
      nodes,
      controlPlaneAccess: termAccess,
      onPauseChange: (policy) => {
        pausedBy = policy;
        metrics.paused.set({ reason: 'policy' }, policy ? 1 : 0);
      },
    });
    // Schedules run from the cluster alone: no control plane needed, audit events wait in the outbox.
    const hibernation = new HibernationController({
      clients,
      events,
      log: log.child({ component: 'hibernation' }),
      agentNamespace: namespace,
      dryRun: config.dryRun,
      controlPlaneAccess: termAccess,
      audit: (event) => store.outbox.appendAudit(event),
      clockJumps,
    });
    const inventory = createInventory({
      nodes,
      outbox: store.outbox,
      logger: log,
      fullSnapshotIntervalMs: config.inventoryResyncSeconds * 1000,
      aws: {
        ...(config.awsRegion ? { region: config.awsRegion } : {}),
        ...(config.awsRoleArn ? { roleArn: config.awsRoleArn } : {}),
        ...(config.awsExternalId ? { externalId: config.awsExternalId } : {}),
      },
    });
    const poll = new PollLoop({
      client,
      waitSeconds: config.pollWaitSeconds,
      maxActions: config.maxActionsPerPoll,
      access: termAccess,
      // Results that cannot be delivered are not joined by new ones: the outbox stays bounded
      // even when something in front of the control plane refuses every report.
      pausedBecause: () =>
        store.stats().overCapacity
          ? 'the outbox is over capacity (reports are not being delivered)'
          : undefined,
      unauthorizedBackoff: {
        minMs: config.deniedRetrySeconds * 1000,
        maxMs: config.deniedRetrySeconds * 10_000,
      },
      logger: log.child({ component: 'poller' }),
      wakeOn: (wake) => both(apiKey.onChange(wake), onWritable(wake)),
      onActions: async (raw, { clockSkewMs }) => {
        metrics.pollRequestsTotal.inc();
        await acceptEnvelopes(raw, {
          clients,
          namespace,
          store,
          log,
          clockSkewMs,
          maxActions: config.maxActionsPerPoll,
        });
      },
      onClockSkew: (skewMs) => {
        metrics.controlPlaneClockSkewSeconds.set(skewMs / 1000);
        if (skewMs !== 0) {
          log.warn(
            { clockSkewMs: skewMs },
            "the agent's clock differs from the control plane's: action times are translated to the agent's clock",
          );
        }
      },
    });
    const shipper = new OutboxShipper({
      store,
      client,
      logger: log.child({ component: 'shipper' }),
      wakeOn: (wake) => both(apiKey.onChange(wake), onWritable(wake)),
    });
    await Promise.allSettled([
      nodes.run(signal),
      controller.run(signal),
      hibernation.run(signal),
      inventory.run(signal),
      pollWhileWritable(poll, store, signal),
      shipper.run(signal),
      heartbeatLoop(client, clients, store, config, identity, () => inventory.awsAccountId, signal, log),
    ]);
    // A term's work may settle after the elector stopped waiting for it (renewDeadline) and
    // the next term began: only the latest term clears its gauges, and `leader` is cleared by
    // onStoppedLeading alone.
    if (access === termAccess) {
      access = undefined;
      for (const r of pauseReasons) metrics.paused.set({ reason: r }, 0);
    }
  };

  let elector: LeaderElector | undefined;
  let done: Promise<unknown>;
  if (config.leaderElection.enabled) {
    elector = new LeaderElector({
      coordination: clients.coordination,
      namespace: leaseNamespace,
      name: config.leaderElection.leaseName,
      identity: `${identity}_${Math.random().toString(16).slice(2, 10)}`,
      leaseDurationSeconds: config.leaderElection.leaseDurationSeconds,
      renewDeadlineSeconds: config.leaderElection.renewDeadlineSeconds,
      retryPeriodSeconds: config.leaderElection.retryPeriodSeconds,
      onStartedLeading: leaderWork,
      annotations: () => ({ [agentStatusAnnotation]: JSON.stringify(statusReport()) }),
      onStoppedLeading: (reason) => {
        metrics.leader.set(0);
        log.warn({ reason }, 'stopped leading');
      },
      log: log.child({ component: 'leader-election' }),
    });
    done = elector.run(root.signal);
  } else {
    done = leaderWork(root.signal).finally(() => metrics.leader.set(0));
  }
  const refreshReadiness = () =>
    health
      .readiness()
      .then((r) => {
        readiness = r;
      })
      .catch(() => undefined);
  const pruned = { journal: 0, outbox: 0 };
  const metricsTimer = setInterval(() => {
    syncWriteFailureMetric();
    void refreshReadiness();
    metrics.statePrunedRowsTotal.inc({ table: 'journal' }, store.pruned.journalEntries - pruned.journal);
    metrics.statePrunedRowsTotal.inc({ table: 'outbox' }, store.pruned.outboxRows - pruned.outbox);
    pruned.journal = store.pruned.journalEntries;
    pruned.outbox = store.pruned.outboxRows;
    const stats = store.stats();
    metrics.outboxDepth.set(stats.depth);
    metrics.outboxOldestAgeSeconds.set(stats.oldestAgeMs / 1000);
    clients.version
      .getCode()
      .then(() => kubeReachable.markSuccess())
      .catch(() => undefined);
  }, 10_000);
  metricsTimer.unref();
  void refreshReadiness();
  clients.version
    .getCode()
    .then(() => kubeReachable.markSuccess())
    .catch((err: unknown) => log.warn({ err }, 'Kubernetes API not reachable yet'));

  return {
    identity: elector?.identity ?? identity,
    store,
    metrics,
    healthAddress,
    isLeader: () => elector?.isLeader() ?? true,
    async stop() {
      clearInterval(metricsTimer);
      clockJumps.stop();
      root.abort(new Error('shutting down'));
      await done.catch(() => undefined);
      await events.flush(2_000).catch(() => undefined);
      apiKey.close();
      await health.close();
      await clients.close();
      store.close();
    },
  };
}

/** Keeps the last outcome and the times of the last success and failure (an abort is neither). */
function noteControlPlaneOutcome(status: AgentStatusReport['controlPlane'], outcome: string): void {
  if (outcome === 'ABORTED') return;
  status.lastOutcome = outcome;
  if (outcome === '2xx') status.lastSuccessAt = new Date().toISOString();
  else status.lastFailureAt = new Date().toISOString();
}

/**
 * Polls only while the state file takes writes: an action taken from the control plane while
 * the journal cannot record it is not acknowledged and only comes back after its lease (and
 * its AgentAction is left waiting). While the file fails, the loop is stopped (an in-flight
 * long poll is cancelled) and it starts again the moment the file is writable.
 */
async function pollWhileWritable(poll: PollLoop, store: StateStore, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const round = new AbortController();
    const stop = () => round.abort();
    const off = store.onWriteStateChange((state) => {
      if (state.kind === 'failing') stop();
      else resumeWait();
    });
    let resumeWait: () => void = () => undefined;
    signal.addEventListener('abort', stop, { once: true });
    try {
      if (store.writeState.kind === 'ok') await poll.run(round.signal);
      if (signal.aborted) return;
      // Stopped because the file failed: wait until it is writable again (or shutdown).
      await new Promise<void>((resolve) => {
        resumeWait = resolve;
        signal.addEventListener('abort', () => resolve(), { once: true });
        if (store.writeState.kind === 'ok' || signal.aborted) resolve();
      });
    } finally {
      off();
      signal.removeEventListener('abort', stop);
    }
  }
}

function both(a: () => void, b: () => void): () => void {
  return () => {
    a();
    b();
  };
}

async function heartbeatLoop(
  client: ControlPlaneClient,
  clients: KubeClients,
  store: StateStore,
  config: AgentConfig,
  identity: string,
  awsAccountId: () => string | undefined,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  let kubernetesVersion: string | undefined;
  while (!signal.aborted) {
    try {
      kubernetesVersion ??= (await clients.version.getCode()).gitVersion;
      await client.heartbeat(
        {
          agentVersion,
          ...(kubernetesVersion ? { kubernetesVersion } : {}),
          outboxDepth: store.stats().depth,
          leader: identity,
          ...(awsAccountId() ? { awsAccountId: awsAccountId() } : {}),
        },
        signal,
      );
    } catch (err) {
      if (signal.aborted) return;
      log.debug({ err }, 'heartbeat failed');
    }
    await sleep(config.heartbeatIntervalSeconds * 1000, signal).catch(() => undefined);
  }
}
