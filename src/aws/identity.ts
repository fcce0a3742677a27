import type { StsApi } from './clients.ts';
import { AwsError, toAwsError } from './errors.ts';

export interface CallerIdentity {
  account: string;
  arn: string;
  userId: string;
}

/** STS GetCallerIdentity: which account (and role) the agent describes instances as. */
export async function getCallerIdentity(sts: StsApi, signal?: AbortSignal): Promise<CallerIdentity> {
  let out: Awaited<ReturnType<StsApi['getCallerIdentity']>>;
  try {
    out = await sts.getCallerIdentity(signal);
  } catch (err) {
    throw toAwsError(err, 'STS GetCallerIdentity');
  }
  if (!out.Account) throw new AwsError('AWS_REQUEST_FAILED', 'STS GetCallerIdentity returned no account');
  return { account: out.Account, arn: out.Arn ?? '', userId: out.UserId ?? '' };
}
