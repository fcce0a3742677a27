/**
 * The EC2 and STS clients of the inventory, behind two small interfaces.
 *
 * The SDK (sdk.ts, the few names used) is imported on first use, not at start: it costs
 * ~0.5 s of CPU and ~20 MiB of RSS to load, which an agent on a cluster without AWS nodes
 * should never pay.
 *
 * Credentials: the SDK's default chain (env, IRSA web identity, EKS Pod Identity, ECS,
 * IMDS) unless static ones are given (tests, local runs). With `roleArn`, the default-chain
 * identity calls STS AssumeRole (with the external id) and EC2/STS use the role's
 * temporary credentials; the SDK refreshes them before they expire.
 * Retries: the SDK's adaptive mode (exponential backoff plus a client-side rate that
 * drops when AWS throttles), `maxAttempts` tries per call.
 */
import type { DescribeInstancesCommandInput, DescribeInstancesCommandOutput } from '@aws-sdk/client-ec2';
import type {
  AssumeRoleCommandInput,
  AssumeRoleCommandOutput,
  GetCallerIdentityCommandOutput,
} from '@aws-sdk/client-sts';
import { AwsError, toAwsError } from './errors.ts';

export interface Ec2Api {
  describeInstances(
    input: DescribeInstancesCommandInput,
    signal?: AbortSignal,
  ): Promise<DescribeInstancesCommandOutput>;
}

export interface StsApi {
  getCallerIdentity(signal?: AbortSignal): Promise<GetCallerIdentityCommandOutput>;
  assumeRole(input: AssumeRoleCommandInput, signal?: AbortSignal): Promise<AssumeRoleCommandOutput>;
}

export interface StaticCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** What the SDK accepts as `credentials` (a provider is memoised and refreshed by it). */
export interface ResolvedCredentials extends StaticCredentials {
  expiration?: Date;
}
export type CredentialsProvider = () => Promise<ResolvedCredentials>;

export interface AwsClientOptions {
  /** Explicit region; else AWS_REGION / AWS_DEFAULT_REGION, else `regionHint`. */
  region?: string;
  /** Used when nothing else names a region: derived from the nodes' zones. */
  regionHint?: string;
  roleArn?: string;
  externalId?: string;
  /** RoleSessionName of AssumeRole (shows in the customer's CloudTrail). */
  sessionName?: string;
  /** Static credentials instead of the default chain (tests, local runs). */
  credentials?: StaticCredentials;
  /** Endpoint overrides (a VPC endpoint, or a local test server). */
  ec2Endpoint?: string;
  stsEndpoint?: string;
  /** SDK attempts per call (first try included). Default 5. */
  maxAttempts?: number;
  /** Per-attempt timeout. Default 15 s. */
  requestTimeoutMs?: number;
  /** Environment the region is read from; default process.env. */
  env?: Record<string, string | undefined>;
}

export interface AwsClients {
  region: string;
  ec2: Ec2Api;
  /** STS as the identity that describes instances (the assumed role when roleArn is set). */
  sts: StsApi;
  destroy(): void;
}

/** `us-east-1a` → `us-east-1`; local and wavelength zones (`us-west-2-lax-1a`) too. */
export function regionFromZone(zone: string | undefined): string | undefined {
  if (!zone) return undefined;
  return /^([a-z]{2}(?:-[a-z]+)+-\d+)/.exec(zone)?.[1];
}

export function resolveRegion(options: AwsClientOptions): string {
  const env = options.env ?? process.env;
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? options.regionHint;
  if (!region) {
    throw new AwsError(
      'AWS_REGION_UNKNOWN',
      'no AWS region: set awsRegion (or AWS_REGION), or run on nodes whose providerID names a zone',
    );
  }
  return region;
}

/**
 * Loads the SDK modules without creating clients, so the first DescribeInstances need not
 * wait for it (the inventory starts this while it lists nodes, when AWS looks configured).
 */
export async function preloadAwsSdk(): Promise<void> {
  await import('./sdk.ts').catch(() => undefined);
}

/**
 * True when the settings or the environment say this runs against AWS (a region, a role,
 * IRSA's web identity token, EKS Pod Identity's container credentials): then loading the
 * SDK early is worth it. Otherwise it is loaded only once a node turns out to be on AWS.
 */
export function looksLikeAws(options: AwsClientOptions): boolean {
  const env = options.env ?? process.env;
  return Boolean(
    options.region ||
      options.roleArn ||
      options.ec2Endpoint ||
      env.AWS_REGION ||
      env.AWS_DEFAULT_REGION ||
      env.AWS_ROLE_ARN ||
      env.AWS_WEB_IDENTITY_TOKEN_FILE ||
      env.AWS_CONTAINER_CREDENTIALS_FULL_URI ||
      env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI,
  );
}

export async function createAwsClients(options: AwsClientOptions): Promise<AwsClients> {
  const region = resolveRegion(options);
  let sdk: typeof import('./sdk.ts');
  try {
    sdk = await import('./sdk.ts');
  } catch (err) {
    throw toAwsError(err, 'loading the AWS SDK');
  }
  const common = {
    region,
    maxAttempts: options.maxAttempts ?? 5,
    retryMode: 'adaptive',
    requestHandler: { requestTimeout: options.requestTimeoutMs ?? 15_000, connectionTimeout: 5_000 },
  };
  const baseSts = new sdk.STSClient({
    ...common,
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.stsEndpoint ? { endpoint: options.stsEndpoint } : {}),
  });
  const stsApi = (client: InstanceType<typeof sdk.STSClient>): StsApi => ({
    getCallerIdentity: (signal) =>
      client.send(new sdk.GetCallerIdentityCommand({}), signal ? { abortSignal: signal } : {}),
    assumeRole: (input, signal) =>
      client.send(new sdk.AssumeRoleCommand(input), signal ? { abortSignal: signal } : {}),
  });

  let credentials: StaticCredentials | CredentialsProvider | undefined = options.credentials;
  let targetSts = baseSts;
  if (options.roleArn) {
    credentials = assumeRoleCredentials(stsApi(baseSts), {
      roleArn: options.roleArn,
      externalId: options.externalId,
      sessionName: options.sessionName ?? 'clusteropt-agent',
    });
    targetSts = new sdk.STSClient({
      ...common,
      credentials,
      ...(options.stsEndpoint ? { endpoint: options.stsEndpoint } : {}),
    });
  }
  const ec2 = new sdk.EC2Client({
    ...common,
    ...(credentials ? { credentials } : {}),
    ...(options.ec2Endpoint ? { endpoint: options.ec2Endpoint } : {}),
  });
  return {
    region,
    ec2: {
      describeInstances: (input, signal) =>
        ec2.send(new sdk.DescribeInstancesCommand(input), signal ? { abortSignal: signal } : {}),
    },
    sts: stsApi(targetSts),
    destroy: () => {
      ec2.destroy();
      baseSts.destroy();
      if (targetSts !== baseSts) targetSts.destroy();
    },
  };
}

/** The SDK refreshes credentials this long before they expire; so does the role cache. */
const refreshWindowMs = 5 * 60_000;

/**
 * Temporary credentials of `roleArn`, from an explicit AssumeRole call by the base
 * identity. One cache for every client that uses them (the EC2 and the STS client would
 * otherwise each assume the role); fetched again once within 5 minutes of `expiration`,
 * concurrent callers share one AssumeRole call.
 */
export function assumeRoleCredentials(
  sts: StsApi,
  role: { roleArn: string; externalId?: string | undefined; sessionName: string; durationSeconds?: number },
  now: () => number = Date.now,
): CredentialsProvider {
  let current: Promise<ResolvedCredentials> | undefined;
  const fresh = (c: ResolvedCredentials) =>
    c.expiration === undefined || c.expiration.getTime() - now() > refreshWindowMs;
  const fetch = async (): Promise<ResolvedCredentials> => {
    let out: AssumeRoleCommandOutput;
    try {
      out = await sts.assumeRole({
        RoleArn: role.roleArn,
        RoleSessionName: role.sessionName,
        DurationSeconds: role.durationSeconds ?? 3600,
        ...(role.externalId ? { ExternalId: role.externalId } : {}),
      });
    } catch (err) {
      throw toAwsError(err, `assuming role ${role.roleArn}`);
    }
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) {
      throw new AwsError('AWS_REQUEST_FAILED', `AssumeRole ${role.roleArn} returned no credentials`);
    }
    return {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
      ...(c.Expiration ? { expiration: c.Expiration } : {}),
    };
  };
  return async () => {
    if (current) {
      const settled = await current.then(
        (c) => (fresh(c) ? c : undefined),
        () => undefined,
      );
      if (settled) return settled;
    }
    const attempt = fetch();
    current = attempt;
    // A failed attempt is not cached beyond the callers already waiting on it.
    attempt.catch(() => {
      if (current === attempt) current = undefined;
    });
    return attempt;
  };
}
