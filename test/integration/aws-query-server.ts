/**
 * A local stand-in for the EC2 and STS Query APIs (node:http on 127.0.0.1), answering the
 * real SDK with real-format XML: DescribeInstancesResponse (reservationSet / instancesSet,
 * nextToken), GetCallerIdentityResponse, AssumeRoleResponse, and the services' error
 * documents (EC2 `<Response><Errors>…`, STS `<ErrorResponse>…`). Used by the integration
 * tests and the inventory benchmark. Rules it enforces like AWS does:
 * - InstanceId.N with any unknown id fails the whole call with InvalidInstanceID.NotFound
 *   naming the unknown ids (or not, with `vagueNotFound`); a malformed id fails with
 *   InvalidInstanceID.Malformed;
 * - MaxResults with InstanceId.N is InvalidParameterCombination; MaxResults must be 5..1000;
 * - pages never hold more than `pageCap` instances (AWS may return fewer than asked);
 * - the request must be SigV4-signed by a known access key (AuthFailure otherwise), with
 *   the session token of temporary credentials.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeInstance {
  id: string;
  type: string;
  zone: string;
  state: 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';
  launchTime: string;
  spot: boolean;
  spotRequestId?: string;
}

export interface RecordedRequest {
  action: string;
  params: URLSearchParams;
  accessKeyId: string | undefined;
  /** Service of the SigV4 credential scope (`ec2`, `sts`). */
  service: string | undefined;
  region: string | undefined;
  sessionToken: string | undefined;
  status: number;
}

export interface Fault {
  action: string;
  status: number;
  code: string;
  message: string;
  /** How many requests get this answer (default 1). */
  times?: number;
}

export interface FakeRole {
  arn: string;
  externalId?: string;
  /** Lifetime of the issued credentials. Default 1 h. */
  durationMs?: number;
}

export interface AwsQueryServerOptions {
  accountId?: string;
  /** Long-term keys that may call (secret is not verified). Default ['AKIDEXAMPLE']. */
  accessKeys?: string[];
  roles?: FakeRole[];
  /** Largest page the server returns. Default 1000. */
  pageCap?: number;
  /** NotFound errors without the ids in the message. */
  vagueNotFound?: boolean;
  /** Instances per reservation. Default 2. */
  perReservation?: number;
  /** Artificial latency per request. */
  latencyMs?: number;
  /** Record requests (the benchmark turns this off). Default true. */
  record?: boolean;
}

interface Reply {
  status: number;
  xml: string;
}

interface IssuedCredentials {
  secret: string;
  token: string;
  account: string;
  arn: string;
}

const ec2Ns = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const stsNs = 'https://sts.amazonaws.com/doc/2011-06-15/';
const instanceIdPattern = /^i-[0-9a-f]{8,17}$/;

export class AwsQueryServer {
  readonly instances = new Map<string, FakeInstance>();
  readonly requests: RecordedRequest[] = [];
  readonly faults: Fault[] = [];
  readonly issued = new Map<string, IssuedCredentials>();
  url = '';
  options: AwsQueryServerOptions;
  private readonly server = createServer((req, res) => this.handle(req, res));

  constructor(options: AwsQueryServerOptions = {}) {
    this.options = options;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  add(...instances: FakeInstance[]): void {
    for (const i of instances) this.instances.set(i.id, i);
  }

  fail(fault: Fault): void {
    this.faults.push(fault);
  }

  calls(action: string): RecordedRequest[] {
    return this.requests.filter((r) => r.action === action);
  }

  private get account(): string {
    return this.options.accountId ?? '123456789012';
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = () => this.respond(req, Buffer.concat(chunks).toString('utf8'), res);
      if (this.options.latencyMs) setTimeout(reply, this.options.latencyMs);
      else reply();
    });
  }

  private respond(req: IncomingMessage, body: string, res: ServerResponse): void {
    const params = new URLSearchParams(body);
    const action = params.get('Action') ?? '';
    const auth = req.headers.authorization ?? '';
    const scope = /Credential=([^/]+)\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(auth);
    const sessionToken = headerValue(req, 'x-amz-security-token');
    const record: RecordedRequest = {
      action,
      params,
      accessKeyId: scope?.[1],
      region: scope?.[2],
      service: scope?.[3],
      sessionToken,
      status: 200,
    };
    if (this.options.record !== false) this.requests.push(record);
    const reply = this.answer(record);
    record.status = reply.status;
    res.writeHead(reply.status, {
      'content-type': 'text/xml;charset=UTF-8',
      'x-amzn-requestid': randomUUID(),
    });
    res.end(reply.xml);
  }

  private answer(record: RecordedRequest): Reply {
    const { action, params } = record;
    const isSts = params.get('Version') === '2011-06-15';
    const send = (status: number, xml: string): Reply => ({ status, xml });
    const error = (status: number, code: string, message: string): Reply =>
      send(status, isSts ? stsError(code, message) : ec2Error(code, message));

    const caller = this.authenticate(record);
    if (typeof caller === 'string') {
      return error(isSts ? 403 : 401, isSts ? 'InvalidClientTokenId' : 'AuthFailure', caller);
    }
    const fault = this.faults.find((f) => f.action === action);
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) this.faults.splice(this.faults.indexOf(fault), 1);
      return error(fault.status, fault.code, fault.message);
    }
    switch (action) {
      case 'DescribeInstances':
        return this.describeInstances(params, send, error);
      case 'GetCallerIdentity':
        return send(
          200,
          `<GetCallerIdentityResponse xmlns="${stsNs}">
  <GetCallerIdentityResult>
    <Arn>${esc(caller.arn)}</Arn>
    <UserId>${esc(caller.userId)}</UserId>
    <Account>${caller.account}</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata>
    <RequestId>${randomUUID()}</RequestId>
  </ResponseMetadata>
</GetCallerIdentityResponse>`,
        );
      case 'AssumeRole':
        return this.assumeRole(params, send, error);
      default:
        return error(400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
    }
  }

  /** The caller, or why it is refused. */
  private authenticate(r: RecordedRequest): { account: string; arn: string; userId: string } | string {
    if (!r.accessKeyId) return 'AWS was not able to validate the provided access credentials';
    const temp = this.issued.get(r.accessKeyId);
    if (temp) {
      if (r.sessionToken !== temp.token) return 'The security token included in the request is invalid.';
      return { account: temp.account, arn: temp.arn, userId: `AROAEXAMPLE:${r.accessKeyId}` };
    }
    if (!(this.options.accessKeys ?? ['AKIDEXAMPLE']).includes(r.accessKeyId)) {
      return 'AWS was not able to validate the provided access credentials';
    }
    return { account: this.account, arn: `arn:aws:iam::${this.account}:user/agent`, userId: 'AIDAEXAMPLE' };
  }

  private assumeRole(
    params: URLSearchParams,
    send: (status: number, xml: string) => Reply,
    error: (status: number, code: string, message: string) => Reply,
  ): Reply {
    const arn = params.get('RoleArn') ?? '';
    const role = (this.options.roles ?? []).find((r) => r.arn === arn);
    if (!role || (role.externalId !== undefined && params.get('ExternalId') !== role.externalId)) {
      return error(
        403,
        'AccessDenied',
        `User: arn:aws:iam::${this.account}:user/agent is not authorized to perform: sts:AssumeRole on resource: ${arn}`,
      );
    }
    const keyId = `ASIA${randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase()}`;
    const token = `FwoGZXIvYXdzE${randomUUID().replace(/-/g, '')}`;
    const roleAccount = /^arn:aws:iam::(\d{12}):/.exec(arn)?.[1] ?? this.account;
    const roleName = arn.split('/').pop() ?? 'role';
    const session = params.get('RoleSessionName') ?? 'session';
    const assumedArn = `arn:aws:sts::${roleAccount}:assumed-role/${roleName}/${session}`;
    this.issued.set(keyId, { secret: 'secret', token, account: roleAccount, arn: assumedArn });
    const expiration = new Date(Date.now() + (role.durationMs ?? 3_600_000))
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    return send(
      200,
      `<AssumeRoleResponse xmlns="${stsNs}">
  <AssumeRoleResult>
    <SourceIdentity/>
    <AssumedRoleUser>
      <Arn>${esc(assumedArn)}</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:${esc(session)}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${keyId}</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <SessionToken>${token}</SessionToken>
      <Expiration>${expiration}</Expiration>
    </Credentials>
    <PackedPolicySize>6</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>${randomUUID()}</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>`,
    );
  }

  private describeInstances(
    params: URLSearchParams,
    send: (status: number, xml: string) => Reply,
    error: (status: number, code: string, message: string) => Reply,
  ): Reply {
    const ids = indexed(params, 'InstanceId');
    const filters = new Map<string, string[]>();
    for (let n = 1; params.has(`Filter.${n}.Name`); n++) {
      filters.set(params.get(`Filter.${n}.Name`) ?? '', indexed(params, `Filter.${n}.Value`));
    }
    const maxResultsParam = params.get('MaxResults');
    if (maxResultsParam !== null && ids.length > 0) {
      return error(
        400,
        'InvalidParameterCombination',
        'The parameter instancesSet cannot be used with the parameter maxResults',
      );
    }
    const maxResults = maxResultsParam === null ? 1000 : Number(maxResultsParam);
    if (!(maxResults >= 5 && maxResults <= 1000)) {
      return error(
        400,
        'InvalidParameterValue',
        `Value ( ${maxResultsParam} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.`,
      );
    }
    const malformed = ids.find((id) => !instanceIdPattern.test(id));
    if (malformed) return error(400, 'InvalidInstanceID.Malformed', `Invalid id: "${malformed}"`);
    const unknown = ids.filter((id) => !this.instances.has(id));
    if (unknown.length > 0) {
      const message = this.options.vagueNotFound
        ? 'One or more instance IDs do not exist'
        : unknown.length === 1
          ? `The instance ID '${unknown[0]}' does not exist`
          : `The instance IDs '${unknown.join(', ')}' do not exist`;
      return error(400, 'InvalidInstanceID.NotFound', message);
    }
    let matched = ids.length > 0 ? ids.map((id) => this.instances.get(id)!) : [...this.instances.values()];
    for (const [name, values] of filters) {
      if (name === 'instance-id') matched = matched.filter((i) => values.includes(i.id));
      else if (name === 'instance-state-name') matched = matched.filter((i) => values.includes(i.state));
      else return error(400, 'InvalidParameterValue', `The filter '${name}' is invalid`);
    }
    const offset = params.get('NextToken')
      ? Number(Buffer.from(params.get('NextToken')!, 'base64').toString())
      : 0;
    const pageSize = Math.min(maxResults, this.options.pageCap ?? 1000);
    const page = matched.slice(offset, offset + pageSize);
    const next =
      offset + pageSize < matched.length
        ? Buffer.from(String(offset + pageSize)).toString('base64')
        : undefined;
    const per = this.options.perReservation ?? 2;
    const reservations: string[] = [];
    for (let i = 0; i < page.length; i += per) {
      reservations.push(reservationXml(page.slice(i, i + per), this.account));
    }
    return send(
      200,
      `<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="${ec2Ns}">
    <requestId>${randomUUID()}</requestId>
    <reservationSet>${reservations.join('')}
    </reservationSet>${next ? `\n    <nextToken>${next}</nextToken>` : ''}
</DescribeInstancesResponse>`,
    );
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `Name.1`, `Name.2`, … in order. */
function indexed(params: URLSearchParams, prefix: string): string[] {
  const out: string[] = [];
  for (let n = 1; params.has(`${prefix}.${n}`); n++) out.push(params.get(`${prefix}.${n}`) ?? '');
  return out;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function ec2Error(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>${esc(code)}</Code><Message>${esc(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`;
}

function stsError(code: string, message: string): string {
  return `<ErrorResponse xmlns="${stsNs}">
  <Error>
    <Type>Sender</Type>
    <Code>${esc(code)}</Code>
    <Message>${esc(message)}</Message>
  </Error>
  <RequestId>${randomUUID()}</RequestId>
</ErrorResponse>`;
}

const stateCodes: Record<FakeInstance['state'], number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

function reservationXml(instances: FakeInstance[], account: string): string {
  return `
        <item>
            <reservationId>r-${instances[0]!.id.slice(2)}</reservationId>
            <ownerId>${account}</ownerId>
            <requesterId>${instances[0]!.spot ? '226008221399' : ''}</requesterId>
            <groupSet/>
            <instancesSet>${instances.map(instanceXml).join('')}
            </instancesSet>
        </item>`;
}

/** One instance as EC2 describes it (most fields a real EKS worker has). */
function instanceXml(i: FakeInstance): string {
  const ip = `10.0.${parseInt(i.id.slice(-4, -2), 16)}.${parseInt(i.id.slice(-2), 16)}`;
  const dns = `ip-${ip.replace(/\./g, '-')}.ec2.internal`;
  const running = i.state === 'running';
  return `
                <item>
                    <instanceId>${i.id}</instanceId>
                    <imageId>ami-0123456789abcdef0</imageId>
                    <instanceState>
                        <code>${stateCodes[i.state]}</code>
                        <name>${i.state}</name>
                    </instanceState>
                    <privateDnsName>${running ? dns : ''}</privateDnsName>
                    <dnsName/>
                    <reason/>
                    <amiLaunchIndex>0</amiLaunchIndex>
                    <productCodes/>
                    <instanceType>${i.type}</instanceType>
                    <launchTime>${i.launchTime}</launchTime>
                    <placement>
                        <availabilityZone>${i.zone}</availabilityZone>
                        <groupName/>
                        <tenancy>default</tenancy>
                    </placement>
                    <monitoring>
                        <state>disabled</state>
                    </monitoring>
                    <subnetId>subnet-0a1b2c3d4e5f60718</subnetId>
                    <vpcId>vpc-0a1b2c3d4e5f60718</vpcId>
                    <privateIpAddress>${ip}</privateIpAddress>
                    <sourceDestCheck>true</sourceDestCheck>
                    <groupSet>
                        <item>
                            <groupId>sg-0a1b2c3d4e5f60718</groupId>
                            <groupName>eks-cluster-sg-demo</groupName>
                        </item>
                    </groupSet>
                    <architecture>x86_64</architecture>
                    <rootDeviceType>ebs</rootDeviceType>
                    <rootDeviceName>/dev/xvda</rootDeviceName>
                    <blockDeviceMapping>
                        <item>
                            <deviceName>/dev/xvda</deviceName>
                            <ebs>
                                <volumeId>vol-${i.id.slice(2)}</volumeId>
                                <status>attached</status>
                                <attachTime>${i.launchTime}</attachTime>
                                <deleteOnTermination>true</deleteOnTermination>
                            </ebs>
                        </item>
                    </blockDeviceMapping>${
                      i.spot
                        ? `
                    <instanceLifecycle>spot</instanceLifecycle>
                    <spotInstanceRequestId>${i.spotRequestId ?? `sir-${i.id.slice(2, 10)}`}</spotInstanceRequestId>`
                        : ''
                    }
                    <virtualizationType>hvm</virtualizationType>
                    <clientToken>${i.id.slice(2)}-token</clientToken>
                    <tagSet>
                        <item><key>Name</key><value>demo-ng-1</value></item>
                        <item><key>eks:cluster-name</key><value>demo</value></item>
                        <item><key>kubernetes.io/cluster/demo</key><value>owned</value></item>
                        <item><key>karpenter.sh/nodepool</key><value>default</value></item>
                        <item><key>aws:ec2launchtemplate:id</key><value>lt-0a1b2c3d4e5f60718</value></item>
                    </tagSet>
                    <hypervisor>xen</hypervisor>
                    <networkInterfaceSet>
                        <item>
                            <networkInterfaceId>eni-${i.id.slice(2)}</networkInterfaceId>
                            <subnetId>subnet-0a1b2c3d4e5f60718</subnetId>
                            <vpcId>vpc-0a1b2c3d4e5f60718</vpcId>
                            <ownerId>123456789012</ownerId>
                            <status>in-use</status>
                            <macAddress>02:00:00:00:00:01</macAddress>
                            <privateIpAddress>${ip}</privateIpAddress>
                            <privateDnsName>${dns}</privateDnsName>
                            <sourceDestCheck>true</sourceDestCheck>
                            <groupSet>
                                <item>
                                    <groupId>sg-0a1b2c3d4e5f60718</groupId>
                                    <groupName>eks-cluster-sg-demo</groupName>
                                </item>
                            </groupSet>
                            <attachment>
                                <attachmentId>eni-attach-${i.id.slice(2)}</attachmentId>
                                <deviceIndex>0</deviceIndex>
                                <status>attached</status>
                                <attachTime>${i.launchTime}</attachTime>
                                <deleteOnTermination>true</deleteOnTermination>
                                <networkCardIndex>0</networkCardIndex>
                            </attachment>
                            <privateIpAddressesSet>
                                <item>
                                    <privateIpAddress>${ip}</privateIpAddress>
                                    <privateDnsName>${dns}</privateDnsName>
                                    <primary>true</primary>
                                </item>
                            </privateIpAddressesSet>
                            <interfaceType>interface</interfaceType>
                        </item>
                    </networkInterfaceSet>
                    <ebsOptimized>true</ebsOptimized>
                    <enaSupport>true</enaSupport>
                    <cpuOptions>
                        <coreCount>1</coreCount>
                        <threadsPerCore>2</threadsPerCore>
                    </cpuOptions>
                    <capacityReservationSpecification>
                        <capacityReservationPreference>open</capacityReservationPreference>
                    </capacityReservationSpecification>
                    <hibernationOptions>
                        <configured>false</configured>
                    </hibernationOptions>
                    <metadataOptions>
                        <state>applied</state>
                        <httpTokens>required</httpTokens>
                        <httpPutResponseHopLimit>2</httpPutResponseHopLimit>
                        <httpEndpoint>enabled</httpEndpoint>
                    </metadataOptions>
                    <bootMode>uefi-preferred</bootMode>
                    <currentInstanceBootMode>legacy-bios</currentInstanceBootMode>
                </item>`;
}

/** `count` instances with ids i-<17 hex>, spread over zones, every `spotEvery`-th one spot. */
export function makeInstances(
  count: number,
  options: { offset?: number; spotEvery?: number } = {},
): FakeInstance[] {
  const zones = ['us-east-1a', 'us-east-1b', 'us-east-1c'];
  const types = ['m5.large', 'c6i.xlarge', 'r6g.2xlarge'];
  return Array.from({ length: count }, (_, k) => {
    const n = k + (options.offset ?? 0);
    const spot = options.spotEvery !== undefined && n % options.spotEvery === 0;
    return {
      id: instanceIdFor(n),
      type: types[n % types.length]!,
      zone: zones[n % zones.length]!,
      state: 'running' as const,
      launchTime: new Date(Date.UTC(2026, 0, 1, 0, 0, n % 3600)).toISOString(),
      spot,
      ...(spot ? { spotRequestId: `sir-${n.toString(16).padStart(8, '0')}` } : {}),
    };
  });
}

export function instanceIdFor(n: number): string {
  return `i-0${n.toString(16).padStart(16, '0')}`;
}
