import { describe, expect, it } from 'vitest';
import { AgentActionStatus } from '../../crds/agent-action.ts';
import { finalStatus, runningStatus } from './status.ts';

const now = Date.parse('2026-03-02T10:00:00.750Z');

describe('AgentAction status composition', () => {
  it('Running: phase, message, startedAt and a Started condition on a whole second', () => {
    const status = runningStatus('cordon_node', '2026-03-02T09:59:59Z', now);
    expect(status).toEqual({
      phase: 'Running',
      message: 'executing cordon_node',
      startedAt: '2026-03-02T09:59:59Z',
      conditions: [
        {
          type: 'Started',
          status: 'True',
          reason: 'Executing',
          message: 'executing cordon_node',
          lastTransitionTime: '2026-03-02T10:00:00Z',
        },
      ],
    });
    expect(AgentActionStatus.safeParse(status).success).toBe(true);
  });

  it('final: the phase of the state, reason cut to a condition-safe word, drain progress from the result', () => {
    const status = finalStatus(
      {
        state: 'rejected',
        message: 'refused',
        reason: 'AgentPolicy/strict:protectedNamespaces',
        startedAt: '2026-03-02T09:59:00Z',
        result: {
          evicted: [{ namespace: 'a', name: 'p' }],
          blocked: [{ namespace: 'a', name: 'q', reason: 'pdb' }],
        },
      },
      '2026-03-02T10:00:00Z',
      now,
    );
    expect(status.phase).toBe('Rejected');
    expect(status.reason).toBe('AgentPolicy/strict:protectedNamespaces');
    expect(status.conditions?.[0]).toMatchObject({ type: 'Finished', reason: 'Rejected' });
    expect(status.progress).toEqual({
      drain: {
        total: 2,
        evicted: 1,
        pending: 0,
        blocked: 1,
        blockedPods: [{ namespace: 'a', name: 'q', reason: 'pdb' }],
      },
    });
    expect(AgentActionStatus.safeParse(status).success).toBe(true);
  });

  it('final: a result too large for the status is summarised (the control plane gets it whole)', () => {
    const status = finalStatus(
      { state: 'succeeded', message: 'ok', result: { big: 'x'.repeat(20_000) } },
      '2026-03-02T10:00:00Z',
      now,
    );
    expect(status.result).toMatchObject({ truncated: true, bytes: 20_010 });
    expect(status).not.toHaveProperty('startedAt');
    expect(status).not.toHaveProperty('reason');
    expect(status).not.toHaveProperty('plan');
  });

  it('final: a dry run keeps its plan whole in status.plan, even when the result is cut', () => {
    const plan = {
      summary: 'would cordon and drain node n1 (now schedulable): evict 1, skip 0',
      wouldFail: false,
      details: { node: 'n1', pods: [{ namespace: 'a', name: 'p', verdict: 'evict' }] },
    };
    const status = finalStatus(
      {
        state: 'rejected',
        message: `dry run (AgentPolicy trust), nothing was changed: ${plan.summary}`,
        result: { dryRun: true, plan, padding: 'x'.repeat(20_000) },
        plan,
      },
      '2026-03-02T10:00:00Z',
      now,
    );
    expect(status.plan).toEqual(plan);
    expect(status.result).toMatchObject({ truncated: true });
    expect(AgentActionStatus.safeParse(status).success).toBe(true);
  });
});
