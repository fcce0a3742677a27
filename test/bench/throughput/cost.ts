/**
 * Where a benchmark's cost goes, measured from the outside: CPU seconds per process (this
 * process, its children — the test cluster's kube-apiserver, etcd, kwok, ... and the control
 * plane — and everything else on the machine), and the API server's own request counters
 * (`apiserver_request_total` by verb and resource, from its /metrics). Take a snapshot
 * before and after, then diff.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

const ticksPerSecond = 100;

export interface CpuSnapshot {
  at: number;
  /** CPU seconds by process name (comm), this process as "bench". */
  byProcess: Record<string, number>;
  /** CPU seconds of the whole machine (busy: user+nice+system+irq+softirq+steal). */
  machineBusy: number;
  machineTotal: number;
}

function procStat(pid: string): { comm: string; ppid: number; cpu: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const fields = text.slice(close + 2).split(' ');
    // fields[0] = state (field 3); utime = field 14, stime = field 15 (1-based)
    const ppid = Number(fields[1]);
    const cpu = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
    return { comm, ppid, cpu };
  } catch {
    return undefined;
  }
}

/** Node children by role: the agent (`cli.ts run`) and the control plane (`cli.ts control-plane`). */
function processName(pid: number, comm: string): string {
  if (comm !== 'node' && comm !== 'setpriv' && comm !== 'MainThread') return comm;
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (args.includes('control-plane')) return 'control-plane';
    if (args.includes('run')) return 'agent';
  } catch {
    // gone
  }
  return comm;
}

/** CPU of this process and of its descendants (grouped by name), plus the machine's. */
export function cpuSnapshot(): CpuSnapshot {
  const all = new Map<number, { comm: string; ppid: number; cpu: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(entry);
    if (stat) all.set(Number(entry), stat);
  }
  const mine = new Set<number>([process.pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, stat] of all) {
      if (!mine.has(pid) && mine.has(stat.ppid)) {
        mine.add(pid);
        grew = true;
      }
    }
  }
  const byProcess: Record<string, number> = {};
  for (const pid of mine) {
    const stat = all.get(pid);
    if (!stat) continue;
    const name = pid === process.pid ? 'bench' : processName(pid, stat.comm);
    byProcess[name] = (byProcess[name] ?? 0) + stat.cpu;
  }
  const cpuLine = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = cpuLine as number[];
  const busy = (user! + nice! + system! + irq! + softirq! + steal!) / ticksPerSecond;
  const total = busy + (idle! + iowait!) / ticksPerSecond;
  return { at: performance.now(), byProcess, machineBusy: busy, machineTotal: total };
}

export function cpuDiff(before: CpuSnapshot, after: CpuSnapshot) {
  const seconds = (after.at - before.at) / 1000;
  const byProcess: Record<string, number> = {};
  for (const [name, cpu] of Object.entries(after.byProcess)) {
    const d = cpu - (before.byProcess[name] ?? 0);
    if (d > 0.005) byProcess[name] = Math.round(d * 100) / 100;
  }
  const ours = Object.values(byProcess).reduce((a, b) => a + b, 0);
  const machine = after.machineBusy - before.machineBusy;
  return {
    seconds: Math.round(seconds * 10) / 10,
    cpuSecondsByProcess: byProcess,
    cpuSecondsBenchTotal: Math.round(ours * 100) / 100,
    /** CPU used by everything else on the machine meanwhile (other people's work). */
    cpuSecondsOthers: Math.round((machine - ours) * 100) / 100,
    machineBusyShare: Math.round((machine / (after.machineTotal - before.machineTotal)) * 1000) / 1000,
  };
}

/** `apiserver_request_total` summed by "VERB resource[/subresource]" (code ignored). */
export async function apiRequestCounts(kc: KubeConfig): Promise<Record<string, number>> {
  const server = kc.getCurrentCluster()?.server;
  if (!server) return {};
  const url = new URL('/metrics', server);
  const options: Parameters<typeof request>[1] = { method: 'GET' };
  await kc.applyToHTTPSOptions(options as never);
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve(body));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries(
      [...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]] as [string, string]),
    );
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    const key = `${labels.verb} ${labels.resource}${labels.subresource ? `/${labels.subresource}` : ''}`;
    counts[key] = (counts[key] ?? 0) + value;
  }
  return counts;
}

export function countDiff(
  before: Record<string, number>,
  after: Record<string, number>,
  per = 1,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(after)) {
    const d = value - (before[key] ?? 0);
    if (d >= per * 0.05) out[key] = Math.round((d / per) * 100) / 100;
  }
  return Object.fromEntries(Object.entries(out).sort(([, a], [, b]) => b - a));
}
