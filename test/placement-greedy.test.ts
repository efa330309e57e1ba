/**
 * Greedy growth (the multi-node search on large hosts) against a straightforward reference: the
 * faster implementation (nearest-first walks, threshold algorithm, O(1) look-ahead) must grow the
 * same sets, in the same order, on random hosts of up to 64 nodes. The split helpers against their
 * definitions, and quickEvaluate / quickCost against evaluate.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hostCapacity } from '../src/core/placement/capacity.js';
import { type PlacementContext, type SetEvaluation, compareIds, makeContext } from '../src/core/placement/context.js';
import { cpuModes } from '../src/core/placement/decide.js';
import { proportional, waterFill } from '../src/core/placement/context.js';
import { grownSets } from '../src/core/placement/policies/numaplan.js';
import { commitPlacement, createHostState, parseVmRequest, place } from '../src/core/placement/index.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { requestArb } from './placement-arbitraries.js';

const G = 1024 ** 3;

/** The growth as first written: full scans, summed distances kept per candidate. */
function referenceGrownSets(ctx: PlacementContext, cands: readonly number[], k: number): number[][] {
  const n = cands.length;
  const cpu = cands.map((id) => ctx.cpuCap(id));
  const mem = cands.map((id) => (ctx.separateMemory ? 0 : ctx.memCap(id)));
  const needMem = ctx.separateMemory ? 0 : ctx.request.memory;
  const cpuDesc = cpu.map((c, i) => ({ c, i })).sort((a, b) => b.c - a.c || a.i - b.i);
  const memDesc = mem.map((c, i) => ({ c, i })).sort((a, b) => b.c - a.c || a.i - b.i);
  const top = (list: { c: number; i: number }[], r: number, inSet: Uint8Array, extra: number): number => {
    let s = 0;
    let taken = 0;
    for (const { c, i } of list) {
      if (taken >= r) break;
      if (inSet[i] || i === extra) continue;
      s += c;
      taken++;
    }
    return s;
  };
  const d = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) d[i * n + j] = ctx.distance(cands[i] as number, cands[j] as number) + ctx.distance(cands[j] as number, cands[i] as number);
  const seen = new Set<string>();
  const grown: { ids: number[]; pairs: number }[] = [];
  const inSet = new Uint8Array(n);
  const sum = new Float64Array(n);
  for (let seed = 0; seed < n; seed++) {
    inSet.fill(0);
    const members = [seed];
    inSet[seed] = 1;
    let capC = cpu[seed] as number;
    let capM = mem[seed] as number;
    for (let j = 0; j < n; j++) sum[j] = d[seed * n + j] as number;
    let stuck = false;
    while (members.length < k) {
      const r = k - members.length - 1;
      let best = -1;
      for (let c = 0; c < n; c++) {
        if (inSet[c] || (cpu[c] as number) === 0) continue;
        if (best >= 0 && (sum[c] as number) >= (sum[best] as number)) continue;
        if (capC + (cpu[c] as number) + top(cpuDesc, r, inSet, c) < ctx.slots) continue;
        if (capM + (mem[c] as number) + top(memDesc, r, inSet, c) < needMem) continue;
        best = c;
      }
      if (best < 0) {
        stuck = true;
        break;
      }
      members.push(best);
      inSet[best] = 1;
      capC += cpu[best] as number;
      capM += mem[best] as number;
      for (let j = 0; j < n; j++) sum[j] = (sum[j] as number) + (d[best * n + j] as number);
    }
    if (stuck) continue;
    const ids = members.map((m) => cands[m] as number).sort((a, b) => a - b);
    const key = ids.join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    let pairs = 0;
    for (let a = 0; a < members.length; a++) for (let b = a + 1; b < members.length; b++) pairs += d[(members[a] as number) * n + (members[b] as number)] as number;
    grown.push({ ids, pairs });
  }
  grown.sort((x, y) => x.pairs - y.pairs || compareIds(x.ids, y.ids));
  return grown.map((g) => g.ids);
}

/**
 * Water filling by its definition: the largest level L with sum(min(cap, L)) at most the units; each
 * node min(cap, L); the units left one each to the lowest positions whose capacity is above L.
 */
function referenceWaterFill(total: number, caps: readonly number[], unit = 1): number[] | null {
  const units = Math.ceil(total / unit);
  const capUnits = caps.map((c) => Math.floor(c / unit));
  if (capUnits.reduce((s, c) => s + c, 0) < units) return null;
  const fill = (level: number): number => capUnits.reduce((s, c) => s + Math.min(c, level), 0);
  let level = 0;
  while (fill(level + 1) <= units && level < Math.max(...capUnits)) level++;
  const give = capUnits.map((c) => Math.min(c, level));
  let left = units - give.reduce((s, g) => s + g, 0);
  for (let i = 0; left > 0 && i < give.length; i++) {
    if ((capUnits[i] as number) > level) {
      give[i] = (give[i] as number) + 1;
      left--;
    }
  }
  const out = give.map((g) => g * unit);
  const excess = units * unit - total;
  if (excess > 0) {
    let big = 0;
    out.forEach((o, i) => {
      if (o >= (out[big] as number)) big = i;
    });
    out[big] = (out[big] as number) - excess;
  }
  return out;
}

function referenceProportional(total: number, weights: readonly number[], page: number): number[] {
  const pages = total / page;
  const wsum = weights.reduce((s, w) => s + w, 0);
  const out = weights.map((w) => Math.floor((pages * w) / wsum));
  let rest = pages - out.reduce((s, x) => s + x, 0);
  for (let i = 0; rest > 0; i = (i + 1) % out.length) {
    if ((weights[i] as number) > 0) {
      out[i] = (out[i] as number) + 1;
      rest--;
    }
  }
  return out.map((p) => p * page);
}

const hostArb = fc.record({
  packages: fc.integer({ min: 1, max: 8 }),
  perPackage: fc.integer({ min: 1, max: 8 }),
  cores: fc.integer({ min: 1, max: 4 }),
  dist: fc.array(fc.integer({ min: 11, max: 40 }), { minLength: 97, maxLength: 97 }),
  fill: fc.array(requestArb, { maxLength: 12 }),
});

describe('greedy growth equals its reference', () => {
  it('same sets, in the same order, for k = 2..6', () => {
    let compared = 0;
    fc.assert(
      fc.property(hostArb, requestArb, fc.integer({ min: 2, max: 6 }), (h, req, k) => {
        const n = h.packages * h.perPackage;
        const topo = syntheticTopology({
          source: 'greedy',
          packages: h.packages,
          nodesPerPackage: h.perPackage,
          coresPerNode: h.cores,
          threadsPerCore: 2,
          memoryPerNode: 16 * G,
          distance: (i, j) => (i === j ? 10 : (h.dist[(Math.min(i, j) * 31 + Math.max(i, j) * 7) % 97] as number)),
        });
        let state = createHostState(topo);
        h.fill.forEach((r, i) => {
          const vm = parseVmRequest({ ...r, name: `f${i}`, devices: [] });
          const res = place(vm, state, undefined, { hints: false });
          if (res.ok) state = commitPlacement(state, res.placement, vm);
        });
        const r = parseVmRequest({ ...req, name: 'probe', pageSize: 4096, devices: [] });
        const ctx = makeContext(r, state, 4096, cpuModes(r)[0] as never, hostCapacity(state));
        const cands = ctx.cpuNodes.map((x) => x.id).filter((id) => ctx.cpuCap(id) > 0);
        if (k > cands.length) return;
        const got = grownSets(ctx, cands, k);
        const want = referenceGrownSets(ctx, cands, k);
        expect(JSON.stringify(got)).toBe(JSON.stringify(want));
        if (n > 8 && want.length > 0) compared++;
      }),
      { numRuns: 300 },
    );
    expect(compared).toBeGreaterThan(20);
  });
});

describe('split helpers equal their reference', () => {
  it('waterFill and proportional give the same parts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 400 }), fc.array(fc.integer({ min: 0, max: 64 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 4 }), (total, caps, unit) => {
        expect(waterFill(total, caps, unit)).toEqual(referenceWaterFill(total, caps, unit));
        if (caps.some((c) => c > 0)) expect(proportional(total * 4096, caps, 4096)).toEqual(referenceProportional(total * 4096, caps, 4096));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('quickEvaluate agrees with evaluate', () => {
  it('same ok, nodes, cost and missing devices on random sets', () => {
    fc.assert(
      fc.property(hostArb, requestArb, fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), (h, req, picks) => {
        const topo = syntheticTopology({
          source: 'quick',
          packages: h.packages,
          nodesPerPackage: h.perPackage,
          coresPerNode: h.cores,
          threadsPerCore: 2,
          memoryPerNode: 16 * G,
          hugePages: [{ pageSize: 2 * 1024 ** 2, total: 1024, free: 1024 }],
          distance: (i, j) => (i === j ? 10 : (h.dist[(Math.min(i, j) * 31 + Math.max(i, j) * 7) % 97] as number)),
        });
        let state = createHostState(topo);
        h.fill.forEach((r, i) => {
          const vm = parseVmRequest({ ...r, name: `f${i}`, devices: [] });
          const res = place(vm, state, undefined, { hints: false });
          if (res.ok) state = commitPlacement(state, res.placement, vm);
        });
        const r = parseVmRequest({ ...req, name: 'probe', pageSize: req.pageSize === 'auto' ? 4096 : req.pageSize, devices: [] });
        for (const mode of cpuModes(r)) {
          const ctx = makeContext(r, state, r.pageSize as number, mode, hostCapacity(state));
          const ids = topo.nodes.map((x) => x.id);
          const set = picks.map((p) => ids[p % ids.length] as number);
          const full = ctx.evaluate(set);
          const quick = ctx.quickEvaluate(set);
          expect([quick.ok, quick.nodes, quick.cost, quick.missingPreferred]).toEqual([full.ok, full.nodes, full.cost, full.missingPreferred]);
          // quickCost: the same verdict as a number (null only where it defers to the full evaluation).
          const cost = ctx.quickCost(set);
          if (cost !== null) expect(cost).toBe(full.ok ? full.cost : Number.POSITIVE_INFINITY);
        }
      }),
      { numRuns: 400 },
    );
  });
});
