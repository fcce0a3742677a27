/**
 * The scale benchmark's results: one agent process ("life") as measured, and a variant's lives
 * summarized (median / min / max per phase across rounds, agent ÷ reference ratios of the idle
 * medians).
 */
import { round, summarize } from '../common/stats.ts';
import type { PhaseUse } from './procfs.ts';

export interface AgentHeap {
  anonMiB?: number;
  fileMiB?: number;
  mallocBrkHeapMiB?: number;
  rssMiB?: number;
  heapUsedMiB?: number;
  heapTotalMiB?: number;
  externalMiB?: number;
  oldSpaceUsedMiB?: number;
  newSpaceUsedMiB?: number;
  codeSpaceUsedMiB?: number;
  largeObjectSpaceUsedMiB?: number;
}

export interface LifeResult {
  life: number;
  label: string;
  agentNamespace: string;
  nodeFlags: string[];
  leaderSeconds: number;
  firstFullReportSeconds: number;
  rssAtLeaderMiB: number;
  afterSync: { rssMiB: number; peakMiB: number } & AgentHeap;
  heapByPhase: ({ phase: string; load1: number } & AgentHeap)[];
  finalHeap: AgentHeap;
  peakRssMiB: number;
  cpuSecondsTotal: number;
  agentPhases: PhaseUse[];
  referencePhases: Record<string, PhaseUse[]>;
  bursts: Record<string, unknown>[];
  churns: Record<string, number>[];
  controlPlaneConverged: boolean;
  heapSnapshot?: string | undefined;
}

export type Spread = { median: number; min: number; max: number };

export interface VariantResult {
  label: string;
  commit: string;
  nodeFlags: string[];
  env: Record<string, string>;
  lives: number;
  afterSyncRssMiB: Spread;
  peakRssMiB: Spread;
  firstFullReportSeconds: Spread;
  processes: Record<string, Record<string, unknown>>;
  ratiosIdle: Record<string, { rss: number; cpuIdle: number }>;
  /** Issue 16's three figures (medians over the rounds), each to stay under 150 MiB. */
  target: { afterSyncMiB: number; idleMeanMiB: number; burstPeakMiB: number };
  targetMet: boolean;
  perLife: LifeResult[];
  rows: (string | number)[][];
}

export function roundUse(u: PhaseUse): PhaseUse {
  return {
    ...u,
    seconds: round(u.seconds),
    cpuCores: round(u.cpuCores),
    cpuSeconds: round(u.cpuSeconds),
    rssMeanMiB: round(u.rssMeanMiB),
    rssMaxMiB: round(u.rssMaxMiB),
    rssEndMiB: round(u.rssEndMiB),
    peakMiB: round(u.peakMiB),
  };
}

/** A variant over all its lives: per phase median / min / max across rounds, ratios of idle medians. */
export function summarizeVariant(
  referenceLabels: readonly string[],
  v: { label: string; commit: string; nodeFlags: string[]; env: Record<string, string> },
  lives: LifeResult[],
): VariantResult {
  const byLabel = new Map<string, PhaseUse[]>([['agent', lives.flatMap((l) => l.agentPhases)]]);
  for (const label of referenceLabels)
    byLabel.set(
      label,
      lives.flatMap((l) => l.referencePhases[label] ?? []),
    );
  const rows: (string | number)[][] = [];
  const processes: Record<string, Record<string, unknown>> = {};
  const mmm = (s: { median: number; min: number; max: number }) => ({
    median: round(s.median),
    min: round(s.min),
    max: round(s.max),
  });
  for (const [label, all] of byLabel) {
    processes[label] = {};
    for (const p of ['idle', 'burst', 'churn']) {
      const uses = all.filter((u) => u.phase === p);
      if (uses.length === 0) continue;
      const cpu = summarize(uses.map((u) => u.cpuCores));
      const rssMean = summarize(uses.map((u) => u.rssMeanMiB));
      const rssMax = summarize(uses.map((u) => u.rssMaxMiB));
      const peakIn = summarize(uses.map((u) => u.peakMiB));
      rows.push([
        label,
        p,
        uses.length,
        rssMean.median,
        rssMean.min,
        rssMean.max,
        rssMax.max,
        peakIn.median,
        peakIn.max,
        cpu.median,
        cpu.min,
        cpu.max,
      ]);
      processes[label]![p] = {
        n: uses.length,
        rssMeanMiB: mmm(rssMean),
        rssMaxMiB: mmm(rssMax),
        peakMiB: mmm(peakIn),
        cpuCores: mmm(cpu),
        seconds: uses.map((u) => u.seconds),
      };
    }
  }
  const idleOf = (label: string) => (byLabel.get(label) ?? []).filter((u) => u.phase === 'idle');
  const agentIdle = summarize(idleOf('agent').map((u) => u.rssMeanMiB)).median;
  const agentIdleCpu = summarize(idleOf('agent').map((u) => u.cpuCores)).median;
  const ratiosIdle: Record<string, { rss: number; cpuIdle: number }> = {};
  for (const label of referenceLabels) {
    const idle = idleOf(label);
    if (idle.length === 0) continue;
    const rss = summarize(idle.map((u) => u.rssMeanMiB)).median;
    const cpu = summarize(idle.map((u) => u.cpuCores)).median;
    ratiosIdle[label] = {
      rss: round(agentIdle / rss),
      cpuIdle: cpu > 0 ? round(agentIdleCpu / cpu) : Number.NaN,
    };
  }
  const peak = summarize(lives.map((l) => l.peakRssMiB));
  // Issue 16's target, medians over the rounds: RSS after sync, idle, and the peak of the burst.
  const agentUses = byLabel.get('agent') ?? [];
  const medianOf = (p: string, f: (u: PhaseUse) => number) =>
    summarize(agentUses.filter((u) => u.phase === p).map(f)).median;
  const target = {
    afterSyncMiB: round(summarize(lives.map((l) => l.afterSync.rssMiB)).median),
    idleMeanMiB: round(medianOf('idle', (u) => u.rssMeanMiB)),
    burstPeakMiB: round(medianOf('burst', (u) => u.peakMiB)),
  };
  return {
    label: v.label,
    commit: v.commit,
    nodeFlags: v.nodeFlags,
    env: v.env,
    lives: lives.length,
    afterSyncRssMiB: mmm(summarize(lives.map((l) => l.afterSync.rssMiB))),
    peakRssMiB: mmm(peak),
    firstFullReportSeconds: mmm(summarize(lives.map((l) => l.firstFullReportSeconds))),
    processes,
    ratiosIdle,
    target,
    targetMet: Object.values(target).every((v) => v < 150),
    perLife: lives,
    rows,
  };
}
