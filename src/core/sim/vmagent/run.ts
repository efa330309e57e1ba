/**
 * Replays a trace under the benchmark's rules from one start offset, for one policy.
 *
 * The score (`placedBeforeFailure`) follows the benchmark: arrivals placed from the offset until the
 * first arrival that fits on no server. The replay then goes on (rejecting what does not fit) to
 * measure the acceptance rate over `horizon` arrivals, which the benchmark does not report. Counting
 * detail: the benchmark stops one event before the end of its log; here a run that reaches the end of
 * the trace without a failure scores every arrival it placed (`endOfTrace: true` says so).
 */
import { CREATE, type Trace } from '../trace.js';
import { traceEvents } from '../events.js';
import { VmagentCluster, type VmagentVm } from './cluster.js';
import type { VmagentPolicy } from './policy.js';
import type { VmagentScenario } from './rules.js';

const GIB = 1024 ** 3;

/** One utilisation sample. */
export interface UtilisationSample {
  /** Arrivals handled since the start. */
  step: number;
  /** Trace time in seconds. */
  time: number;
  cpu: number;
  memory: number;
}

/** Options of one run. */
export interface VmagentRunOptions {
  /** Event row to start from (departures there are skipped). */
  offset: number;
  /** Arrivals to handle for the acceptance rate (counting from the offset); default: to the end. */
  horizon?: number;
  /** Record utilisation samples (about `samples` of them over the run). */
  samples?: number;
  /** SLIT distance between the two nodes of a server, for the latency model (default 21). */
  remoteDistance?: number;
  /** A clock in milliseconds for decisions per second (the core has none of its own). */
  clock?: () => number;
}

/** What one run measured. */
export interface VmagentRunResult {
  offset: number;
  placedBeforeFailure: number;
  /** The run reached the end of the trace (or the horizon) without a failure. */
  endOfTrace: boolean;
  /** Trace request index of the first arrival that fit nowhere. */
  firstFailure: number | null;
  /** Utilisation of cores and memory at the first failure (or the end). */
  cpuAtFailure: number;
  memoryAtFailure: number;
  /** Free cores on nodes without memory for the smallest VM, and free GB on nodes without cores for it, at the first failure. */
  strandedCores: number;
  strandedMemory: number;
  /** Over the whole horizon. */
  arrivals: number;
  accepted: number;
  /** Accepted VMs that sit on one node. */
  singleNode: number;
  /** Latency ratio of each accepted VM, relative to all-local. */
  latency: Float64Array;
  decisions: number;
  elapsedMs: number;
  series: UtilisationSample[];
}

/** The benchmark's view of every request of a trace: cores, GB, double-NUMA flag. */
export function vmagentVms(trace: Trace, scenario: VmagentScenario): VmagentVm[] {
  return trace.requests.map((r) => {
    const mem = r.memory / GIB;
    return { cpu: r.vcpus, mem, double: mem > scenario.doubleThreshold };
  });
}

/** Runs one start offset for one policy. */
export function runVmagent(
  trace: Trace,
  scenario: VmagentScenario,
  policy: VmagentPolicy,
  options: VmagentRunOptions,
  vms: readonly VmagentVm[] = vmagentVms(trace, scenario),
  cluster: VmagentCluster = new VmagentCluster(scenario, trace.requests.length),
): VmagentRunResult {
  const events = traceEvents(trace);
  const n = events.kind.length;
  const clock = options.clock ?? (() => 0);
  const horizon = options.horizon ?? Number.POSITIVE_INFINITY;
  const remote = (options.remoteDistance ?? 21) / 10;
  const splitRatio = (1 + remote) / 2; // half the accesses local, half remote: a guest spreading over its memory
  let minCpu = Number.POSITIVE_INFINITY;
  let minMem = Number.POSITIVE_INFINITY;
  for (const vm of vms) {
    if (vm.cpu < minCpu) minCpu = vm.cpu;
    if (vm.mem < minMem) minMem = vm.mem;
  }
  cluster.clear();
  policy.reset?.();
  const totalCpu = 2 * scenario.servers * scenario.coresPerNode;
  const totalMem = 2 * scenario.servers * scenario.memoryPerNode;
  let usedCpu = 0;
  let usedMem = 0;
  const latency: number[] = [];
  const series: UtilisationSample[] = [];
  const sampleEvery = options.samples ? Math.max(1, Math.floor(estimateArrivals(events.kind, options.offset, horizon) / options.samples)) : 0;

  let t = Math.max(0, Math.min(options.offset, n));
  while (t < n && events.kind[t] !== CREATE) t++;
  let placed = 0;
  let failed: number | null = null;
  let arrivals = 0;
  let accepted = 0;
  let singleNode = 0;
  let cpuAtFailure = 0;
  let memAtFailure = 0;
  let strandedCores = 0;
  let strandedMemory = 0;
  const snapshot = (): void => {
    cpuAtFailure = usedCpu / totalCpu;
    memAtFailure = usedMem / totalMem;
    strandedCores = 0;
    strandedMemory = 0;
    for (let a = 0; a < 2 * scenario.servers; a++) {
      const c = cluster.freeCpu[a] as number;
      const m = cluster.freeMem[a] as number;
      if (m < minMem) strandedCores += c;
      if (c < minCpu) strandedMemory += m;
    }
  };
  const start = clock();
  for (; t < n && arrivals < horizon; t++) {
    const id = events.req[t] as number;
    const vm = vms[id] as VmagentVm;
    if (events.kind[t] !== CREATE) {
      if (scenario.applyDeletions && cluster.remove(id, vm)) {
        usedCpu -= vm.cpu;
        usedMem -= vm.mem;
      }
      continue;
    }
    arrivals++;
    const action = policy.choose(cluster, vm);
    if (action < 0) {
      if (failed === null) {
        failed = id;
        snapshot();
      }
    } else {
      cluster.place(id, vm, action);
      usedCpu += vm.cpu;
      usedMem += vm.mem;
      accepted++;
      if (failed === null) placed++;
      if (vm.double) latency.push(splitRatio);
      else {
        latency.push(1);
        singleNode++;
      }
    }
    if (sampleEvery > 0 && arrivals % sampleEvery === 0) {
      series.push({ step: arrivals, time: events.time[t] as number, cpu: usedCpu / totalCpu, memory: usedMem / totalMem });
    }
  }
  const elapsedMs = clock() - start;
  if (failed === null) snapshot();
  return {
    offset: options.offset,
    placedBeforeFailure: placed,
    endOfTrace: failed === null,
    firstFailure: failed,
    cpuAtFailure,
    memoryAtFailure: memAtFailure,
    strandedCores,
    strandedMemory,
    arrivals,
    accepted,
    singleNode,
    latency: Float64Array.from(latency),
    decisions: arrivals,
    elapsedMs,
    series,
  };
}

function estimateArrivals(kind: Uint8Array, offset: number, horizon: number): number {
  let count = 0;
  for (let i = Math.max(0, offset); i < kind.length && count < horizon; i++) if (kind[i] === CREATE) count++;
  return count;
}
