/**
 * Resource use of other processes from /proc, for the scale benchmark: RSS (VmRSS), its
 * high-water mark (VmHWM) and CPU time (utime + stime of /proc/PID/stat, in clock ticks).
 *
 * A `ProcessMeter` samples one process's RSS every `intervalMs` and accounts the samples and
 * the CPU time to the phase that is open (`begin` … `end`): CPU is reported as cores used,
 * i.e. CPU seconds per second of wall time (1.0 = one core busy the whole phase).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const MiB = 1024 * 1024;

export const clockTicksPerSecond: number = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU seconds (user + system) the process used so far; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: split after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    return (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
  } catch {
    return undefined;
  }
}

/** VmRSS and VmHWM in bytes; undefined once the process is gone. */
export function memory(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/**
 * Resets the process's VmHWM to its current RSS (`5` to /proc/PID/clear_refs, Linux ≥ 4.0), so
 * the next reading is the peak since now, however short it was: samples every 250 ms miss
 * a spike of a few ms.
 */
export function resetPeak(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // Gone, or not ours: the phase then reports the peak over a longer span, never a lower one.
  }
}

/** /proc/PID/smaps_rollup: RSS split into anonymous memory and file-backed pages, MiB. */
export function rssBreakdown(
  pid: number,
): { anonMiB: number; fileMiB: number; mallocBrkHeapMiB: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) / 1024;
    const rss = kb('Rss');
    const anon = kb('Anonymous');
    // glibc's main arena grows with brk: the "[heap]" mapping (other arenas are anonymous mmaps).
    const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
    const heap = /\[heap\]\n(?:.*\n)*?Rss:\s+(\d+)/.exec(smaps);
    const r = (x: number) => Math.round(x * 10) / 10;
    return { anonMiB: r(anon), fileMiB: r(rss - anon), mallocBrkHeapMiB: r(Number(heap?.[1] ?? 0) / 1024) };
  } catch {
    return undefined;
  }
}

export interface PhaseUse {
  phase: string;
  seconds: number;
  /** CPU seconds per wall second (cores). */
  cpuCores: number;
  cpuSeconds: number;
  rssMeanMiB: number;
  rssMaxMiB: number;
  rssEndMiB: number;
  /** VmHWM within the phase (reset when it began): the exact peak, not a sample. */
  peakMiB: number;
  samples: number;
}

export class ProcessMeter {
  readonly label: string;
  readonly pid: number;
  private readonly timer: NodeJS.Timeout;
  private open: { phase: string; startedAt: number; cpuAtStart: number; rss: number[] } | undefined;
  private lastRss = 0;
  private peakHwm = 0;
  private readonly startedAt = performance.now();
  /** Highest RSS sample of each second since the meter started, MiB (index = second). */
  readonly perSecondMaxMiB: number[] = [];
  readonly phases: PhaseUse[] = [];

  constructor(label: string, pid: number, intervalMs = 500) {
    this.label = label;
    this.pid = pid;
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
    this.sample();
  }

  private sample(): void {
    const m = memory(this.pid);
    if (!m) return;
    this.lastRss = m.rss;
    this.peakHwm = Math.max(this.peakHwm, m.hwm);
    const second = Math.floor((performance.now() - this.startedAt) / 1000);
    this.perSecondMaxMiB[second] = Math.max(this.perSecondMaxMiB[second] ?? 0, m.rss / MiB);
    this.open?.rss.push(m.rss);
  }

  get alive(): boolean {
    return memory(this.pid) !== undefined;
  }

  /** Current RSS in MiB (a fresh reading). */
  rssMiB(): number {
    this.sample();
    return this.lastRss / MiB;
  }

  /** The kernel's high-water mark of RSS over the whole life of the process, MiB. */
  peakMiB(): number {
    this.sample();
    return this.peakHwm / MiB;
  }

  begin(phase: string): void {
    this.sample(); // keeps the peak so far in peakHwm before the reset
    resetPeak(this.pid);
    this.open = { phase, startedAt: performance.now(), cpuAtStart: cpuSeconds(this.pid) ?? 0, rss: [] };
    this.sample();
  }

  end(): PhaseUse | undefined {
    const open = this.open;
    if (!open) return undefined;
    this.sample();
    this.open = undefined;
    const seconds = (performance.now() - open.startedAt) / 1000;
    const cpu = (cpuSeconds(this.pid) ?? open.cpuAtStart) - open.cpuAtStart;
    const rss = open.rss.length ? open.rss : [this.lastRss];
    const hwm = memory(this.pid)?.hwm ?? 0;
    const use: PhaseUse = {
      phase: open.phase,
      seconds,
      cpuCores: seconds > 0 ? cpu / seconds : 0,
      cpuSeconds: cpu,
      rssMeanMiB: rss.reduce((a, b) => a + b, 0) / rss.length / MiB,
      rssMaxMiB: Math.max(...rss) / MiB,
      rssEndMiB: rss.at(-1)! / MiB,
      peakMiB: Math.max(hwm, ...rss) / MiB,
      samples: rss.length,
    };
    this.phases.push(use);
    return use;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
