/**
 * Shared benchmark output: summary statistics, an aligned table, and the final
 * machine-readable JSON line every benchmark prints last (one line, `{"bench": ...}`), so CI
 * and docs can pick the figures up with `tail -n1`.
 */

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
}

/** Nearest-rank percentile of an ascending array (q in 0..1). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

export function summarize(values: readonly number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  const n = s.length;
  const median = n === 0 ? Number.NaN : n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
  return {
    n,
    median,
    min: s[0] ?? Number.NaN,
    max: s.at(-1) ?? Number.NaN,
    mean: n === 0 ? Number.NaN : s.reduce((a, b) => a + b, 0) / n,
    p50: percentile(s, 0.5),
    p90: percentile(s, 0.9),
    p99: percentile(s, 0.99),
  };
}

/** Rounds for display/JSON: 3 significant decimals below 10, 1 below 1000, none above. */
export function round(x: number): number {
  if (!Number.isFinite(x)) return x;
  const a = Math.abs(x);
  const digits = a < 10 ? 3 : a < 1000 ? 1 : 0;
  return Number(x.toFixed(digits));
}

export function roundSummary(s: Summary): Summary {
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, round(v)])) as unknown as Summary;
}

/** `a / b`, rounded; NaN when b is 0. */
export function ratio(a: number, b: number): number {
  return b === 0 ? Number.NaN : round(a / b);
}

export type Cell = string | number | boolean | undefined;

/** Prints an aligned table: first row is the header; numbers are right-aligned. */
export function printTable(rows: Cell[][], out: (line: string) => void = console.log): void {
  const text = rows.map((r) =>
    r.map((c) => (c === undefined ? '' : typeof c === 'number' ? String(round(c)) : String(c))),
  );
  const widths: number[] = [];
  for (const r of text) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  text.forEach((r, rowIndex) => {
    out(
      r
        .map((c, i) =>
          typeof rows[rowIndex]![i] === 'number' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!),
        )
        .join('  ')
        .trimEnd(),
    );
    if (rowIndex === 0) out(widths.map((w) => '-'.repeat(w)).join('  '));
  });
}

/** A table of summaries: one row per label, columns n/median/min/max/p50/p99 and a ratio. */
export function printSummaryTable(
  unit: string,
  rows: { label: string; summary: Summary; ratio?: number }[],
  out: (line: string) => void = console.log,
): void {
  printTable(
    [
      ['', 'n', `median ${unit}`, `min ${unit}`, `max ${unit}`, `p50 ${unit}`, `p99 ${unit}`, 'ratio'],
      ...rows.map((r) => [
        r.label,
        r.summary.n,
        r.summary.median,
        r.summary.min,
        r.summary.max,
        r.summary.p50,
        r.summary.p99,
        r.ratio,
      ]),
    ],
    out,
  );
}

/** The one machine-readable line a benchmark ends with. */
export function printJsonLine(bench: string, data: Record<string, unknown>): void {
  console.log(JSON.stringify({ bench, at: new Date().toISOString(), ...data }));
}

/** Load average and CPU count, to print beside figures (they are noisy on a shared machine). */
export async function machineNote(): Promise<{ cpus: number; loadavg: number[] }> {
  const os = await import('node:os');
  return { cpus: os.availableParallelism(), loadavg: os.loadavg().map((l) => round(l)) };
}
