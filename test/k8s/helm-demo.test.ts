/**
 * `npm run demo` (scripts/demo.ts), the README quick start, against the test cluster: the
 * script runs as users run it (a child process: control plane and agent as its own child
 * processes), must end with every action succeeded, and must leave nothing behind.
 * (Packaging tests are named helm-*.test.ts; this one covers the demo script.)
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../src/packaging/chart.ts';
import { loadTestKubeConfig, testKubeconfigPath, waitFor } from '../support/kube.ts';

function runDemo(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'scripts', 'demo.ts'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('npm run demo', () => {
  it('cordons, drains and scales on the given cluster, then cleans up', async () => {
    const { code, output } = await runDemo(['--kubeconfig', testKubeconfigPath()]);
    expect(code, output).toBe(0);
    expect(output).toMatch(/all actions succeeded/);
    // The control plane's own record of the three actions (`control-plane actions`).
    expect(output).toMatch(/cordon_node\tsucceeded\t1\tnode demo-node-\w cordoned/);
    expect(output).toMatch(/drain_node\tsucceeded\t1\tnode demo-node-\w drained: [1-9]\d* evicted/);
    expect(output).toMatch(
      /scale_workload\tsucceeded\t1\tDeployment demo-apps\/web scaled from 6 to 9 replicas/,
    );
    // Nothing left: its nodes go at once, its namespaces once the namespace controller is done.
    const core = loadTestKubeConfig().makeApiClient(CoreV1Api);
    const nodes = await core.listNode({ labelSelector: 'clusteropt.io/demo=true' });
    expect(nodes.items.filter((n) => !n.metadata?.deletionTimestamp)).toEqual([]);
    await waitFor(
      async () => {
        const namespaces = await core.listNamespace();
        return !namespaces.items.some((n) =>
          ['clusteropt-demo', 'demo-apps'].includes(n.metadata?.name ?? ''),
        );
      },
      { what: 'demo namespaces deleted', timeoutMs: 120_000 },
    );
  }, 300_000);
});
