/**
 * Runs the benchmark mode's (policy, offset) runs on N worker threads. Workers load the built
 * JavaScript (dist/sim-worker/vmagent-worker.js), so `npm run build` must have run.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { VmagentScenario } from '../core/sim/vmagent/rules.js';
import type { VmagentRunResult } from '../core/sim/vmagent/run.js';
import type { VmagentWorkerData } from './vmagent-worker.js';

/** Options of a parallel run. */
export interface ParallelOptions {
  tracePath: string;
  skipBad: boolean;
  scenario: VmagentScenario;
  policies: readonly string[];
  offsets: readonly number[];
  horizon?: number;
  samples: number;
  workers: number;
  onRun?: (done: number, total: number) => void;
}

/** A worker script (default: the benchmark mode's): beside this module when built, else in dist/ when running from sources. */
export function workerScript(name = 'vmagent-worker'): URL {
  const here = new URL(`./${name}.js`, import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const built = new URL(`../../dist/sim-worker/${name}.js`, import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw Object.assign(new Error(`--workers needs the built worker (dist/sim-worker/${name}.js): run \`npm run build\``), {
    code: 'ERR_WORKERS',
    path: '--workers',
  });
}

/** Runs every (policy, offset) pair; returns results per policy in offset order. */
export async function runVmagentParallel(options: ParallelOptions): Promise<Map<string, VmagentRunResult[]>> {
  const script = workerScript();
  const tasks = options.policies.flatMap((policy, p) =>
    options.offsets.map((offset, i) => ({ index: p * options.offsets.length + i, policy, offset, samples: i === 0 ? options.samples : 0 })),
  );
  const out: (VmagentRunResult | undefined)[] = new Array(tasks.length);
  const n = Math.max(1, Math.min(options.workers, tasks.length));
  let done = 0;
  await Promise.all(
    Array.from({ length: n }, (_, w) => {
      const mine = tasks.filter((_, i) => i % n === w);
      const data: VmagentWorkerData = {
        tracePath: options.tracePath,
        skipBad: options.skipBad,
        scenario: options.scenario,
        horizon: options.horizon ?? null,
        tasks: mine,
      };
      return new Promise<void>((resolve, reject) => {
        const worker = new Worker(script, { workerData: data });
        worker.on('message', (m: { index: number; result: VmagentRunResult }) => {
          out[m.index] = m.result;
          options.onRun?.(++done, tasks.length);
        });
        worker.on('error', reject);
        worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`simulation worker exited with code ${code}`))));
      });
    }),
  );
  const byPolicy = new Map<string, VmagentRunResult[]>();
  options.policies.forEach((policy, p) => {
    byPolicy.set(
      policy,
      options.offsets.map((_, i) => out[p * options.offsets.length + i] as VmagentRunResult),
    );
  });
  return byPolicy;
}
