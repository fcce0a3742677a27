/**
 * The chart's monitoring objects as tests need them: the PrometheusRule's rule groups and the
 * Grafana dashboard, rendered by helm from the chart with both switched on, and the metric
 * names a PromQL expression reads.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { helmOnChart } from '../../src/packaging/chart.ts';
import { resolveBinDir } from '../cluster/launcher.ts';

export interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

/** The folder of the test cluster's binaries (helm, promtool), built on first use. */
export function testBinDir(): string {
  return resolveBinDir((line) => process.stderr.write(`${line}\n`));
}

/** Every object the chart renders with the PrometheusRule and the dashboard switched on. */
export function renderMonitoringObjects(values: Record<string, unknown> = {}): Record<string, unknown>[] {
  const text = helmOnChart('template', {
    helm: join(testBinDir(), 'helm'),
    values: {
      controlPlane: { url: 'https://cp.example' },
      prometheusRule: { enabled: true },
      grafanaDashboard: { enabled: true },
      ...values,
    },
  });
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Record<string, unknown> | null)
    .filter((o): o is Record<string, unknown> => o !== null);
}

export function ruleGroups(objects: Record<string, unknown>[]): RuleGroup[] {
  const rule = objects.find((o) => o.kind === 'PrometheusRule');
  if (!rule) throw new Error('the chart rendered no PrometheusRule');
  return (rule.spec as { groups: RuleGroup[] }).groups;
}

/** PromQL keywords, functions and aggregation words that look like metric names but are not. */
const promqlWords = new Set(
  (
    'by without on ignoring group_left group_right bool and or unless offset ' +
    'sum min max avg count stddev stdvar topk bottomk quantile count_values group limitk limit_ratio ' +
    'rate irate increase delta idelta deriv predict_linear resets changes abs absent absent_over_time ' +
    'ceil floor round clamp clamp_min clamp_max exp ln log2 log10 sqrt sgn histogram_quantile ' +
    'histogram_count histogram_sum histogram_fraction label_replace label_join vector scalar time ' +
    'timestamp sort sort_desc avg_over_time min_over_time max_over_time sum_over_time count_over_time ' +
    'quantile_over_time stddev_over_time last_over_time present_over_time day_of_week hour minute ' +
    'month year days_in_month inf nan'
  ).split(' '),
);

/**
 * The metric names an expression reads: identifiers that are not inside quotes, braces or a
 * range/duration, are not keywords or functions, and are not label names in by/on/ignoring
 * lists. Grafana variables ($__rate_interval, $namespace) are removed first.
 */
export function promqlMetricNames(expr: string): string[] {
  let text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*\}?/g, '');
  text = text.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = new Set<string>();
  for (const m of text.matchAll(/(?<![A-Za-z0-9_:.])([A-Za-z_:][A-Za-z0-9_:]*)(?![A-Za-z0-9_:])/g)) {
    const word = m[1] as string;
    const rest = text.slice((m.index ?? 0) + word.length).trimStart();
    if (promqlWords.has(word) || rest.startsWith('(')) continue;
    names.add(word);
  }
  return [...names].sort();
}

/** Runs promtool from the test binaries; returns its output, throws with it on failure. */
export function promtool(args: string[], cwd: string): string {
  try {
    return execFileSync(join(testBinDir(), 'promtool'), args, { cwd, encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}
