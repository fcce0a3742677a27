/**
 * Whether the control plane accepts this agent, as the answers to its polls say: the switch
 * that stops the agent acting for a cluster the platform disabled (HTTP 403 on every route)
 * or whose key it refused (401), and resumes it when the control plane answers again.
 *
 * One per leadership term, starting `unknown`: actions from the control plane that have not
 * started wait until the term's first poll was answered without a denial (the first poll asks
 * for no wait, so that takes one round trip), so a new leader of a disabled cluster never
 * starts one in the moment before it learns. Any answer other than a denial (a network error,
 * a 5xx) counts as "not denied": an unreachable control plane does not stop the agent.
 */
import type { PauseReason } from '../observability/metrics.ts';

export type AccessState =
  | { kind: 'unknown' }
  | { kind: 'allowed' }
  | { kind: 'denied'; status: 401 | 403; message: string; sinceMs: number };

export class ControlPlaneAccess {
  private current: AccessState = { kind: 'unknown' };
  private readonly listeners = new Set<(state: AccessState) => void>();

  get state(): AccessState {
    return this.current;
  }

  /** Why actions from the control plane must not start now, or undefined when they may. */
  holdReason(): string | undefined {
    if (this.current.kind === 'unknown') {
      return 'waiting for the first answer of the control plane in this leadership term';
    }
    return this.deniedReason();
  }

  /** Why the control plane refuses the agent, or undefined when it does not (as far as known). */
  deniedReason(): string | undefined {
    const s = this.current;
    if (s.kind !== 'denied') return undefined;
    return s.status === 403
      ? `the control plane refuses this agent (HTTP 403: the cluster is disabled there): ${s.message}`
      : `the control plane refuses this agent's API key (HTTP 401): ${s.message}`;
  }

  /** The metric label of a denial, or undefined. */
  pauseReason(): PauseReason | undefined {
    const s = this.current;
    if (s.kind !== 'denied') return undefined;
    return s.status === 403 ? 'controlplane_forbidden' : 'controlplane_unauthorized';
  }

  /** A poll was answered (2xx). */
  allowed(): void {
    this.set({ kind: 'allowed' });
  }

  /** A poll was refused with 401 or 403. */
  denied(status: 401 | 403, message: string, nowMs = Date.now()): void {
    const s = this.current;
    if (s.kind === 'denied' && s.status === status) return;
    this.set({ kind: 'denied', status, message: message.slice(0, 512), sinceMs: nowMs });
  }

  /** A poll failed otherwise (network, 5xx): no news about access, but the term may start. */
  unanswered(): void {
    if (this.current.kind === 'unknown') this.set({ kind: 'allowed' });
  }

  /** Called on every change of state. Returns the unsubscribe function. */
  onChange(listener: (state: AccessState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(state: AccessState): void {
    const before = this.current;
    this.current = state;
    if (before.kind === state.kind && (before.kind !== 'denied' || state.kind !== 'denied')) return;
    for (const l of this.listeners) l(state);
  }
}
