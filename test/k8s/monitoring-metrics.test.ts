/**
 * Every metric the chart's alerts and Grafana dashboard query is one the agent really
 * exports: the agent runs as a child process (`clusteropt-agent run`) against the real test
 * cluster and the reference control plane, does a cordon and a drain that evicts a pod (so
 * labelled series exist), and its /metrics is scraped. The PromQL of every alert and every
 * panel (rendered from the chart by helm) is parsed for metric names, and each must have a
 * sample in the scrape.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installCrds } from '../../src/kube/install-crds.ts';
import {
  createDeployment,
  createKwokNodes,
  createNamespace,
  deleteNamespace,
  deleteNodes,
  loadTestKubeConfig,
  testKubeconfigPath,
  uniqueName,
  waitFor,
  waitForDeploymentReady,
} from '../support/kube.ts';
import { promqlMetricNames, renderMonitoringObjects, ruleGroups } from '../support/monitoring.ts';
import {
  type AgentProcess,
  type ControlPlaneProcess,
  registerCluster,
  spawnAgent,
  spawnControlPlane,
} from '../support/processes.ts';

const kc = loadTestKubeConfig();
const dir = mkdtempSync(join(tmpdir(), 'clusteropt-metrics-'));
const node = uniqueName('mon');
let ns = '';
let cp: ControlPlaneProcess;
let agent: AgentProcess;

/** Sample names in Prometheus text format (`name{...} value` or `name value`). */
function sampleNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line);
    if (m) names.add(m[1] as string);
  }
  return names;
}

/** Every PromQL expression of the chart: alert rules and dashboard panel targets. */
function chartQueries(): { where: string; expr: string }[] {
  const objects = renderMonitoringObjects();
  const rules = ruleGroups(objects).flatMap((g) =>
    g.rules.map((r) => ({ where: `alert ${r.alert ?? r.record}`, expr: r.expr })),
  );
  const dashboards = objects.filter(
    (o) => o.kind === 'ConfigMap' && String((o.metadata as { name: string }).name).endsWith('-dashboard'),
  );
  expect(dashboards, 'the dashboard ConfigMap').toHaveLength(1);
  const json = JSON.parse(
    Object.values((dashboards[0] as { data: Record<string, string> }).data)[0] as string,
  ) as {
    panels: { title: string; targets?: { expr: string }[] }[];
    templating: { list: { name: string; query?: { query?: string } }[] };
  };
  const panels = json.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })),
  );
  const variables = json.templating.list.flatMap((v) =>
    v.query?.query
      ? [{ where: `variable ${v.name}`, expr: v.query.query.replace(/^label_values\((.*),[^,]*\)$/, '$1') }]
      : [],
  );
  return [...rules, ...panels, ...variables];
}

describe('promqlMetricNames', () => {
  it('finds metric names and leaves out functions, keywords, labels, ranges and Grafana variables', () => {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{namespace="$namespace", x=~"y|z"}[$__rate_interval])))',
      ),
    ).toEqual(['a_bucket']);
    expect(
      promqlMetricNames(
        '(b > 500 and delta(b[15m]) > 0) and on (namespace, instance) c == 1 or absent(c{n="x"}) unless d offset 5m',
      ),
    ).toEqual(['b', 'c', 'd']);
    expect(
      promqlMetricNames('rate(process_cpu_seconds_total{n="x"}[1m]) * on (namespace, instance) group_left e'),
    ).toEqual(['e', 'process_cpu_seconds_total']);
  });
});

describe('metrics the chart queries', () => {
  beforeAll(async () => {
    await installCrds(kc);
    ns = await createNamespace(kc, 'metrics');
    await createKwokNodes(kc, [node]);
    // One pod on the node, from a Deployment that can only run there (the drain evicts it and
    // its replacement stays Pending on the cordoned node).
    await createDeployment(kc, ns, 'web', {
      replicas: 1,
      podSpec: {
        nodeSelector: { 'kubernetes.io/hostname': node },
        tolerations: [{ operator: 'Exists' }],
        containers: [{ name: 'c', image: 'registry.invalid/none:1' }],
      },
    });
    await waitForDeploymentReady(kc, ns, 'web', 1);
    cp = await spawnControlPlane({ dir });
    const keyFile = join(dir, 'api-key');
    const { clusterId } = await registerCluster(cp, 'metrics', keyFile);
    agent = await spawnAgent({
      name: 'agent',
      dir,
      controlPlaneUrl: cp.url,
      apiKeyFile: keyFile,
      namespace: ns,
      kubeconfig: testKubeconfigPath(),
      args: ['--poll-wait-seconds=5', '--heartbeat-interval-seconds=5'],
    });
    const cordon = await cp.admin.enqueue(clusterId, { type: 'cordon_node', payload: { nodeName: node } });
    const drain = await cp.admin.enqueue(clusterId, {
      type: 'drain_node',
      payload: { nodeName: node, timeoutSeconds: 60 },
    });
    for (const { id } of [cordon, drain]) {
      await waitFor(
        async () => ['succeeded', 'failed', 'rejected'].includes((await cp.admin.getAction(id)).state),
        { what: `action ${id} finished`, timeoutMs: 90_000 },
      );
    }
  });

  afterAll(async () => {
    await agent?.kill();
    await cp?.kill();
    await deleteNodes(kc, [node]);
    await deleteNamespace(kc, ns);
    rmSync(dir, { recursive: true, force: true });
  });

  it('every metric an alert or a dashboard panel queries has a sample in the agent /metrics', async () => {
    const exported = sampleNames(await agent.metrics());
    expect(exported.has('clusteropt_agent_evictions_total'), 'the drain evicted a pod').toBe(true);
    const queries = chartQueries();
    expect(queries.length).toBeGreaterThan(20);
    const missing = queries.flatMap(({ where, expr }) =>
      promqlMetricNames(expr)
        .filter((name) => !exported.has(name))
        .map((name) => `${where}: ${name}`),
    );
    expect(missing).toEqual([]);
  });
});
