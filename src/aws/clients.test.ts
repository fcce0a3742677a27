import { describe, expect, it } from 'vitest';
import { regionFromZone, resolveRegion } from './clients.ts';

describe('regionFromZone', () => {
  it.each([
    ['us-east-1a', 'us-east-1'],
    ['eu-central-1c', 'eu-central-1'],
    ['us-gov-west-1a', 'us-gov-west-1'],
    ['us-west-2-lax-1a', 'us-west-2'],
    ['ap-southeast-4b', 'ap-southeast-4'],
    ['', undefined],
    [undefined, undefined],
    ['zone-a', undefined],
  ])('%s → %s', (zone, region) => {
    expect(regionFromZone(zone)).toBe(region);
  });
});

describe('resolveRegion', () => {
  it('explicit, then the environment, then the hint', () => {
    expect(resolveRegion({ region: 'eu-west-1', env: { AWS_REGION: 'us-east-1' } })).toBe('eu-west-1');
    expect(resolveRegion({ env: { AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'x' } })).toBe('us-east-1');
    expect(resolveRegion({ env: { AWS_DEFAULT_REGION: 'ap-south-1' }, regionHint: 'x' })).toBe('ap-south-1');
    expect(resolveRegion({ env: {}, regionHint: 'us-west-2' })).toBe('us-west-2');
    expect(() => resolveRegion({ env: {} })).toThrow(expect.objectContaining({ code: 'AWS_REGION_UNKNOWN' }));
  });
});
