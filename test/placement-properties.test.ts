/** Property tests of the engine on random hosts and request streams. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type HostState,
  type Placement,
  type VmRequest,
  claimPlacement,
  commitClaim,
  createHostState,
  expireClaims,
  parseVmRequest,
  place,
  releaseAllocation,
  stateFromJson,
  stateToJson,
} from '../src/core/placement/index.js';
import { hostArb, requestArb } from './placement-arbitraries.js';
import { checkPlacement, checkState } from './support/placement-invariants.js';


const stream = fc.tuple(hostArb(8), fc.array(requestArb, { minLength: 1, maxLength: 12 }));

describe('placement properties', () => {
  it('never hands out a pCPU, huge page or VF twice, and honours hard constraints', () => {
    fc.assert(
      fc.property(stream, ([topo, reqs]) => {
        let state = createHostState(topo);
        reqs.forEach((raw, i) => {
          const r = parseVmRequest({ ...raw, name: `vm${i}` });
          const res = place(r, state, undefined, { hints: false });
          if (!res.ok) {
            expect(res.reasons.length).toBeGreaterThan(0);
            return;
          }
          checkPlacement(state, r, res.placement);
          state = claimPlacement(state, res.placement, r, 1000);
          state = commitClaim(state, r.name, 10);
          checkState(state);
        });
        // releasing everything gives back the empty state's capacity
        for (const a of state.allocations) state = releaseAllocation(state, a.name);
        expect(state.allocations).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });

  it('is deterministic: same state and request, same placement byte for byte (also after a JSON round trip)', () => {
    fc.assert(
      fc.property(stream, ([topo, reqs]) => {
        let state = createHostState(topo);
        for (const [i, raw] of reqs.entries()) {
          const r = parseVmRequest({ ...raw, name: `vm${i}` });
          const a = JSON.stringify(place(r, state));
          const b = JSON.stringify(place(r, stateFromJson(stateToJson(state))));
          expect(b).toBe(a);
          const res = place(r, state, undefined, { hints: false });
          if (res.ok) state = claimPlacement(state, res.placement, r, 100);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('honours explicit CPUs exactly, or refuses naming the taken CPU', () => {
    fc.assert(
      fc.property(hostArb(4), fc.integer({ min: 1, max: 4 }), (topo, k) => {
        const state = createHostState(topo);
        const cpus = topo.pus.map((u) => u.os).slice(-k);
        const r = parseVmRequest({ name: 'x', vcpus: cpus.length, memory: 1024 ** 3, cpus });
        const res = place(r, state);
        const reserved = cpus.filter((c) => state.reserve.cpus.includes(c));
        if (reserved.length > 0) {
          expect(res.ok).toBe(false);
          if (!res.ok) expect(res.reasons.some((x) => x.resource === `cpu:${reserved[0]}`)).toBe(true);
        } else if (res.ok) {
          expect(res.placement.cpus).toEqual(cpus);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('honours an explicit guest layout: guest node i whole on its own host node, or a refusal naming why', () => {
    const guestArb = fc.record({ vcpus: fc.integer({ min: 1, max: 4 }), memGiB: fc.integer({ min: 1, max: 6 }) });
    fc.assert(
      fc.property(hostArb(8), fc.array(guestArb, { minLength: 1, maxLength: 5 }), fc.constantFrom<'dedicated' | 'shared'>('dedicated', 'shared'), (topo, guests, cpuPolicy) => {
        const state = createHostState(topo);
        const layout = guests.map((g) => ({ vcpus: g.vcpus, memory: g.memGiB * 1024 ** 3 }));
        const r = parseVmRequest({
          name: 'l',
          vcpus: layout.reduce((s, g) => s + g.vcpus, 0),
          memory: layout.reduce((s, g) => s + g.memory, 0),
          cpuPolicy,
          layout,
        });
        const res = place(r, state, undefined, { hints: false });
        if (!res.ok) {
          expect(res.reasons.length).toBeGreaterThan(0);
          if (layout.length > topo.nodes.length) expect(res.reasons).toEqual([expect.objectContaining({ resource: 'nodes', need: layout.length })]);
          for (const reason of res.reasons) expect(reason.detail).not.toMatch(/this set has/);
          return;
        }
        const p = res.placement;
        checkPlacement(state, r, p);
        const puNode = new Map(topo.pus.map((u) => [u.os, u.node]));
        const hosts = layout.map((_, i) => (layout.length === 1 ? puNode.get(p.cpus[0] as number) : p.vnuma?.nodes[i]?.hostNode));
        expect(new Set(hosts).size).toBe(layout.length);
        let v = 0;
        layout.forEach((g, i) => {
          for (let k = 0; k < g.vcpus; k++) expect(puNode.get(p.cpus[v + k] as number)).toBe(hosts[i]);
          v += g.vcpus;
          expect(p.memoryByNode[String(hosts[i])]).toBe(g.memory);
        });
        checkState(claimPlacement(state, p, r, 10));
      }),
      { numRuns: 150 },
    );
  });

  it('claims block concurrent placements until they expire', () => {
    fc.assert(
      fc.property(hostArb(4), (topo) => {
        let state = createHostState(topo);
        const r = parseVmRequest({ name: 'a', vcpus: 1, memory: 1024 ** 3, smt: 'prefer' });
        const first = place(r, state);
        if (!first.ok) return;
        state = claimPlacement(state, first.placement, r, 50);
        const second = place({ ...r, name: 'b' }, state);
        if (second.ok) expect(second.placement.cpus[0]).not.toBe(first.placement.cpus[0]);
        else expect(second.reasons.length).toBeGreaterThan(0);
        expect(() => commitClaim(state, 'a', 50)).toThrow(/expired/);
        expect(expireClaims(state, 50).allocations).toHaveLength(0);
        expect(expireClaims(state, 49).allocations).toHaveLength(1);
      }),
      { numRuns: 40 },
    );
  });
});
