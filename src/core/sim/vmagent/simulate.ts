/**
 * The benchmark mode end to end: draw the start offsets from the seed, run every policy from every
 * offset (the same offsets for all, so they are compared side by side), and aggregate a report.
 * Runs can also be executed elsewhere (worker threads) and handed to `vmagentReport`.
 */
import { traceEvents } from '../events.js';
import { type PolicyResult, type SimReport, type UtilisationSeries, latencyHistogram } from '../report.js';
import { makeRng } from '../rng.js';
import { mean, quantile, round, std } from '../stats.js';
import type { Trace } from '../trace.js';
import { VmagentCluster } from './cluster.js';
import { vmagentPolicy } from './registry.js';
import { VMAGENT_OFFSET_RANGE, type VmagentScenario } from './rules.js';
import { type VmagentRunResult, runVmagent, vmagentVms } from './run.js';

/** Options of a benchmark-mode simulation. */
export interface VmagentSimOptions {
  policies: readonly string[];
  starts: number;
  seed: number;
  /** Explicit start offsets (event rows) instead of drawing them. */
  offsets?: readonly number[];
  /** Arrivals per run for the acceptance rate (default: to the end of the trace). */
  horizon?: number;
  /** Utilisation samples per policy (first start). */
  samples?: number;
  clock?: () => number;
  /** Called after each run (for progress bars). */
  onRun?: (done: number, total: number) => void;
}

/**
 * The start offsets: `starts` draws from the benchmark's range [1000, 9999) of event rows, clamped to
 * the trace (a trace with fewer events draws from [0, events)), from a generator seeded with `seed`.
 */
export function vmagentOffsets(trace: Trace, starts: number, seed: number): number[] {
  const n = traceEvents(trace).kind.length;
  const hi = Math.min(VMAGENT_OFFSET_RANGE[1], n);
  const lo = hi > VMAGENT_OFFSET_RANGE[0] ? VMAGENT_OFFSET_RANGE[0] : 0;
  const rng = makeRng(seed);
  return Array.from({ length: starts }, () => rng.int(lo, Math.max(lo + 1, hi)));
}

/** Runs every policy from every offset in this thread. */
export function simulateVmagent(trace: Trace, scenario: VmagentScenario, options: VmagentSimOptions): SimReport {
  const offsets = options.offsets ? [...options.offsets] : vmagentOffsets(trace, options.starts, options.seed);
  const vms = vmagentVms(trace, scenario);
  const cluster = new VmagentCluster(scenario, trace.requests.length);
  const runs = new Map<string, VmagentRunResult[]>();
  const total = options.policies.length * offsets.length;
  let done = 0;
  for (const name of options.policies) {
    const policy = vmagentPolicy(name);
    if (!policy) throw unknownPolicy(name);
    const list: VmagentRunResult[] = [];
    offsets.forEach((offset, i) => {
      list.push(
        runVmagent(trace, scenario, policy, {
          offset,
          ...(options.horizon !== undefined ? { horizon: options.horizon } : {}),
          ...(i === 0 ? { samples: options.samples ?? 300 } : {}),
          ...(options.clock ? { clock: options.clock } : {}),
        }, vms, cluster),
      );
      options.onRun?.(++done, total);
    });
    runs.set(name, list);
  }
  return vmagentReport(trace, scenario, options.seed, offsets, runs);
}

/** Aggregates runs (policy -> one result per offset, in offset order) into the report. */
export function vmagentReport(
  trace: Trace,
  scenario: VmagentScenario,
  seed: number,
  offsets: readonly number[],
  runs: ReadonlyMap<string, readonly VmagentRunResult[]>,
): SimReport {
  const results: PolicyResult[] = [];
  const utilisation: UtilisationSeries[] = [];
  for (const [name, list] of runs) {
    const policy = vmagentPolicy(name);
    const scores = list.map((r) => r.placedBeforeFailure);
    const arrivals = list.reduce((s, r) => s + r.arrivals, 0);
    const accepted = list.reduce((s, r) => s + r.accepted, 0);
    const singles = list.reduce((s, r) => s + r.singleNode, 0);
    const decisions = list.reduce((s, r) => s + r.decisions, 0);
    const elapsed = list.reduce((s, r) => s + r.elapsedMs, 0);
    const latency = concat(list.map((r) => r.latency));
    const samples = list.flatMap((r) => r.series);
    results.push({
      policy: name,
      description: policy?.description ?? '',
      placedBeforeFailure: round(mean(scores), 2),
      placedBeforeFailureStd: round(std(scores), 2),
      placedBeforeFailureMin: scores.length ? Math.min(...scores) : 0,
      placedBeforeFailureMax: scores.length ? Math.max(...scores) : 0,
      startsWithoutFailure: list.filter((r) => r.endOfTrace).length,
      acceptanceRate: round(arrivals ? accepted / arrivals : 0),
      arrivals,
      accepted,
      cpuUtilisationAtFailure: round(mean(list.map((r) => r.cpuAtFailure))),
      memoryUtilisationAtFailure: round(mean(list.map((r) => r.memoryAtFailure))),
      cpuUtilisationMean: round(mean(samples.map((s) => s.cpu))),
      memoryUtilisationMean: round(mean(samples.map((s) => s.memory))),
      singleNodeFraction: round(accepted ? singles / accepted : 0),
      latencyRatioMean: round(mean(latency)),
      latencyRatioP95: round(quantile(latency, 0.95)),
      strandedCores: round(mean(list.map((r) => r.strandedCores)), 2),
      strandedMemoryGiB: round(mean(list.map((r) => r.strandedMemory)), 2),
      deviceLocalityMisses: 0,
      decisionsPerSecond: elapsed > 0 ? Math.round((decisions * 1000) / elapsed) : 0,
      perStart: list.map((r) => ({ offset: r.offset, placedBeforeFailure: r.placedBeforeFailure })),
      latencyHistogram: latencyHistogram(latency),
    });
    utilisation.push({
      policy: name,
      points: (list[0]?.series ?? []).map((p) => ({ step: p.step, time: p.time, cpu: round(p.cpu), memory: round(p.memory) })),
    });
  }
  return {
    schema: 'numaplan.simulate/v1',
    mode: 'vmagent',
    trace: { source: trace.source, format: trace.format, requests: trace.requests.length, skipped: trace.skipped },
    scenario: {
      name: scenario.name,
      servers: scenario.servers,
      coresPerNode: scenario.coresPerNode,
      memoryPerNodeGiB: scenario.memoryPerNode,
      doubleThresholdGiB: scenario.doubleThreshold,
      applyDeletions: scenario.applyDeletions,
    },
    seed,
    starts: offsets.length,
    offsets: [...offsets],
    results,
    utilisation,
  };
}

function concat(parts: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let k = 0;
  for (const p of parts) {
    out.set(p, k);
    k += p.length;
  }
  return out;
}

/** The error for a policy name the mode does not know (exit 2 in the CLI). */
export function unknownPolicy(name: string, known: readonly string[] = ['numaplan', 'first-fit', 'vmagent-best-fit']): Error & { code: string; path: string } {
  return Object.assign(new Error(`--policies: unknown policy "${name}" (known: ${known.join(', ')})`), { code: 'ERR_POLICY', path: '--policies' });
}
