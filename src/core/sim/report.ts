/**
 * The simulator's report: one document for the terminal table, --json, --csv and the plots. Field
 * names are part of the CLI contract (`results[].policy`, `results[].placedBeforeFailure`, `seed`).
 */
import type { RebalanceStats } from './fleet/rebalance.js';

/** Utilisation samples of one policy (from its first start). */
export interface UtilisationSeries {
  policy: string;
  /** x: arrivals handled since the start; t: trace seconds; cpu / memory: fractions used. */
  points: { step: number; time: number; cpu: number; memory: number }[];
}

/** One policy's figures. */
export interface PolicyResult {
  policy: string;
  description: string;
  /** Mean over starts of the arrivals placed before the first that fit nowhere. */
  placedBeforeFailure: number;
  placedBeforeFailureStd: number;
  placedBeforeFailureMin: number;
  placedBeforeFailureMax: number;
  /** Starts that reached the end of the trace without a failure. */
  startsWithoutFailure: number;
  /** Accepted / arrivals over the whole replay (rejections do not stop it). */
  acceptanceRate: number;
  arrivals: number;
  accepted: number;
  cpuUtilisationAtFailure: number;
  memoryUtilisationAtFailure: number;
  /** Mean utilisation over the samples of the replay. */
  cpuUtilisationMean: number;
  memoryUtilisationMean: number;
  /** Accepted VMs that sit on one NUMA node. */
  singleNodeFraction: number;
  /** Predicted memory latency relative to all-local, over accepted VMs. */
  latencyRatioMean: number;
  latencyRatioP95: number;
  /** Free but unusable at the first failure (mean over starts): cores on nodes out of memory for the smallest VM, memory (GiB) on nodes out of cores. */
  strandedCores: number;
  strandedMemoryGiB: number;
  /** Accepted VMs with a device whose required or preferred locality was not met. */
  deviceLocalityMisses: number;
  decisionsPerSecond: number;
  /** Per start: offset and score. */
  perStart: { offset: number; placedBeforeFailure: number }[];
  /** Latency ratios of accepted VMs as a histogram: bucket lower bounds (step 0.05) and counts. */
  latencyHistogram: { from: number; count: number }[];
  /** Fleet mode with --rebalance: what rebalancing did, and the locality sampled at its ticks. */
  rebalance?: RebalanceResult;
}

/**
 * A run's rebalancing figures in the report: the replay's own (`RebalanceStats`: the rule, ticks,
 * moves, VMs moved, returns, make-room admissions and the locality averages, the latter rounded),
 * with bytes in GiB, rates per host-hour and the samples in the report's units instead of the
 * replay's bytes, host-hours and series.
 */
export interface RebalanceResult extends Omit<RebalanceStats, 'bytes' | 'hostHours' | 'series'> {
  bytesGiB: number;
  movesPerHostHour: number;
  bytesGiBPerHostHour: number;
  /** vCPU-hours accepted over vCPU-hours requested, from the first to the last arrival replayed (each VM's vCPUs x its lifetime inside that window). */
  vcpuHoursAccepted: number;
  /** The samples over time: simulated seconds, latency ratio mean and p95, fraction on one node, GiB moved so far. */
  overTime: { time: number; latencyMean: number; latencyP95: number; oneNode: number; movedGiB: number }[];
}

/** The whole report. */
export interface SimReport {
  schema: 'numaplan.simulate/v1';
  mode: 'vmagent' | 'fleet';
  trace: { source: string; format: string; requests: number; skipped: number };
  /** Benchmark mode only. */
  scenario?: { name: string; servers: number; coresPerNode: number; memoryPerNodeGiB: number; doubleThresholdGiB: number; applyDeletions: boolean };
  /** Fleet mode only: host groups. */
  /** Fleet mode: the host groups; `calibration` names the probe a group's latency ratios come from (absent: SLIT). */
  fleet?: { hosts: number; groups: { spec: string; count: number; nodes: number; cores: number; memoryGiB: number; calibration?: string }[] };
  seed: number;
  starts: number;
  offsets: number[];
  results: PolicyResult[];
  utilisation: UtilisationSeries[];
  /**
   * Fleet mode with rebalancing over several windows: per window (its first request's index in the
   * trace), each run's acceptance, vCPU-hours accepted, moves and locality. The first window is the
   * one `results` describe.
   */
  rebalanceWindows?: {
    offset: number;
    runs: {
      policy: string;
      arrivals: number;
      accepted: number;
      acceptanceRate: number;
      placedBeforeFailure: number;
      vcpuHoursAccepted: number;
      admitted: number;
      unsplit: number;
      moves: number;
      bytesGiB: number;
      /** Moves of a VM within the cool-down of its previous move. */
      movesWithinCooldown: number;
      latencyMeanOverTime: number;
      latencyP95OverTime: number;
    }[];
  }[];
}

/** Histogram bucket width of latency ratios. */
export const LATENCY_BUCKET = 0.05;

/** Buckets latency ratios (sorted output, empty buckets dropped). */
export function latencyHistogram(values: ArrayLike<number>): { from: number; count: number }[] {
  const counts = new Map<number, number>();
  for (let i = 0; i < values.length; i++) {
    const b = Math.floor(((values[i] as number) + 1e-9) / LATENCY_BUCKET);
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([b, count]) => ({ from: Math.round(b * LATENCY_BUCKET * 100) / 100, count }));
}
