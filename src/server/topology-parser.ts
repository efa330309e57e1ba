/**
 * Host registration bodies are parsed in a worker thread, one at a time, so that no body (megabytes
 * of hwloc XML, numactl text naming thousands of CPUs, thousands of devices) holds up the service's
 * event loop: requests keep being answered while a large host is read. The event loop only parses
 * the model's JSON the worker wrote (`topologyFromTrustedJson`, a few milliseconds per MiB).
 *
 * Bounds: a body taking longer than PARSE_TIMEOUT_MS, or more than WORKER_HEAP_MB of heap, is
 * refused (the worker is stopped and a fresh one takes the next body). The worker does not keep the
 * process alive.
 *
 * From the sources (tests, `node --import tsx`), the worker runs the TypeScript module through tsx;
 * from the build, the JavaScript beside this file.
 */
import { Worker } from 'node:worker_threads';
import { topologyFromTrustedJson } from '../core/topology/json.js';
import type { Topology } from '../core/topology/model.js';
import { ApiError } from './errors.js';
import type { TopologyAnswer, TopologyJob } from './topology-worker.js';

/** Longest a body may take to parse. */
export const PARSE_TIMEOUT_MS = 30_000;
/** Heap a worker may use (a body is at most a few MiB; its model at most a few more). */
export const WORKER_HEAP_MB = 1024;

/** A parsed registration body. */
export interface HostBody {
  topology: Topology;
  topologyText: string;
  reserve: unknown;
  accept: unknown;
}

interface Pending {
  job: TopologyJob;
  resolve: (b: HostBody) => void;
  reject: (e: unknown) => void;
}

function startWorker(): Worker {
  const self = new URL(import.meta.url);
  if (self.pathname.endsWith('.ts')) {
    const api = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./topology-worker.ts', self).href;
    const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    return new Worker(boot, { eval: true, resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
  }
  return new Worker(new URL('./topology-worker.js', self), { resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
}

/** Parses registration bodies in a worker thread, in the order they arrive. */
export class TopologyParser {
  private worker: Worker | null = null;
  private readonly queue: Pending[] = [];
  private current: Pending | null = null;
  private timer: NodeJS.Timeout | null = null;
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly maxDepth: number,
    private readonly maxModelBytes: number,
    private readonly timeoutMs = PARSE_TIMEOUT_MS,
  ) {}

  /** Parses one body's text; rejects with the ApiError the body deserves. */
  parse(text: string): Promise<HostBody> {
    if (this.closed) return Promise.reject(new ApiError(503, 'ERR_CLOSING', null, 'the service is shutting down'));
    return new Promise<HostBody>((resolve, reject) => {
      this.queue.push({ job: { id: this.nextId++, text, maxDepth: this.maxDepth, maxModelBytes: this.maxModelBytes }, resolve, reject });
      this.pump();
    });
  }

  /** Stops the worker; pending bodies are refused. */
  async close(): Promise<void> {
    this.closed = true;
    const gone = [this.current, ...this.queue.splice(0)];
    this.current = null;
    for (const p of gone) p?.reject(new ApiError(503, 'ERR_CLOSING', null, 'the service is shutting down'));
    if (this.timer) clearTimeout(this.timer);
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = startWorker();
    w.unref();
    w.on('message', (m: TopologyAnswer) => this.answer(m));
    w.on('error', (err) => this.failed(w, err));
    w.on('exit', (code) => this.failed(w, new Error(`topology worker exited (${code})`)));
    this.worker = w;
    return w;
  }

  private pump(): void {
    if (this.current || this.closed) return;
    const next = this.queue.shift();
    if (!next) return;
    this.current = next;
    this.ensureWorker().postMessage(next.job);
    this.timer = setTimeout(() => {
      const w = this.worker;
      this.finish(null, new ApiError(413, 'ERR_TOPOLOGY_TOO_LARGE', 'topology', `the topology took longer than ${this.timeoutMs / 1000} s to read; refused`));
      this.worker = null;
      void w?.terminate();
    }, this.timeoutMs);
    this.timer.unref();
  }

  private answer(m: TopologyAnswer): void {
    if (!this.current || this.current.job.id !== m.id) return;
    if (!m.ok) {
      this.finish(null, new ApiError(m.status as 400, m.code, m.field, m.message));
      return;
    }
    let topology: Topology;
    try {
      topology = topologyFromTrustedJson(m.topologyText, 'topology');
    } catch (err) {
      this.finish(null, err);
      return;
    }
    this.finish({ topology, topologyText: m.topologyText, reserve: m.reserve, accept: m.accept }, null);
  }

  private failed(w: Worker, err: Error): void {
    if (this.worker !== w) return;
    this.worker = null;
    if (this.closed || !this.current) return;
    const oom = (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
    this.finish(
      null,
      oom
        ? new ApiError(413, 'ERR_TOPOLOGY_TOO_LARGE', 'topology', `reading the topology needed more than ${WORKER_HEAP_MB} MiB; refused`)
        : new ApiError(500, 'ERR_INTERNAL', null, `topology worker failed: ${err.message}`),
    );
  }

  private finish(body: HostBody | null, err: unknown): void {
    const p = this.current;
    this.current = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (p) {
      if (body) p.resolve(body);
      else p.reject(err);
    }
    this.pump();
  }
}
