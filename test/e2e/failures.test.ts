/**
 * The e2e suite's own bad input: a pod that can never come up fails the wait at once, and the
 * failure carries the Events that say why, not a bare timeout.
 */
import { AppsV1Api, CoreV1Api, StorageV1Api, type V1PodSpec } from '@kubernetes/client-node';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createDeployment, deleteNamespace, loadTestKubeConfig, uniqueName } from '../support/kube.ts';
import { restrictedContainer, restrictedLabels } from './support/control-plane.ts';
import { e2eImage, workloadNode } from './support/env.ts';
import { waitForPodsReady } from './support/pods.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const namespaces: string[] = [];
let namespace: string;

// One namespace per case: the wait reads the namespace's Events.
beforeEach(async () => {
  namespace = uniqueName('e2e-bad');
  namespaces.push(namespace);
  await core.createNamespace({ body: { metadata: { name: namespace, labels: restrictedLabels } } });
});

afterAll(async () => {
  for (const ns of namespaces) await deleteNamespace(kc, ns);
});

const restrictedPod = (image: string): V1PodSpec => ({
  nodeSelector: { 'kubernetes.io/hostname': workloadNode },
  securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
  containers: [
    {
      name: 'c',
      image,
      imagePullPolicy: 'Never',
      command: ['/nodejs/bin/node', '-e', 'setInterval(() => {}, 1e6)'],
      securityContext: restrictedContainer,
    },
  ],
});

async function failure(selector: string): Promise<{ message: string; seconds: number }> {
  const t0 = Date.now();
  const err = await waitForPodsReady(kc, namespace, selector, 1, 180_000).then(
    () => new Error('became ready'),
    (e: Error) => e,
  );
  return { message: err.message, seconds: (Date.now() - t0) / 1000 };
}

describe('pods that cannot come up fail the wait at once, with their Events', () => {
  it('a missing image', async () => {
    await createDeployment(kc, namespace, 'no-image', {
      replicas: 1,
      podSpec: restrictedPod('clusteropt-agent:does-not-exist'),
    });
    const { message, seconds } = await failure('app=no-image');
    expect(message).toMatch(/container c ErrImageNeverPull/);
    expect(message).toMatch(
      /Events:\n.*ErrImageNeverPull|Events:\n[\s\S]*Container image "clusteropt-agent:does-not-exist" is not present/,
    );
    expect(seconds).toBeLessThan(60);
  });

  it('a pod the namespace refuses under Pod Security "restricted"', async () => {
    const root = restrictedPod(e2eImage);
    root.securityContext = {};
    root.containers[0]!.securityContext = {};
    await createDeployment(kc, namespace, 'root', { replicas: 1, podSpec: root });
    const { message, seconds } = await failure('app=root');
    expect(message).toMatch(/could not create a pod/);
    expect(message).toMatch(/FailedCreate: .*violates PodSecurity "restricted:latest"/);
    expect(seconds).toBeLessThan(60);
  });

  it.each([
    [
      'of a StorageClass that does not exist',
      'no-such-class',
      /ProvisioningFailed: storageclass.* "no-such-class" not found/,
    ],
    [
      'of a StorageClass without volumes',
      'e2e-none',
      /FailedScheduling: .*didn't find available persistent volumes to bind/,
    ],
  ])('a PersistentVolumeClaim %s', async (_what, storageClassName, event) => {
    if (storageClassName === 'e2e-none')
      await kc.makeApiClient(StorageV1Api).createStorageClass({
        body: {
          metadata: { name: storageClassName },
          provisioner: 'kubernetes.io/no-provisioner',
          volumeBindingMode: 'WaitForFirstConsumer',
        },
      });
    const pod = restrictedPod(e2eImage);
    pod.containers[0]!.volumeMounts = [{ name: 'data', mountPath: '/data' }];
    await apps.createNamespacedStatefulSet({
      namespace,
      body: {
        metadata: { name: 'no-volume' },
        spec: {
          serviceName: 'no-volume',
          replicas: 1,
          selector: { matchLabels: { app: 'no-volume' } },
          template: { metadata: { labels: { app: 'no-volume' } }, spec: pod },
          volumeClaimTemplates: [
            {
              metadata: { name: 'data' },
              spec: {
                storageClassName,
                accessModes: ['ReadWriteOnce'],
                resources: { requests: { storage: '1Gi' } },
              },
            },
          ],
        },
      },
    });
    const { message, seconds } = await failure('app=no-volume');
    expect(message).toMatch(/ProvisioningFailed|its volume cannot be bound/);
    expect(message).toMatch(event);
    expect(seconds).toBeLessThan(60);
  });
});
