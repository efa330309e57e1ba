/**
 * Worker thread for fleet mode: loads the host groups and the trace itself (a file, or the seeded
 * synthetic recipe, which gives the same trace in every thread), replays the policies it is given,
 * each on a fresh fleet, and posts each run back without its fleet. Started by `runFleetParallel`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadTopology } from '../adapters/source.js';
import { readTrace } from '../adapters/trace/read-trace.js';
import { buildFleet } from '../core/sim/fleet/replay.js';
import { fleetPolicy } from '../core/sim/fleet/policies.js';
import { fleetRunResult, replayFleet } from '../core/sim/fleet/replay.js';
import { splitAbove } from '../core/sim/fleet/request-map.js';
import { type SyntheticSpec, syntheticTrace } from '../core/sim/synthetic.js';
import type { Trace } from '../core/sim/trace.js';
import { withCalibration } from '../core/topology/calibration.js';
import type { Calibration } from '../core/topology/model.js';

/** Where a worker's trace comes from. */
export type FleetTraceSource = { kind: 'file'; path: string; skipBad: boolean } | { kind: 'synthetic'; spec: SyntheticSpec };

/** What the worker is given. */
export interface FleetWorkerData {
  trace: FleetTraceSource;
  hosts: { source: string; count: number; calibration?: Calibration | undefined }[];
  splitAboveBytes: number | null;
  horizon: number | null;
  samples: number;
  tasks: { index: number; policy: string }[];
}

const data = workerData as FleetWorkerData;
const groups = await Promise.all(
  data.hosts.map(async (g) => {
    const topology = await loadTopology(g.source);
    return { spec: g.source, count: g.count, topology: g.calibration ? withCalibration(topology, g.calibration) : topology };
  }),
);
const read: Trace = data.trace.kind === 'file' ? readTrace(data.trace.path, { skipBad: data.trace.skipBad }) : syntheticTrace(data.trace.spec);
const trace: Trace = data.splitAboveBytes === null ? read : splitAbove(read, data.splitAboveBytes);
for (const task of data.tasks) {
  const policy = fleetPolicy(task.policy);
  if (!policy) throw new Error(`unknown policy ${task.policy}`);
  const run = replayFleet(trace, buildFleet(groups), policy, {
    ...(data.horizon !== null ? { horizon: data.horizon } : {}),
    samples: data.samples,
    clock: () => performance.now(),
    onProgress: (done, total) => parentPort?.postMessage({ index: task.index, progress: done, total }),
  });
  const result = fleetRunResult(run);
  parentPort?.postMessage({ index: task.index, result }, [result.latency.buffer as ArrayBuffer]);
}
