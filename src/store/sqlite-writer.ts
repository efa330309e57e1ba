/**
 * The group commits of a SQLite store, written by a thread of their own.
 *
 * better-sqlite3 is synchronous: a transaction on the service's connection holds the event loop for
 * its statements, its commit and (durability `disk`) the log's sync: 28% of the loop's time with 8
 * clients placing on the two-core development machine (a CPU profile of the service). Here a worker
 * thread with its own connection to the same file runs each group commit (`writeFlush`, the same
 * statements) while the event loop goes on deciding the next requests, which gather into the next
 * group; the requests of a group are answered when the worker's commit returns, so a commit
 * acknowledged is on disk exactly as before (`synchronous = FULL` for durability `disk`, NORMAL for
 * `commit`). Committing with NORMAL and syncing the log on the thread pool after each commit, so
 * that the next commit need not wait for the disk, placed 8-12% fewer VMs per second here (two
 * messages and a pool thread per commit).
 *
 * The service may have two flushes at the worker at once (WRITER_DEPTH in sqlite.ts); the worker
 * commits them one at a time, in order, so the second may carry hosts of the first (chained: see
 * Flush.chained, checked by the worker's ChainLog). A flush travels as data (flush.ts): the
 * ops without their callbacks, and a placement document only as its JSON text when the service made
 * it.
 * Errors come back with SQLite's code, so that a busy database is retried like any other. A worker
 * that fails to start or dies fails the writes it held; the store then writes on its own connection.
 */
import { Worker } from 'node:worker_threads';
import type { Flush, FlushOp, FlushOutcome } from './flush.js';

/** What the worker is started with. */
export interface WriterOptions {
  file: string;
  busyMs: number;
  synchronous: 'FULL' | 'NORMAL';
  /** The writer's own automatic checkpoint (the backstop behind the checkpoint thread). */
  autocheckpointPages: number;
}

/** One flush to write. */
export interface WriterRequest {
  id: number;
  flush: Flush;
}

/** A flush's outcome as it travels back (its sets as arrays). */
export interface WireOutcome {
  conflicted: string[];
  takenVms: string[];
}

/** About one flush: its outcome once committed, or its error (with SQLite's code). */
export interface WriterAnswer {
  id: number;
  outcome?: WireOutcome;
  error?: { message: string; code: string | undefined };
}

/** One flush in the writer's hands. */
interface Pending {
  resolve: (o: FlushOutcome) => void;
  reject: (e: unknown) => void;
}

/** An op as data only: no callbacks, and the placement as its JSON text when there is one. */
function wireOp(o: FlushOp): FlushOp {
  const out: FlushOp = { events: o.events };
  if (o.added) out.added = o.added.map((a) => (a.placementJson === undefined ? a : { ...a, placement: null }));
  if (o.updated) out.updated = o.updated;
  if (o.removed) out.removed = o.removed;
  if (o.put) out.put = o.put;
  if (o.remove) out.remove = o.remove;
  if (o.plan) out.plan = o.plan;
  return out;
}

/** A flush as the worker receives it (see wireOp). */
export function wireFlush(flush: Flush): Flush {
  const byHost = new Map<string, FlushOp[]>();
  for (const [host, list] of flush.byHost) byHost.set(host, list.map(wireOp));
  const out: Flush = { byHost, hostless: flush.hostless.map(wireOp), expected: flush.expected, stats: flush.stats, now: flush.now };
  if (flush.chained && flush.chained.length > 0) out.chained = flush.chained;
  if (flush.instance !== undefined) out.instance = flush.instance;
  return out;
}

function startWorker(options: WriterOptions): Worker {
  const self = new URL(import.meta.url);
  if (self.pathname.endsWith('.ts')) {
    // Run from the sources (tests): the worker loads them through tsx as this module was.
    const api = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./sqlite-writer-worker.ts', self).href;
    const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(boot, { eval: true, workerData: options });
  }
  return new Worker(new URL('./sqlite-writer-worker.js', self), { workerData: options });
}

/** A SQLite database's group commits, written in a worker thread (see the module's comment). */
export class SqliteWriter {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | null = null;
  private exited: Promise<void>;

  constructor(options: WriterOptions) {
    this.worker = startWorker(options);
    this.worker.unref();
    this.worker.on('message', (a: WriterAnswer) => {
      const p = this.pending.get(a.id);
      if (!p) return;
      this.pending.delete(a.id);
      if (this.pending.size === 0) this.worker.unref();
      if (a.outcome) p.resolve({ conflicted: new Set(a.outcome.conflicted), takenVms: new Set(a.outcome.takenVms) });
      else p.reject(Object.assign(new Error(a.error?.message ?? 'the SQLite writer failed'), { code: a.error?.code }));
    });
    this.worker.on('error', (err) => this.fail(err));
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        this.fail(new Error(`the SQLite writer thread exited (code ${code})`));
        resolve();
      });
    });
  }

  /** False once the worker failed or exited: writes then go elsewhere. */
  get alive(): boolean {
    return this.failure === null;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Writes one flush in one transaction; resolves once it committed (and, durability `disk`, is on disk). */
  write(flush: Flush): Promise<FlushOutcome> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<FlushOutcome>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) this.worker.ref();
      try {
        this.worker.postMessage({ id, flush: wireFlush(flush) } satisfies WriterRequest);
      } catch (err) {
        this.pending.delete(id);
        reject(err);
      }
    });
  }

  /** Waits for the writes in flight, then closes the worker's connection and the worker. */
  async close(): Promise<void> {
    if (this.failure) return;
    this.worker.ref();
    this.worker.postMessage('close');
    await this.exited;
  }
}
