/**
 * Fleet mode end to end: replay a trace's events (arrivals and departures, `traceEvents` order) over
 * a fleet of the kernel (`core/fleet`), once per policy, each on a fresh fleet, and report side by
 * side. A departure releases what its VM took (conservation: once every VM has left, the fleet is as
 * empty as it started). Rejected VMs are not retried; their departures are ignored.
 *
 * What is measured comes from the ledgers: utilisation is the PUs and bytes the VMs hold over what
 * the hosts offer (usable PUs outside the reserve on the DRAM nodes with CPUs, and those nodes'
 * memory outside the reserve); stranded capacity at the first refusal is the free PUs of nodes with
 * less free memory than the smallest VM of the trace, and the free memory of nodes with fewer free
 * PUs than the smallest VM.
 */
import { Fleet, type FleetChoice, type FleetHost, type FleetRefusal } from '../../fleet/fleet.js';
import { allocationOfDecision } from '../../placement/decide.js';
import { HostLedger } from '../../placement/ledger.js';
import type { Topology } from '../../topology/model.js';
import { CREATE, type Trace } from '../trace.js';
import { traceEvents } from '../events.js';
import { calibrationLabel } from '../../topology/calibration.js';
import { type PolicyResult, type SimReport, type UtilisationSeries, latencyHistogram } from '../report.js';
import { mean, quantile, round } from '../stats.js';
import { type FleetPolicy, fleetPolicy, fleetPolicyNames } from './policies.js';
import { toVmRequest, vcpuSlots } from './request-map.js';
import { NUMAD_EVERY_SEC } from '../../rebalance/numad-rule.js';
import { ESXI_EVERY_SEC, FleetRebalancer, type RebalanceStats, type ReplayRebalance } from './rebalance.js';

const GIB = 1024 ** 3;

/** A host group after its topology was loaded. */
export interface FleetGroup {
  spec: string;
  count: number;
  topology: Topology;
}

/** The name of host `i` of a fleet built from groups (as the service test registers them too). */
export function fleetHostName(i: number): string {
  return `h${String(i).padStart(5, '0')}`;
}

/** A fresh fleet of the groups' hosts (ids in group order), each with the default reserve. */
export function buildFleet(groups: readonly FleetGroup[]): Fleet {
  const fleet = new Fleet();
  let i = 0;
  for (const g of groups) for (let k = 0; k < g.count; k++) fleet.add(fleetHostName(i++), new HostLedger(g.topology));
  return fleet;
}

/** Options of a fleet simulation. */
export interface FleetSimOptions {
  policies: readonly string[];
  seed: number;
  /** Arrivals to replay (default: all). */
  horizon?: number;
  /** Utilisation samples per policy (default 300). */
  samples?: number;
  clock?: () => number;
  /** Called about every 1% of a policy's arrivals with the arrivals replayed, of all, and the policy's name. */
  onProgress?: (done: number, total: number, policy: string) => void;
  /** Called for every arrival with the trace request's index and the fleet's choice (or refusal). */
  onChoice?: (request: number, choice: FleetChoice | FleetRefusal) => void;
  /**
   * Rebalancing (see rebalance.ts): with `everySec`, each policy replays four times: as is, as
   * `POLICY+rebalance` (numaplan's planner every `everySec`), as `POLICY+esxi-rule` (the ESXi-like
   * rule every 2 s) and as `POLICY+numad-rule` (every 15 s), the locality figures of all of them
   * sampled every `everySec`.
   */
  rebalance?: {
    everySec: number;
    plan?: NonNullable<ReplayRebalance['plan']>;
    /**
     * Windows of `horizon` arrivals to compare the four runs on (default 1): the first starts at the
     * trace's first request, the others are evenly spaced so that the last ends at the trace's end.
     * The report's results are those of the first; `rebalanceWindows` has every window's figures.
     */
    windows?: number;
  };
}

/** Options of one replay. */
export type ReplayOptions = Omit<FleetSimOptions, 'policies' | 'seed' | 'rebalance'> & { rebalance?: ReplayRebalance };

/** What one placed VM holds, for its departure and the utilisation. */
interface Held {
  host: FleetHost;
  name: string;
  pus: number;
  bytes: number;
}

/** What one policy's replay measured (before aggregation). */
export interface FleetRun {
  policy: FleetPolicy;
  arrivals: number;
  accepted: number;
  placedBeforeFailure: number;
  singleNode: number;
  deviceMisses: number;
  latency: Float64Array;
  cpuAtFailure: number;
  memAtFailure: number;
  strandedCores: number;
  strandedMemory: number;
  cpuSum: number;
  memSum: number;
  samples: { step: number; time: number; cpu: number; memory: number }[];
  elapsedMs: number;
  /** The fleet after the replay (for conservation checks). */
  fleet: Fleet;
  /** Rebalancing figures, when the replay sampled them, with the vCPU-hours requested and accepted in the window. */
  rebalance?: RebalanceStats & { vcpuHours: { requested: number; accepted: number } };
}

/** Calls `visit` with the free PUs and bytes of every counted node of every host. */
function eachCountedNode(fleet: Fleet, visit: (pus: number, bytes: number) => void): void {
  for (const h of fleet.hosts()) {
    const l = h.ledger;
    for (let i = 0; i < l.nodes.length; i++) {
      if (!l.isCounted(i)) continue;
      const f = l.nodeFree(i);
      visit(f.pus, f.bytes);
    }
  }
}

/** Free PUs and bytes over the counted nodes of every host. */
export function fleetFree(fleet: Fleet): { pus: number; bytes: number } {
  let pus = 0;
  let bytes = 0;
  eachCountedNode(fleet, (p, b) => {
    pus += p;
    bytes += b;
  });
  return { pus, bytes };
}

/** Replays one policy. `fleet` must be fresh. */
export function replayFleet(trace: Trace, fleet: Fleet, policy: FleetPolicy, options: ReplayOptions = {}): FleetRun {
  const events = traceEvents(trace);
  const n = events.kind.length;
  const horizon = options.horizon ?? Number.POSITIVE_INFINITY;
  const clock = options.clock ?? (() => 0);
  const reqs = trace.requests;
  const where: (Held | null)[] = new Array<Held | null>(reqs.length).fill(null);
  let minCpu = Number.POSITIVE_INFINITY;
  let minMem = Number.POSITIVE_INFINITY;
  for (const r of reqs) {
    minCpu = Math.min(minCpu, vcpuSlots(r));
    minMem = Math.min(minMem, r.memory);
  }
  const totals = fleetFree(fleet);
  const totalCpu = totals.pus;
  const totalMem = totals.bytes;
  const totalArrivals = Math.min(reqs.length, horizon);
  const sampleEvery = Math.max(1, Math.floor(totalArrivals / (options.samples ?? 300)));
  const progressEvery = Math.max(1, Math.floor(totalArrivals / 100));
  const latency = new Float64Array(totalArrivals);
  let usedCpu = 0;
  let usedMem = 0;
  const run: FleetRun = {
    policy, arrivals: 0, accepted: 0, placedBeforeFailure: 0, singleNode: 0, deviceMisses: 0, latency,
    cpuAtFailure: 0, memAtFailure: 0, strandedCores: 0, strandedMemory: 0, cpuSum: 0, memSum: 0, samples: [], elapsedMs: 0, fleet,
  };
  let failed = false;
  const snapshot = (): void => {
    run.cpuAtFailure = usedCpu / totalCpu;
    run.memAtFailure = usedMem / totalMem;
    let sc = 0;
    let sm = 0;
    eachCountedNode(fleet, (pus, bytes) => {
      if (bytes < minMem) sc += pus;
      if (pus < minCpu) sm += bytes;
    });
    run.strandedCores = sc;
    run.strandedMemory = sm / GIB;
  };
  const rebalancer = options.rebalance ? new FleetRebalancer(fleet, options.rebalance) : null;
  /** With rebalancing: the trace indexes of the arrivals replayed and whether each was placed (for vCPU-hours). */
  const arrived: number[] = [];
  const placed: boolean[] = [];
  const start = clock();
  for (let t = 0; t < n && run.arrivals < horizon; t++) {
    const id = events.req[t] as number;
    rebalancer?.advance(events.time[t] as number);
    if (events.kind[t] !== CREATE) {
      const held = where[id];
      if (held) {
        fleet.release(held.host, held.name);
        where[id] = null;
        usedCpu -= held.pus;
        usedMem -= held.bytes;
      }
      continue;
    }
    run.arrivals++;
    if (rebalancer) arrived.push(id);
    const req = toVmRequest(reqs[id] as (typeof reqs)[number], id);
    let choice: FleetChoice | FleetRefusal = fleet.decide(req, policy.policy, { select: policy.select });
    if (!choice.ok && rebalancer) choice = rebalancer.admit(req, events.time[t] as number, policy.policy) ?? choice;
    else if (choice.ok && rebalancer && choice.decision.nodes.length > 1) choice = rebalancer.unsplit(req, choice, events.time[t] as number, policy.policy) ?? choice;
    if (rebalancer) placed.push(choice.ok);
    if (choice.ok) {
      const d = choice.decision;
      // The arrival's own request (an unsplit decision was made for it with maxNodes 1).
      const alloc = { ...allocationOfDecision(d, 'committed', null), request: req };
      fleet.commit(choice.host, alloc);
      let bytes = 0;
      for (const m of alloc.memory) bytes += m.bytes;
      const pus = alloc.cpus.length + alloc.heldCpus.length + alloc.emulatorCpus.length;
      where[id] = { host: choice.host, name: alloc.name, pus, bytes };
      usedCpu += pus;
      usedMem += bytes;
      latency[run.accepted++] = choice.key[0];
      if (d.nodes.length === 1) run.singleNode++;
      run.deviceMisses += choice.key[2];
      if (!failed) run.placedBeforeFailure++;
      options.onChoice?.(id, choice);
    } else {
      options.onChoice?.(id, choice);
      if (!failed) {
        failed = true;
        snapshot();
      }
    }
    run.cpuSum += usedCpu / totalCpu;
    run.memSum += usedMem / totalMem;
    if (run.arrivals % sampleEvery === 0) run.samples.push({ step: run.arrivals, time: events.time[t] as number, cpu: usedCpu / totalCpu, memory: usedMem / totalMem });
    if (options.onProgress && run.arrivals % progressEvery === 0) options.onProgress(run.arrivals, totalArrivals, policy.name);
  }
  run.elapsedMs = clock() - start;
  if (rebalancer) run.rebalance = { ...rebalancer.stats(), vcpuHours: vcpuHoursOf(reqs, arrived, placed) };
  if (!failed) snapshot();
  run.latency = latency.subarray(0, run.accepted);
  return run;
}

/**
 * vCPU-hours requested and accepted within the window (from the first to the last arrival replayed):
 * each arrival's vCPUs x the part of its lifetime inside the window (to the window's end when it
 * outlives it). Counting VMs weighs a 1-vCPU VM that lives a minute like a 64-vCPU VM that lives
 * days; this weighs what the fleet was asked to run.
 */
function vcpuHoursOf(reqs: Trace['requests'], arrived: readonly number[], placed: readonly boolean[]): { requested: number; accepted: number } {
  const end = arrived.length > 0 ? (reqs[arrived[arrived.length - 1] as number]?.arrival ?? 0) : 0;
  let requested = 0;
  let accepted = 0;
  arrived.forEach((id, i) => {
    const r = reqs[id] as Trace['requests'][number];
    const hours = (Math.max(0, Math.min(r.lifetime ?? Number.POSITIVE_INFINITY, end - r.arrival)) * Math.max(1, Math.ceil(r.vcpus - 1e-9))) / 3600;
    requested += hours;
    if (placed[i]) accepted += hours;
  });
  return { requested, accepted };
}

/** Runs every policy on a fresh fleet and aggregates the report. */
export function simulateFleet(trace: Trace, groups: readonly FleetGroup[], options: FleetSimOptions): SimReport {
  const runs: FleetRun[] = [];
  for (const name of options.policies) {
    const policy = fleetPolicy(name);
    if (!policy) {
      throw Object.assign(new Error(`--policies: unknown policy "${name}" (known in fleet mode: ${fleetPolicyNames().join(', ')})`), { code: 'ERR_POLICY', path: '--policies' });
    }
    const { rebalance, ...rest } = options;
    if (!rebalance) {
      runs.push(replayFleet(trace, buildFleet(groups), policy, rest));
      continue;
    }
    runs.push(...rebalanceRuns(trace, groups, policy, rest, rebalance));
  }
  const report = fleetReport(trace, groups, options.seed, runs);
  const windows = options.rebalance?.windows ?? 1;
  if (options.rebalance && windows > 1) {
    const horizon = options.horizon;
    if (horizon === undefined || !Number.isFinite(horizon)) throw new RangeError('rebalance windows need a horizon (arrivals per window)');
    const { rebalance, ...rest } = options;
    const n = trace.requests.length;
    const rows: NonNullable<SimReport['rebalanceWindows']> = [windowRow(0, runs)];
    for (let w = 1; w < windows; w++) {
      const offset = Math.round((w * Math.max(0, n - horizon)) / (windows - 1));
      const sub = traceWindow(trace, offset, horizon);
      const subRuns: FleetRun[] = [];
      for (const name of options.policies) subRuns.push(...rebalanceRuns(sub, groups, fleetPolicy(name) as FleetPolicy, rest, rebalance));
      rows.push(windowRow(offset, subRuns));
    }
    report.rebalanceWindows = rows;
  }
  return report;
}

/**
 * Requests `offset` to `offset + count` of a trace as a trace of their own (request indexes from 0),
 * with their events in the trace's order when it has them (an event log, or events already derived):
 * a trace object caches its events, so a copy must not carry the whole trace's.
 */
export function traceWindow(trace: Trace, offset: number, count: number): Trace {
  const requests = trace.requests.slice(offset, offset + count);
  const sub: Trace = { source: trace.source, format: trace.format, skipped: trace.skipped, requests };
  const e = trace.events;
  if (e) {
    let n = 0;
    for (let i = 0; i < e.req.length; i++) if ((e.req[i] as number) >= offset && (e.req[i] as number) < offset + requests.length) n++;
    const kind = new Uint8Array(n);
    const req = new Int32Array(n);
    const time = new Float64Array(n);
    let k = 0;
    for (let i = 0; i < e.req.length; i++) {
      const r = e.req[i] as number;
      if (r < offset || r >= offset + requests.length) continue;
      kind[k] = e.kind[i] as number;
      req[k] = r - offset;
      time[k] = e.time[i] as number;
      k++;
    }
    sub.events = { kind, req, time };
  }
  return sub;
}

/** The four runs of a policy with rebalancing: as is, the planner, the ESXi-like rule, the numad-like rule (each on a fresh fleet). */
function rebalanceRuns(trace: Trace, groups: readonly FleetGroup[], policy: FleetPolicy, base: Omit<FleetSimOptions, 'rebalance'>, rebalance: NonNullable<FleetSimOptions['rebalance']>): FleetRun[] {
  const sampleEverySec = rebalance.everySec;
  const plan = rebalance.plan ? { plan: rebalance.plan } : {};
  const moving = { ...policy, name: `${policy.name}+rebalance`, description: `${policy.description}; numaplan's planner every ${rebalance.everySec} s` };
  const esxi = { ...policy, name: `${policy.name}+esxi-rule`, description: `${policy.description}; ESXi-like rule (gap >= 10%) every ${ESXI_EVERY_SEC} s` };
  const numad = { ...policy, name: `${policy.name}+numad-rule`, description: `${policy.description}; numad-like rule every ${NUMAD_EVERY_SEC} s` };
  return [
    replayFleet(trace, buildFleet(groups), policy, { ...base, rebalance: { everySec: rebalance.everySec, rule: 'none', sampleEverySec, ...plan } }),
    replayFleet(trace, buildFleet(groups), moving, { ...base, rebalance: { everySec: rebalance.everySec, rule: 'numaplan', sampleEverySec, ...plan } }),
    replayFleet(trace, buildFleet(groups), esxi, { ...base, rebalance: { everySec: ESXI_EVERY_SEC, rule: 'esxi', sampleEverySec, ...plan } }),
    replayFleet(trace, buildFleet(groups), numad, { ...base, rebalance: { everySec: NUMAD_EVERY_SEC, rule: 'numad', sampleEverySec, ...plan } }),
  ];
}

/** One window's figures per run. */
function windowRow(offset: number, runs: readonly FleetRun[]): NonNullable<SimReport['rebalanceWindows']>[number] {
  return {
    offset,
    runs: runs.map((r) => {
      const b = rebalanceResult(r.rebalance as NonNullable<FleetRun['rebalance']>);
      return {
        policy: r.policy.name,
        arrivals: r.arrivals,
        accepted: r.accepted,
        acceptanceRate: round(r.arrivals ? r.accepted / r.arrivals : 0),
        placedBeforeFailure: r.placedBeforeFailure,
        vcpuHoursAccepted: b.vcpuHoursAccepted,
        admitted: b.admitted,
        unsplit: b.unsplit,
        moves: b.moves,
        bytesGiB: b.bytesGiB,
        movesWithinCooldown: b.movesWithinCooldown,
        latencyMeanOverTime: b.latencyMeanOverTime,
        latencyP95OverTime: b.latencyP95OverTime,
      };
    }),
  };
}

/** What the report reads of a run (a run without its fleet, e.g. posted back by a worker thread). */
export type FleetRunResult = Omit<FleetRun, 'fleet' | 'policy'> & { policy: Pick<FleetPolicy, 'name' | 'description'> };

/** A run as plain data (structured-clone safe): its policy's name and description, no fleet. */
export function fleetRunResult(run: FleetRun): FleetRunResult {
  const { fleet: _fleet, policy, ...rest } = run;
  return { ...rest, policy: { name: policy.name, description: policy.description } };
}

/** The report of fleet runs. */
export function fleetReport(trace: Trace, groups: readonly FleetGroup[], seed: number, runs: readonly FleetRunResult[]): SimReport {
  const results: PolicyResult[] = [];
  const utilisation: UtilisationSeries[] = [];
  for (const r of runs) {
    results.push({
      policy: r.policy.name,
      description: r.policy.description,
      placedBeforeFailure: r.placedBeforeFailure,
      placedBeforeFailureStd: 0,
      placedBeforeFailureMin: r.placedBeforeFailure,
      placedBeforeFailureMax: r.placedBeforeFailure,
      startsWithoutFailure: r.placedBeforeFailure === r.arrivals ? 1 : 0,
      acceptanceRate: round(r.arrivals ? r.accepted / r.arrivals : 0),
      arrivals: r.arrivals,
      accepted: r.accepted,
      cpuUtilisationAtFailure: round(r.cpuAtFailure),
      memoryUtilisationAtFailure: round(r.memAtFailure),
      cpuUtilisationMean: round(r.arrivals ? r.cpuSum / r.arrivals : 0),
      memoryUtilisationMean: round(r.arrivals ? r.memSum / r.arrivals : 0),
      singleNodeFraction: round(r.accepted ? r.singleNode / r.accepted : 0),
      latencyRatioMean: round(mean(r.latency)),
      latencyRatioP95: round(quantile(r.latency, 0.95)),
      strandedCores: round(r.strandedCores, 2),
      strandedMemoryGiB: round(r.strandedMemory, 2),
      deviceLocalityMisses: r.deviceMisses,
      decisionsPerSecond: r.elapsedMs > 0 ? Math.round((r.arrivals * 1000) / r.elapsedMs) : 0,
      perStart: [{ offset: 0, placedBeforeFailure: r.placedBeforeFailure }],
      latencyHistogram: latencyHistogram(r.latency),
      ...(r.rebalance ? { rebalance: rebalanceResult(r.rebalance) } : {}),
    });
    utilisation.push({ policy: r.policy.name, points: r.samples.map((p) => ({ step: p.step, time: p.time, cpu: round(p.cpu), memory: round(p.memory) })) });
  }
  return {
    schema: 'numaplan.simulate/v1',
    mode: 'fleet',
    trace: { source: trace.source, format: trace.format, requests: trace.requests.length, skipped: trace.skipped },
    fleet: {
      hosts: groups.reduce((s, g) => s + g.count, 0),
      groups: groups.map((g) => {
        const cpuNodes = g.topology.nodes.filter((nd) => g.topology.pus.some((p) => p.node === nd.id));
        return {
          spec: g.spec,
          count: g.count,
          nodes: g.topology.nodes.length,
          cores: g.topology.cores.length,
          memoryGiB: round(cpuNodes.reduce((s, nd) => s + nd.memory.total, 0) / GIB, 1),
          ...(g.topology.calibration ? { calibration: calibrationLabel(g.topology.calibration) } : {}),
        };
      }),
    },
    seed,
    starts: 1,
    offsets: [0],
    results,
    utilisation,
  };
}

/** The report's rebalancing figures of a run. */
function rebalanceResult(s: NonNullable<FleetRun['rebalance']>): NonNullable<PolicyResult['rebalance']> {
  const perHour = (x: number): number => (s.hostHours > 0 ? round(x / s.hostHours, 4) : 0);
  return {
    everySec: s.everySec,
    rule: s.rule,
    ticks: s.ticks,
    moves: s.moves,
    bytesGiB: round(s.bytes / GIB, 2),
    movesPerHostHour: perHour(s.moves),
    bytesGiBPerHostHour: perHour(s.bytes / GIB),
    vmsMoved: s.vmsMoved,
    vmsMovedMoreThanOnce: s.vmsMovedMoreThanOnce,
    movesWithinCooldown: s.movesWithinCooldown,
    returns: s.returns,
    admitted: s.admitted,
    unsplit: s.unsplit,
    roomMoves: s.roomMoves,
    vcpuHoursAccepted: s.vcpuHours.requested > 0 ? round(s.vcpuHours.accepted / s.vcpuHours.requested, 4) : 1,
    latencyMeanOverTime: round(s.latencyMeanOverTime),
    latencyP95OverTime: round(s.latencyP95OverTime),
    oneNodeOverTime: round(s.oneNodeOverTime),
    overTime: s.series.map((x) => ({ time: x.time, latencyMean: round(x.mean), latencyP95: round(x.p95), oneNode: round(x.oneNode), movedGiB: round(x.bytes / GIB, 2) })),
  };
}
