/**
 * The chart's alert rules, checked with the real promtool (built from the prometheus Go module
 * with the test cluster's binaries): the rendered PrometheusRule passes `promtool check rules`,
 * and `promtool test rules` runs test/integration/alerts/agent-rules.test.yaml against it. Every
 * alert must have a case that fires and a case that stays quiet, and a runbook section.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../../src/packaging/chart.ts';
import { promtool, type RuleGroup, renderMonitoringObjects, ruleGroups } from '../support/monitoring.ts';

const testsFile = join(import.meta.dirname, 'alerts', 'agent-rules.test.yaml');

interface PromtoolTests {
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

let dir: string;
let groups: RuleGroup[];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'clusteropt-rules-'));
  groups = ruleGroups(renderMonitoringObjects());
  writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
  copyFileSync(testsFile, join(dir, 'agent-rules.test.yaml'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const alertNames = () => groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));

describe('the chart PrometheusRule', () => {
  it('passes promtool check rules', () => {
    expect(promtool(['check', 'rules', 'rules.yaml'], dir)).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('passes its promtool unit tests', () => {
    expect(promtool(['test', 'rules', 'agent-rules.test.yaml'], dir)).toMatch(/SUCCESS/);
  });

  it('covers every alert the issue asks for', () => {
    expect(alertNames().sort()).toEqual(
      [
        'ClusteroptAgentNoLeader',
        'ClusteroptAgentControlPlaneUnreachable',
        'ClusteroptAgentApiKeyRefused',
        'ClusteroptAgentOutboxGrowing',
        'ClusteroptAgentOutboxStale',
        'ClusteroptAgentActionsFailing',
        'ClusteroptAgentDrainPastBudget',
        'ClusteroptAgentStateNotWritable',
        'ClusteroptAgentClockSkew',
      ].sort(),
    );
  });

  it('has, for every alert, a unit test that fires and one that stays quiet', () => {
    const cases = (parse(readFileSync(testsFile, 'utf8')) as PromtoolTests).tests.flatMap(
      (t) => t.alert_rule_test ?? [],
    );
    for (const alert of alertNames()) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${alert}: a case that fires`,
      ).toBe(true);
      expect(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${alert}: a case that stays quiet`,
      ).toBe(true);
    }
  });

  it('links each alert to its own section of docs/runbooks.md', () => {
    const runbooks = readFileSync(join(repoRoot, 'docs', 'runbooks.md'), 'utf8');
    const headings = new Set(
      [...runbooks.matchAll(/^## (\S+)/gm)].map((m) => (m[1] as string).toLowerCase()),
    );
    for (const group of groups) {
      for (const rule of group.rules.filter((r) => r.alert)) {
        const anchor = rule.annotations?.runbook_url?.split('#')[1];
        expect(anchor, `${rule.alert}: runbook_url anchor`).toBe(rule.alert?.toLowerCase());
        expect(headings.has(anchor ?? ''), `docs/runbooks.md: "## ${rule.alert}"`).toBe(true);
      }
    }
  });
});
