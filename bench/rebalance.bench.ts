/**
 * Rebalancing speed: one `planRebalance` call on fragmented hosts of 8 and 64 NUMA nodes (16 cores x
 * 2 threads and 64 GiB per node, distances 10/11/21): a filler of 28 threads on every node, then
 * wide VMs of 6 threads that spread over two nodes each, then every other filler leaves, so that
 * the planner has spread VMs to bring home (each step re-decides every movable VM on the host as the
 * steps before it left it). Beside it, one move of each peer's rule on the same host (the simulator
 * runs those every 2 s and 15 s). And one make-room plan (`planRoom`) for a one-node VM of a whole
 * node's 32 threads that no node holds until spread VMs move (what the simulator asks of up to four
 * hosts when an arrival is refused, and of one host when it would split an arrival). Goal: a plan, and a make-room plan, in under 100 ms on the
 * 8-node host, under 1 s on the 64-node one, so that a fleet of hosts can be planned every few
 * minutes and a refusal costs well under a second.
 */
import { createHostState, parseVmSpec, placeMany, releaseAllocation } from '../src/core/placement/index.js';
import type { HostState } from '../src/core/placement/state.js';
import { esxiMove, numadMove, planRebalance, planRoom } from '../src/core/rebalance/index.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import type { BenchCase, BenchSuite } from './lib/types.js';

const G = 1024 ** 3;

/** A fragmented host of `packages * perPackage` nodes (see the module comment). */
export function fragmentedHost(packages: number, perPackage: number): HostState {
  const n = packages * perPackage;
  const topo = syntheticTopology({ source: `bench-${n}n`, packages, nodesPerPackage: perPackage, coresPerNode: 16, threadsPerCore: 2, memoryPerNode: 64 * G });
  const fillers = Array.from({ length: n }, (_, i) => parseVmSpec(`name=fill${i},vcpus=28,memory=16G,smt=prefer,numa=strict`));
  const wide = Array.from({ length: n }, (_, i) => parseVmSpec(`name=wide${i},vcpus=6,memory=12G,smt=prefer`));
  let state = placeMany([...fillers, ...wide], createHostState(topo)).state;
  for (let i = 0; i < n; i += 2) if (state.allocations.some((a) => a.name === `fill${i}`)) state = releaseAllocation(state, `fill${i}`);
  return state;
}

let cases: BenchCase[] = [];

export const suite: BenchSuite = {
  name: 'rebalance',
  description: 'one rebalancing plan and one make-room plan of a fragmented host (and one move of the ESXi-like and numad-like rules)',
  goal: {
    text: 'a plan and a make-room plan each in under 100 ms at 8 nodes and under 1 s at 64 nodes',
    check: (results) => {
      const at = (name: string): number | undefined => results.find((r) => r.name === name)?.median;
      const limits: [string, number][] = [['plan 8 nodes', 100], ['make room 8 nodes', 100], ['plan 64 nodes', 1000], ['make room 64 nodes', 1000]];
      const medians = limits.map(([name]) => at(name));
      if (medians.some((x) => x === undefined)) return null;
      return limits.every(([, limit], i) => (medians[i] as number) < limit);
    },
  },
  setup: () => {
    cases = [];
    for (const [p, per] of [[2, 4], [8, 8]] as const) {
      const state = fragmentedHost(p, per);
      const n = p * per;
      const spread = state.allocations.filter((a) => a.nodes.length > 1).length;
      // 32 threads on one node: every node holds a filler or parts of wide VMs.
      const whole = parseVmSpec('name=whole,vcpus=32,memory=16G,smt=prefer,numa=strict');
      cases.push(
        {
          name: `plan ${n} nodes`,
          run: () => {
            const plan = planRebalance(state, { now: 0 });
            if (spread > 0 && plan.moves.length === 0) throw new Error(`no move for ${spread} spread VMs`);
          },
        },
        {
          name: `make room ${n} nodes`,
          run: () => {
            if (planRoom(state, whole, { now: 0 }).waiting[0]?.admittedAt == null) throw new Error('no room made for a whole-node VM');
          },
        },
        { name: `esxi-like move ${n} nodes`, run: () => esxiMove(state, 0, { imbalance: 0.1, rateBytesPerSec: G }) },
        { name: `numad-like move ${n} nodes`, run: () => numadMove(state, 0, { rateBytesPerSec: G }) },
      );
    }
  },
  cases: () => cases,
};
