/**
 * What a V8 heap snapshot holds, for the scale benchmark's memory analysis:
 *
 *   node test/bench/scale/heap-summary.ts FILE.heapsnapshot [--top 25]
 *
 * - self size by node type (strings, code, objects, arrays, ...);
 * - loaded script sources by package (Script → source; these are external strings, counted
 *   by process.memoryUsage().external, not heapUsed);
 * - bytecode and other code by package (SharedFunctionInfo → script);
 * - the objects with the largest retained size (dominator tree, weak edges ignored), each
 *   with its dominator chain, so "a Map retains 20 MiB" names whose Map it is.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { printTable } from '../common/stats.ts';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' } },
});
const file = positionals[0];
if (!file) {
  process.stderr.write('usage: node test/bench/scale/heap-summary.ts FILE.heapsnapshot [--top N]\n');
  process.exit(2);
}
const top = Number(args.top);
const MiB = 1024 * 1024;

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const meta = s.snapshot.meta;
const NF = meta.node_fields.length;
const EF = meta.edge_fields.length;
const fType = meta.node_fields.indexOf('type');
const fName = meta.node_fields.indexOf('name');
const fSize = meta.node_fields.indexOf('self_size');
const fEdges = meta.node_fields.indexOf('edge_count');
const eType = meta.edge_fields.indexOf('type');
const eName = meta.edge_fields.indexOf('name_or_index');
const eTo = meta.edge_fields.indexOf('to_node');
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const { nodes, edges, strings } = s;
const n = nodes.length / NF;
const firstEdge = new Uint32Array(n + 1);
for (let i = 0, e = 0; i < n; i++) {
  firstEdge[i] = e;
  e += nodes[i * NF + fEdges]! * EF;
}
firstEdge[n] = edges.length;
const typeOf = (i: number) => nodeTypes[nodes[i * NF + fType]!]!;
const nameOf = (i: number) => strings[nodes[i * NF + fName]!]!;
const sizeOf = (i: number) => nodes[i * NF + fSize]!;
const weak = edgeTypes.indexOf('weak');
const shortcut = edgeTypes.indexOf('shortcut');
const edgeName = (e: number) => {
  const t = edgeTypes[edges[e + eType]!];
  return t === 'element' || t === 'hidden' ? String(edges[e + eName]) : strings[edges[e + eName]!]!;
};
const mib = (b: number) => b / MiB;

// 1. Self size by type.
const byType = new Map<string, number>();
let total = 0;
for (let i = 0; i < n; i++) {
  byType.set(typeOf(i), (byType.get(typeOf(i)) ?? 0) + sizeOf(i));
  total += sizeOf(i);
}
console.log(`${file}: ${n} nodes, ${mib(total).toFixed(1)} MiB self size in total`);
printTable([
  ['node type', 'MiB'],
  ...[...byType].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, Number(mib(v).toFixed(2))]),
]);

// 2. Scripts: source by package; SharedFunctionInfos (and their bytecode) by package.
const packageOf = (url: string): string => {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (url.startsWith('node:')) return 'node: (built-in)';
  if (/\/dist\//.test(url)) return 'agent dist/';
  if (/\/src\//.test(url)) return 'agent src/';
  return url ? 'other' : '(no script)';
};
const scriptOf = new Int32Array(n).fill(-1);
const sourceByPackage = new Map<string, number>();
for (let i = 0; i < n; i++) {
  if (typeOf(i) !== 'code') continue;
  const name = nameOf(i);
  if (!(name.startsWith('file://') || name.startsWith('node:') || name.startsWith('/'))) continue;
  for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += EF) {
    if (edgeName(e) === 'source') {
      const to = edges[e + eTo]! / NF;
      const p = packageOf(name);
      sourceByPackage.set(p, (sourceByPackage.get(p) ?? 0) + sizeOf(to));
      scriptOf[i] = i;
    }
  }
}
const codeByPackage = new Map<string, number>();
for (let i = 0; i < n; i++) {
  if (typeOf(i) !== 'code') continue;
  let script = -1;
  let data = 0;
  for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += EF) {
    const name = edgeName(e);
    const to = edges[e + eTo]! / NF;
    if (name === 'script' && scriptOf[to] !== -1) script = to;
    if (name === 'function_data' || name === 'bytecode_array') data += sizeOf(to);
  }
  if (script < 0) continue;
  const p = packageOf(nameOf(script));
  codeByPackage.set(p, (codeByPackage.get(p) ?? 0) + sizeOf(i) + data);
}
const packages = new Set([...sourceByPackage.keys(), ...codeByPackage.keys()]);
console.log('\nloaded code by package (source: external strings; functions: SharedFunctionInfo + bytecode)');
printTable([
  ['package', 'source MiB', 'functions MiB'],
  ...[...packages]
    .map((p) => [p, mib(sourceByPackage.get(p) ?? 0), mib(codeByPackage.get(p) ?? 0)] as const)
    .sort((a, b) => b[1] + b[2] - (a[1] + a[2]))
    .slice(0, top)
    .map(([p, a, b]) => [p, Number(a.toFixed(2)), Number(b.toFixed(2))]),
]);

// 3. Dominator tree (Cooper, Harvey, Kennedy), root = node 0, weak and shortcut edges ignored.
const order = new Int32Array(n).fill(-1); // post-order number
const byOrder = new Int32Array(n);
{
  const stack = new Int32Array(n);
  const edgeCursor = new Uint32Array(n);
  let sp = 0;
  let counter = 0;
  const visited = new Uint8Array(n);
  stack[sp++] = 0;
  visited[0] = 1;
  edgeCursor[0] = firstEdge[0]!;
  while (sp > 0) {
    const v = stack[sp - 1]!;
    let pushed = false;
    while (edgeCursor[v]! < firstEdge[v + 1]!) {
      const e = edgeCursor[v]!;
      edgeCursor[v] = e + EF;
      const t = edges[e + eType]!;
      if (t === weak || t === shortcut) continue;
      const to = edges[e + eTo]! / NF;
      if (visited[to]) continue;
      visited[to] = 1;
      edgeCursor[to] = firstEdge[to]!;
      stack[sp++] = to;
      pushed = true;
      break;
    }
    if (!pushed) {
      sp--;
      order[v] = counter;
      byOrder[counter] = v;
      counter++;
    }
  }
}
// Predecessors (only reachable nodes, strong edges).
const predCount = new Uint32Array(n + 1);
for (let i = 0; i < n; i++) {
  if (order[i] === -1) continue;
  for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += EF) {
    const t = edges[e + eType]!;
    if (t === weak || t === shortcut) continue;
    predCount[edges[e + eTo]! / NF + 1]!++;
  }
}
for (let i = 0; i < n; i++) predCount[i + 1]! += predCount[i]!;
const preds = new Int32Array(predCount[n]!);
const fill = predCount.slice(0, n);
for (let i = 0; i < n; i++) {
  if (order[i] === -1) continue;
  for (let e = firstEdge[i]!; e < firstEdge[i + 1]!; e += EF) {
    const t = edges[e + eType]!;
    if (t === weak || t === shortcut) continue;
    const to = edges[e + eTo]! / NF;
    preds[fill[to]!++] = i;
  }
}
const idom = new Int32Array(n).fill(-1);
idom[0] = 0;
const intersect = (a: number, b: number) => {
  let x = a;
  let y = b;
  while (x !== y) {
    while (order[x]! < order[y]!) x = idom[x]!;
    while (order[y]! < order[x]!) y = idom[y]!;
  }
  return x;
};
for (let changed = true; changed; ) {
  changed = false;
  for (let k = n - 1; k >= 0; k--) {
    const v = byOrder[k]!;
    if (v === 0 || order[v] === -1) continue;
    let d = -1;
    for (let p = predCount[v]!; p < predCount[v + 1]!; p++) {
      const u = preds[p]!;
      if (idom[u] === -1) continue;
      d = d === -1 ? u : intersect(u, d);
    }
    if (d !== -1 && idom[v] !== d) {
      idom[v] = d;
      changed = true;
    }
  }
}
const retained = new Float64Array(n);
for (let k = 0; k < n; k++) {
  const v = byOrder[k]!;
  if (order[v] === -1 || k >= n) continue;
  retained[v]! += sizeOf(v);
  if (v !== 0 && idom[v]! >= 0) retained[idom[v]!]! += retained[v]!;
}
const label = (i: number) => `${typeOf(i)} ${JSON.stringify(nameOf(i).slice(0, 60))}`;
/** The edge from the dominator to `i` (what the dominator calls it), if direct. */
const via = (i: number) => {
  const d = idom[i]!;
  for (let e = firstEdge[d]!; e < firstEdge[d + 1]!; e += EF)
    if (edges[e + eTo]! / NF === i) return edgeName(e);
  return '…';
};
const candidates = Array.from({ length: n }, (_, i) => i)
  .filter((i) => order[i] !== -1 && i !== 0 && typeOf(i) !== 'synthetic' && idom[i] !== 0)
  .sort((a, b) => retained[b]! - retained[a]!);
// Show each big subtree once: skip nodes dominated by one already shown with >= 90% of its size.
const shown: number[] = [];
for (const i of candidates) {
  if (shown.length >= top) break;
  let d = idom[i]!;
  let covered = false;
  while (d > 0) {
    if (shown.includes(d) && retained[i]! > 0.9 * retained[d]!) covered = true;
    d = idom[d]!;
  }
  if (!covered) shown.push(i);
}
console.log('\nlargest retained subtrees (dominator chain, innermost last)');
for (const i of shown) {
  const chain: string[] = [];
  let d = i;
  for (let depth = 0; depth < 6 && d > 0; depth++) {
    chain.unshift(`${label(d)}${d === i ? '' : ''} .${via(d)}`);
    d = idom[d]!;
  }
  console.log(`${mib(retained[i]!).toFixed(2).padStart(8)} MiB  ${chain.join(' > ')}`);
}

// 4. Top constructors by self size.
const byName = new Map<string, { size: number; count: number }>();
for (let i = 0; i < n; i++) {
  const t = typeOf(i);
  if (t !== 'object' && t !== 'array' && t !== 'closure' && t !== 'string' && t !== 'concatenated string')
    continue;
  const key = t === 'object' || t === 'closure' ? `${t} ${nameOf(i).slice(0, 50)}` : t;
  const entry = byName.get(key) ?? { size: 0, count: 0 };
  entry.size += sizeOf(i);
  entry.count++;
  byName.set(key, entry);
}
console.log('\nself size by constructor');
printTable([
  ['type / constructor', 'count', 'MiB'],
  ...[...byName]
    .sort((a, b) => b[1].size - a[1].size)
    .slice(0, top)
    .map(([k, v]) => [k, v.count, Number(mib(v.size).toFixed(2))]),
]);
