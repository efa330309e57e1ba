/**
 * The simulator's largest fleet case on its own: one million synthetic requests (seed 1, 90% vCPU
 * load, exponential lifetimes) over 10,000 hosts of four presets (2,500 each of epyc-2s-nps4,
 * broadwell-2s, epyc-2s-nps1, xeon-2s-snc2) with the numaplan policy. One sample of each row
 * (`runs: 1`): a run takes tens of seconds, so each figure is a single measurement, not a median.
 *
 *   the whole CLI command   `numaplan simulate --mode fleet --synthetic 1000000 ... --json`, timed
 *                           from process start to exit: Node start-up, the trace, the replay (in a
 *                           worker thread with a 64 MB young generation, the CLI's default) and the
 *                           report. This is the row the goal judges.
 *   replay in this process  the replay alone, called here on the built modules with Node's default
 *                           young generation (what a library caller gets).
 *
 * Both time the built JavaScript (dist/; `npm run build` first). Goal: the command under 30 s.
 */
import { join } from 'node:path';
import type { FleetGroup } from '../src/core/sim/fleet/replay.js';
import { REPO_ROOT } from './lib/data.js';
import { runProcess } from './lib/process.js';
import { type SimDist, loadSimDist } from './lib/sim-dist.js';
import type { BenchCase, BenchSuite, CaseResult } from './lib/types.js';

type Dist = SimDist;
let dist: Dist | null = null;
let distMissing = '';
const MIXED = ['epyc-2s-nps4', 'broadwell-2s', 'epyc-2s-nps1', 'xeon-2s-snc2'];
const CASE = 'fleet: 1M synthetic VMs over 10,000 mixed hosts, numaplan, whole CLI command (1 sample)';
const IN_PROCESS = 'fleet: the same replay alone, in this process (1 sample)';
const HOSTS = MIXED.map((n) => `preset:${n}*2500`).join(',');
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
  return d.replay.replayFleet(trace, d.replay.buildFleet(groups), p).accepted;
}

/** The CLI command; returns accepted VMs. */
function command(): number {
  const out = runProcess(process.execPath, [
    join(REPO_ROOT, 'bin', 'numaplan.js'), 'simulate', '--mode', 'fleet', '--synthetic', '1000000', '--hosts', HOSTS,
    '--policies', 'numaplan', '--seed', '1', '--json', '--no-progress',
  ]);
  const accepted = (JSON.parse(out) as { results: { accepted: number }[] }).results[0]?.accepted;
  if (typeof accepted !== 'number') throw new Error('simulate printed no result');
  return accepted;
}

export const suite: BenchSuite = {
  name: 'sim-million',
  description: '1M synthetic requests over 10,000 mixed hosts, numaplan: the CLI command, and the replay alone in this process; a single sample each (runs: 1)',
  goal: {
    text: 'the million-request command under 30 s (single sample)',
    check: (cases: readonly CaseResult[]) => {
      const c = cases.find((x) => x.name === CASE);
      if (!c || c.status !== 'ok' || c.median === undefined) return null;
      return c.median <= GOAL_MS;
    },
  },
  runs: 1,
  setup: loadDist,
  cases: (): BenchCase[] => [
    { name: CASE, process: true, noWarmup: true, unavailable: () => (dist ? null : distMissing), run: command },
    { name: IN_PROCESS, process: true, noWarmup: true, unavailable: () => (dist ? null : distMissing), run: million },
  ],
};
