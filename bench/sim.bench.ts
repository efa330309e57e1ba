/**
 * Simulator benchmarks: reading the Huawei trace, and replaying all of it (116,313 VMs, departures
 * applied, rejections do not stop the replay) over 100 two-node servers under the benchmark's
 * rules, once per policy; then fleet mode: the same trace over 100 broadwell-2s hosts with
 * numaplan, first-fit and host-best-fit. The fleet rows time the built JavaScript (dist/, what the
 * CLI runs; `npm run build` first): under tsx every closure the placement context creates pays a
 * naming helper, which doubles the time. Goal: each replay under 2 s. The million-request fleet
 * run has its own suite (bench/sim-million.bench.ts, one sample), so this one stays a few minutes.
 */
import { readTrace } from '../src/adapters/trace/read-trace.js';
import { traceEvents } from '../src/core/sim/events.js';
import type { Trace } from '../src/core/sim/trace.js';
import { VmagentCluster } from '../src/core/sim/vmagent/cluster.js';
import type { VmagentPolicy } from '../src/core/sim/vmagent/policy.js';
import { VMAGENT_POLICIES, vmagentPolicy } from '../src/core/sim/vmagent/registry.js';
import { vmagentScenario } from '../src/core/sim/vmagent/rules.js';
import { runVmagent, vmagentVms } from '../src/core/sim/vmagent/run.js';
import { requireDataSet } from './lib/data.js';
import { type SimDist, loadSimDist } from './lib/sim-dist.js';
import type { BenchCase, BenchSuite, CaseResult } from './lib/types.js';

type Dist = SimDist;
let dist: Dist | null = null;
let distMissing = '';
const FLEET_POLICIES = ['numaplan', 'first-fit', 'host-best-fit'];

async function loadDist(): Promise<void> {
  const loaded = await loadSimDist();
  if (typeof loaded === 'string') distMissing = loaded;
  else dist = loaded;
}

function fleetGroups(d: Dist, names: readonly string[], each: number): import('../src/core/sim/fleet/replay.js').FleetGroup[] {
  return names.map((n) => {
    const preset = d.presets.getPreset(n);
    if (!preset) throw new Error(`no preset ${n}`);
    return { spec: `preset:${n}`, count: each, topology: preset.build() };
  });
}

/** One fleet replay of the Huawei trace over 100 broadwell-2s hosts; returns accepted VMs. */
function fleetReplay(policy: string): number {
  const d = dist as Dist;
  const p = d.policies.fleetPolicy(policy);
  if (!p) throw new Error(policy);
  return d.replay.replayFleet(fleetTrace as Trace, d.replay.buildFleet(fleetGroups(d, ['broadwell-2s'], 100)), p).accepted;
}
let fleetTrace: Trace | null = null;

const FLEET_GOALS: Record<string, number> = Object.fromEntries(FLEET_POLICIES.map((p) => [`fleet: Huawei over 100 broadwell-2s, ${p}`, 2000]));

let tracePath = '';
let trace: Trace | null = null;
const scenario = vmagentScenario('recovering', 100);

function replay(policy: VmagentPolicy): number {
  const t = trace as Trace;
  const r = runVmagent(t, scenario, policy, { offset: 0 }, vms, cluster);
  return r.accepted;
}
let vms: ReturnType<typeof vmagentVms> = [];
let cluster: VmagentCluster;

export const suite: BenchSuite = {
  name: 'sim',
  description: 'Huawei trace: read, and replay all 116,313 VMs over 100 two-node servers per policy (recovering rules)',
  goal: {
    text: 'each full replay under 2 s (vmagent and fleet rows)',
    check: (cases: readonly CaseResult[]) => {
      let verdict: boolean | null = true;
      for (const c of cases) {
        const limit = FLEET_GOALS[c.name] ?? (c.name.startsWith('replay ') ? 2000 : undefined);
        if (limit === undefined) continue;
        if (c.status !== 'ok' || c.median === undefined) verdict = verdict === false ? false : null;
        else if (c.median > limit) verdict = false;
      }
      return verdict;
    },
  },
  runs: 3,
  setup: async () => {
    tracePath = requireDataSet('traces/huawei-east-1-lt.from-SPANE.csv');
    trace = readTrace(tracePath);
    traceEvents(trace);
    vms = vmagentVms(trace, scenario);
    cluster = new VmagentCluster(scenario, trace.requests.length);
    await loadDist();
    if (dist) fleetTrace = dist.read.readTrace(tracePath);
  },
  cases: (): BenchCase[] => [
    { name: 'read trace (116,313 rows)', process: true, run: () => traceEvents(readTrace(tracePath)) },
    ...VMAGENT_POLICIES.map((name) => ({
      name: `replay ${name}`,
      process: true,
      run: () => replay(vmagentPolicy(name) as VmagentPolicy),
    })),
    ...FLEET_POLICIES.map((name) => ({
      name: `fleet: Huawei over 100 broadwell-2s, ${name}`,
      process: true,
      unavailable: () => (dist ? null : distMissing),
      run: () => fleetReplay(name),
    })),
  ],
};
