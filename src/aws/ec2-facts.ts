/** What EC2 DescribeInstances says about one instance, as far as the inventory reports it. */
export interface Ec2Facts {
  state?: string;
  launchTime?: string;
  lifecycle?: 'spot' | 'on-demand';
  spotInstanceRequestId?: string;
  instanceType?: string;
  zone?: string;
}
