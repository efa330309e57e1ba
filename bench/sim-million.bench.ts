/**
 * The simulator's largest fleet case on its own: one million synthetic requests (seed 1, 90% vCPU
 * load, exponential lifetimes) over 10,000 hosts of four presets (2,500 each of epyc-2s-nps4,
 * broadwell-2s, epyc-2s-nps1, xeon-2s-snc2) with the numaplan policy. One sample only (`runs: 1`):
 * a replay takes minutes, so the figure is a single measurement, not a median of several. Times
 * the built JavaScript (dist/, what the CLI runs; `npm run build` first), as bench/sim.bench.ts
 * does. Goal: under 30 s.
 */
import type { FleetGroup } from '../src/core/sim/fleet/fleet-state.js';
import { type SimDist, loadSimDist } from './lib/sim-dist.js';
import type { BenchCase, BenchSuite, CaseResult } from './lib/types.js';

type Dist = SimDist;
let dist: Dist | null = null;
let distMissing = '';
const MIXED = ['epyc-2s-nps4', 'broadwell-2s', 'epyc-2s-nps1', 'xeon-2s-snc2'];
const CASE = 'fleet: 1M synthetic VMs over 10,000 mixed hosts, numaplan (1 sample)';
const GOAL_MS = 30_000;

async function loadDist(): Promise<void> {
  const loaded = await loadSimDist();
  if (typeof loaded === 'string') distMissing = loaded;
  else dist = loaded;
}

/** The replay; returns accepted VMs. */
function million(): number {
  const d = dist as Dist;
  const groups: FleetGroup[] = MIXED.map((n) => {
    const preset = d.presets.getPreset(n);
    if (!preset) throw new Error(`no preset ${n}`);
    return { spec: `preset:${n}`, count: 2500, topology: preset.build() };
  });
  const vcpus = groups.reduce((s, g) => s + g.count * g.topology.pus.filter((p) => p.online && p.allowed).length, 0);
  const trace = d.synthetic.syntheticTrace({ count: 1_000_000, seed: 1, rate: d.synthetic.forLoad(0.9, vcpus) });
  const p = d.policies.fleetPolicy('numaplan');
  if (!p) throw new Error('numaplan');
  return d.replay.replayFleet(trace, new d.state.FleetState(groups), p).accepted;
}

export const suite: BenchSuite = {
  name: 'sim-million',
  description: '1M synthetic requests over 10,000 mixed hosts, numaplan; a single sample (runs: 1), the replay takes minutes',
  goal: {
    text: 'the million-request replay under 30 s (single sample)',
    check: (cases: readonly CaseResult[]) => {
      const c = cases.find((x) => x.name === CASE);
      if (!c || c.status !== 'ok' || c.median === undefined) return null;
      return c.median <= GOAL_MS;
    },
  },
  runs: 1,
  setup: loadDist,
  cases: (): BenchCase[] => [{ name: CASE, process: true, noWarmup: true, unavailable: () => (dist ? null : distMissing), run: million }],
};
