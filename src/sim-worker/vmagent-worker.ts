/**
 * Worker thread for the benchmark mode: reads the trace itself, runs the tasks it is given (policy,
 * offset) and posts each result back. Started by `runVmagentParallel`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { readTrace } from '../adapters/trace/read-trace.js';
import { VmagentCluster } from '../core/sim/vmagent/cluster.js';
import { vmagentPolicy } from '../core/sim/vmagent/registry.js';
import type { VmagentScenario } from '../core/sim/vmagent/rules.js';
import { runVmagent, vmagentVms } from '../core/sim/vmagent/run.js';

/** What the worker is given. */
export interface VmagentWorkerData {
  tracePath: string;
  skipBad: boolean;
  scenario: VmagentScenario;
  horizon: number | null;
  tasks: { index: number; policy: string; offset: number; samples: number }[];
}

const data = workerData as VmagentWorkerData;
const trace = readTrace(data.tracePath, { skipBad: data.skipBad });
const vms = vmagentVms(trace, data.scenario);
const cluster = new VmagentCluster(data.scenario, trace.requests.length);
for (const task of data.tasks) {
  const policy = vmagentPolicy(task.policy);
  if (!policy) throw new Error(`unknown policy ${task.policy}`);
  const result = runVmagent(
    trace,
    data.scenario,
    policy,
    {
      offset: task.offset,
      ...(data.horizon !== null ? { horizon: data.horizon } : {}),
      ...(task.samples > 0 ? { samples: task.samples } : {}),
      clock: () => performance.now(),
    },
    vms,
    cluster,
  );
  parentPort?.postMessage({ index: task.index, result }, [result.latency.buffer as ArrayBuffer]);
}
