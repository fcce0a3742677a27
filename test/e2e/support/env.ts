/**
 * What the e2e global setup hands the tests: the real nodes, the image names, where the
 * run's figures go. Figures are merged into one JSON file (tests run one file at a time).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { repoRoot } from '../../cluster/launcher.ts';

export const e2eStateDir = join(repoRoot, '.state', 'e2e');
export const reportPath = join(e2eStateDir, 'report.json');
/** The image `npm run image` builds for the run. */
export const e2eImage = 'clusteropt-agent:local';
/** Where the agent runs; real-node-1 carries workloads for drains. */
export const agentNode = 'real-node-0';
export const workloadNode = 'real-node-1';

export interface E2eNodes {
  nodes: { name: string; containerdSocket: string }[];
  /** The same image under the name the plain manifests use. */
  shippedImage: string;
}

export function e2eNodes(): E2eNodes {
  return inject('e2eNodes');
}

/** `ctr` on a real node's containerd, namespace k8s.io (the kubelet's). */
export function ctr(node: string, args: string[]): string {
  const socket = e2eNodes().nodes.find((n) => n.name === node)?.containerdSocket;
  if (!socket) throw new Error(`no real node ${node}`);
  return execFileSync('ctr', ['-a', socket, '-n', 'k8s.io', ...args], { encoding: 'utf8' });
}

/** Adds figures under `key` to the run's report (.state/e2e/report.json). */
export function recordFigure(key: string, value: unknown): void {
  const report = existsSync(reportPath) ? JSON.parse(readFileSync(reportPath, 'utf8')) : {};
  report[key] = value;
  writeFileSync(reportPath, JSON.stringify(report, null, 2));
  process.stderr.write(`[e2e figure] ${key}: ${JSON.stringify(value)}\n`);
}
