/**
 * Deltas between two views of the cluster's instances, keyed by node name (the control
 * plane keys its `instances` rows the same way; `removed` lists node names).
 */
import type { InstanceReport } from '../../contract/reports.ts';
import { sameStrings } from '../../kube/trim-node.ts';
import { compareCodeUnits } from '../../util/compare.ts';

export interface InstanceDelta {
  /** New or changed reports, sorted by node name. */
  upserts: InstanceReport[];
  /** Node names gone since `previous`, sorted. */
  removed: string[];
}

export function sameInstance(a: InstanceReport, b: InstanceReport): boolean {
  return (
    a.nodeName === b.nodeName &&
    a.nodeUid === b.nodeUid &&
    a.providerId === b.providerId &&
    a.instanceId === b.instanceId &&
    a.zone === b.zone &&
    a.instanceType === b.instanceType &&
    a.lifecycle === b.lifecycle &&
    a.ready === b.ready &&
    a.schedulable === b.schedulable &&
    sameStrings(a.agentTaints, b.agentTaints) &&
    a.ec2?.state === b.ec2?.state &&
    a.ec2?.launchTime === b.ec2?.launchTime &&
    a.ec2?.spotInstanceRequestId === b.ec2?.spotInstanceRequestId &&
    (a.ec2 === undefined) === (b.ec2 === undefined)
  );
}

/**
 * What changed from `previous` to `current`. With `keys`, only those names are compared
 * (the reporter passes the names touched since the last batch); without, all of both maps.
 */
export function diffInstances(
  previous: ReadonlyMap<string, InstanceReport>,
  current: ReadonlyMap<string, InstanceReport>,
  keys?: Iterable<string>,
): InstanceDelta {
  const upserts: InstanceReport[] = [];
  const removed: string[] = [];
  const visit = (name: string) => {
    const now = current.get(name);
    const before = previous.get(name);
    if (now === undefined) {
      if (before !== undefined) removed.push(name);
    } else if (before === undefined || !sameInstance(before, now)) {
      upserts.push(now);
    }
  };
  if (keys === undefined) {
    for (const name of current.keys()) visit(name);
    for (const name of previous.keys()) if (!current.has(name)) visit(name);
  } else {
    for (const name of new Set(keys)) visit(name);
  }
  upserts.sort((a, b) => compareCodeUnits(a.nodeName, b.nodeName));
  removed.sort(compareCodeUnits);
  return { upserts, removed };
}

/** The receiver's side: removals first, then upserts (a name in both ends up present). */
export function applyInstanceDelta(
  state: Map<string, InstanceReport>,
  delta: { instances: readonly InstanceReport[]; removed: readonly string[] },
): Map<string, InstanceReport> {
  for (const name of delta.removed) state.delete(name);
  for (const report of delta.instances) state.set(report.nodeName, report);
  return state;
}

export function isEmptyDelta(delta: InstanceDelta): boolean {
  return delta.upserts.length === 0 && delta.removed.length === 0;
}
