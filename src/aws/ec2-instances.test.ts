import { describe, expect, it } from 'vitest';
import { factsOf, idsInMessage } from './ec2-instances.ts';

describe('idsInMessage', () => {
  it('reads the ids EC2 names in InvalidInstanceID.NotFound', () => {
    expect(idsInMessage("The instance ID 'i-0abc123def4567890' does not exist")).toEqual([
      'i-0abc123def4567890',
    ]);
    expect(idsInMessage("The instance IDs 'i-1234567a, i-0abc123def4567890' do not exist")).toEqual([
      'i-1234567a',
      'i-0abc123def4567890',
    ]);
    expect(idsInMessage('Invalid id: "bogus"')).toEqual([]);
  });
});

describe('factsOf', () => {
  it('maps the SDK shape', () => {
    expect(
      factsOf({
        InstanceId: 'i-0abc123def4567890',
        InstanceType: 'm5.large',
        State: { Name: 'running', Code: 16 },
        LaunchTime: new Date('2026-01-02T03:04:05Z'),
        InstanceLifecycle: 'spot',
        SpotInstanceRequestId: 'sir-1',
        Placement: { AvailabilityZone: 'us-east-1a' },
      }),
    ).toEqual({
      state: 'running',
      launchTime: '2026-01-02T03:04:05.000Z',
      lifecycle: 'spot',
      spotInstanceRequestId: 'sir-1',
      instanceType: 'm5.large',
      zone: 'us-east-1a',
    });
    expect(factsOf({ InstanceId: 'i-12345678' })).toEqual({ lifecycle: 'on-demand' });
    expect(factsOf({ InstanceId: 'i-12345678', InstanceLifecycle: 'capacity-block' }).lifecycle).toBe(
      'on-demand',
    );
  });
});
