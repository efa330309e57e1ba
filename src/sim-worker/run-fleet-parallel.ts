/**
 * Runs fleet mode's policies on N worker threads (policy i goes to worker i mod N; each worker
 * loads the hosts and the trace once). Workers load the built JavaScript
 * (dist/sim-worker/fleet-worker.js), so `npm run build` must have run. Each worker gets a 64 MB
 * young generation: a replay keeps per-host decisions alive for a while, and the default nursery
 * spends a third of the time copying them.
 */
import { Worker } from 'node:worker_threads';
import type { FleetRunResult } from '../core/sim/fleet/replay.js';
import type { FleetTraceSource, FleetWorkerData } from './fleet-worker.js';
import { workerScript } from './run-parallel.js';

/** Options of a parallel fleet run. */
export interface FleetParallelOptions {
  trace: FleetTraceSource;
  hosts: FleetWorkerData['hosts'];
  /** The published benchmark's split rule (see `splitAbove`), applied to the trace in every worker. */
  splitAboveBytes?: number;
  policies: readonly string[];
  horizon?: number;
  samples: number;
  workers: number;
  /** Runs finished so far, of all. */
  onRun?: (done: number, total: number) => void;
  /** Arrivals replayed so far over all runs, of all, and the policy whose worker posted (about every 1% of a run). */
  onProgress?: (done: number, total: number, policy: string) => void;
}

/** Young generation of each worker, in MB. */
export const FLEET_WORKER_YOUNG_MB = 64;

/** Runs every policy; returns the runs in policy order. */
export async function runFleetParallel(options: FleetParallelOptions): Promise<FleetRunResult[]> {
  const script = workerScript('fleet-worker');
  const tasks = options.policies.map((policy, index) => ({ index, policy }));
  const out: (FleetRunResult | undefined)[] = new Array(tasks.length);
  const n = Math.max(1, Math.min(options.workers, tasks.length));
  let done = 0;
  const replayed = new Array<number>(tasks.length).fill(0);
  let perRun = 0;
  await Promise.all(
    Array.from({ length: n }, (_, w) => {
      const data: FleetWorkerData = {
        trace: options.trace,
        hosts: options.hosts,
        splitAboveBytes: options.splitAboveBytes ?? null,
        horizon: options.horizon ?? null,
        samples: options.samples,
        tasks: tasks.filter((_, i) => i % n === w),
      };
      return new Promise<void>((resolve, reject) => {
        const worker = new Worker(script, { workerData: data, resourceLimits: { maxYoungGenerationSizeMb: FLEET_WORKER_YOUNG_MB } });
        worker.on('message', (m: { index: number; result: FleetRunResult } | { index: number; progress: number; total: number }) => {
          if ('progress' in m) {
            replayed[m.index] = m.progress;
            perRun = m.total;
            options.onProgress?.(replayed.reduce((s, x) => s + x, 0), perRun * tasks.length, tasks[m.index]?.policy ?? '');
            return;
          }
          out[m.index] = m.result;
          replayed[m.index] = m.result.arrivals;
          options.onRun?.(++done, tasks.length);
        });
        worker.on('error', reject);
        worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`simulation worker exited with code ${code}`))));
      });
    }),
  );
  return out.map((r, i) => {
    if (!r) throw new Error(`internal: no result for policy ${options.policies[i]}`);
    return r;
  });
}
