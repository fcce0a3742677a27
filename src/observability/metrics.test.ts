import { describe, expect, it } from 'vitest';
import { createMetrics, metricPrefix } from './metrics.ts';

describe('createMetrics', () => {
  it('exposes every agent metric with the prefix, in its own registry', async () => {
    const m = createMetrics({ defaultMetrics: false, version: '1.2.3', revision: 'abc123' });
    m.actionsTotal.inc({ type: 'drain_node', outcome: 'succeeded' });
    m.actionDurationSeconds.observe({ type: 'drain_node' }, 42);
    m.evictionsTotal.inc({ outcome: 'blocked' }, 3);
    m.pollErrorsTotal.inc({ code: '503' });
    m.policyDecisionsTotal.inc({ decision: 'refuse', rule: 'protectedNamespaces' });
    m.watchRestartsTotal.inc({ resource: 'nodes' });
    m.leader.set(1);
    const text = await m.registry.metrics();
    for (const name of [
      'actions_total',
      'action_duration_seconds',
      'evictions_total',
      'outbox_depth',
      'outbox_oldest_age_seconds',
      'poll_requests_total',
      'poll_errors_total',
      'leader',
      'watch_restarts_total',
      'policy_decisions_total',
      'build_info',
    ]) {
      expect(text).toContain(`# TYPE ${metricPrefix}${name} `);
    }
    expect(text).toContain('clusteropt_agent_actions_total{type="drain_node",outcome="succeeded"} 1');
    expect(text).toContain('clusteropt_agent_evictions_total{outcome="blocked"} 3');
    expect(text).toContain('clusteropt_agent_action_duration_seconds_bucket{le="60",type="drain_node"} 1');
    expect(text).toContain('clusteropt_agent_leader 1');
    expect(text).toContain(
      `clusteropt_agent_build_info{version="1.2.3",revision="abc123",node_version="${process.version}"} 1`,
    );
    // Every metric of ours carries the prefix.
    const names = [...text.matchAll(/^# TYPE (\S+)/gm)].map((x) => x[1]);
    expect(names.every((n) => n?.startsWith(metricPrefix))).toBe(true);
  });

  it('gives each call a fresh registry', async () => {
    const a = createMetrics({ defaultMetrics: false });
    const b = createMetrics({ defaultMetrics: false });
    a.pollRequestsTotal.inc();
    expect(await a.registry.getSingleMetricAsString(`${metricPrefix}poll_requests_total`)).toMatch(/ 1$/);
    expect(await b.registry.getSingleMetricAsString(`${metricPrefix}poll_requests_total`)).toMatch(/ 0$/);
  });

  it('includes process metrics when asked', async () => {
    const m = createMetrics();
    expect(await m.registry.metrics()).toMatch(/^process_cpu_user_seconds_total /m);
  });
});
