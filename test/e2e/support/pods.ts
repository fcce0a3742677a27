/**
 * Waiting for pods on the real nodes, failing at once (not at a timeout) when they cannot
 * come up: a missing image, a crash, a PersistentVolumeClaim that cannot bind, a pod refused
 * by Pod Security. The error carries the namespace's Events, which say why.
 */
import { CoreV1Api, type CoreV1Event, type KubeConfig, type V1Pod } from '@kubernetes/client-node';

const fatalWaiting = new Set([
  'ErrImageNeverPull',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
  'CrashLoopBackOff',
]);
const volumeTrouble = /persistentvolumeclaim|persistent volume|volume node affinity|unbound/i;

export class PodsNotReadyError extends Error {}

function isReady(pod: V1Pod): boolean {
  return (
    !!pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
    !pod.metadata?.deletionTimestamp
  );
}

export function formatEvents(events: CoreV1Event[]): string {
  return events
    .slice()
    .sort((a, b) =>
      String(a.lastTimestamp ?? a.eventTime ?? '').localeCompare(
        String(b.lastTimestamp ?? b.eventTime ?? ''),
      ),
    )
    .map(
      (e) =>
        `  ${e.type} ${e.involvedObject.kind}/${e.involvedObject.name} ${e.reason}: ${e.message?.trim()}` +
        (e.count && e.count > 1 ? ` (x${e.count})` : ''),
    )
    .join('\n');
}

/**
 * Why these pods can never become ready, or undefined while they still may. `restarts`:
 * restart counts when the wait began (a container killed on purpose before is history).
 */
function fatalReason(
  pods: V1Pod[],
  events: CoreV1Event[],
  volumeSince: Map<string, number>,
  restarts: Map<string, number>,
): string | undefined {
  for (const pod of pods) {
    for (const s of [
      ...(pod.status?.initContainerStatuses ?? []),
      ...(pod.status?.containerStatuses ?? []),
    ]) {
      const waiting = s.state?.waiting?.reason;
      if (waiting && fatalWaiting.has(waiting))
        return `pod ${pod.metadata?.name}: container ${s.name} ${waiting}`;
      const key = `${pod.metadata?.uid}/${s.name}`;
      if (!restarts.has(key)) restarts.set(key, s.restartCount);
      const last = s.lastState?.terminated;
      if (last && last.exitCode !== 0 && s.restartCount > (restarts.get(key) ?? 0))
        return `pod ${pod.metadata?.name}: container ${s.name} exited ${last.exitCode} (${last.reason ?? 'error'})`;
    }
  }
  const refused = events.find((e) => e.reason === 'FailedCreate');
  if (refused) return `${refused.involvedObject.kind}/${refused.involvedObject.name} could not create a pod`;
  const failedVolume = events.find((e) => e.reason === 'ProvisioningFailed');
  if (failedVolume)
    return `PersistentVolumeClaim ${failedVolume.involvedObject.name}: ${failedVolume.reason}`;
  // A claim may be unbound for a moment while the StatefulSet controller creates it.
  const now = Date.now();
  for (const e of events.filter(
    (e) => e.reason === 'FailedScheduling' && volumeTrouble.test(e.message ?? ''),
  )) {
    const key = e.involvedObject.name ?? '';
    const since = volumeSince.get(key) ?? now;
    volumeSince.set(key, since);
    if (now - since >= 5_000) return `pod ${key} cannot be scheduled: its volume cannot be bound`;
  }
  return undefined;
}

export async function waitForPodsReady(
  kc: KubeConfig,
  namespace: string,
  labelSelector: string,
  count: number,
  timeoutMs = 180_000,
): Promise<V1Pod[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  const volumeSince = new Map<string, number>();
  const restarts = new Map<string, number>();
  const startedAt = new Date(Date.now() - 2_000);
  for (;;) {
    const pods = (await core.listNamespacedPod({ namespace, labelSelector })).items;
    // Only this wait's events: an earlier install's refusals are history.
    const events = (await core.listNamespacedEvent({ namespace })).items.filter(
      (e) => new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? 0) >= startedAt,
    );
    const ready = pods.filter(isReady);
    if (ready.length === count && pods.length === count) return ready;
    const fatal = fatalReason(pods, events, volumeSince, restarts);
    const timedOut = Date.now() > deadline;
    if (fatal || timedOut)
      throw new PodsNotReadyError(
        `${count} pods ${labelSelector} in ${namespace} not ready (${ready.length}/${pods.length} ready): ` +
          `${fatal ?? `timeout after ${timeoutMs} ms`}\nEvents:\n${formatEvents(events) || '  (none)'}`,
      );
    await new Promise((r) => setTimeout(r, 1_000));
  }
}
