/**
 * An agent and a reference control plane for end-to-end tests: the real `startAgent` (the
 * same code `clusteropt-agent run` runs) in this process, talking over real HTTP to the
 * reference control plane and to the test cluster.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { type RunningAgent, startAgent } from '../../src/agent/run.ts';
import { AgentConfigSchema } from '../../src/config/schema.ts';
import { createLogger } from '../../src/observability/logger.ts';
import type { AdminAction } from '../../src/reference-control-plane/admin-schemas.ts';
import {
  type ReferenceControlPlane,
  startReferenceControlPlane,
} from '../../src/reference-control-plane/index.ts';
import { loadTestKubeConfig, testKubeconfigPath, waitFor } from './kube.ts';
import { applyWidePolicy } from './policy.ts';

export interface AgentStack {
  cp: ReferenceControlPlane;
  clusterId: string;
  agent: RunningAgent;
  dir: string;
  stop(): Promise<void>;
  /** Enqueues an action on the control plane; returns its id. */
  enqueue(type: string, payload: unknown, extra?: { expiresInSeconds?: number }): Promise<string>;
  /** Waits until the control plane has the action in one of `states`. */
  waitForState(id: string, states: string[], timeoutMs?: number): Promise<AdminAction>;
}

export async function startAgentStack(options: {
  namespace: string;
  kc?: KubeConfig;
  config?: Record<string, unknown>;
  /**
   * 'wide' (default): an AgentPolicy that widens every guardrail exists while the stack runs
   * (tests of the agent's mechanics); 'defaults': no such policy, the built-in guardrails apply.
   */
  guardrails?: 'wide' | 'defaults';
  /** Start the reference control plane in hostile mode. */
  hostile?: boolean;
}): Promise<AgentStack> {
  const dir = mkdtempSync(join(tmpdir(), 'clusteropt-e2e-'));
  const removePolicy =
    (options.guardrails ?? 'wide') === 'wide'
      ? await applyWidePolicy(loadTestKubeConfig(), `test-wide-${options.namespace}`)
      : async () => undefined;
  const cp = await startReferenceControlPlane({
    dbPath: join(dir, 'cp.db'),
    logger: createLogger({ level: 'warn', name: 'reference-control-plane' }),
    hostile: options.hostile === true,
  });
  const created = await cp.admin.createCluster({ name: options.namespace });
  const keyFile = join(dir, 'api-key');
  writeFileSync(keyFile, `${created.apiKey}\n`, { mode: 0o600 });
  const config = AgentConfigSchema.parse({
    controlPlaneUrl: cp.url,
    allowInsecureHttp: true,
    apiKeyFile: keyFile,
    stateDir: join(dir, 'state'),
    namespace: options.namespace,
    kubeconfig: testKubeconfigPath(),
    listenHealth: '127.0.0.1:0',
    pollWaitSeconds: 5,
    heartbeatIntervalSeconds: 5,
    leaderElection: { leaseDurationSeconds: 4, renewDeadlineSeconds: 3, retryPeriodSeconds: 1 },
    ...options.config,
  });
  const agent = await startAgent(config, createLogger({ level: process.env.AGENT_LOG_LEVEL ?? 'warn' }));
  return {
    cp,
    clusterId: created.cluster.id,
    agent,
    dir,
    async stop() {
      await agent.stop();
      await cp.close();
      await removePolicy();
    },
    async enqueue(type, payload, extra = {}) {
      const action = await cp.admin.enqueue(created.cluster.id, { type, payload, ...extra });
      return action.id;
    },
    waitForState(id, states, timeoutMs = 60_000) {
      return waitFor(
        async () => {
          const a = await cp.admin.getAction(id);
          return states.includes(a.state) ? a : undefined;
        },
        { timeoutMs, what: `action ${id} in ${states.join('|')}` },
      );
    },
  };
}
