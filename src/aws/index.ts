/** AWS side of the inventory: EC2 DescribeInstances enrichment and the STS identity. See docs/inventory.md. */
export {
  type AwsClientOptions,
  type AwsClients,
  assumeRoleCredentials,
  createAwsClients,
  type Ec2Api,
  regionFromZone,
  resolveRegion,
  type StaticCredentials,
  type StsApi,
} from './clients.ts';
export { Ec2InstanceCache } from './ec2-cache.ts';
export type { Ec2Facts } from './ec2-facts.ts';
export { type DescribeResult, Ec2Describer, factsOf, idsInMessage } from './ec2-instances.ts';
export {
  AwsEnrichment,
  type AwsEnrichmentOptions,
  type AwsEnrichmentStats,
  configResource,
  ec2Resource,
  stsResource,
} from './enrichment.ts';
export { AwsError, type AwsErrorCode, toAwsError } from './errors.ts';
export {
  type AwsAuditNotice,
  AwsFailureReport,
  awsRecoveredEvent,
  awsUnavailableEvent,
} from './failure-report.ts';
export { type CallerIdentity, getCallerIdentity } from './identity.ts';
export { TokenBucket, type TokenBucketOptions } from './token-bucket.ts';
