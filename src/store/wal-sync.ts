/**
 * Syncing a SQLite database's write-ahead log with fdatasync on libuv's thread pool, for commits made
 * with `synchronous = NORMAL` (written to the log, not synced): the group commits on the service's
 * own connection with `NUMAPLAN_SQLITE_SYNC=loop|pool` (see sqlite.ts).
 */
import { closeSync, fdatasync, fstatSync, openSync } from 'node:fs';

/** fdatasync calls on one log at a time (libuv's thread pool has 4 threads; one is left to other work). */
const SYNCS_IN_FLIGHT = 3;

/**
 * Syncs a database's write-ahead log off the event loop: each request starts an fdatasync on the
 * thread pool (so it covers every write made before the request), up to SYNCS_IN_FLIGHT at once;
 * requests beyond that share the next one to start. Overlapping syncs of one file cost the disk
 * little more than one (the kernel writes each dirty page once and merges the cache flushes): on
 * the development machine one at a time managed about 600 syncs/s, two or more at once several
 * thousand.
 */
export class WalSync {
  private fd: number;
  private running = 0;
  private waiting: { promise: Promise<void>; start: () => void } | null = null;

  /** Told how long each sync took (ms), from its start to its callback. */
  onSynced: ((ms: number) => void) | null = null;

  constructor(private readonly path: string) {
    this.fd = openSync(path, 'r');
  }

  /** Resolves once everything written to the log before the call is on disk. */
  sync(): Promise<void> {
    if (this.running < SYNCS_IN_FLIGHT) return this.start();
    if (!this.waiting) {
      let start: () => void = () => undefined;
      const promise = new Promise<void>((resolve, reject) => {
        start = () => this.start().then(resolve, reject);
      });
      this.waiting = { promise, start };
    }
    return this.waiting.promise;
  }

  private start(): Promise<void> {
    // SQLite deletes the log only when the last connection closes (never while this store is
    // open); should it be gone anyway, the file at the path is the one written now.
    if (fstatSync(this.fd).nlink === 0) {
      closeSync(this.fd);
      this.fd = openSync(this.path, 'r');
    }
    this.running++;
    const t0 = performance.now();
    return new Promise<void>((resolve, reject) => {
      fdatasync(this.fd, (err) => {
        this.running--;
        if (!err) this.onSynced?.(performance.now() - t0);
        const next = this.waiting;
        this.waiting = null;
        next?.start();
        if (err) reject(err);
        else resolve();
      });
    });
  }

  async close(): Promise<void> {
    while (this.running > 0 || this.waiting) await new Promise((r) => setTimeout(r, 1));
    closeSync(this.fd);
  }
}
