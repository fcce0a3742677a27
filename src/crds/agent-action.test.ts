import { describe, expect, it } from 'vitest';
import { agentActionName } from './agent-action.ts';
import { AgentPolicySpec } from './agent-policy.ts';

const id = '0b7e3f5c-1d2a-4e6b-8c9d-0e1f2a3b4c5d';

describe('AgentAction helpers', () => {
  it('names the object act-<id>, lower case', () => {
    expect(agentActionName(id)).toBe(`act-${id}`);
    expect(agentActionName(id.toUpperCase())).toBe(`act-${id}`);
  });
});

describe('AgentPolicySpec (zod side of the CRD rules)', () => {
  it('mirrors the CEL rules for maintenance windows', () => {
    const bad = AgentPolicySpec.safeParse({
      maintenanceWindows: [{ days: [], from: '24:00', to: '24:00' }],
    });
    expect(bad.success).toBe(false);
    const messages = bad.error?.issues.map((i) => i.message) ?? [];
    expect(messages).toEqual(
      expect.arrayContaining(['days must not be empty', 'from must be HH:MM between 00:00 and 23:59']),
    );
    expect(AgentPolicySpec.safeParse({ maintenanceWindows: [] }).success).toBe(false);
    expect(
      AgentPolicySpec.safeParse({ maintenanceWindows: [{ days: ['Mon'], from: '22:00', to: '04:00' }] })
        .success,
    ).toBe(true);
  });
});
