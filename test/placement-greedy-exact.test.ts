/**
 * The greedy search (hosts where the k-node sets are more than EXACT_SUBSET_LIMIT) against the exact
 * optimum: on generated hosts of 16 to 256 nodes (sockets with irregular distances, meshes, rings,
 * random matrices), filled by VMs pinned to random nodes so that free capacity is uneven, a VM that
 * needs 2 to 4 nodes is placed by numaplan and the best set of its node count is found by
 * enumerating every set of that size (quickEvaluate, the objective's own judgement). numaplan must
 * use the fewest nodes and come within 1% of the exact cost, on every case.
 */
import { describe, expect, it } from 'vitest';
import { cpuModes, createHostState, makeContext, parseVmRequest, place, placeMany } from '../src/core/placement/index.js';
import type { SetEvaluation } from '../src/core/placement/context.js';
import { EXACT_SUBSET_LIMIT } from '../src/core/placement/policies/numaplan.js';
import { seededRandom } from '../src/core/random.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import type { Topology } from '../src/core/topology/model.js';
import { runSeed } from './support/seed.js';

const G = 1024 ** 3;
/** Sets the enumeration may judge per case (C(256, 2) = 32,640; C(64, 3) = 41,664). */
const ENUMERATION_LIMIT = 300_000;
const SHAPES: readonly [number, number][] = [
  [4, 4],
  [2, 8],
  [4, 8],
  [8, 8],
  [4, 16],
  [16, 16],
  [8, 32],
];

/** A host whose distances are of one of four kinds: sockets, a 2D mesh, a ring, random. */
function host(r: () => number, packages: number, per: number, kind: number): Topology {
  const n = packages * per;
  const side = Math.ceil(Math.sqrt(n));
  const dist = Array.from({ length: n }, () => new Array<number>(n).fill(10));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let d: number;
      if (kind === 0) d = Math.floor(i / per) === Math.floor(j / per) ? 11 + Math.floor(r() * 6) : 20 + Math.floor(r() * 14);
      else if (kind === 1) d = 10 + 3 * (Math.abs((i % side) - (j % side)) + Math.abs(Math.floor(i / side) - Math.floor(j / side))) + Math.floor(r() * 3);
      else if (kind === 2) d = 10 + 2 * Math.min(Math.abs(i - j), n - Math.abs(i - j));
      else d = 11 + Math.floor(r() * 30);
      (dist[i] as number[])[j] = d;
      (dist[j] as number[])[i] = d;
    }
  }
  return syntheticTopology({ source: `greedy-${n}`, packages, nodesPerPackage: per, coresPerNode: 4, threadsPerCore: 2, memoryPerNode: 32 * G, distances: dist });
}

function choose(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return c;
}

describe('greedy search against the exact optimum', () => {
  it('within 1% of the best set of the fewest nodes, on every generated case', () => {
    const r = seededRandom(runSeed());
    let judged = 0;
    let greedy = 0;
    let worst = 1;
    const misses: string[] = [];
    for (let c = 0; c < 42; c++) {
      const [packages, per] = SHAPES[c % SHAPES.length] as [number, number];
      const n = packages * per;
      const topo = host(r, packages, per, Math.floor(c / SHAPES.length) % 4);
      const fill = Array.from({ length: Math.floor(n * 1.2) }, (_, i) =>
        parseVmRequest({ name: `f${i}`, vcpus: 1 + Math.floor(r() * 7), memory: (1 + Math.floor(r() * 12)) * G, smt: 'prefer', nodes: [Math.floor(r() * n)] }),
      );
      let state = createHostState(topo);
      for (const f of fill) state = placeMany([f], state).state;
      const k = 2 + Math.floor(r() * 3);
      const vcpus = 6 + Math.floor(r() * 6 * (k - 1));
      const req = parseVmRequest({ name: 'probe', vcpus, memory: Math.max(1, Math.floor(vcpus * (0.5 + r() * 2))) * G, smt: 'prefer' });
      const got = place(req, state, undefined, { hints: false });
      const ctx = makeContext(req, state, 4096, cpuModes(req)[0] as never);
      const cands = ctx.cpuNodes.map((x) => x.id).filter((id) => ctx.cpuCap(id) > 0);
      // The exact optimum: every set of the fewest node count that holds the VM.
      let best: SetEvaluation | null = null;
      let size = Math.max(1, ctx.minNodes());
      for (; size <= ctx.maxNodes() && !best; size++) {
        if (choose(cands.length, size) > ENUMERATION_LIMIT) break;
        const combo: number[] = [];
        const visit = (start: number): void => {
          if (combo.length === size) {
            const ev = ctx.quickEvaluate(combo);
            if (ev.ok && (!best || ctx.compare(ev, best) < 0)) best = ev;
            return;
          }
          for (let i = start; i <= cands.length - (size - combo.length); i++) {
            combo.push(cands[i] as number);
            visit(i + 1);
            combo.pop();
          }
        };
        visit(0);
      }
      const exact = best as SetEvaluation | null;
      if (!exact) continue;
      judged++;
      if (choose(cands.length, exact.nodes.length) > EXACT_SUBSET_LIMIT) greedy++;
      if (!got.ok) {
        misses.push(`case ${c} (${n} nodes): refused; the set ${exact.nodes.join(',')} holds it`);
        continue;
      }
      const chosen = got.placement.explanation.chosen;
      if (chosen.nodes.length !== exact.nodes.length) {
        misses.push(`case ${c} (${n} nodes): ${chosen.nodes.length} nodes, ${exact.nodes.length} suffice`);
        continue;
      }
      // The explanation's cost is rounded to 4 places: compare with the same rounding.
      const ratio = chosen.cost / (Math.round(exact.cost * 1e4) / 1e4);
      worst = Math.max(worst, ratio);
      if (ratio > 1.01) misses.push(`case ${c} (${n} nodes, ${exact.nodes.length} of them): cost ${chosen.cost} on ${chosen.nodes.join(',')}, exact ${exact.cost.toFixed(4)} on ${exact.nodes.join(',')} (${ratio.toFixed(4)}x)`);
    }
    console.log(`greedy vs exact: ${judged} cases (${greedy} searched greedily), worst ${worst.toFixed(4)}x the exact cost`);
    expect(misses).toEqual([]);
    expect(judged).toBeGreaterThan(25);
    expect(greedy).toBeGreaterThan(10);
  }, 300_000);
});
