/**
 * The agent's settings: one zod schema with defaults. Every leaf is a setting that can come
 * from the config file (its key path), an environment variable and a CLI flag, both named
 * from the path (settings.ts): leaderElection.leaseDurationSeconds is
 * `--leader-election-lease-duration-seconds` and CLUSTEROPT_LEADER_ELECTION_LEASE_DURATION_SECONDS.
 * docs/configuration.md is generated from the descriptions here (a test keeps it in sync).
 */
import { z } from 'zod';

const seconds = (min: number, max: number) => z.int().min(min).max(max);

export const LeaderElectionConfig = z.strictObject({
  enabled: z
    .boolean()
    .default(true)
    .describe('Run leader election; false: this replica always leads (one replica only).'),
  leaseName: z
    .string()
    .min(1)
    .max(253)
    .default('clusteropt-agent')
    .describe('Name of the coordination.k8s.io Lease.'),
  leaseNamespace: z
    .string()
    .min(1)
    .max(63)
    .optional()
    .describe('Namespace of the Lease (default: `namespace`).'),
  identity: z
    .string()
    .min(1)
    .max(128)
    .optional()
    .describe('Holder identity (default: POD_NAME or the host name, plus a random suffix).'),
  leaseDurationSeconds: seconds(2, 3600)
    .default(15)
    .describe('How long a Lease is valid after its last renewal; others take over after it.'),
  renewDeadlineSeconds: seconds(1, 3600)
    .default(10)
    .describe('The leader steps down when it could not renew for this long; less than leaseDurationSeconds.'),
  retryPeriodSeconds: seconds(1, 600).default(2).describe('Interval between attempts to acquire or renew.'),
});

export const AgentConfigSchema = z
  .strictObject({
    controlPlaneUrl: z
      .url({ protocol: /^https?$/ })
      .describe('Base URL of the control plane, e.g. https://api.clusteropt.example.'),
    apiKeyFile: z
      .string()
      .min(1, 'required')
      .default('/var/run/secrets/clusteropt/api-key')
      .describe('File holding the API key (mount the Secret here).'),
    caFile: z
      .string()
      .min(1, 'required')
      .optional()
      .describe(
        'PEM bundle of extra CAs to trust for the control plane, on top of the default ones (a private CA, a TLS-inspecting proxy).',
      ),
    allowInsecureHttp: z
      .boolean()
      .default(false)
      .describe('Allow an http:// control-plane URL (tests and local demos only).'),
    stateDir: z
      .string()
      .min(1, 'required')
      .default('/var/lib/clusteropt-agent')
      .describe('Folder of the SQLite state (outbox, action journal); a persistent volume.'),
    namespace: z
      .string()
      .min(1, 'required')
      .max(63)
      .default('clusteropt-system')
      .describe('Namespace of the AgentActions (and the Lease); the chart sets it to the release namespace.'),
    kubeconfig: z
      .string()
      .min(1, 'required')
      .optional()
      .describe('Kubeconfig file; absent: in-cluster service account.'),
    listenHealth: z
      .string()
      .regex(/^(\[[0-9a-fA-F:.]+\]|[^:[\]]*):\d{1,5}$/, 'expected [host]:port, e.g. :8080 or 127.0.0.1:8080')
      .default(':8080')
      .describe('Address of the /healthz, /readyz and /metrics server.'),
    logLevel: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])
      .default('info')
      .describe('Log level (pino).'),
    pollWaitSeconds: seconds(1, 300)
      .default(25)
      .describe("Long-poll wait asked of the control plane; keep below proxies' idle timeouts."),
    maxActionsPerPoll: z
      .int()
      .min(1)
      .max(1000)
      .default(100)
      .describe(
        'Most actions asked for in one poll; a control plane that sends more gets the rest rejected with the reason.',
      ),
    deniedRetrySeconds: seconds(1, 3600)
      .default(30)
      .describe(
        'While the control plane refuses the agent (401/403, e.g. a disabled cluster), poll again after this long, doubling up to 10 times it.',
      ),
    heartbeatIntervalSeconds: seconds(5, 3600).default(60).describe('Interval between heartbeats.'),
    actionTtlSeconds: seconds(60, 31_536_000)
      .default(604_800)
      .describe('Finished AgentActions are deleted this long after they finished.'),
    drainConcurrency: z.int().min(1).max(100).default(10).describe('Evictions in flight at once per drain.'),
    inventoryResyncSeconds: seconds(60, 86_400)
      .default(3600)
      .describe('Interval between full instance snapshots (deltas are sent in between).'),
    dryRun: z
      .boolean()
      .default(false)
      .describe('Decide and report every action but execute none (like an AgentPolicy with dryRun).'),
    awsRegion: z
      .string()
      .min(1, 'required')
      .optional()
      .describe('AWS region for EC2/STS; absent: the SDK default chain (IMDS, AWS_REGION).'),
    awsRoleArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'expected an IAM role ARN')
      .optional()
      .describe("Role to assume for EC2 DescribeInstances; absent: the pod's own credentials."),
    awsExternalId: z.string().min(1, 'required').max(1224).optional().describe('External id for awsRoleArn.'),
    leaderElection: LeaderElectionConfig.default(LeaderElectionConfig.parse({})),
  })
  .superRefine((c, ctx) => {
    // Rules across settings; each issue points at the setting to change.
    const le = c.leaderElection;
    if (le.renewDeadlineSeconds >= le.leaseDurationSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['leaderElection', 'renewDeadlineSeconds'],
        message: `must be less than leaderElection.leaseDurationSeconds (${le.leaseDurationSeconds})`,
      });
    }
    if (le.retryPeriodSeconds >= le.renewDeadlineSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['leaderElection', 'retryPeriodSeconds'],
        message: `must be less than leaderElection.renewDeadlineSeconds (${le.renewDeadlineSeconds})`,
      });
    }
    if (c.controlPlaneUrl.startsWith('http:') && !c.allowInsecureHttp) {
      ctx.addIssue({
        code: 'custom',
        path: ['controlPlaneUrl'],
        message: 'http:// sends the API key in clear text; use https:// or set allowInsecureHttp',
      });
    }
    if (c.awsExternalId !== undefined && c.awsRoleArn === undefined) {
      ctx.addIssue({ code: 'custom', path: ['awsExternalId'], message: 'needs awsRoleArn' });
    }
  });

export type AgentConfig = z.output<typeof AgentConfigSchema>;
