/**
 * The invariants every placement policy must keep, checked on a host state and on a placement: no CPU,
 * huge page or VF handed out twice, nothing over capacity, the reserve never handed out, and a
 * request's hard constraints honoured. Shared by the property suite and the policy contract suite.
 */
import { expect } from 'vitest';
import { deviceSlots } from '../../src/core/placement/capacity.js';
import type { HostState } from '../../src/core/placement/state.js';
import type { VmRequest } from '../../src/core/placement/request.js';
import type { Placement } from '../../src/core/placement/types.js';

/** Throws on the first resource handed out twice or over capacity. */
export function checkState(state: HostState): void {
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
  for (const a of state.allocations) if (!a.exclusive) for (const c of a.cpus) if (owner.has(c)) throw new Error(`shared ${a.name} on dedicated or reserved CPU ${c}`);
  const used = new Map<string, number>();
  for (const a of state.allocations) for (const m of a.memory) used.set(`${m.node}/${m.pageSize}`, (used.get(`${m.node}/${m.pageSize}`) ?? 0) + m.bytes);
  for (const n of topo.nodes) {
    const pools = n.hugePages.reduce((s, p) => s + p.pageSize * p.total, 0);
    const reserve = state.reserve.memory.filter((r) => r.node === n.id).reduce((s, r) => s + r.bytes, 0);
    if ((used.get(`${n.id}/4096`) ?? 0) > Math.max(0, n.memory.total - pools - reserve)) throw new Error(`node ${n.id}: regular memory over-committed or reserve handed out`);
    for (const p of n.hugePages) if ((used.get(`${n.id}/${p.pageSize}`) ?? 0) > p.total * p.pageSize) throw new Error(`node ${n.id}: ${p.pageSize} pool over-committed`);
  }
  const devs = state.allocations.flatMap((a) => a.devices);
  if (new Set(devs).size !== devs.length) throw new Error('a device handed out twice');
  const slots = new Map(deviceSlots(topo).map((s) => [s.address, s]));
  const taken = new Set(devs);
  for (const d of devs) {
    const pf = slots.get(d)?.physfn;
    if (pf && taken.has(pf)) throw new Error(`VF ${d} and its PF ${pf} both handed out`);
  }
}

/** Hard constraints of a request on a placement. */
export function checkPlacement(state: HostState, r: VmRequest, p: Placement): void {
  const puNode = new Map(state.topology.pus.map((u) => [u.os, u.node]));
  expect(p.cpus).toHaveLength(r.vcpus);
  const cpuNodes = new Set(p.cpus.map((c) => puNode.get(c)));
  if (r.numa === 'strict') expect(cpuNodes.size).toBe(1);
  if (r.maxNodes !== undefined) expect(cpuNodes.size).toBeLessThanOrEqual(r.maxNodes);
  expect(Object.values(p.memoryByNode).reduce((s, b) => s + b, 0)).toBe(r.memory);
  if (r.pageSize !== 'auto') expect(p.pageSize).toBe(r.pageSize);
  for (const b of Object.values(p.memoryByNode)) expect(b % p.pageSize).toBe(0);
  if (r.tier !== 'dram') {
    const tierOf = new Map(state.topology.nodes.map((n) => [String(n.id), n.tier]));
    for (const n of Object.keys(p.memoryByNode)) expect(tierOf.get(n), `memory node ${n} of a tier=${r.tier} VM`).toBe(r.tier);
  }
  const slots = new Map(deviceSlots(state.topology).map((s) => [s.address, s]));
  for (const d of r.devices) {
    const got = p.devices.filter((x) => x.kind === d.kind);
    expect(got.length).toBeGreaterThanOrEqual(d.count);
    if (d.locality === 'required') for (const g of got) expect(cpuNodes.has(slots.get(g.address)?.node ?? -1)).toBe(true);
  }
  if (r.cpus) expect(p.cpus).toEqual(r.cpus);
  if (r.nodes) for (const n of cpuNodes) expect(r.nodes).toContain(n);
  const reserved = new Set(state.reserve.cpus);
  for (const c of [...p.cpus, ...p.heldCpus, ...p.emulatorCpus]) expect(reserved.has(c)).toBe(false);
  if (r.cpuPolicy === 'dedicated' && (r.smt === 'isolate' || r.smt === 'require')) {
    const coreOf = new Map(state.topology.pus.map((u) => [u.os, u.core]));
    const mine = new Set([...p.cpus, ...p.heldCpus, ...p.emulatorCpus]);
    for (const c of p.cpus) for (const s of state.topology.cores[coreOf.get(c) ?? 0]?.pus ?? []) expect(mine.has(s)).toBe(true);
  }
}
