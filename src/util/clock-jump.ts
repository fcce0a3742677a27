/**
 * Notices wall-clock steps (NTP stepping the clock, an admin's `date -s`, a VM resumed after
 * a pause) by watching the offset between the wall clock (Date.now) and the monotonic clock
 * (performance.now). Without a step that offset stays put (NTP slewing moves it by at most
 * half a millisecond per second); a step moves it by the size of the step.
 *
 * Timers (setTimeout) run on the monotonic clock, so a timer armed for a wall-clock instant
 * ("wake the schedule at 07:00") fires too late after a forward step and too early after a
 * backward one. Whoever arms such timers subscribes here and re-arms on a jump.
 */
export interface ClockJump {
  /** Wall minus monotonic, after minus before: + forward, − backward. */
  deltaMs: number;
  direction: 'forward' | 'backward';
}

export interface ClockJumpDetectorOptions {
  /** A change of the offset larger than this is a jump. Default 5 s. */
  thresholdMs?: number;
  /** How often the offset is sampled. Default 1 s. */
  intervalMs?: number;
  wall?: () => number;
  monotonic?: () => number;
}

export class ClockJumpDetector {
  private readonly thresholdMs: number;
  private readonly intervalMs: number;
  private readonly wall: () => number;
  private readonly mono: () => number;
  private offset: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners = new Set<(jump: ClockJump) => void>();

  constructor(options: ClockJumpDetectorOptions = {}) {
    this.thresholdMs = options.thresholdMs ?? 5_000;
    this.intervalMs = options.intervalMs ?? 1_000;
    this.wall = options.wall ?? Date.now;
    this.mono = options.monotonic ?? (() => performance.now());
    this.offset = this.wall() - this.mono();
  }

  /** Samples the clocks once; returns the jump (and tells the listeners) if there was one. */
  check(): ClockJump | undefined {
    const offset = this.wall() - this.mono();
    const deltaMs = offset - this.offset;
    if (Math.abs(deltaMs) <= this.thresholdMs) return undefined;
    this.offset = offset;
    const jump: ClockJump = { deltaMs, direction: deltaMs > 0 ? 'forward' : 'backward' };
    for (const listener of this.listeners) {
      try {
        listener(jump);
      } catch {
        // One listener's failure must not keep the others from hearing about the jump.
      }
    }
    return jump;
  }

  /** Subscribes; returns the unsubscribe function. */
  onJump(listener: (jump: ClockJump) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.timer) return;
    this.offset = this.wall() - this.mono();
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
