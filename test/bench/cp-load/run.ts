/**
 * Control-plane load (issue 9): requests per minute the control plane receives from one idle
 * agent and from one busy agent, against a naive 5 s poller doing the same work.
 *
 *   node test/bench/cp-load/run.ts [--windows 3] [--window-seconds 60] [--rates 1,5] [--nodes 20]
 *        [--churn-seconds 10] [--warmup-seconds 15] [--subjects agent,naive] [--kubeconfig PATH]
 *
 * The stack: a test cluster of its own (unless --kubeconfig), `--nodes` kwok nodes (Ready),
 * the reference control plane over real HTTP, started in this process so its request counter
 * (per method and route template, counted on arrival) can be read between windows. Subjects,
 * one after the other, each with a cluster (queue) of its own on that control plane:
 * - `agent`: `clusteropt-agent run` as a child process, defaults as installed (leader
 *   election on, inventory on, long poll 25 s, heartbeat 60 s, batch status route);
 * - `naive`: the 5 s short poller of naive-poller.ts (per-action status route).
 * Each is measured idle (nothing queued, no churn) for `--windows` windows of
 * `--window-seconds`, then busy at each of `--rates` actions/s (cordon/uncordon round robin
 * over the nodes, plus a node created and one deleted every `--churn-seconds`), again for
 * `--windows` windows after a warm-up. Busy windows also count the actions enqueued in them
 * and the status reports the control plane logged from the subject (what the per-action
 * route would have needed as requests). Prints tables (median, min, max per window; ratio
 * naive/agent) and one JSON line.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { cordonedByAnnotation } from '../../../src/contract/marks.ts';
import { ApiKeySource, ControlPlaneClient } from '../../../src/controlplane/index.ts';
import { createLogger } from '../../../src/observability/logger.ts';
import {
  type ReferenceControlPlane,
  startReferenceControlPlane,
} from '../../../src/reference-control-plane/index.ts';
import { sleep } from '../../../src/util/backoff.ts';
import { applyWidePolicy } from '../../support/policy.ts';
import { registerCluster, spawnAgent } from '../../support/processes.ts';
import { createNodes, deleteNodes, useCluster, waitFor } from '../common/kube.ts';
import { machineNote, printJsonLine, printTable, ratio, round, summarize } from '../common/stats.ts';
import { startLoad } from './load.ts';
import { NaivePoller } from './naive-poller.ts';
import { countWindow, routeLabels, type Window } from './windows.ts';

const { values } = parseArgs({
  options: {
    windows: { type: 'string', default: '3' },
    'window-seconds': { type: 'string', default: '60' },
    rates: { type: 'string', default: '1,5' },
    nodes: { type: 'string', default: '20' },
    'churn-seconds': { type: 'string', default: '10' },
    'warmup-seconds': { type: 'string', default: '15' },
    subjects: { type: 'string', default: 'agent,naive' },
    kubeconfig: { type: 'string' },
  },
});
const windowCount = Number(values.windows);
const windowSeconds = Number(values['window-seconds']);
const rates = values.rates.split(',').map(Number);
const nodeCount = Number(values.nodes);
const churnSeconds = Number(values['churn-seconds']);
const warmupSeconds = Number(values['warmup-seconds']);
const subjects = values.subjects.split(',') as ('agent' | 'naive')[];

interface Phase {
  subject: string;
  phase: string;
  actionsPerSecond: number;
  windows: (Window & { actions: number; statusReports: number })[];
  machine: { cpus: number; loadavg: number[] };
}

type Stack = {
  cp: ReferenceControlPlane;
  kc: import('@kubernetes/client-node').KubeConfig;
  kubeconfig: string;
};

/** Starts one subject against `clusterId`; returns its stop function. */
async function startSubject(
  subject: 'agent' | 'naive',
  stack: Stack,
  dir: string,
  keyFile: string,
  ns: string,
): Promise<() => Promise<void>> {
  if (subject === 'agent') {
    const agent = await spawnAgent({
      name: 'agent',
      dir,
      controlPlaneUrl: stack.cp.url,
      apiKeyFile: keyFile,
      namespace: ns,
      kubeconfig: stack.kubeconfig,
    });
    return () => agent.stop();
  }
  const apiKey = new ApiKeySource({ path: keyFile, watch: false });
  const client = new ControlPlaneClient({ baseUrl: stack.cp.url, apiKey, allowInsecureHttp: true });
  const poller = new NaivePoller({ client, kc: stack.kc });
  const controller = new AbortController();
  const running = poller.run(controller.signal);
  return async () => {
    controller.abort();
    await running;
    await client.close();
    apiKey.close();
    if (poller.counters.errors > 0) console.error(`naive poller: ${poller.counters.errors} failed ticks`);
  };
}

/** Agent status reports the control plane accepted, by time (one per transition reported). */
async function agentReportTimes(cp: ReferenceControlPlane, clusterId: string): Promise<number[]> {
  const log = await cp.admin.clusterStatusLog(clusterId);
  return log.filter((e) => e.source === 'agent').map((e) => Date.parse(e.at));
}

const inWindow = (times: readonly number[], w: Window) =>
  times.filter((t) => t >= w.fromMs && t < w.toMs).length;

async function measureSubject(subject: 'agent' | 'naive', stack: Stack, dir: string, nodes: string[]) {
  const { cp, kc } = stack;
  const keyFile = join(dir, `${subject}.api-key`);
  const { clusterId } = await registerCluster(cp, `cp-load-${subject}`, keyFile);
  const ns = `cp-load-${subject}-${process.pid}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  await resetNodes(stack, nodes);
  const cordoned = new Set<string>();
  const stop = await startSubject(subject, stack, dir, keyFile, ns);
  const phases: Phase[] = [];
  try {
    // Start-up traffic (first full inventory snapshot, first heartbeat) is not counted.
    await waitFor(async () => (await cp.admin.lastHeartbeat(clusterId)) !== undefined, {
      timeoutMs: 60_000,
      what: `${subject}: first heartbeat`,
    });
    await sleep(warmupSeconds * 1000);
    const idle: Phase['windows'] = [];
    for (let i = 0; i < windowCount; i++) {
      idle.push({ ...(await countWindow(cp, windowSeconds)), actions: 0, statusReports: 0 });
      console.error(`${subject} idle window ${i + 1}/${windowCount}: ${idle.at(-1)!.total} requests`);
    }
    phases.push({ subject, phase: 'idle', actionsPerSecond: 0, windows: idle, machine: await machineNote() });
    for (const rate of rates) {
      const load = startLoad({
        admin: cp.admin,
        clusterId,
        kc,
        nodes,
        cordoned,
        actionsPerSecond: rate,
        churnSeconds,
        churnPrefix: `cp-load-churn-${subject}-${rate}-${process.pid}`,
      });
      const windows: Window[] = [];
      try {
        await sleep(warmupSeconds * 1000);
        for (let i = 0; i < windowCount; i++) {
          windows.push(await countWindow(cp, windowSeconds));
          console.error(
            `${subject} ${rate}/s window ${i + 1}/${windowCount}: ${windows.at(-1)!.total} requests`,
          );
        }
      } finally {
        await load.stop();
      }
      await waitFor(
        async () => {
          const c = await cp.admin.countActions(clusterId);
          return c.queued + c.leased + c.running === 0;
        },
        { timeoutMs: 120_000, intervalMs: 500, what: `${subject}: every action finished` },
      );
      const reports = await agentReportTimes(cp, clusterId);
      phases.push({
        subject,
        phase: `busy ${rate}/s`,
        actionsPerSecond: rate,
        windows: windows.map((w) => ({
          ...w,
          actions: inWindow(load.enqueuedAt, w),
          statusReports: inWindow(reports, w),
        })),
        machine: await machineNote(),
      });
      const counts = await cp.admin.countActions(clusterId);
      if (counts.failed + counts.rejected + counts.expired > 0)
        console.error(`${subject}: not every action succeeded: ${JSON.stringify(counts)}`);
      await sleep(5_000);
    }
  } finally {
    await stop();
    await kc
      .makeApiClient(CoreV1Api)
      .deleteNamespace({ name: ns })
      .catch(() => undefined);
  }
  return phases;
}

/** Uncordons every node and clears the agent's mark, so each subject starts from the same state. */
async function resetNodes(stack: Stack, nodes: string[]) {
  const core = stack.kc.makeApiClient(CoreV1Api);
  for (const name of nodes) {
    await core.patchNode(
      {
        name,
        body: { spec: { unschedulable: false }, metadata: { annotations: { [cordonedByAnnotation]: null } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
  }
}

function perMinute(p: Phase, pick: (w: Phase['windows'][number]) => number) {
  return summarize(p.windows.map((w) => pick(w) / w.minutes));
}

function report(phases: Phase[]) {
  const idleOf = (subject: string) => phases.find((p) => p.subject === subject && p.phase === 'idle');
  const rows = phases.map((p) => {
    const total = perMinute(p, (w) => w.total);
    const idle = idleOf(p.subject);
    const idleMedian = idle ? perMinute(idle, (w) => w.total).median : 0;
    const gross = summarize(p.windows.filter((w) => w.actions > 0).map((w) => w.total / w.actions));
    const net = summarize(
      p.windows.filter((w) => w.actions > 0).map((w) => (w.total - idleMedian * w.minutes) / w.actions),
    );
    const statusRequests = (w: Window) =>
      (w.byRoute['status batch'] ?? 0) + (w.byRoute['status 1-by-1'] ?? 0);
    const reportsPerRequest = summarize(
      p.windows.filter((w) => statusRequests(w) > 0).map((w) => w.statusReports / statusRequests(w)),
    );
    const routes = Object.fromEntries(
      [...new Set(p.windows.flatMap((w) => Object.keys(w.byRoute)))].map((r) => [
        r,
        round(perMinute(p, (w) => w.byRoute[r] ?? 0).median),
      ]),
    );
    return {
      p,
      total,
      gross,
      net,
      reportsPerRequest,
      routes,
      actionsPerMinute: perMinute(p, (w) => w.actions),
    };
  });
  // Without the agent in the run (--subjects naive) there is nothing to compare with.
  const agentMedian = (phase: string) =>
    rows.find((r) => r.p.subject === 'agent' && r.p.phase === phase)?.total.median;
  const ratioToAgent = (r: (typeof rows)[number]) => {
    const agent = agentMedian(r.p.phase);
    return agent === undefined ? undefined : ratio(r.total.median, agent);
  };

  console.log(`\ncontrol-plane requests per minute, ${windowCount} windows of ${windowSeconds} s each`);
  printTable([
    [
      'subject',
      'phase',
      'n',
      'median/min',
      'min/min',
      'max/min',
      'ratio to agent',
      'actions/min',
      'req/action',
      'net req/action',
      'reports/status req',
      'load',
    ],
    ...rows.map((r) => [
      r.p.subject,
      r.p.phase,
      r.total.n,
      r.total.median,
      r.total.min,
      r.total.max,
      ratioToAgent(r),
      r.p.actionsPerSecond ? r.actionsPerMinute.median : undefined,
      r.p.actionsPerSecond ? r.gross.median : undefined,
      r.p.actionsPerSecond ? r.net.median : undefined,
      Number.isFinite(r.reportsPerRequest.median) ? r.reportsPerRequest.median : undefined,
      r.p.machine.loadavg.join(' '),
    ]),
  ]);
  const labels = [
    ...Object.values(routeLabels),
    ...new Set(rows.flatMap((r) => Object.keys(r.routes))),
  ].filter((l, i, all) => all.indexOf(l) === i && rows.some((r) => r.routes[l] !== undefined));
  console.log('\nmedian requests per minute by route');
  printTable([
    ['subject', 'phase', ...labels],
    ...rows.map((r) => [r.p.subject, r.p.phase, ...labels.map((l) => r.routes[l] ?? 0)]),
  ]);
  return rows.map((r) => ({
    subject: r.p.subject,
    phase: r.p.phase,
    actionsPerSecond: r.p.actionsPerSecond,
    requestsPerMinute: {
      median: round(r.total.median),
      min: round(r.total.min),
      max: round(r.total.max),
      n: r.total.n,
    },
    ratioToAgent: ratioToAgent(r),
    routesPerMinute: r.routes,
    actionsPerMinute: r.p.actionsPerSecond ? round(r.actionsPerMinute.median) : 0,
    requestsPerAction: r.p.actionsPerSecond ? round(r.gross.median) : undefined,
    netRequestsPerAction: r.p.actionsPerSecond ? round(r.net.median) : undefined,
    statusReportsPerStatusRequest: Number.isFinite(r.reportsPerRequest.median)
      ? round(r.reportsPerRequest.median)
      : undefined,
    windows: r.p.windows.map((w) => ({
      minutes: round(w.minutes),
      total: w.total,
      actions: w.actions,
      statusReports: w.statusReports,
      byRoute: w.byRoute,
    })),
    machine: r.p.machine,
  }));
}

async function main() {
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'clusteropt-bench-cp-load-'));
  const cluster = await useCluster({
    ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    verbose: true,
  });
  const { installCrds } = await import('../../../src/kube/install-crds.ts');
  await installCrds(cluster.kc);
  // Measures the agent's mechanics, not its guardrails: every one widened (an explicit admin act).
  await applyWidePolicy(cluster.kc, 'bench-wide');
  const nodes = Array.from({ length: nodeCount }, (_, i) => `cp-load-${process.pid}-${i}`);
  await createNodes(cluster.kc, nodes);
  const cp = await startReferenceControlPlane({
    dbPath: join(dir, 'cp.db'),
    logger: createLogger({ level: 'warn' }),
  });
  const started = await machineNote();
  const phases: Phase[] = [];
  try {
    const stack = { cp, kc: cluster.kc, kubeconfig: cluster.kubeconfigPath };
    for (const subject of subjects) phases.push(...(await measureSubject(subject, stack, dir, nodes)));
  } finally {
    await cp.close();
    await deleteNodes(cluster.kc, nodes);
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const results = report(phases);
  printJsonLine('cp-load', {
    commit,
    windows: windowCount,
    windowSeconds,
    rates,
    nodes: nodeCount,
    churnSeconds,
    results,
    machine: { started, ended: await machineNote() },
    ownCluster: cluster.owned,
  });
}

await main();
