/** Property tests of the engine on random hosts and request streams. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deviceSlots } from '../src/core/placement/capacity.js';
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

/** Checks every invariant of a state; throws with a message on the first violation. */
function checkState(state: HostState): void {
  const topo = state.topology;
  const owner = new Map<number, string>();
  const claim = (c: number, who: string): void => {
    const prev = owner.get(c);
    if (prev !== undefined) throw new Error(`CPU ${c} handed to ${who} and ${prev}`);
    owner.set(c, who);
  };
  for (const c of state.reserve.cpus) claim(c, 'reserve');
  for (const a of state.allocations) {
    if (a.exclusive) for (const c of a.cpus) claim(c, a.name);
    for (const c of [...a.heldCpus, ...a.emulatorCpus]) claim(c, a.name);
  }
  for (const a of state.allocations) if (!a.exclusive) for (const c of a.cpus) if (owner.has(c)) throw new Error(`shared ${a.name} on dedicated CPU ${c}`);
  // memory per node and page size within capacity
  const used = new Map<string, number>();
  for (const a of state.allocations) for (const m of a.memory) used.set(`${m.node}/${m.pageSize}`, (used.get(`${m.node}/${m.pageSize}`) ?? 0) + m.bytes);
  for (const n of topo.nodes) {
    const pools = n.hugePages.reduce((s, p) => s + p.pageSize * p.total, 0);
    const reserve = state.reserve.memory.filter((r) => r.node === n.id).reduce((s, r) => s + r.bytes, 0);
    if ((used.get(`${n.id}/4096`) ?? 0) > Math.max(0, n.memory.total - pools - reserve)) throw new Error(`node ${n.id} regular memory over-committed`);
    for (const p of n.hugePages) if ((used.get(`${n.id}/${p.pageSize}`) ?? 0) > p.total * p.pageSize) throw new Error(`node ${n.id} ${p.pageSize} pool over-committed`);
  }
  // devices: once, and never a PF together with one of its VFs
  const devs = state.allocations.flatMap((a) => a.devices);
  if (new Set(devs).size !== devs.length) throw new Error('a device handed out twice');
  const slots = new Map(deviceSlots(topo).map((s) => [s.address, s]));
  const taken = new Set(devs);
  for (const d of devs) {
    const pf = slots.get(d)?.physfn;
    if (pf && taken.has(pf)) throw new Error(`VF ${d} and its PF ${pf} both handed out`);
  }
}

/** Checks a placement honours its request's hard constraints. */
function checkPlacement(state: HostState, r: VmRequest, p: Placement): void {
  const puNode = new Map(state.topology.pus.map((u) => [u.os, u.node]));
  expect(p.cpus).toHaveLength(r.vcpus);
  const cpuNodes = new Set(p.cpus.map((c) => puNode.get(c)));
  if (r.numa === 'strict') expect(cpuNodes.size).toBe(1);
  if (r.maxNodes !== undefined) expect(cpuNodes.size).toBeLessThanOrEqual(r.maxNodes);
  const memTotal = Object.values(p.memoryByNode).reduce((s, b) => s + b, 0);
  expect(memTotal).toBe(r.memory);
  if (r.pageSize !== 'auto') expect(p.pageSize).toBe(r.pageSize);
  for (const b of Object.values(p.memoryByNode)) expect(b % p.pageSize).toBe(0);
  const slots = new Map(deviceSlots(state.topology).map((s) => [s.address, s]));
  r.devices.forEach((d) => {
    const got = p.devices.filter((x) => x.kind === d.kind);
    expect(got.length).toBeGreaterThanOrEqual(d.count);
    if (d.locality === 'required') for (const g of got) expect(cpuNodes.has(slots.get(g.address)?.node ?? -1)).toBe(true);
  });
  if (r.cpus) expect(p.cpus).toEqual(r.cpus);
  if (r.nodes) for (const n of cpuNodes) expect(r.nodes).toContain(n);
  if (r.cpuPolicy === 'dedicated' && (r.smt === 'isolate' || r.smt === 'require')) {
    const coreOf = new Map(state.topology.pus.map((u) => [u.os, u.core]));
    const mine = new Set([...p.cpus, ...p.heldCpus, ...p.emulatorCpus]);
    for (const c of p.cpus) for (const s of state.topology.cores[coreOf.get(c) ?? 0]?.pus ?? []) expect(mine.has(s)).toBe(true);
  }
}

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
