import { describe, expect, it } from 'vitest';
import { toAwsError } from './errors.ts';

/** Shaped like the SDK's ServiceException subclasses. */
function sdkError(name: string, status: number, fault: 'client' | 'server' = 'client') {
  return Object.assign(new Error(`${name} happened`), {
    name,
    $fault: fault,
    $metadata: { httpStatusCode: status },
  });
}

describe('toAwsError', () => {
  it.each([
    [sdkError('UnauthorizedOperation', 403), 'AWS_ACCESS_DENIED'],
    [sdkError('AuthFailure', 401), 'AWS_ACCESS_DENIED'],
    [sdkError('ExpiredToken', 400), 'AWS_ACCESS_DENIED'],
    [sdkError('RequestLimitExceeded', 503, 'server'), 'AWS_THROTTLED'],
    [sdkError('InternalError', 500, 'server'), 'AWS_UNAVAILABLE'],
    [sdkError('InvalidParameterValue', 400), 'AWS_REQUEST_FAILED'],
    [
      Object.assign(new Error('Could not load credentials from any providers'), {
        name: 'CredentialsProviderError',
      }),
      'AWS_CREDENTIALS_UNAVAILABLE',
    ],
    [new Error('Region is missing'), 'AWS_REGION_UNKNOWN'],
    [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      'AWS_UNAVAILABLE',
    ],
  ])('%s → %s', (err, code) => {
    const e = toAwsError(err, 'EC2 DescribeInstances');
    expect(e.code).toBe(code);
    expect(e.message).toContain('EC2 DescribeInstances: ');
    expect(e.cause).toBe(err);
  });

  it('keeps the AWS error name and HTTP status', () => {
    const e = toAwsError(sdkError('UnauthorizedOperation', 403), 'x');
    expect(e.awsCode).toBe('UnauthorizedOperation');
    expect(e.httpStatus).toBe(403);
    expect(toAwsError(e, 'y')).toBe(e);
    const network = toAwsError(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }), 'x');
    expect(network.awsCode).toBe('ENOTFOUND');
  });
});
