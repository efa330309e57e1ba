/**
 * The benchmark mode's rules on hand-made traces, with the arithmetic written out so a reader can
 * check every expected number. Servers: 2 nodes x (40 cores, 90 GB).
 */
import { describe, expect, it } from 'vitest';
import { parseTrace } from '../src/core/sim/trace-parser.js';
import { vmagentBestFit } from '../src/core/sim/vmagent/best-fit.js';
import { VmagentCluster } from '../src/core/sim/vmagent/cluster.js';
import { vmagentFirstFit } from '../src/core/sim/vmagent/first-fit.js';
import { createVmagentNumaplan } from '../src/core/sim/vmagent/numaplan.js';
import type { VmagentPolicy } from '../src/core/sim/vmagent/policy.js';
import { VMAGENT_POLICIES, vmagentPolicy } from '../src/core/sim/vmagent/registry.js';
import { vmagentScenario } from '../src/core/sim/vmagent/rules.js';
import { runVmagent } from '../src/core/sim/vmagent/run.js';
import { simulateVmagent, vmagentOffsets } from '../src/core/sim/vmagent/simulate.js';
import { makeRng } from '../src/core/sim/rng.js';

/** An event-log trace from rows "vmid,cpu,GB,time,type". */
function events(rows: string[]) {
  return parseTrace(['vmid,cpu,memory,time,type', ...rows].join('\n'), { path: 'hand-made' });
}
/** A lifetime trace from rows "vmid,cpu,GB,arrival,lifetime". */
function lifetimes(rows: string[]) {
  return parseTrace(['vmid,cpu,mem,at,lt', ...rows].join('\n'), { path: 'hand-made' });
}
const run = (trace: ReturnType<typeof events>, name: 'fading' | 'recovering', servers: number, policy: VmagentPolicy, offset = 0) =>
  runVmagent(trace, vmagentScenario(name, servers), policy, { offset });

describe('VMAgent rules', () => {
  it('fading: 40-core VMs fill one node each; the 5th fails on 2 servers (4 nodes)', () => {
    // 5 VMs of 40 cores / 20 GB (20 <= 32: single-node). 2 servers = 4 nodes of 40 cores: 4 fit.
    const t = events(['a,40,20,0,0', 'b,40,20,1,0', 'c,40,20,2,0', 'd,40,20,3,0', 'e,40,20,4,0']);
    for (const p of [vmagentFirstFit, vmagentBestFit, createVmagentNumaplan()]) {
      const r = run(t, 'fading', 2, p);
      expect(r.placedBeforeFailure).toBe(4);
      expect(r.firstFailure).toBe(4); // request index of "e"
      expect(r.cpuAtFailure).toBe(1); // 160 of 160 cores
    }
  });

  it('the split threshold is strict: 32 GB stays on one node in fading, 33 GB is split', () => {
    // One server. VM a: 10 cores, 32 GB -> single node (32 is not > 32): node 0 left 30 cores / 58 GB.
    // VM b: 50 cores, 66 GB -> split (66 > 32): 25 cores / 33 GB per node.
    //   node 0: 30 >= 25 and 58 >= 33; node 1: 40 >= 25, 90 >= 33 -> fits.
    // VM c: 60 cores / 10 GB single -> no node has 60 cores: fails. Score 2.
    const t = events(['a,10,32,0,0', 'b,50,66,1,0', 'c,60,10,2,0']);
    const r = run(t, 'fading', 1, vmagentFirstFit);
    expect(r.placedBeforeFailure).toBe(2);
    expect(r.singleNode).toBe(1);
  });

  it('recovering splits above 10 GB; an odd core count halves to x.5 per node', () => {
    // One server. VM a: 39 cores, 11 GB -> split (11 > 10): 19.5 cores, 5.5 GB per node.
    // Left per node: 20.5 cores. VM b: 41 cores, 12 GB -> 20.5 cores per node: fits exactly (>=).
    // Left: 0 cores. VM c: 1 core, 1 GB -> fails. Score 2.
    const t = events(['a,39,11,0,0', 'b,41,12,1,0', 'c,1,1,2,0']);
    const r = run(t, 'recovering', 1, vmagentFirstFit);
    expect(r.placedBeforeFailure).toBe(2);
    expect(r.cpuAtFailure).toBe(1);
  });

  it('fading ignores departures, recovering applies them', () => {
    // One server (80 cores). a: 40 cores on node 0; a leaves; b, c: 40 cores each; d: 40 cores.
    // fading: a's 40 cores stay taken -> b takes node 1, c fails. Score 2 (a, b).
    // recovering: a leaves -> b node 0, c node 1, d fails. Score 3 (a, b, c).
    const t = events(['a,40,8,0,0', 'a,40,8,1,1', 'b,40,8,2,0', 'c,40,8,3,0', 'd,40,8,4,0']);
    expect(run(t, 'fading', 1, vmagentFirstFit).placedBeforeFailure).toBe(2);
    expect(run(t, 'recovering', 1, vmagentFirstFit).placedBeforeFailure).toBe(3);
  });

  it('a departure of a VM created before the start offset is ignored; the offset skips departures', () => {
    // Rows: 0 a create, 1 b create, 2 a delete, 3 c create, 4 d create (40 cores each, one server).
    // Offset 2 lands on a departure: skipped; a was never placed, so its departure frees nothing.
    // c -> node 0, d -> node 1: the trace ends without a failure. Score 2.
    const t = events(['a,40,8,0,0', 'b,40,8,1,0', 'a,40,8,2,1', 'c,40,8,3,0', 'd,40,8,4,0']);
    const r = run(t, 'recovering', 1, vmagentFirstFit, 2);
    expect(r.placedBeforeFailure).toBe(2);
    expect(r.endOfTrace).toBe(true);
  });

  it('FirstFit takes the lowest server, node 0 first; vmagent-best-fit the emptiest node', () => {
    // Two servers. a: 30 cores (node 0 of server 0 for both policies: all nodes empty, first wins).
    // b: 5 cores. FirstFit: node 0 of server 0 (10 left >= 5). BestFit scores the node after placement:
    //   node 0: min(5/40, ...) = 0.125; node 1 and server 1's nodes: 35/40 = 0.875 -> node 1 (first of the ties).
    const t = events(['a,30,2,0,0', 'b,5,2,1,0']);
    const ff = run(t, 'fading', 2, vmagentFirstFit);
    const bf = run(t, 'fading', 2, vmagentBestFit);
    expect(ff.placedBeforeFailure).toBe(2);
    expect(bf.placedBeforeFailure).toBe(2);
    const cluster = new VmagentCluster(vmagentScenario('fading', 2), 2);
    cluster.place(0, { cpu: 30, mem: 2, double: false }, 0);
    expect(vmagentFirstFit.choose(cluster, { cpu: 5, mem: 2, double: false })).toBe(0);
    expect(vmagentBestFit.choose(cluster, { cpu: 5, mem: 2, double: false })).toBe(1);
    // A double VM (10 cores): BestFit scores node 0 only: server 0 -> (40-30-5)/40 = 0.125, server 1 -> 0.875.
    expect(vmagentBestFit.choose(cluster, { cpu: 10, mem: 40, double: true })).toBe(2);
    expect(vmagentFirstFit.choose(cluster, { cpu: 10, mem: 40, double: true })).toBe(0);
  });

  it('numaplan packs the fullest server and keeps whole servers free for double-NUMA VMs', () => {
    // Two servers. Server 1 holds 10 cores on node 0. A 2-core VM: FirstFit -> server 0 (empty);
    // numaplan -> server 1 (fullest feasible), so server 0 stays whole for a 64-core split VM.
    const cluster = new VmagentCluster(vmagentScenario('fading', 2), 2);
    cluster.place(0, { cpu: 10, mem: 10, double: false }, 2);
    const p = createVmagentNumaplan();
    const action = p.choose(cluster, { cpu: 2, mem: 4, double: false });
    expect(action >> 1).toBe(1);
    expect(vmagentFirstFit.choose(cluster, { cpu: 2, mem: 4, double: false })).toBe(0);
  });

  it('lifetime traces: a VM leaving at second t frees room for one arriving at t', () => {
    // One server. a: 80 cores / 66 GB -> split (66 > 32 and > 10): 40 cores, 33 GB per node; lives
    // 10 s. b arrives at second 10, same size: departures come first at equal times, so in recovering
    // it fits (score 2); fading ignores the departure (score 1).
    const t = lifetimes(['a,80,66,0,10', 'b,80,66,10,5']);
    expect(run(t, 'recovering', 1, vmagentFirstFit).placedBeforeFailure).toBe(2);
    expect(run(t, 'fading', 1, vmagentFirstFit).placedBeforeFailure).toBe(1);
  });
});

describe('every benchmark-mode policy', () => {
  for (const name of VMAGENT_POLICIES) {
    it(`${name}: returns -1 only when nothing fits, and a fitting action otherwise (random states)`, () => {
      const rng = makeRng(42);
      const policy = vmagentPolicy(name) as VmagentPolicy;
      for (let trial = 0; trial < 300; trial++) {
        const cluster = new VmagentCluster(vmagentScenario('recovering', 3), 1);
        for (let a = 0; a < 6; a++) {
          cluster.freeCpu[a] = rng.int(0, 41);
          cluster.freeMem[a] = rng.int(0, 91);
        }
        const cpu = rng.int(1, 40);
        const mem = rng.int(1, 60);
        const vm = { cpu, mem, double: mem > 10 };
        const anyFits = [0, 1, 2, 3, 4, 5].some((a) => (!vm.double || a % 2 === 0) && cluster.fits(vm, a));
        const action = policy.choose(cluster, vm);
        if (anyFits) {
          expect(action, 'a server where the VM fits').not.toBe(-1);
          expect(cluster.fits(vm, action)).toBe(true);
          if (vm.double) expect(action % 2).toBe(0);
        } else expect(action).toBe(-1);
      }
    });
  }
});

describe('simulate (benchmark mode)', () => {
  // A synthetic event log: 3000 arrivals of mixed sizes with lifetimes, deterministic.
  const rng = makeRng(7);
  const rows: string[] = [];
  const sizes = [[1, 2], [2, 4], [4, 8], [8, 16], [16, 32], [32, 64], [64, 128]] as const;
  for (let i = 0; i < 3000; i++) {
    const [c, m] = sizes[Math.min(sizes.length - 1, Math.floor(-Math.log(1 - rng.next()) * 1.5))] as readonly [number, number];
    rows.push(`${i},${c},${m},${i},${1 + rng.int(0, 400)}`);
  }
  const trace = lifetimes(rows);

  it('is deterministic under a seed and uses the same offsets for every policy', () => {
    const scenario = vmagentScenario('recovering', 4);
    const a = simulateVmagent(trace, scenario, { policies: VMAGENT_POLICIES, starts: 5, seed: 11 });
    const b = simulateVmagent(trace, scenario, { policies: VMAGENT_POLICIES, starts: 5, seed: 11 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(a.seed).toBe(11);
    expect(a.offsets).toEqual(vmagentOffsets(trace, 5, 11));
    for (const r of a.results) expect(r.perStart.map((s) => s.offset)).toEqual(a.offsets);
    const c = simulateVmagent(trace, scenario, { policies: VMAGENT_POLICIES, starts: 5, seed: 12 });
    expect(c.offsets).not.toEqual(a.offsets);
  });

  it('conservation: with departures applied and no failure, the fleet ends empty', () => {
    // 200 servers never fill up with this trace; every VM leaves, so every core and GB comes back.
    const scenario = vmagentScenario('recovering', 200);
    for (const name of VMAGENT_POLICIES) {
      const cluster = new VmagentCluster(scenario, trace.requests.length);
      const r = runVmagent(trace, scenario, vmagentPolicy(name) as VmagentPolicy, { offset: 0 }, undefined, cluster);
      expect(r.endOfTrace).toBe(true);
      expect(r.accepted).toBe(3000);
      expect([...cluster.freeCpu].every((c) => c === 40)).toBe(true);
      expect([...cluster.freeMem].every((m) => m === 90)).toBe(true);
      expect([...cluster.where].every((w) => w === -1)).toBe(true);
    }
  });
});
