/**
 * The Helm chart: lint, render with default values and with every value set, the schema's
 * refusals, the plain install manifest's drift, and a real `helm install` into a namespace
 * that enforces the "restricted" Pod Security profile (admission is real in the test cluster).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { installCrds, readCrdManifests } from '../../src/kube/install-crds.ts';
import {
  chartDir,
  helmOnChart,
  installManifestPath,
  renderInstallManifest,
} from '../../src/packaging/chart.ts';
import {
  clusterBinDir,
  deleteNamespace,
  loadTestKubeConfig,
  testKubeconfigPath,
  uniqueName,
  waitFor,
} from '../support/kube.ts';

const kc = loadTestKubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const helm = () => join(clusterBinDir(), 'helm');

type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are walked by path in assertions
  spec?: any;
  // biome-ignore lint/suspicious/noExplicitAny: idem
  [key: string]: any;
};

function render(values?: Record<string, unknown>, args: string[] = []): Doc[] {
  const out = helmOnChart('template', { helm: helm(), ...(values ? { values } : {}), args });
  return parseAllDocuments(out)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
}

const find = (docs: Doc[], kind: string, name?: string) => {
  const doc = docs.find((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  if (!doc) throw new Error(`no ${kind}${name ? ` ${name}` : ''} rendered`);
  return doc;
};

const testCa = `-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUTESTTESTTESTTESTTESTTESTTESTwCgYIKoZIzj0EAwIw
-----END CERTIFICATE-----`;

/** Every key of values.yaml set to a non-default value (a test checks none is missing). */
const everyValue = {
  nameOverride: 'coa',
  fullnameOverride: 'co-agent',
  image: {
    repository: 'registry.example/clusteropt-agent',
    tag: '9.9.9',
    digest: `sha256:${'a'.repeat(64)}`,
    pullPolicy: 'Always',
  },
  imagePullSecrets: ['regcred'],
  controlPlane: {
    url: 'https://api.clusteropt.example',
    ca: { bundle: testCa, existingConfigMap: '', key: 'bundle.pem' },
  },
  apiKey: { value: 'co_abcdefgh_secret', existingSecret: '', key: 'token' },
  proxy: { httpsProxy: 'http://proxy:3128', httpProxy: 'http://proxy:3128', noProxy: '.svc,10.0.0.0/8' },
  replicas: 3,
  config: {
    logLevel: 'debug',
    dryRun: true,
    pollWaitSeconds: 20,
    leaderElection: { leaseName: 'co-lease', leaseDurationSeconds: 20 },
  },
  persistence: {
    enabled: false,
    size: '2Gi',
    storageClassName: 'fast',
    accessModes: ['ReadWriteOncePod'],
    retentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Delete' },
    emptyDirSizeLimit: '512Mi',
  },
  serviceAccount: {
    create: true,
    name: 'co-sa',
    annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/co' },
  },
  rbac: {
    create: true,
    scaleSubresources: [{ apiGroup: 'argoproj.io', resources: ['rollouts'] }],
    extraClusterRules: [{ apiGroups: ['keda.sh'], resources: ['scaledobjects'], verbs: ['get', 'list'] }],
    forceDeleteAtBudgetEnd: true,
  },
  admissionPolicy: { enabled: false },
  networkPolicy: {
    enabled: true,
    apiServer: { cidrs: ['10.96.0.1/32'], ports: [6443] },
    controlPlane: { cidrs: ['203.0.113.0/24'], ports: [8443] },
    dns: {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'dns' } },
      podSelector: { matchLabels: { 'k8s-app': 'coredns' } },
    },
    metricsFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
    extraEgress: [{ to: [{ ipBlock: { cidr: '52.94.0.0/16' } }], ports: [{ port: 443, protocol: 'TCP' }] }],
  },
  podDisruptionBudget: { enabled: true, maxUnavailable: '50%' },
  priorityClassName: 'system-cluster-critical',
  resources: { requests: { cpu: '100m', memory: '200Mi' }, limits: { memory: '1Gi' } },
  securityContext: { runAsUser: null, runAsGroup: null, fsGroup: null },
  affinity: {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['system'] }] }],
      },
    },
  },
  nodeSelector: { 'kubernetes.io/os': 'linux' },
  tolerations: [{ key: 'CriticalAddonsOnly', operator: 'Exists' }],
  topologySpreadConstraints: [
    { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' },
  ],
  podAnnotations: { 'example.com/a': 'b' },
  podLabels: { team: 'platform' },
  extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=400' }],
  terminationGracePeriodSeconds: 45,
  service: { type: 'ClusterIP', port: 9090, annotations: { 'example.com/s': 't' } },
  serviceMonitor: { enabled: true, interval: '15s', scrapeTimeout: '5s', labels: { release: 'prom' } },
  prometheusRule: {
    enabled: true,
    labels: { release: 'prom' },
    runbookUrl: 'https://docs.example/runbooks.md',
    clockSkewSeconds: 90,
  },
  grafanaDashboard: {
    enabled: true,
    labels: { grafana_dashboard: 'yes' },
    annotations: { grafana_folder: 'clusteropt' },
    namespace: 'monitoring',
  },
};

/** Dotted leaf paths of a values object (maps and lists count as leaves). */
function leafPaths(obj: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0
      ? leafPaths(v as Record<string, unknown>, `${prefix}${k}.`)
      : [`${prefix}${k}`],
  );
}

describe('helm chart rendering', () => {
  it('passes helm lint --strict with default values and with every value set', () => {
    expect(helmOnChart('lint', { helm: helm() })).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(helmOnChart('lint', { helm: helm(), values: everyValue })).toMatch(/0 chart\(s\) failed/);
  });

  it('the every-value fixture really sets every key of values.yaml', () => {
    const defaults = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const fixture = new Set(leafPaths(everyValue));
    const covered = (path: string) => [...fixture].some((f) => f === path || f.startsWith(`${path}.`));
    expect(leafPaths(defaults).filter((p) => !covered(p))).toEqual([]);
  });

  it('renders a restricted, leader-elected StatefulSet with default values', () => {
    const docs = render();
    expect(docs.map((d) => d.kind).sort()).toEqual(
      [
        'ClusterRole',
        'ClusterRoleBinding',
        'ConfigMap',
        'PodDisruptionBudget',
        'Role',
        'RoleBinding',
        'Service',
        'ServiceAccount',
        'StatefulSet',
        'ValidatingAdmissionPolicy',
        'ValidatingAdmissionPolicyBinding',
      ].sort(),
    );
    const sts = find(docs, 'StatefulSet');
    expect(sts.spec.replicas).toBe(2);
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('1Gi');
    const pod = sts.spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const [container] = pod.containers;
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.image).toBe('ghcr.io/clusteropt/clusteropt-agent:0.1.0');
    expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]).toMatchObject({
      podAffinityTerm: { topologyKey: 'kubernetes.io/hostname' },
    });
    expect(find(docs, 'PodDisruptionBudget').spec.maxUnavailable).toBe(1);
    // No API key given: no Secret is rendered; the pods mount the conventional name.
    expect(pod.volumes.find((v: { name: string }) => v.name === 'api-key').secret.secretName).toBe(
      'clusteropt-agent-api-key',
    );
    expect(find(docs, 'ConfigMap').data['agent.yaml']).toMatch(/# controlPlaneUrl: https:/);
    expect(find(docs, 'Role').metadata.namespace).toBe('clusteropt-system');
  });

  it('is safe by default: no pod deletion, the key file 0400, the state in a directory of its own, the admission policy', () => {
    const docs = render();
    const pods = find(docs, 'ClusterRole').rules.find((r: { resources: string[] }) =>
      r.resources.includes('pods'),
    );
    expect(pods.verbs).toEqual(['list', 'watch']);
    const pod = find(docs, 'StatefulSet').spec.template.spec;
    const key = pod.volumes.find((v: { name: string }) => v.name === 'api-key').secret;
    expect(key.defaultMode).toBe(0o400);
    const env = pod.containers[0].env as { name: string; value?: string }[];
    expect(env.find((e) => e.name === 'CLUSTEROPT_STATE_DIR')?.value).toBe('/var/lib/clusteropt-agent/state');
    // Bound to this release's ServiceAccount, and only UPDATEs of the workloads it patches.
    const policy = find(docs, 'ValidatingAdmissionPolicy');
    expect(policy.spec.matchConditions).toEqual([
      {
        name: 'the-agent',
        expression: 'request.userInfo.username == "system:serviceaccount:clusteropt-system:clusteropt-agent"',
      },
    ]);
    expect(
      policy.spec.matchConstraints.resourceRules.map((r: { resources: string[] }) => r.resources),
    ).toEqual([['deployments', 'statefulsets'], ['cronjobs']]);
    expect(find(docs, 'ValidatingAdmissionPolicyBinding').spec).toEqual({
      policyName: policy.metadata.name,
      validationActions: ['Deny'],
    });
    expect(docs.map((d) => d.kind)).not.toContain('NetworkPolicy');
  });

  it('renders every value where it belongs', () => {
    const docs = render(everyValue);
    const kinds = docs.map((d) => d.kind);
    expect(kinds).toContain('Deployment');
    expect(kinds).not.toContain('StatefulSet');
    expect(kinds).toContain('ServiceMonitor');
    const secret = find(docs, 'Secret');
    expect(Buffer.from(secret.data.token, 'base64').toString()).toBe('co_abcdefgh_secret');
    const dep = find(docs, 'Deployment', 'co-agent');
    expect(dep.spec.replicas).toBe(3);
    const pod = dep.spec.template.spec;
    expect(pod.serviceAccountName).toBe('co-sa');
    expect(pod.priorityClassName).toBe('system-cluster-critical');
    expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.affinity).toEqual(everyValue.affinity);
    expect(pod.tolerations).toEqual(everyValue.tolerations);
    expect(pod.terminationGracePeriodSeconds).toBe(45);
    expect(dep.spec.template.metadata.labels.team).toBe('platform');
    expect(pod.volumes.find((v: { name: string }) => v.name === 'state').emptyDir.sizeLimit).toBe('512Mi');
    const [container] = pod.containers;
    expect(container.image).toBe(`registry.example/clusteropt-agent@sha256:${'a'.repeat(64)}`);
    const env = Object.fromEntries(
      container.env.map((e: { name: string; value?: string }) => [e.name, e.value ?? 'fieldRef']),
    );
    expect(env).toMatchObject({
      CLUSTEROPT_CA_FILE: '/etc/clusteropt/ca/bundle.pem',
      CLUSTEROPT_API_KEY_FILE: '/var/run/secrets/clusteropt/token',
      HTTPS_PROXY: 'http://proxy:3128',
      NO_PROXY: '.svc,10.0.0.0/8',
      NODE_OPTIONS: '--max-old-space-size=400',
      CLUSTEROPT_NAMESPACE: 'fieldRef',
    });
    const config = parse(find(docs, 'ConfigMap', 'co-agent-config').data['agent.yaml']);
    expect(config).toEqual({ controlPlaneUrl: 'https://api.clusteropt.example', ...everyValue.config });
    expect(find(docs, 'ConfigMap', 'co-agent-ca').data['bundle.pem'].trim()).toBe(testCa);
    const role = find(docs, 'Role');
    expect(role.rules).toContainEqual({
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      resourceNames: ['co-lease'],
      verbs: ['get', 'update'],
    });
    const clusterRules = find(docs, 'ClusterRole').rules;
    expect(clusterRules).toContainEqual({
      apiGroups: ['argoproj.io'],
      resources: ['rollouts/scale'],
      verbs: ['get', 'update'],
    });
    expect(clusterRules).toContainEqual(everyValue.rbac.extraClusterRules[0]);
    expect(find(docs, 'ServiceMonitor').spec.endpoints[0]).toMatchObject({
      port: 'http-metrics',
      interval: '15s',
    });
    expect(find(docs, 'Service').spec.ports[0].port).toBe(9090);
    expect(find(docs, 'PodDisruptionBudget').spec.maxUnavailable).toBe('50%');
    expect(clusterRules.find((r: { resources: string[] }) => r.resources.includes('pods')).verbs).toContain(
      'delete',
    );
    expect(kinds).not.toContain('ValidatingAdmissionPolicy');
    const np = find(docs, 'NetworkPolicy');
    expect(np.spec.ingress).toEqual([
      { from: everyValue.networkPolicy.metricsFrom, ports: [{ port: 'http', protocol: 'TCP' }] },
    ]);
    expect(np.spec.egress).toEqual([
      {
        to: [{ ...everyValue.networkPolicy.dns }],
        ports: [
          { port: 53, protocol: 'UDP' },
          { port: 53, protocol: 'TCP' },
        ],
      },
      { ports: [{ port: 6443, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '10.96.0.1/32' } }] },
      { ports: [{ port: 8443, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '203.0.113.0/24' } }] },
      ...everyValue.networkPolicy.extraEgress,
    ]);
    const rules = find(docs, 'PrometheusRule');
    expect(rules.metadata.labels?.release).toBe('prom');
    const skew = rules.spec.groups[0].rules.find(
      (r: { alert: string }) => r.alert === 'ClusteroptAgentClockSkew',
    );
    expect(skew.expr).toContain('> 90');
    expect(skew.annotations.runbook_url).toBe('https://docs.example/runbooks.md#clusteroptagentclockskew');
    // The lease duration set under config decides how long no leader is tolerated.
    const noLeader = rules.spec.groups[0].rules.find(
      (r: { alert: string }) => r.alert === 'ClusteroptAgentNoLeader',
    );
    expect(noLeader.for).toBe(`${everyValue.config.leaderElection.leaseDurationSeconds + 60}s`);
    const dashboard = find(docs, 'ConfigMap', 'co-agent-dashboard');
    expect(dashboard.metadata).toMatchObject({
      namespace: 'monitoring',
      labels: { grafana_dashboard: 'yes' },
      annotations: { grafana_folder: 'clusteropt' },
    });
    expect(JSON.parse(dashboard.data['clusteropt-agent.json']).uid).toBe('clusteropt-agent');
  });

  it.each([
    ['a misspelt top-level key', { replicaCount: 3 }, /additional properties 'replicaCount' not allowed/],
    ['a misspelt agent setting', { config: { pollWait: 3 } }, /additional properties 'pollWait' not allowed/],
    [
      'a setting the chart owns',
      { config: { stateDir: '/x' } },
      /additional properties 'stateDir' not allowed/,
    ],
    ['a wrong type', { replicas: 'two' }, /replicas/],
    ['an out-of-range setting', { config: { pollWaitSeconds: 9000 } }, /pollWaitSeconds/],
    ['a nested typo', { persistence: { enable: false } }, /additional properties 'enable' not allowed/],
    ['a non-URL', { controlPlane: { url: 'api.example' } }, /url/],
    [
      'two replicas without leader election',
      { config: { leaderElection: { enabled: false } } },
      /replicas > 1 needs config.leaderElection.enabled/,
    ],
    [
      'an API key by value and by Secret',
      { apiKey: { value: 'k', existingSecret: 's' } },
      /set apiKey.value or apiKey.existingSecret, not both/,
    ],
  ])('refuses %s', (_what, values, message) => {
    expect(() => render(values)).toThrow(message);
  });

  it('ships every CRD of manifests/crds/ (helm template --include-crds)', () => {
    const names = render(undefined, ['--include-crds'])
      .filter((d) => d.kind === 'CustomResourceDefinition')
      .map((d) => d.metadata.name)
      .sort();
    expect(names).toEqual(
      readCrdManifests()
        .map((c) => c.metadata?.name)
        .sort(),
    );
    expect(names.length).toBeGreaterThanOrEqual(2);
  });

  it('manifests/install/ is what the chart renders with default values', () => {
    const committed = readFileSync(installManifestPath, 'utf8');
    // The message names the fix: a drift here means the chart changed without re-rendering.
    expect(committed, 'run: node scripts/render-manifests.ts --write').toBe(renderInstallManifest(helm()));
  });
});

describe('helm install into a restricted namespace', () => {
  // Release per namespace: ClusterRole names are cluster-wide, so two releases of one name
  // in two namespaces would collide.
  const releases: { ns: string; release: string }[] = [];
  const kubeEnv = () => ({ ...process.env, KUBECONFIG: testKubeconfigPath() });

  function helmCli(args: string[]): string {
    return execFileSync(helm(), args, { encoding: 'utf8', env: kubeEnv() });
  }

  async function restrictedNamespace(): Promise<string> {
    const name = uniqueName('helm');
    await core.createNamespace({
      body: {
        metadata: {
          name,
          labels: {
            'pod-security.kubernetes.io/enforce': 'restricted',
            'pod-security.kubernetes.io/enforce-version': 'latest',
          },
        },
      },
    });
    return name;
  }

  /** The pods of a release and any FailedCreate events its controllers recorded. */
  async function podsAndFailures(ns: string) {
    const pods = (
      await core.listNamespacedPod({
        namespace: ns,
        labelSelector: 'app.kubernetes.io/name=clusteropt-agent',
      })
    ).items;
    const failures = (await core.listNamespacedEvent({ namespace: ns })).items.filter(
      (e) => e.reason === 'FailedCreate',
    );
    return { pods, failures };
  }

  beforeAll(async () => {
    // The CRDs exist before the install, as in the other tests (Helm skips existing ones).
    await installCrds(kc);
  });

  afterAll(async () => {
    for (const { ns, release } of releases) {
      try {
        execFileSync(helm(), ['uninstall', release, '-n', ns, '--wait', '--timeout', '60s'], {
          env: kubeEnv(),
        });
      } catch {
        // already gone
      }
      await deleteNamespace(kc, ns);
    }
  });

  it('admits the StatefulSet pods (persistence on) and the Deployment pods (persistence off)', async () => {
    for (const persistence of [true, false]) {
      const ns = await restrictedNamespace();
      const release = persistence ? 'agent-sts' : 'agent-dep';
      releases.push({ ns, release });
      helmCli([
        'install',
        release,
        chartDir,
        '--namespace',
        ns,
        '--set',
        `persistence.enabled=${persistence}`,
        '--set',
        'controlPlane.url=https://api.clusteropt.example',
        '--set',
        'apiKey.value=co_abcdefgh_not-a-real-key',
      ]);
      const { pods, failures } = await waitFor(
        async () => {
          const seen = await podsAndFailures(ns);
          return seen.pods.length === 2 || seen.failures.length > 0 ? seen : undefined;
        },
        { what: `2 agent pods in ${ns}`, timeoutMs: 60_000 },
      );
      expect(failures.map((e) => e.message)).toEqual([]);
      expect(pods).toHaveLength(2);
      const controller = persistence
        ? await apps.readNamespacedStatefulSet({ name: `${release}-clusteropt-agent`, namespace: ns })
        : await apps.readNamespacedDeployment({ name: `${release}-clusteropt-agent`, namespace: ns });
      expect(controller.spec?.template.spec?.securityContext?.runAsNonRoot).toBe(true);
    }
  });

  it('the same namespace refuses a pod that is not restricted (admission is real)', async () => {
    const ns = releases[0]?.ns ?? (await restrictedNamespace());
    await expect(
      core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'plain' },
          spec: { containers: [{ name: 'c', image: 'registry.invalid/x:1' }] },
        },
      }),
    ).rejects.toMatchObject({ code: 403 });
  });

  it('the CRDs are not release resources, so helm uninstall never deletes them', () => {
    const first = releases[0];
    expect(first).toBeDefined();
    const manifest = helmCli(['get', 'manifest', first!.release, '-n', first!.ns]);
    expect(manifest).toMatch(/kind: StatefulSet/);
    expect(manifest).not.toMatch(/kind: CustomResourceDefinition/);
  });
});
