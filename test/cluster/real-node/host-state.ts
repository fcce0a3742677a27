/**
 * What the real node changes on this machine, taken before it starts and put back after it
 * stops: iptables and ip6tables (every table, by iptables-save/-restore, so the chains the
 * kubelet and kube-proxy add go too), the sysctls they rewrite, and the mounts, network
 * namespaces and links left under the node's own folders. The snapshot is written to disk
 * before anything changes, so a run killed half-way is undone by the next start.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';

const tables = ['filter', 'nat', 'mangle', 'raw', 'security'];
/** Sysctls the kubelet (protectKernelDefaults off), kube-proxy or the node setup may write. */
const restorable = /^(vm\.|kernel\.(panic|keys\.)|net\.(ipv4|ipv6|bridge|netfilter)\.)/;
/** Counters and per-boot values: never "restored". */
const volatile = /(nf_conntrack_count|\.random\.|_seq$|stable_secret|neigh\.)/;

export interface HostSnapshot {
  iptables: string;
  ip6tables: string;
  sysctls: Record<string, string>;
}

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function readSysctls(): Record<string, string> {
  // `sysctl -a` warns on unreadable keys on stderr; those are not ours to restore anyway.
  const out = execFileSync('sysctl', ['-a'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const values: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const at = line.indexOf(' = ');
    if (at > 0) values[line.slice(0, at)] = line.slice(at + 3);
  }
  return values;
}

export function takeSnapshot(): HostSnapshot {
  return {
    iptables: run('iptables-save', []),
    ip6tables: run('ip6tables-save', []),
    sysctls: readSysctls(),
  };
}

/** Puts a saved ruleset back; tables created since (absent from the save) are emptied. */
function restoreRules(save: string, family: 'iptables' | 'ip6tables'): void {
  const saved = new Set([...save.matchAll(/^\*(\w+)$/gm)].map((m) => m[1]));
  const now = run(`${family}-save`, []);
  for (const table of tables) {
    if (saved.has(table) || !new RegExp(`^\\*${table}$`, 'm').test(now)) continue;
    run(family, ['-t', table, '-F']);
    run(family, ['-t', table, '-X']);
  }
  if (save.trim()) run(`${family}-restore`, [], save);
}

export function restoreSnapshot(snapshot: HostSnapshot): string[] {
  restoreRules(snapshot.iptables, 'iptables');
  restoreRules(snapshot.ip6tables, 'ip6tables');
  const now = readSysctls();
  const restored: string[] = [];
  for (const [key, before] of Object.entries(snapshot.sysctls)) {
    if (!restorable.test(key) || volatile.test(key) || now[key] === undefined || now[key] === before)
      continue;
    try {
      execFileSync('sysctl', ['-qw', `${key}=${before}`], { stdio: 'ignore' });
      restored.push(`${key}=${before} (was ${now[key]})`);
    } catch {
      // read-only since (e.g. an interface's key while it goes away)
    }
  }
  return restored;
}

export function saveSnapshot(path: string, snapshot: HostSnapshot): void {
  writeFileSync(path, JSON.stringify(snapshot), { mode: 0o600 });
}

export function loadSnapshot(path: string): HostSnapshot | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as HostSnapshot) : undefined;
}

/** Unmounts everything mounted at or below the given folders, deepest first. */
export function unmountBelow(roots: string[]): string[] {
  const mounts = readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => !!m && roots.some((r) => m === r || m.startsWith(`${r}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      // gone with its parent
    }
  }
  return mounts;
}

/** Network namespaces made by the CNI plugins for this node's pods (`cni-<uuid>`). */
export function removeCniNetns(): void {
  const dir = '/var/run/netns';
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir).filter((n) => n.startsWith('cni-'))) {
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    } catch {
      rmSync(`${dir}/${name}`, { force: true });
    }
  }
}

export function deleteLink(name: string): void {
  try {
    execFileSync('ip', ['link', 'del', name], { stdio: 'ignore' });
  } catch {
    // not there
  }
}

/** This machine's first global IPv4 address: what the node registers as its InternalIP. */
export function primaryAddress(): string {
  const out = run('ip', ['-4', '-o', 'addr', 'show', 'scope', 'global']);
  const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(out);
  if (!m?.[1]) throw new Error('real node: this machine has no global IPv4 address to advertise');
  return m[1];
}
