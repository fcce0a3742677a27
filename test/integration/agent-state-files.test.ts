/**
 * The agent's files as a real pod has them:
 * - the API key Secret mounted with defaultMode 0400: with fsGroup the kubelet leaves it
 *   root:<fsGroup> 0440 (pkg/volume/volume_linux.go changeFilePermission: mode | 0440 for a
 *   read-only volume, group set to fsGroup), which the agent, uid 65532 in that group, reads;
 * - a corrupt state file: the real agent moves it aside, starts with a fresh one and says so,
 *   to the control plane (an audit event over real HTTP) and in a metric.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningAgent, startAgent } from '../../src/agent/run.ts';
import { AgentConfigSchema } from '../../src/config/schema.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { startReferenceControlPlane } from '../../src/reference-control-plane/index.ts';
import { registerCluster } from '../support/processes.ts';
import { waitFor } from '../support/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'agent-state-files-'));
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the API key file as the kubelet mounts it (defaultMode 0400, fsGroup 65532)', () => {
  const agentUid = 65532;
  const fsGroup = 65532;
  const key = `co_abcdefgh_${randomBytes(12).toString('hex')}`;
  /** Reads the key with the agent's ApiKeySource as uid 65532 with the given groups. */
  function readAs(path: string, groups: { gid: number; supplementary: number[] }): string {
    const script = join(dir, 'read-key.ts');
    writeFileSync(
      script,
      `import { ApiKeySource } from ${JSON.stringify(join(import.meta.dirname, '../../src/controlplane/api-key-source.ts'))};
try { const s = new ApiKeySource({ path: ${JSON.stringify(path)}, watch: false }); process.stdout.write(s.current()); s.close(); }
catch (err) { process.stdout.write('ERROR ' + (err.code ?? err.message)); }
`,
    );
    chmodSync(script, 0o644);
    const groupArgs = groups.supplementary.length
      ? [`--groups=${groups.supplementary.join(',')}`]
      : ['--clear-groups'];
    return execFileSync(
      'setpriv',
      [`--reuid=${agentUid}`, `--regid=${groups.gid}`, ...groupArgs, process.execPath, script],
      {
        encoding: 'utf8',
      },
    );
  }

  it('is readable by the agent through its group, and by no one else', () => {
    if (process.getuid?.() !== 0)
      throw new Error('this test needs root (it sets the owner and group of a file)');
    const volume = join(dir, 'secret-volume');
    mkdirSync(volume, { mode: 0o755 });
    chmodSync(volume, 0o755);
    const file = join(volume, 'api-key');
    writeFileSync(file, `${key}\n`);
    // What the kubelet does: defaultMode 0400, then with fsGroup group <fsGroup> and mode | 0440.
    chownSync(file, 0, fsGroup);
    chmodSync(file, 0o400 | 0o440);
    // The pod: runAsUser 65532, runAsGroup 65532, fsGroup 65532 (a supplementary group).
    expect(readAs(file, { gid: 65532, supplementary: [fsGroup] })).toBe(key);
    // Even with another primary group, the fsGroup alone lets it read.
    expect(readAs(file, { gid: 1000, supplementary: [fsGroup] })).toBe(key);
    // Without the group (no fsGroup in the pod): not readable; the chart sets fsGroup for this.
    expect(readAs(file, { gid: 1000, supplementary: [] })).toMatch(/^ERROR/);
  });
});

describe('a corrupt state file', () => {
  let agent: RunningAgent | undefined;
  afterAll(async () => {
    await agent?.stop();
  });

  it('is moved aside and kept; the agent starts fresh and says so (audit event, metric)', async () => {
    const cp = await startReferenceControlPlane({
      dbPath: join(dir, 'cp.db'),
      logger: createLogger({ level: 'silent' }),
    });
    try {
      const keyFile = join(dir, 'key');
      const { clusterId } = await registerCluster(cp, 'corrupt', keyFile);
      const stateDir = join(dir, 'state');
      mkdirSync(stateDir, { recursive: true });
      writeFileSync(join(stateDir, 'agent.db'), randomBytes(64 * 1024));
      // No Kubernetes here: the API server address is closed; only the control-plane side runs.
      const kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n',
      );
      agent = await startAgent(
        AgentConfigSchema.parse({
          controlPlaneUrl: cp.url,
          allowInsecureHttp: true,
          apiKeyFile: keyFile,
          stateDir,
          namespace: 'clusteropt',
          kubeconfig,
          listenHealth: '127.0.0.1:0',
          pollWaitSeconds: 1,
          leaderElection: { enabled: false },
        }),
        createLogger({ level: 'silent' }),
      );
      const kept = readdirSync(stateDir).filter((f) => f.startsWith('agent.db.corrupt-'));
      expect(kept).toHaveLength(1);
      expect(existsSync(join(stateDir, 'agent.db'))).toBe(true);
      const metrics = await (await fetch(`http://127.0.0.1:${agent.healthAddress.port}/metrics`)).text();
      expect(metrics).toMatch(/clusteropt_agent_state_corrupt_recoveries_total 1/);
      const event = await waitFor(
        async () => (await cp.admin.listEvents(clusterId)).find((e) => e.event === 'state.corrupt_recovered'),
        { what: 'the audit event at the control plane', timeoutMs: 30_000 },
      );
      expect(event.details.message).toMatch(/state file was corrupt .*moved to .*agent\.db\.corrupt-/);
    } finally {
      await agent?.stop();
      agent = undefined;
      await cp.close();
    }
  });
});
