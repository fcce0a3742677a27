import { describe, expect, it } from 'vitest';
import { decisionLabels, decisionReason } from './decide.ts';
import { parsePolicies } from './parse-policies.ts';

const policy = (name: string, spec: unknown) => ({
  apiVersion: 'clusteropt.io/v1alpha1',
  kind: 'AgentPolicy',
  metadata: { name, resourceVersion: '1', uid: 'u' },
  spec,
});

describe('parsePolicies', () => {
  it('keeps valid policies, applies defaults, and separates unreadable ones', () => {
    const result = parsePolicies([
      policy('ok', { maintenanceWindows: [{ days: ['Mon'], from: '01:00', to: '02:00' }] }),
      policy('bad-window', { maintenanceWindows: [{ days: [], from: '1am', to: '02:00' }] }),
      policy('bad-type', { allowedActionTypes: ['reboot'] }),
      { kind: 'AgentPolicy' },
    ]);
    expect(result.policies).toEqual([
      {
        metadata: { name: 'ok' },
        spec: { maintenanceWindows: [{ days: ['Mon'], from: '01:00', to: '02:00', timezone: 'UTC' }] },
      },
    ]);
    expect(result.invalid.map((i) => i.name)).toEqual(['bad-window', 'bad-type', '<unnamed>']);
    expect(result.invalid[0]?.reason).toMatch(/days must not be empty/);
    expect(result.invalid[0]?.reason).toMatch(/from must be HH:MM/);
  });

  it('warns about unknown time zones but keeps the policy (its windows stay closed)', () => {
    const result = parsePolicies([
      policy('tz', {
        maintenanceWindows: [{ days: ['Mon'], from: '01:00', to: '02:00', timezone: 'Moon/Base' }],
      }),
    ]);
    expect(result.policies).toHaveLength(1);
    expect(result.warnings).toEqual([
      { name: 'tz', reason: 'unknown time zone Moon/Base (window stays closed)' },
    ]);
  });
});

describe('decision labels and reasons', () => {
  it('name the rule for refuse/wait and none otherwise', () => {
    const refuse = { decision: 'refuse', policy: 'p', rule: 'force', message: '' } as const;
    expect(decisionLabels(refuse)).toEqual({ decision: 'refuse', rule: 'force' });
    expect(decisionReason(refuse)).toBe('AgentPolicy/p:force');
    const limits = {
      drain: {
        minGracePeriodSeconds: 30,
        allowForce: false,
        allowForceDeleteAtBudgetEnd: false,
        noForceNamespaces: [],
      },
      scale: { maxReplicas: 100, maxScaleUpFactor: 2 },
    };
    const allow = { decision: 'allow', ...limits } as const;
    expect(decisionLabels(allow)).toEqual({ decision: 'allow', rule: 'none' });
    expect(decisionReason(allow)).toBeUndefined();
    expect(decisionReason({ decision: 'dryRun', policies: ['a', 'b'], ...limits })).toBe(
      'AgentPolicy/a,b:dryRun',
    );
  });
});
