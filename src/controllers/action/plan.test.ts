import { describe, expect, it } from 'vitest';
import type { AgentActionSpec } from '../../crds/agent-action.ts';
import { type PlanInput, planStep, supersededBy } from './plan.ts';

const now = Date.parse('2026-11-24T12:00:00Z');
const spec = (over: Partial<AgentActionSpec> = {}): AgentActionSpec => ({
  id: '7d0c5a8e-3f0e-4a53-9d2a-5b1f6e2c9a10',
  type: 'cordon_node',
  payload: { nodeName: 'node-a' },
  createdAt: '2026-11-24T11:59:00Z',
  source: 'control-plane',
  ...over,
});
const input = (over: Partial<PlanInput> = {}): PlanInput => ({
  object: { spec: spec() },
  journal: 'new',
  runningHere: false,
  idempotent: true,
  now,
  ...over,
});

describe('planStep', () => {
  it('evaluates a new valid action', () => {
    const step = planStep(input());
    expect(step.kind).toBe('evaluate');
    if (step.kind === 'evaluate') {
      expect(step.resume).toBe(false);
      expect(step.action.type).toBe('cordon_node');
    }
  });

  it('does nothing while the action runs in this process', () => {
    expect(planStep(input({ runningHere: true, journal: 'started' })).kind).toBe('none');
  });

  it('rejects an invalid payload with the validation reason', () => {
    const step = planStep(input({ object: { spec: spec({ payload: { nodeName: 'Not_A_Name' } }) } }));
    expect(step).toMatchObject({ kind: 'reject' });
    if (step.kind === 'reject') expect(step.reason).toMatch(/payload\.nodeName|nodeName/);
  });

  it('expires an action past expiresAt or deadline that never started', () => {
    expect(planStep(input({ object: { spec: spec({ expiresAt: '2026-11-24T11:00:00Z' }) } })).kind).toBe(
      'expire',
    );
    expect(planStep(input({ object: { spec: spec({ deadline: '2026-11-24T11:30:00Z' }) } })).kind).toBe(
      'expire',
    );
    expect(planStep(input({ object: { spec: spec({ expiresAt: '2026-11-24T13:00:00Z' }) } })).kind).toBe(
      'evaluate',
    );
  });

  it("translates the control plane's instants by spec.clockSkewMs before judging them", () => {
    // The agent's clock (now) is 2 h ahead of the control plane's: an action created a minute
    // ago there, expiring in 30 minutes there, must not look 2 h old and expired here.
    const twoHours = 2 * 3_600_000;
    const cpNow = now - twoHours;
    const ahead = spec({
      type: 'drain_node',
      payload: { nodeName: 'node-a', timeoutSeconds: 300, deadline: new Date(cpNow + 600_000).toISOString() },
      createdAt: new Date(cpNow - 60_000).toISOString(),
      expiresAt: new Date(cpNow + 30 * 60_000).toISOString(),
      deadline: new Date(cpNow + 45 * 60_000).toISOString(),
    });
    expect(planStep(input({ object: { spec: ahead } })).kind).toBe('expire'); // uncorrected
    const step = planStep(input({ object: { spec: { ...ahead, clockSkewMs: twoHours } } }));
    expect(step.kind).toBe('evaluate');
    if (step.kind !== 'evaluate' || step.action.type !== 'drain_node') throw new Error('not a drain');
    // What the executor gets is on the agent's clock: the drain's age is a minute, not 2 h.
    expect(Date.parse(step.action.createdAt)).toBe(now - 60_000);
    expect(Date.parse(step.action.expiresAt!)).toBe(now + 30 * 60_000);
    expect(Date.parse(step.action.deadline!)).toBe(now + 45 * 60_000);
    expect(Date.parse(step.action.payload.deadline!)).toBe(now + 600_000);
    // And it still expires when the control plane's own expiry has passed.
    const late = { ...ahead, expiresAt: new Date(cpNow - 1_000).toISOString(), clockSkewMs: twoHours };
    expect(planStep(input({ object: { spec: late } })).kind).toBe('expire');
  });

  it('resumes an interrupted idempotent action even past its expiry, fails a non-idempotent one', () => {
    const expired = spec({ expiresAt: '2026-11-24T11:00:00Z' });
    expect(planStep(input({ object: { spec: expired }, journal: 'started' }))).toMatchObject({
      kind: 'evaluate',
      resume: true,
    });
    expect(
      planStep(input({ object: { spec: expired, status: { phase: 'Running' } }, journal: 'new' })),
    ).toMatchObject({ kind: 'evaluate', resume: true });
    expect(planStep(input({ journal: 'started', idempotent: false })).kind).toBe('fail-interrupted');
  });

  it('adopts a final status this replica has not recorded, and repairs a lagging status', () => {
    expect(planStep(input({ object: { spec: spec(), status: { phase: 'Succeeded' } } }))).toEqual({
      kind: 'adopt-final',
      state: 'succeeded',
    });
    expect(
      planStep(input({ object: { spec: spec(), status: { phase: 'Succeeded' } }, journal: 'finished' })).kind,
    ).toBe('none');
    expect(
      planStep(
        input({
          object: { spec: spec(), status: { phase: 'Running' } },
          journal: 'finished',
          journalFinalState: 'failed',
        }),
      ),
    ).toEqual({ kind: 'repair-status', state: 'failed' });
  });

  it('keeps waiting actions waiting (they are evaluated again)', () => {
    expect(planStep(input({ object: { spec: spec(), status: { phase: 'WaitingApproval' } } })).kind).toBe(
      'evaluate',
    );
  });
});

describe('supersededBy', () => {
  const base = spec({ target: 'node/node-a' });
  const other = (
    over: Partial<AgentActionSpec>,
    phase?: 'Running' | 'Succeeded' | 'Failed' | 'Rejected' | 'Pending',
  ) => ({
    spec: spec({ target: 'node/node-a', ...over }),
    ...(phase ? { status: { phase } } : {}),
  });

  it('finds a newer action on the same target that already ran', () => {
    const newer = other(
      { id: '1a2b3c4d-0000-4000-8000-000000000001', createdAt: '2026-11-24T11:59:30Z' },
      'Succeeded',
    );
    expect(supersededBy({ spec: base }, [newer])).toBe(newer);
    const running = other(
      { id: '1a2b3c4d-0000-4000-8000-000000000002', createdAt: '2026-11-24T11:59:30Z' },
      'Running',
    );
    expect(supersededBy({ spec: base }, [running])).toBe(running);
  });

  it('ignores older, not-yet-run, rejected, other-target and own entries', () => {
    const candidates = [
      other({ id: '1a2b3c4d-0000-4000-8000-000000000003', createdAt: '2026-11-24T11:58:00Z' }, 'Succeeded'),
      other({ id: '1a2b3c4d-0000-4000-8000-000000000004', createdAt: '2026-11-24T11:59:30Z' }, 'Pending'),
      other({ id: '1a2b3c4d-0000-4000-8000-000000000005', createdAt: '2026-11-24T11:59:30Z' }, 'Rejected'),
      other(
        { id: '1a2b3c4d-0000-4000-8000-000000000006', createdAt: '2026-11-24T11:59:30Z', target: 'node/b' },
        'Succeeded',
      ),
      { spec: base, status: { phase: 'Succeeded' as const } },
    ];
    expect(supersededBy({ spec: base }, candidates)).toBeUndefined();
  });
});
