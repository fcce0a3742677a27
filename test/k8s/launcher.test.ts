/**
 * The launcher leaves nothing behind: processes started for a test run die with the process
 * that started them, even when it is killed with SIGKILL and gets no chance to clean up.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { clusterBinDir, waitFor } from '../support/kube.ts';

const stateDir = await mkdtemp(join(tmpdir(), 'clusteropt-launcher-'));
afterAll(() => rm(stateDir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    // A zombie has an empty cmdline: it is dead, only not yet reaped.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').length > 0;
  } catch {
    return false;
  }
}

it('kills every cluster process when the test runner is killed with SIGKILL', async () => {
  const script = `
    const { startTestCluster } = await import(${JSON.stringify(join(import.meta.dirname, '../cluster/launcher.ts'))});
    await startTestCluster({ stateDir: ${JSON.stringify(stateDir)}, binDir: ${JSON.stringify(clusterBinDir())} });
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await waitFor(() => out.includes('ready'), { timeoutMs: 90_000, what: 'second cluster up' });
  const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as {
    processes: { name: string; pid: number }[];
  };
  expect(state.processes.map((p) => p.name).sort()).toEqual(
    ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kwok'].sort(),
  );
  expect(state.processes.every((p) => alive(p.pid))).toBe(true);

  child.kill('SIGKILL');
  await waitFor(() => state.processes.every((p) => !alive(p.pid)), {
    timeoutMs: 10_000,
    what: 'cluster processes to die with their parent',
  });
});
