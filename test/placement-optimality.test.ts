/**
 * Quality against exhaustive search: on hosts of up to 8 nodes, the node set numaplan chooses is as
 * good as the best of all subsets (fewest nodes, then fewest missing preferred devices, then lowest
 * weighted distance), on random states built by placing random VMs first.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CpuMode, type SetEvaluation, cpuModes, makeContext } from '../src/core/placement/index.js';
import { greedySets, swapImprove } from '../src/core/placement/policies/numaplan.js';
import { type HostState, type VmRequest, claimPlacement, createHostState, parseVmRequest, place } from '../src/core/placement/index.js';
import type { Topology } from '../src/core/topology/model.js';
import { hostArb, requestArb } from './placement-arbitraries.js';

const G = 1024 ** 3;

function randomState(topo: Topology, pre: readonly Parameters<typeof parseVmRequest>[0][]): HostState {
  let state = createHostState(topo);
  pre.forEach((raw, i) => {
    const r = parseVmRequest({ ...(raw as object), name: `pre${i}` });
    const res = place(r, state, undefined, { hints: false });
    if (res.ok) state = claimPlacement(state, res.placement, r, 1);
  });
  return state;
}

function bruteForce(state: HostState, r: VmRequest, mode: CpuMode): SetEvaluation | null {
  const ctx = makeContext(r, state, r.pageSize as number, mode);
  const ids = ctx.cpuNodes.map((n) => n.id);
  let best: SetEvaluation | null = null;
  for (let mask = 1; mask < 1 << ids.length; mask++) {
    const set = ids.filter((_, i) => mask & (1 << i));
    if (set.length > ctx.maxNodes()) continue;
    const ev = ctx.evaluate(set);
    if (ev.ok && (!best || ctx.compare(ev, best) < 0)) best = ev;
  }
  return best;
}

const key = (e: SetEvaluation): [number, number, number] => [e.nodes.length, e.missingPreferred, Math.round(e.cost * 1e6)];

const testRequest = fc
  .record({
    vcpus: fc.integer({ min: 1, max: 40 }),
    memGiB: fc.integer({ min: 1, max: 120 }),
    pageSize: fc.constantFrom(4096, 2 * 1024 ** 2),
    smt: fc.constantFrom<'prefer' | 'isolate' | 'require'>('prefer', 'isolate', 'require'),
    maxNodes: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
    preferred: fc.boolean(),
  })
  .map((x) =>
    parseVmRequest({
      name: 'probe',
      vcpus: x.vcpus,
      memory: x.memGiB * G,
      pageSize: x.pageSize,
      smt: x.smt,
      ...(x.maxNodes !== undefined ? { maxNodes: x.maxNodes } : {}),
      devices: x.preferred ? [{ kind: 'rdma', count: 1, locality: 'preferred' }] : [],
    }),
  );

describe('placement optimality (hosts of up to 8 nodes)', () => {
  it('chooses a node set as good as exhaustive search over all subsets', () => {
    fc.assert(
      fc.property(hostArb(8), fc.array(requestArb, { maxLength: 6 }), testRequest, (topo, pre, r) => {
        const state = randomState(topo, pre);
        const mode = cpuModes(r)[0] as CpuMode;
        const best = bruteForce(state, r, mode);
        const res = place(r, state, undefined, { hints: false });
        expect(res.ok).toBe(best !== null);
        if (!res.ok || !best) return;
        const ctx = makeContext(r, state, r.pageSize as number, mode);
        const chosen = ctx.evaluate(res.placement.explanation.chosen.nodes);
        expect(key(chosen)).toEqual(key(best));
      }),
      { numRuns: 600 },
    );
  });

  it('also when the best set spans several nodes (60 such cases, however many draws it takes)', () => {
    fc.assert(
      fc.property(hostArb(8), fc.array(requestArb, { maxLength: 6 }), testRequest, (topo, pre, r) => {
        const state = randomState(topo, pre);
        const mode = cpuModes(r)[0] as CpuMode;
        const best = bruteForce(state, r, mode);
        fc.pre(best !== null && best.nodes.length > 1);
        const res = place(r, state, undefined, { hints: false });
        if (!res.ok || !best) throw new Error(`refused although nodes ${best?.nodes} hold it`);
        const ctx = makeContext(r, state, r.pageSize as number, mode);
        expect(key(ctx.evaluate(res.placement.explanation.chosen.nodes))).toEqual(key(best));
      }),
      { numRuns: 60, maxSkipsPerRun: 10_000 },
    );
  });

  it('greedy growth + 1-swap (the path used on large hosts) finds a set of the optimal size, and close to the optimal cost, on these hosts', () => {
    // The exact path serves every host of up to 8 nodes; the heuristic is measured against it here on
    // 120 multi-node cases: the same node count and missing preferred devices as the optimum in every
    // case, a weighted distance at most GREEDY_COST_BOUND times the optimum's, and the share of exact
    // matches reported. (Measured over 13,500 cases: 0.8% are not exact, the worst 1.176x.)
    const GREEDY_COST_BOUND = 1.25;
    let compared = 0;
    let matched = 0;
    let worst = 1;
    fc.assert(
      fc.property(hostArb(8), fc.array(requestArb, { maxLength: 6 }), testRequest, (topo, pre, r) => {
        const state = randomState(topo, pre);
        const mode = cpuModes(r)[0] as CpuMode;
        const best = bruteForce(state, r, mode);
        fc.pre(best !== null && best.nodes.length > 1);
        if (!best) return;
        const ctx = makeContext(r, state, r.pageSize as number, mode);
        const cands = ctx.cpuNodes.map((n) => n.id).filter((id) => ctx.cpuCap(id) > 0);
        const found = greedySets(ctx, cands, best.nodes.length).sort(ctx.compare);
        compared++;
        expect(found.length, 'the greedy search found no set of the optimal size').toBeGreaterThan(0);
        const g = swapImprove(ctx, cands, found[0] as SetEvaluation);
        expect([g.nodes.length, g.missingPreferred]).toEqual([best.nodes.length, best.missingPreferred]);
        const ratio = (g.cost as number) / (best.cost as number);
        expect(ratio).toBeLessThanOrEqual(GREEDY_COST_BOUND);
        worst = Math.max(worst, ratio);
        if (key(g).join() === key(best).join()) matched++;
      }),
      { numRuns: 120, maxSkipsPerRun: 10_000 },
    );
    console.info(`greedy path: ${matched}/${compared} equal to exhaustive search, worst cost ratio ${worst.toFixed(4)}`);
  });
});
