/** Completion queues: poll, and an async wait for the next completion. */
import type { WorkCompletion } from './types.js';

/** A completion queue. */
export class CompletionQueue {
  private readonly entries: WorkCompletion[] = [];
  private head = 0;
  private waiters: (() => void)[] = [];
  /** Completions dropped because the queue was full (a CQ overrun). */
  overruns = 0;

  constructor(readonly capacity = 65536) {}

  /** Adds a completion (called by queue pairs). */
  push(wc: WorkCompletion): void {
    if (this.entries.length - this.head >= this.capacity) {
      this.overruns++;
      return;
    }
    this.entries.push(wc);
    if (this.waiters.length > 0) {
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    }
  }

  /** Removes and returns up to `max` completions, oldest first. */
  poll(max = 16): WorkCompletion[] {
    const n = Math.min(max, this.entries.length - this.head);
    const out = this.entries.slice(this.head, this.head + n);
    this.head += n;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
    return out;
  }

  /** Number of completions waiting. */
  get length(): number {
    return this.entries.length - this.head;
  }

  /** Resolves once at least one completion is waiting. */
  wait(): Promise<void> {
    if (this.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Waits for and returns the next completion. */
  async next(): Promise<WorkCompletion> {
    while (this.length === 0) await this.wait();
    return this.poll(1)[0] as WorkCompletion;
  }
}
