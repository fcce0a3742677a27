/**
 * One-shot pods on a real node: a Node.js script run by the agent image's `node`, its output
 * read back with `kubectl logs` (through the API server and the kubelet, as users read it).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { clusterBinDir, testKubeconfigPath, waitFor } from '../../support/kube.ts';
import { restrictedContainer } from './control-plane.ts';
import { e2eImage } from './env.ts';

export function kubectl(args: string[]): string {
  return execFileSync(join(clusterBinDir(), 'kubectl'), ['--kubeconfig', testKubeconfigPath(), ...args], {
    encoding: 'utf8',
  });
}

interface ScriptPod {
  namespace: string;
  name: string;
  node: string;
  script: string;
}

export async function createScriptPod(kc: KubeConfig, options: ScriptPod): Promise<void> {
  await kc.makeApiClient(CoreV1Api).createNamespacedPod({
    namespace: options.namespace,
    body: {
      metadata: { name: options.name },
      spec: {
        restartPolicy: 'Never',
        nodeSelector: { 'kubernetes.io/hostname': options.node },
        securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'script',
            image: e2eImage,
            imagePullPolicy: 'Never',
            command: ['/nodejs/bin/node', '-e', options.script],
            securityContext: restrictedContainer,
          },
        ],
      },
    },
  });
}

/** Runs the script to its end; its phase and output. */
export async function runScriptPod(
  kc: KubeConfig,
  options: ScriptPod & { timeoutMs?: number },
): Promise<{ phase: string; logs: string }> {
  const core = kc.makeApiClient(CoreV1Api);
  await createScriptPod(kc, options);
  const phase = await waitFor(
    async () => {
      const pod = await core.readNamespacedPod({ namespace: options.namespace, name: options.name });
      const p = pod.status?.phase;
      return p === 'Succeeded' || p === 'Failed' ? p : undefined;
    },
    { timeoutMs: options.timeoutMs ?? 90_000, what: `pod ${options.namespace}/${options.name} finished` },
  );
  return { phase, logs: kubectl(['logs', '-n', options.namespace, options.name]) };
}
