/**
 * The real nodes themselves: registered and run by containerd, pods reach the API server
 * through the `kubernetes` Service with their projected service-account token, `kubectl
 * logs`/`exec` work, and no packet from a pod leaves this machine.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { egressCounters, tripwireLog } from '../cluster/real-node/real-node.ts';
import { deleteNamespace, loadTestKubeConfig, uniqueName, waitFor } from '../support/kube.ts';
import { restrictedLabels } from './support/control-plane.ts';
import { agentNode, e2eNodes, workloadNode } from './support/env.ts';
import { createScriptPod, kubectl, runScriptPod } from './support/run-pod.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
let namespace: string;

beforeAll(async () => {
  namespace = uniqueName('e2e-node');
  await core.createNamespace({ body: { metadata: { name: namespace, labels: restrictedLabels } } });
});

afterAll(async () => {
  await deleteNamespace(kc, namespace);
});

describe('real nodes', () => {
  it('are Ready, run by containerd and runc', async () => {
    expect(e2eNodes().nodes.map((n) => n.name)).toEqual([agentNode, workloadNode]);
    for (const name of [agentNode, workloadNode]) {
      const node = await core.readNode({ name });
      expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(node.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
      expect(node.metadata?.annotations?.['kwok.x-k8s.io/node']).toBeUndefined();
    }
  });

  it('a pod reaches the API server through the kubernetes Service with its token; logs and exec work', async () => {
    const script = `
      const fs = require('fs'), https = require('https');
      const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
      const req = https.request({
        host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT,
        method: 'POST', path: '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        ca: fs.readFileSync(sa + '/ca.crt'), servername: 'kubernetes.default.svc',
        headers: { authorization: 'Bearer ' + fs.readFileSync(sa + '/token', 'utf8'), 'content-type': 'application/json' },
      }, (res) => { let d = ''; res.on('data', (c) => d += c); res.on('end', () =>
        console.log('via', process.env.KUBERNETES_SERVICE_HOST, res.statusCode, JSON.parse(d).status.userInfo.username, 'uid', process.getuid())); });
      req.on('error', (e) => { console.log('ERR', e.message); process.exitCode = 1; });
      req.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }));`;
    const { phase, logs } = await runScriptPod(kc, {
      namespace,
      name: 'api-probe',
      node: workloadNode,
      script,
    });
    expect(logs.trim()).toBe(`via 10.96.0.1 201 system:serviceaccount:${namespace}:default uid 65532`);
    expect(phase).toBe('Succeeded');

    await createScriptPod(kc, {
      namespace,
      name: 'sleeper',
      node: workloadNode,
      script: 'setTimeout(() => {}, 120000)',
    });
    await waitFor(
      async () => (await core.readNamespacedPod({ namespace, name: 'sleeper' })).status?.phase === 'Running',
      {
        what: 'sleeper running',
      },
    );
    const out = kubectl([
      'exec',
      '-n',
      namespace,
      'sleeper',
      '--',
      '/nodejs/bin/node',
      '-e',
      'console.log(process.getuid(), require("os").hostname())',
    ]);
    expect(out.trim()).toBe('65532 sleeper');
  });

  it('no packet from a pod leaves the machine: connections to outside addresses are refused at once', async () => {
    const before = egressCounters();
    // Documentation-only ranges (RFC 5737): even a broken rule would reach no real host.
    const script = `
      const net = require('net');
      const attempt = (host, port) => new Promise((done) => {
        const t0 = Date.now();
        const s = net.connect({ host, port, timeout: 5000 });
        s.on('connect', () => { s.destroy(); done(host + ' CONNECTED'); });
        s.on('timeout', () => { s.destroy(); done(host + ' TIMEOUT'); });
        s.on('error', (e) => done(host + ' ' + e.code + (Date.now() - t0 < 2000 ? ' fast' : ' slow')));
      });
      (async () => { for (const [h, p] of [['203.0.113.7', 443], ['198.51.100.7', 80]]) console.log(await attempt(h, p)); })();`;
    const { logs } = await runScriptPod(kc, { namespace, name: 'egress-probe', node: workloadNode, script });
    expect(logs.trim().split('\n')).toEqual([
      '203.0.113.7 ECONNREFUSED fast',
      '198.51.100.7 ECONNREFUSED fast',
    ]);
    const after = egressCounters();
    // Refused by the FORWARD rule (its counter moved), and nothing reached the tripwire
    // that drops pod-sourced packets on their way out of another interface.
    expect(after.rejected - before.rejected).toBeGreaterThanOrEqual(2);
    const caught = () => `the tripwire caught (kernel log): ${tripwireLog().join(' | ') || 'nothing logged'}`;
    expect(after.escaped, caught()).toBe(before.escaped);
    expect(after.escaped, caught()).toBe(0);
  });
});
