/**
 * Checkpoints of a SQLite write-ahead log in a worker thread of their own, off the event loop.
 *
 * SQLite checkpoints a WAL database itself, in the connection whose commit took the log past
 * `wal_autocheckpoint` pages: that commit then copies the log's pages back into the database file
 * and syncs it before it returns. On the service's one connection that is the event loop, stalled for
 * 2-26 ms every hundred-odd group commits (measured on the two-core development machine with 8
 * clients: those stalls were 72% of the time its commits took, and set the latency's p99).
 *
 * Here a second connection, in a worker thread, runs `wal_checkpoint(PASSIVE)` a short while after
 * the service wrote (CHECKPOINT_DELAY_MS): a passive checkpoint takes no write lock, so commits go on
 * meanwhile, and it copies only what no reader still needs. SQLite starts the log over from its
 * beginning when a writer finds it entirely copied; under a steady load the copy is always a little
 * behind, so the service's own connection keeps an automatic checkpoint at BACKSTOP_PAGES, which
 * then finds most pages already copied and only finishes the rest.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Pages of log after which the service's own connection checkpoints (SQLite's default is 1,000). */
export const BACKSTOP_PAGES = 8000;

/** How long after a write the worker checkpoints (further writes meanwhile join that checkpoint). */
export const CHECKPOINT_DELAY_MS = 50;

/** The worker's code: one connection, a passive checkpoint per message, then a message back (a failure is left to the backstop). */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { fileMustExist: true });
db.pragma('busy_timeout = ' + workerData.busyMs);
parentPort.on('message', (m) => {
  if (m === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {}
  parentPort.postMessage('done');
});
`;

/** A worker thread checkpointing one database's log (see the module's comment). */
export class WalCheckpointer {
  private readonly worker: Worker;
  private running = false;
  private again = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private idle: (() => void) | null = null;

  constructor(file: string, busyMs: number) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER, { eval: true, workerData: { file, module, busyMs } });
    this.worker.unref();
    this.worker.on('message', () => {
      this.running = false;
      if (this.again && !this.closed) {
        this.again = false;
        this.schedule();
      } else this.idle?.();
    });
    // A worker that could not start or died: the service's own automatic checkpoint goes on.
    this.worker.on('error', () => {
      this.closed = true;
      this.running = false;
      this.idle?.();
    });
  }

  /** The service wrote to the log: a checkpoint follows shortly. */
  wrote(): void {
    if (this.closed) return;
    if (this.running) this.again = true;
    else this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.closed) return;
      this.running = true;
      this.worker.postMessage('checkpoint');
    }, CHECKPOINT_DELAY_MS);
    this.timer.unref();
  }

  /** Waits for a running checkpoint, then closes the worker's connection. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.closed && this.running) await new Promise<void>((r) => (this.idle = r));
    const wasClosed = this.closed;
    this.closed = true;
    if (wasClosed) {
      await this.worker.terminate();
      return;
    }
    await new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      this.worker.postMessage('close');
    });
  }
}
