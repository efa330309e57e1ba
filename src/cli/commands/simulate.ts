/**
 * `numaplan simulate`: replay a VM trace over a fleet under several policies, side by side.
 *
 * Modes: `vmagent` (the published benchmark's rules: two-node servers, fading / recovering) and
 * `fleet` (hosts from presets or topology files; see --hosts). Output: a table, --json, --csv, and
 * SVG plots with --plot DIR. The seed is printed in every report.
 */
import { type Command, Option } from 'commander';
import { writePlots } from '../../adapters/plot/write-plots.js';
import { readTrace } from '../../adapters/trace/read-trace.js';
import type { SimReport } from '../../core/sim/report.js';
import { VMAGENT_POLICIES } from '../../core/sim/vmagent/registry.js';
import { type VmagentScenarioName, vmagentScenario } from '../../core/sim/vmagent/rules.js';
import { simulateVmagent, unknownPolicy, vmagentOffsets, vmagentReport } from '../../core/sim/vmagent/simulate.js';
import { runVmagentParallel } from '../../sim-worker/run-parallel.js';
import { loadTopology } from '../../adapters/source.js';
import { parseHostSpec } from '../../core/sim/fleet/host-spec.js';
import type { FleetGroup } from '../../core/sim/fleet/replay.js';
import { fleetPolicyNames } from '../../core/sim/fleet/policies.js';
import { fleetReport, simulateFleet } from '../../core/sim/fleet/replay.js';
import type { FleetTraceSource } from '../../sim-worker/fleet-worker.js';
import { runFleetParallel } from '../../sim-worker/run-fleet-parallel.js';
import { forLoad, syntheticTrace } from '../../core/sim/synthetic.js';
import { splitAbove } from '../../core/sim/fleet/request-map.js';
import type { Trace } from '../../core/sim/trace.js';
import { withCalibration } from '../../core/topology/calibration.js';
import type { Topology } from '../../core/topology/model.js';
import { readCalibrationFile } from '../calibration-file.js';
import { availableParallelism } from 'node:os';
import { type Io, writeJson } from '../io.js';
import { table } from '../render/table.js';
import { parseDuration, parseRate } from '../../core/rebalance/units.js';
import type { PlanOptions } from '../../core/rebalance/plan.js';

const GIB = 1024 ** 3;

interface SimulateOptions {
  trace?: string;
  mode: 'vmagent' | 'fleet';
  scenario?: VmagentScenarioName;
  servers?: string;
  policies?: string;
  starts: string;
  seed: string;
  horizon?: string;
  skipBad?: boolean;
  json?: boolean;
  csv?: boolean;
  plot?: string;
  workers: string;
  progress: boolean;
  hosts?: string;
  synthetic?: string;
  load: string;
  lifetime: 'exponential' | 'lognormal';
  calibration?: string;
  splitAbove?: string;
  rebalance?: string;
  rebalanceHorizon?: string;
  rebalanceThreshold?: string;
  rebalanceCooldown?: string;
  rebalanceRate?: string;
  rebalanceWindows?: string;
}

/** Registers the command. */
export function registerSimulate(program: Command, io: Io): void {
  program
    .command('simulate')
    .description('replay a VM trace over a fleet under numaplan and the peers\' policies, side by side')
    .option('--trace <file>', 'trace file: Huawei lifetime (vmid,cpu,mem,at,lt) or event log (vmid,cpu,memory,time,type), generic CSV or JSONL')
    .addOption(new Option('--mode <mode>', 'vmagent: the published benchmark\'s rules; fleet: hosts from --hosts').choices(['vmagent', 'fleet']).default('vmagent'))
    .addOption(new Option('--scenario <name>', 'vmagent mode: fading (departures ignored, split above 32 GB) or recovering (departures applied, split above 10 GB)').choices(['fading', 'recovering']))
    .option('--hosts <groups>', 'fleet mode: host groups SOURCE*COUNT,... e.g. preset:epyc-2s-nps4*100,preset:broadwell-2s*20 (SOURCE as in --from)')
    .option('--synthetic <n>', 'instead of --trace: N seeded synthetic requests (Poisson arrivals, size mix, lifetimes)')
    .option('--load <f>', 'synthetic: steady-state vCPU load of the fleet the arrival rate aims at (fleet mode; else 1 arrival/s)', '0.9')
    .addOption(new Option('--lifetime <dist>', 'synthetic: lifetime distribution (mean 1 h)').choices(['exponential', 'lognormal']).default('exponential'))
    .option('--calibration <file>', "fleet mode: a probe result (numaplan probe -o FILE) for the host groups with the probe's nodes: their latency ratios come from its measured matrix")
    .option('--split-above <GB>', "fleet mode: the published benchmark's rule: VMs with more memory than GB span two nodes of one host (halves), the others stay on one node")
    .option('--servers <n>', 'vmagent mode: number of two-node servers')
    .option('--policies <list>', `comma-separated policies (vmagent mode: ${VMAGENT_POLICIES.join(', ')})`)
    .option('--starts <k>', 'random start offsets to average over', '10')
    .option('--seed <s>', 'seed of every random choice (printed in every report)', '1')
    .option('--horizon <n>', 'arrivals replayed per start for the acceptance rate (default: to the end of the trace)')
    .option('--skip-bad', 'skip trace rows that cannot be read (and report how many) instead of failing')
    .option('--json', 'print the report as JSON')
    .option('--csv', 'print one CSV row per policy')
    .option('--plot <dir>', 'write SVG plots (utilisation over time, placed before failure, acceptance, latency ratios) into DIR')
    .option(
      '--workers <n>',
      'worker threads running policies (and vmagent starts) in parallel; 0: this thread; auto: fleet mode uses min(policies, CPU cores) workers (each with a 64 MB young generation, which replays large fleets faster), vmagent mode this thread',
      'auto',
    )
    .option('--rebalance <every>', "fleet mode: also replay each policy with numaplan's rebalancing planner run on every host every EVERY of simulated time (e.g. 1h, 10m; planner defaults as in numaplan rebalance), beside the same replay without it, with an ESXi-like rule (a gap of 10% between nodes' loads, every 2 s) and with a numad-like rule (spread VMs to the node of most free resources, every 15 s); replayed in this thread")
    .option('--rebalance-horizon <duration>', "with --rebalance: the planner's --horizon (default 10m)")
    .option('--rebalance-threshold <x>', "with --rebalance: the planner's --threshold (default 4)")
    .option('--rebalance-cooldown <duration>', "with --rebalance: the planner's --cooldown (default 10m; also the window 'within cool-down' counts in)")
    .option('--rebalance-rate <bytes/s>', 'with --rebalance: the migration rate every rule\'s cost is estimated at (default 1G/s)')
    .option('--rebalance-windows <k>', 'with --rebalance and --horizon N: compare the four runs on K windows of N arrivals, the first at the start of the trace and the others evenly spaced to its end, each replayed from an empty fleet (default 1; the main tables are the first window\'s)')
    .option('--no-progress', 'no progress bar on stderr')
    .addHelpText(
      'after',
      `
Benchmark mode (VMAgent rules): servers of 2 NUMA nodes x (40 cores, 90 GB); a VM above the
scenario's memory threshold is split evenly over both nodes of one server, else fits in one node.
The score is the number of requests placed before the first that fits nowhere, averaged over
--starts random start offsets drawn from --seed; all policies use the same offsets.

Examples:
  numaplan simulate --trace huawei-east-1-lt.csv --mode vmagent --scenario fading --servers 5
  numaplan simulate --trace huawei-east-1-lt.csv --mode vmagent --scenario recovering --servers 20 \\
      --policies numaplan,first-fit --starts 20 --seed 7 --json
  numaplan simulate --trace huawei-east-1-lt.csv --mode vmagent --scenario fading --servers 50 --plot plots/

Fleet mode: every policy of the placement engine (${fleetPolicyNames().join(', ')}) replays the trace
on a fresh fleet; departures release; host selection is indexed (see docs). Trace VMs map to
dedicated vCPUs on hardware threads and their memory with page size auto.
  numaplan simulate --mode fleet --trace huawei-east-1-lt.csv --hosts preset:epyc-2s-nps4*40
  numaplan simulate --mode fleet --synthetic 1000000 --hosts preset:epyc-2s-nps4*5000,preset:broadwell-2s*5000 \\
      --policies host-best-fit --seed 3
  numaplan simulate --mode fleet --trace huawei-east-1-lt.csv --hosts preset:epyc-2s-nps4*40 \\
      --policies numaplan --rebalance 1h
  numaplan simulate --mode fleet --trace huawei-east-1-lt.csv --hosts preset:epyc-2s-nps4*4 \\
      --policies numaplan --horizon 8000 --rebalance 1h --rebalance-windows 8 --plot plots/`,
    )
    .action(async (opts: SimulateOptions) => {
      const report = await runSimulation(opts, io);
      if (opts.plot) {
        const files = writePlots(report, opts.plot);
        if (!opts.json && !opts.csv) io.err(`plots: ${files.join(', ')}\n`);
      }
      if (opts.json) writeJson(io, report);
      else if (opts.csv) io.out(renderCsv(report));
      else io.out(renderTable(report));
    });
}

async function runSimulation(opts: SimulateOptions, io: Io): Promise<SimReport> {
  const starts = intOption(opts.starts, '--starts', 1);
  const seed = intOption(opts.seed, '--seed', 0);
  const workers = opts.workers === 'auto' ? null : intOption(opts.workers, '--workers', 0);
  const horizon = opts.horizon === undefined ? undefined : intOption(opts.horizon, '--horizon', 1);
  if (opts.mode === 'fleet') return runFleet(opts, io, seed, horizon, workers);
  if (opts.rebalance !== undefined) throw usage('--rebalance', 'fleet mode only: the VMAgent rules model no NUMA placement to rebalance');
  if (opts.calibration !== undefined) throw usage('--calibration', 'fleet mode only: the VMAgent rules model servers, not a host whose latencies were measured');
  if (!opts.trace) throw usage('--trace', 'a trace file is required (--trace FILE)');
  if (!opts.scenario) throw usage('--scenario', 'vmagent mode needs --scenario fading|recovering');
  if (opts.servers === undefined) throw usage('--servers', 'vmagent mode needs --servers N');
  const servers = intOption(opts.servers, '--servers', 1);
  const policies = (opts.policies ?? VMAGENT_POLICIES.join(',')).split(',').map((p) => p.trim()).filter((p) => p !== '');
  for (const p of policies) if (!VMAGENT_POLICIES.includes(p)) throw unknownPolicy(p, VMAGENT_POLICIES);
  if (policies.length === 0) throw usage('--policies', 'no policy given');

  const trace = readTrace(opts.trace, { skipBad: opts.skipBad === true });
  if (trace.skipped > 0) io.err(`skipped ${trace.skipped} bad row(s) of ${opts.trace}\n`);
  const scenario = vmagentScenario(opts.scenario, servers);
  const progress = makeProgress(io, opts.progress && process.stderr.isTTY === true, 'runs');
  const offsets = vmagentOffsets(trace, starts, seed);
  let report: SimReport;
  if (workers !== null && workers > 0) {
    const runs = await runVmagentParallel({
      tracePath: opts.trace,
      skipBad: opts.skipBad === true,
      scenario,
      policies,
      offsets,
      ...(horizon !== undefined ? { horizon } : {}),
      samples: 300,
      workers,
      onRun: progress,
    });
    report = vmagentReport(trace, scenario, seed, offsets, runs);
  } else {
    report = simulateVmagent(trace, scenario, {
      policies,
      starts,
      seed,
      offsets,
      ...(horizon !== undefined ? { horizon } : {}),
      clock: () => performance.now(),
      onRun: progress,
    });
  }
  progress(-1, 0);
  return report;
}

async function runFleet(opts: SimulateOptions, io: Io, seed: number, horizon: number | undefined, asked: number | null): Promise<SimReport> {
  if (!opts.hosts) throw usage('--hosts', 'fleet mode needs --hosts SOURCE*COUNT,... (e.g. preset:epyc-2s-nps4*100)');
  if (!opts.trace && opts.synthetic === undefined) throw usage('--trace', 'fleet mode needs --trace FILE or --synthetic N');
  const read: FleetGroup[] = await Promise.all(
    parseHostSpec(opts.hosts).map(async (g) => ({ spec: g.source, count: g.count, topology: await loadTopology(g.source) })),
  );
  const calibration = opts.calibration !== undefined ? readCalibrationFile(opts.calibration) : null;
  const calibrates = (t: Topology): boolean => calibration !== null && calibration.nodes.join(',') === t.nodes.map((n) => n.id).join(',');
  const groups = read.map((g) => (calibration && calibrates(g.topology) ? { ...g, topology: withCalibration(g.topology, calibration) } : g));
  if (calibration && !read.some((g) => calibrates(g.topology))) {
    throw usage('--calibration', `measured on nodes ${calibration.nodes.join(',')}; no host group of --hosts has exactly those nodes`);
  }
  const known = fleetPolicyNames();
  const policies = (opts.policies ?? known.join(',')).split(',').map((p) => p.trim()).filter((p) => p !== '');
  for (const p of policies) if (!known.includes(p)) throw unknownPolicy(p, known);
  const workers = asked ?? Math.max(1, Math.min(policies.length, availableParallelism()));
  let trace: Trace;
  let source: FleetTraceSource;
  if (opts.synthetic !== undefined) {
    const count = intOption(opts.synthetic, '--synthetic', 1);
    const load = Number(opts.load);
    if (!(load > 0)) throw usage('--load', `"${opts.load}" is not a positive number`);
    const vcpus = groups.reduce((s, g) => s + g.count * g.topology.pus.filter((p) => p.online && p.allowed).length, 0);
    const spec = { count, seed, rate: forLoad(load, vcpus), lifetime: opts.lifetime };
    trace = syntheticTrace(spec);
    source = { kind: 'synthetic', spec };
  } else {
    trace = readTrace(opts.trace as string, { skipBad: opts.skipBad === true });
    if (trace.skipped > 0) io.err(`skipped ${trace.skipped} bad row(s) of ${opts.trace}\n`);
    source = { kind: 'file', path: opts.trace as string, skipBad: opts.skipBad === true };
  }
  let splitGb: number | null = null;
  if (opts.splitAbove !== undefined) {
    splitGb = Number(opts.splitAbove);
    if (!(splitGb >= 0)) throw usage('--split-above', `"${opts.splitAbove}" is not a number of GB >= 0`);
    trace = splitAbove(trace, splitGb * GIB);
  }
  const bar = makeProgress(io, opts.progress && process.stderr.isTTY === true, 'arrivals');
  let rebalance: { everySec: number; plan?: Partial<Omit<PlanOptions, 'now'>>; windows?: number } | null = null;
  const tuned = [opts.rebalanceHorizon, opts.rebalanceThreshold, opts.rebalanceCooldown, opts.rebalanceRate, opts.rebalanceWindows].some((x) => x !== undefined);
  if (opts.rebalance === undefined && tuned) throw usage('--rebalance', 'the --rebalance-* settings need --rebalance EVERY');
  if (opts.rebalance !== undefined) {
    const ms = parseDuration(opts.rebalance);
    if (ms === null || ms <= 0) throw usage('--rebalance', `expected an interval of simulated time like 1h, 10m or 2s, got "${opts.rebalance}"`);
    const plan: Partial<Omit<PlanOptions, 'now'>> = {};
    const duration = (flag: string, v: string): number => {
      const d = parseDuration(v);
      if (d === null) throw usage(flag, `expected a duration like 30s, 10m or 1h, got "${v}"`);
      return d;
    };
    if (opts.rebalanceHorizon !== undefined) {
      const h = duration('--rebalance-horizon', opts.rebalanceHorizon);
      if (h <= 0) throw usage('--rebalance-horizon', `must be longer than 0, got "${opts.rebalanceHorizon}"`);
      plan.horizonSec = h / 1000;
    }
    if (opts.rebalanceCooldown !== undefined) plan.cooldownMs = duration('--rebalance-cooldown', opts.rebalanceCooldown);
    if (opts.rebalanceThreshold !== undefined) {
      const x = Number(opts.rebalanceThreshold);
      if (opts.rebalanceThreshold.trim() === '' || !(x >= 0)) throw usage('--rebalance-threshold', `expected a number >= 0, got "${opts.rebalanceThreshold}"`);
      plan.threshold = x;
    }
    if (opts.rebalanceRate !== undefined) {
      const r = parseRate(opts.rebalanceRate);
      if (r === null) throw usage('--rebalance-rate', `expected a rate like 1G/s or 500M/s, got "${opts.rebalanceRate}"`);
      plan.rateBytesPerSec = r;
    }
    let windows = 1;
    if (opts.rebalanceWindows !== undefined) {
      windows = intOption(opts.rebalanceWindows, '--rebalance-windows', 1);
      if (windows > 1 && horizon === undefined) throw usage('--rebalance-windows', 'windows of arrivals need --horizon N (arrivals per window)');
    }
    rebalance = { everySec: ms / 1000, ...(Object.keys(plan).length > 0 ? { plan } : {}), ...(windows > 1 ? { windows } : {}) };
  }
  if (workers > 0 && rebalance === null) {
    const runs = await runFleetParallel({
      trace: source,
      hosts: parseHostSpec(opts.hosts).map((h, i) => (groups[i]?.topology.calibration ? { ...h, calibration: groups[i]?.topology.calibration } : h)),
      ...(splitGb !== null ? { splitAboveBytes: splitGb * GIB } : {}),
      policies,
      ...(horizon !== undefined ? { horizon } : {}),
      samples: 300,
      workers,
      onProgress: bar,
    });
    bar(-1, 0);
    return fleetReport(trace, groups, seed, runs);
  }
  const report = simulateFleet(trace, groups, {
    policies,
    seed,
    ...(horizon !== undefined ? { horizon } : {}),
    clock: () => performance.now(),
    onProgress: bar,
    ...(rebalance ? { rebalance } : {}),
  });
  bar(-1, 0);
  return report;
}

/**
 * A progress bar on stderr (only when stderr is a terminal-like sink and the run has several steps):
 * the policy being replayed when the caller names it, and an estimate of the time left from the rate
 * so far (of the whole bar: in fleet mode with workers, every policy's arrivals together).
 */
function makeProgress(io: Io, enabled: boolean, unit: string): (done: number, total: number, policy?: string) => void {
  let last = '';
  let start = -1;
  let lastPolicy = '';
  return (done, total, policy) => {
    if (!enabled) return;
    if (done < 0) {
      if (last !== '') io.err('\n');
      return;
    }
    const now = performance.now();
    // The rate restarts with each policy when the bar is per policy (done falls back).
    if (start < 0 || (policy !== undefined && policy !== lastPolicy && done <= total / 50)) start = now;
    if (policy !== undefined) lastPolicy = policy;
    const width = 30;
    const filled = Math.round((done / total) * width);
    const elapsed = (now - start) / 1000;
    const eta = done > 0 && elapsed > 0.5 ? `, about ${Math.ceil((elapsed * (total - done)) / done)} s left` : '';
    const line = `\rsimulating${policy ? ` ${policy}` : ''} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${unit}${eta}   `;
    if (line !== last) io.err(line);
    last = line;
  };
}

/** The terminal table. */
export function renderTable(report: SimReport): string {
  const s = report.scenario;
  const head = s
    ? `VMAgent rules, scenario ${s.name}, ${s.servers} servers of 2 x (${s.coresPerNode} cores, ${s.memoryPerNodeGiB} GB), split above ${s.doubleThresholdGiB} GB, departures ${s.applyDeletions ? 'applied' : 'ignored'}`
    : `fleet of ${report.fleet?.hosts ?? 0} hosts`;
  const rows = report.results.map((r) => [
    r.policy,
    `${r.placedBeforeFailure.toFixed(1)} ± ${r.placedBeforeFailureStd.toFixed(1)}`,
    `${r.placedBeforeFailureMin}-${r.placedBeforeFailureMax}`,
    pct(r.acceptanceRate),
    pct(r.cpuUtilisationAtFailure),
    pct(r.memoryUtilisationAtFailure),
    pct(r.singleNodeFraction),
    `${r.latencyRatioMean.toFixed(3)} / ${r.latencyRatioP95.toFixed(2)}`,
    `${r.strandedCores.toFixed(1)} / ${r.strandedMemoryGiB.toFixed(1)}`,
    r.decisionsPerSecond.toLocaleString('en-US'),
  ]);
  const moved = report.results.filter((r) => r.rebalance);
  const rebalanceTable = moved.length === 0
    ? []
    : [
        '',
        `rebalancing: numaplan's planner every ${moved[0]?.rebalance?.everySec} s of simulated time, the ESXi-like rule every 2 s, the numad-like rule every 15 s; locality sampled every ${moved[0]?.rebalance?.everySec} s in every run:`,
        table(
          ['policy', 'moves', 'GiB moved', 'moves/host-h', 'GiB/host-h', 'VMs moved', 'moved >1', 'within cool-down', 'moved back', 'admitted / unsplit by moves', 'vCPU-h accepted', 'latency mean/p95 over time', 'one node over time'],
          moved.map((r) => {
            const b = r.rebalance as NonNullable<typeof r.rebalance>;
            return [r.policy, String(b.moves), b.bytesGiB.toFixed(1), b.movesPerHostHour.toFixed(4), b.bytesGiBPerHostHour.toFixed(3), String(b.vmsMoved), String(b.vmsMovedMoreThanOnce), String(b.movesWithinCooldown), String(b.returns), b.rule === 'numaplan' ? `${b.admitted}, ${b.unsplit} unsplit (${b.roomMoves} moves)` : '-', pct(b.vcpuHoursAccepted), `${b.latencyMeanOverTime.toFixed(4)} / ${b.latencyP95OverTime.toFixed(3)}`, pct(b.oneNodeOverTime)];
          }),
        ),
      ];
  const w = report.rebalanceWindows;
  const windowTable = !w || w.length < 2
    ? []
    : [
        '',
        `rebalancing over ${w.length} windows of ${w[0]?.runs[0]?.arrivals ?? 0} arrivals (window: index of its first request in the trace; each replayed from an empty fleet):`,
        table(
          ['window', 'policy', 'accepted', 'placed before failure', 'vCPU-h accepted', 'admitted / unsplit by moves', 'moves', 'GiB moved', 'within cool-down', 'latency mean/p95 over time'],
          [
            ...w.flatMap((x) => x.runs.map((r) => [String(x.offset), r.policy, pct(r.acceptanceRate), String(r.placedBeforeFailure), pct(r.vcpuHoursAccepted), `${r.admitted} / ${r.unsplit}`, String(r.moves), r.bytesGiB.toFixed(1), String(r.movesWithinCooldown), `${r.latencyMeanOverTime.toFixed(4)} / ${r.latencyP95OverTime.toFixed(3)}`])),
            ...(w[0]?.runs ?? []).map((_, i) => {
              const col = (f: (r: NonNullable<typeof w>[number]['runs'][number]) => number): number => w.reduce((t, x) => t + f(x.runs[i] as NonNullable<typeof w>[number]['runs'][number]), 0);
              const k = w.length;
              return ['mean', w[0]?.runs[i]?.policy ?? '', pct(col((r) => r.acceptanceRate) / k), (col((r) => r.placedBeforeFailure) / k).toFixed(1), pct(col((r) => r.vcpuHoursAccepted) / k), `${(col((r) => r.admitted) / k).toFixed(1)} / ${(col((r) => r.unsplit) / k).toFixed(1)}`, (col((r) => r.moves) / k).toFixed(1), (col((r) => r.bytesGiB) / k).toFixed(1), (col((r) => r.movesWithinCooldown) / k).toFixed(1), `${(col((r) => r.latencyMeanOverTime) / k).toFixed(4)} / ${(col((r) => r.latencyP95OverTime) / k).toFixed(3)}`];
            }),
          ],
        ),
      ];
  return `${[
    head,
    `trace ${report.trace.source} (${report.trace.requests} requests${report.trace.skipped ? `, ${report.trace.skipped} bad rows skipped` : ''}); seed ${report.seed}; ${report.starts} starts`,
    '',
    table(
      ['policy', 'placed before failure', 'min-max', 'accepted', 'cores@fail', 'mem@fail', 'one node', 'latency mean/p95', 'stranded cores/GB', 'decisions/s'],
      rows,
    ),
    ...rebalanceTable,
    ...windowTable,
  ].join('\n')}\n`;
}

/** One CSV row per policy (header first). */
export function renderCsv(report: SimReport): string {
  const cols = [
    'policy', 'placedBeforeFailure', 'placedBeforeFailureStd', 'placedBeforeFailureMin', 'placedBeforeFailureMax', 'acceptanceRate',
    'cpuUtilisationAtFailure', 'memoryUtilisationAtFailure', 'cpuUtilisationMean', 'singleNodeFraction', 'latencyRatioMean', 'latencyRatioP95',
    'strandedCores', 'strandedMemoryGiB', 'deviceLocalityMisses', 'decisionsPerSecond',
  ] as const;
  const extra = ['mode', 'scenario', 'servers', 'seed', 'starts'];
  const lines = [[...cols, ...extra].join(',')];
  for (const r of report.results) {
    lines.push(
      [
        ...cols.map((c) => String(r[c])),
        report.mode,
        report.scenario?.name ?? '',
        String(report.scenario?.servers ?? report.fleet?.hosts ?? ''),
        String(report.seed),
        String(report.starts),
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

function intOption(text: string, name: string, min: number): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min) throw usage(name, `"${text}" is not a whole number >= ${min}`);
  return v;
}

function usage(path: string, message: string): Error & { code: string; path: string } {
  return Object.assign(new Error(`${path}: ${message}`), { code: 'ERR_USAGE', path });
}
