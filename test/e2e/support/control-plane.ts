/**
 * The reference control plane running in the cluster from the agent's own image
 * (`clusteropt-agent control-plane serve`), in a namespace that enforces the restricted Pod
 * Security profile, on the agent's real node. The tests reach its admin API from this
 * machine at the pod's address (the pod bridge is local); the agent reaches it through its
 * Service, as a production agent reaches its control plane.
 */
import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ReferenceControlPlaneAdmin } from '../../../src/reference-control-plane/admin-client.ts';
import { createDeployment } from '../../support/kube.ts';
import { agentNode, e2eImage } from './env.ts';
import { waitForPodsReady } from './pods.ts';

export const controlPlaneNamespace = 'clusteropt-cp';
const port = 7070;

export interface InClusterControlPlane {
  /** What the agent is configured with: the Service's ClusterIP (no cluster DNS runs here). */
  serviceUrl: string;
  admin: ReferenceControlPlaneAdmin;
}

export const restrictedLabels = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
};

export const restrictedContainer = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

export async function deployControlPlane(kc: KubeConfig): Promise<InClusterControlPlane> {
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = controlPlaneNamespace;
  const token = randomBytes(24).toString('hex');
  await core.createNamespace({ body: { metadata: { name: namespace, labels: restrictedLabels } } });
  await core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'admin-token' }, stringData: { token } },
  });
  const labels = { app: 'control-plane' };
  await createDeployment(kc, namespace, 'control-plane', {
    replicas: 1,
    podSpec: {
      nodeSelector: { 'kubernetes.io/hostname': agentNode },
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 65532,
        fsGroup: 65532,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'control-plane',
          image: e2eImage,
          imagePullPolicy: 'Never',
          args: ['control-plane', 'serve', '--db', '/data/cp.db', '--listen', `0.0.0.0:${port}`],
          env: [
            {
              name: 'CLUSTEROPT_ADMIN_TOKEN',
              valueFrom: { secretKeyRef: { name: 'admin-token', key: 'token' } },
            },
          ],
          ports: [{ containerPort: port, name: 'http' }],
          readinessProbe: { httpGet: { path: '/healthz', port }, periodSeconds: 1 },
          securityContext: restrictedContainer,
          volumeMounts: [{ name: 'data', mountPath: '/data' }],
        },
      ],
      volumes: [{ name: 'data', emptyDir: {} }],
    },
  });
  const service = await core.createNamespacedService({
    namespace,
    body: {
      metadata: { name: 'control-plane' },
      spec: { selector: labels, ports: [{ port, targetPort: port }] },
    },
  });
  const [pod] = await waitForPodsReady(kc, namespace, 'app=control-plane', 1, 120_000);
  return {
    serviceUrl: `http://${service.spec?.clusterIP}:${port}`,
    admin: new ReferenceControlPlaneAdmin({ url: `http://${pod?.status?.podIP}:${port}`, adminToken: token }),
  };
}
