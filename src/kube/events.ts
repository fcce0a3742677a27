/**
 * Kubernetes Events (core/v1) on the objects the agent changes, so `kubectl describe` shows
 * what the agent did and which action did it. Emission never blocks or fails an action:
 * events are queued and sent with small concurrency (evictions get the API server first).
 * An action waits, bounded, for its OWN events at its end (`eventScope(sink).flush()`), not
 * for everyone's: with many actions in flight, waiting for the global queue made every action
 * wait for the Events of all the others.
 */
import { randomBytes } from 'node:crypto';
import type { CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from '../observability/logger.ts';
import type { KubeClients } from './clients.ts';
import { kubeJson } from './raw.ts';

export interface EventSubject {
  apiVersion: string;
  kind: string;
  name: string;
  /** Absent for cluster-scoped objects (their events go to `default`, as kubelet's do). */
  namespace?: string;
  uid?: string;
}

export type EventType = 'Normal' | 'Warning';

export const eventComponent = 'clusteropt-agent';

export interface EventSink {
  emit(subject: EventSubject, type: EventType, reason: string, message: string): void;
  flush(timeoutMs?: number): Promise<void>;
}

interface QueuedEvent {
  event: CoreV1Event;
  /** Called once the event was sent or failed (scoped flushes count with it). */
  done?: () => void;
}

export class EventRecorder implements EventSink {
  private readonly clients: KubeClients;
  private readonly log: Logger | undefined;
  private readonly instance: string;
  private readonly concurrency: number;
  private readonly queue: QueuedEvent[] = [];
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  /** Counters for tests and result details. */
  sent = 0;
  failed = 0;

  private readonly send: (event: CoreV1Event) => Promise<unknown>;

  constructor(
    clients: KubeClients,
    options: {
      log?: Logger;
      instance?: string;
      concurrency?: number;
      /** How an event is created (tests); default a raw JSON POST (no model deserialisation). */
      send?: (event: CoreV1Event) => Promise<unknown>;
    } = {},
  ) {
    this.clients = clients;
    this.send =
      options.send ??
      ((event) =>
        kubeJson(this.clients, {
          method: 'POST',
          path: `/api/v1/namespaces/${encodeURIComponent(event.metadata.namespace ?? 'default')}/events`,
          body: event,
        }));
    this.log = options.log;
    this.instance = (options.instance ?? process.env.HOSTNAME ?? eventComponent).slice(0, 128);
    this.concurrency = options.concurrency ?? 8;
  }

  emit(subject: EventSubject, type: EventType, reason: string, message: string): void {
    this.enqueue(subject, type, reason, message);
  }

  /**
   * A sink whose `flush()` waits only for the events emitted through it (they still go
   * through this recorder's queue, in order, with its concurrency).
   */
  scope(): EventSink {
    let pending = 0;
    const waiters: (() => void)[] = [];
    const done = () => {
      pending--;
      if (pending === 0) for (const w of waiters.splice(0)) w();
    };
    return {
      emit: (subject, type, reason, message) => {
        pending++;
        this.enqueue(subject, type, reason, message, done);
      },
      flush: async (timeoutMs = 5_000) => {
        if (pending === 0) return;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      },
    };
  }

  private enqueue(
    subject: EventSubject,
    type: EventType,
    reason: string,
    message: string,
    done?: () => void,
  ): void {
    const now = new Date();
    const namespace = subject.namespace || 'default';
    const event: CoreV1Event = {
      metadata: { name: `${subject.name}.${randomBytes(8).toString('hex')}`.slice(-253), namespace },
      involvedObject: {
        apiVersion: subject.apiVersion,
        kind: subject.kind,
        name: subject.name,
        ...(subject.namespace ? { namespace: subject.namespace } : {}),
        ...(subject.uid ? { uid: subject.uid } : {}),
      },
      type,
      reason,
      message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      source: { component: eventComponent },
      reportingComponent: eventComponent,
      reportingInstance: this.instance,
    };
    this.queue.push(done ? { event, done } : { event });
    this.pump();
  }

  /** Waits until queued events are sent, or `timeoutMs` passed (then drops nothing: they keep going). */
  async flush(timeoutMs = 5_000): Promise<void> {
    if (this.queue.length === 0 && this.active === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private pump(): void {
    while (this.active < this.concurrency && this.queue.length > 0) {
      const { event, done } = this.queue.shift()!;
      this.active++;
      this.send(event)
        .then(
          () => {
            this.sent++;
          },
          (err: unknown) => {
            this.failed++;
            this.log?.warn(
              { reason: event.reason, object: event.involvedObject.name, err },
              'could not record Kubernetes event',
            );
          },
        )
        .finally(() => {
          this.active--;
          done?.();
          this.pump();
          if (this.active === 0 && this.queue.length === 0) {
            const waiters = this.idleWaiters;
            this.idleWaiters = [];
            for (const w of waiters) w();
          }
        });
    }
  }
}

/**
 * A sink for one action: its `flush()` waits for the events emitted through it only. Sinks
 * other than an EventRecorder are returned as they are (their flush is theirs).
 */
export function eventScope(sink: EventSink): EventSink {
  return sink instanceof EventRecorder ? sink.scope() : sink;
}

/** A sink that records nothing (for callers that do not want events). */
export const noEvents: EventSink = {
  emit: () => undefined,
  flush: async () => undefined,
};
