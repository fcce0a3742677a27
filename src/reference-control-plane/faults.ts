import type { AgentRouteName, FaultList, FaultRule } from './admin-schemas.ts';

interface ActiveFault {
  rule: FaultRule;
  remaining: number;
}

/**
 * Injected failures for client tests (see FaultRule). Rules are used in the order they were
 * added; each matching agent request uses up one unit of the first rule that matches it.
 * Only reachable through the admin API, so an agent can never trigger it.
 */
export class FaultInjector {
  private faults: ActiveFault[] = [];

  add(rule: FaultRule): void {
    this.faults.push({ rule, remaining: rule.count });
  }

  clear(): void {
    this.faults = [];
  }

  list(): FaultList {
    return {
      faults: this.faults.map(({ rule, remaining }) => ({
        remaining,
        ...(rule.routes ? { routes: rule.routes } : {}),
        ...(rule.status === undefined ? {} : { status: rule.status }),
        ...(rule.body === undefined ? {} : { body: rule.body }),
        ...(rule.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: rule.retryAfterSeconds }),
        ...(rule.delayMs === undefined ? {} : { delayMs: rule.delayMs }),
        ...(rule.reset === undefined ? {} : { reset: rule.reset }),
      })),
    };
  }

  /** The fault to apply to this request, if any (and counts it as used). */
  take(route: AgentRouteName): FaultRule | undefined {
    const index = this.faults.findIndex((f) => !f.rule.routes || f.rule.routes.includes(route));
    const fault = this.faults[index];
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults.splice(index, 1);
    return fault.rule;
  }
}
