/**
 * The AWS SDK names the agent uses, and only those. clients.ts imports this module on first
 * use; imported by name (not `import('@aws-sdk/client-ec2')` whole), the bundle keeps only
 * the code and the API shapes DescribeInstances, GetCallerIdentity and AssumeRole reach, in a
 * chunk of its own that a cluster without AWS never loads (scripts/bundle.ts). The whole
 * client-ec2 package cost ~10 MiB of RSS more once loaded (docs/benchmarks-scale.md).
 */
export { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
export { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
