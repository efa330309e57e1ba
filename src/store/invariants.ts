/**
 * The invariant checker: reads every host and VM from a store and says what is wrong.
 *
 * - no pCPU handed out twice: a CPU of a dedicated VM (its vCPUs, held siblings, emulator CPUs) is
 *   in no other VM and not in the host reserve; shared VMs may share CPUs only with each other;
 * - no device handed out twice, and never a physical function together with one of its VFs;
 * - huge pages of each size on each node: allocated bytes at most the pool; regular memory of each
 *   node at most total - pools - reserve;
 * - every CPU, node and device a VM holds exists on its host;
 * - every acknowledged placement is present (same host, same CPUs), unless it was released.
 *
 * Claims that lapsed at or before `now` are ignored: their resources are free by definition.
 */
import type { Allocation, HostReserve } from '../core/placement/state.js';
import { topologyFromJson } from '../core/topology/json.js';
import type { Topology } from '../core/topology/model.js';
import type { FleetStore, VmRecord } from './types.js';

/** A placement a client was told succeeded. */
export interface Acknowledged {
  name: string;
  host: string;
  cpus: number[];
}

/** What the checker found. */
export interface InvariantReport {
  ok: boolean;
  hosts: number;
  vms: number;
  problems: string[];
}

/** Checks one host's live allocations; returns the problems found. */
export function checkHost(host: string, topology: Topology, reserve: HostReserve, allocations: readonly Allocation[]): string[] {
  const problems: string[] = [];
  const owner = new Map<number, string>();
  for (const c of reserve.cpus) owner.set(c, 'host reserve');
  const sharedUse = new Map<number, string>();
  const pus = new Set(topology.pus.map((p) => p.os));
  const nodeIds = new Set(topology.nodes.map((n) => n.id));
  const devices = new Map(topology.pciDevices.map((d) => [d.address, d]));
  const vfParent = new Map<string, string>();
  for (const d of topology.pciDevices) for (const vf of d.sriov?.vfs ?? []) vfParent.set(vf, d.address);
  for (const d of topology.pciDevices) if (d.physfn) vfParent.set(d.address, d.physfn);
  const deviceOwner = new Map<string, string>();
  const memUsed = new Map<string, number>();
  for (const a of allocations) {
    const mine = a.exclusive ? [...a.cpus, ...a.heldCpus, ...a.emulatorCpus] : [...a.heldCpus, ...a.emulatorCpus];
    for (const c of [...a.cpus, ...a.heldCpus, ...a.emulatorCpus]) {
      if (!pus.has(c)) problems.push(`${host}: ${a.name} holds CPU ${c}, which the host does not have`);
    }
    for (const c of new Set(mine)) {
      const prev = owner.get(c);
      if (prev !== undefined) problems.push(`${host}: CPU ${c} held by both ${prev} and ${a.name}`);
      else owner.set(c, a.name);
    }
    if (!a.exclusive) for (const c of a.cpus) sharedUse.set(c, a.name);
    for (const n of a.nodes) if (!nodeIds.has(n)) problems.push(`${host}: ${a.name} uses node ${n}, which the host does not have`);
    for (const d of a.devices) {
      if (!devices.has(d) && !vfParent.has(d)) problems.push(`${host}: ${a.name} holds device ${d}, which the host does not have`);
      const prev = deviceOwner.get(d);
      if (prev !== undefined) problems.push(`${host}: device ${d} held by both ${prev} and ${a.name}`);
      else deviceOwner.set(d, a.name);
    }
    for (const m of a.memory) memUsed.set(`${m.node}/${m.pageSize}`, (memUsed.get(`${m.node}/${m.pageSize}`) ?? 0) + m.bytes);
  }
  for (const [c, vm] of sharedUse) {
    const o = owner.get(c);
    if (o !== undefined) problems.push(`${host}: CPU ${c} is dedicated to ${o} but shared VM ${vm} runs on it`);
  }
  for (const [d, vm] of deviceOwner) {
    const pf = vfParent.get(d);
    const pfOwner = pf === undefined ? undefined : deviceOwner.get(pf);
    if (pf !== undefined && pfOwner !== undefined) problems.push(`${host}: VF ${d} (${vm}) and its physical function ${pf} (${pfOwner}) both handed out`);
  }
  const reserveMem = new Map(reserve.memory.map((r) => [r.node, r.bytes]));
  for (const n of topology.nodes) {
    let pools = 0;
    for (const p of n.hugePages) {
      pools += p.pageSize * p.total;
      const used = memUsed.get(`${n.id}/${p.pageSize}`) ?? 0;
      if (used > p.pageSize * p.total) problems.push(`${host}: node ${n.id} has ${p.total} pages of ${p.pageSize} bytes, ${used / p.pageSize} handed out`);
    }
    const regular = n.memory.total - pools - (reserveMem.get(n.id) ?? 0);
    const used = memUsed.get(`${n.id}/4096`) ?? 0;
    if (used > regular) problems.push(`${host}: node ${n.id} regular memory ${regular} bytes, ${used} handed out`);
  }
  return problems;
}

/** Checks the whole store, and that every acknowledged placement (not released since) is present. */
export async function checkStore(store: FleetStore, now: number, acknowledged: readonly Acknowledged[] = []): Promise<InvariantReport> {
  const problems: string[] = [];
  let hosts = 0;
  let vms = 0;
  const live = new Map<string, VmRecord>();
  let after: string | undefined;
  for (;;) {
    const page = await store.listHosts({ ...(after !== undefined ? { after } : {}), limit: 500 });
    if (page.length === 0) break;
    for (const h of page) {
      hosts++;
      const doc = await store.hostDocument(h.name);
      if (!doc) continue;
      const topology = topologyFromJson(doc.topology, `${h.name}:topology`);
      const reserve = JSON.parse(doc.reserve) as HostReserve;
      const all = await store.vmsOf(h.name);
      const records = all.filter((v) => v.status === 'committed' || v.expiresAt === null || v.expiresAt > now);
      vms += records.length;
      for (const r of records) {
        live.set(r.name, r);
        if (r.allocation.name !== r.name) problems.push(`${h.name}: row ${r.name} holds the allocation of ${r.allocation.name}`);
      }
      if (h.vms !== all.length) problems.push(`${h.name}: host row counts ${h.vms} VMs, ${all.length} stored`);
      problems.push(...checkHost(h.name, topology, reserve, records.map((r) => r.allocation)));
    }
    after = page[page.length - 1]?.name;
  }
  for (const a of acknowledged) {
    const r = live.get(a.name);
    if (!r) problems.push(`acknowledged placement ${a.name} on ${a.host} is missing`);
    else if (r.host !== a.host) problems.push(`acknowledged placement ${a.name} was on ${a.host}, the store has it on ${r.host}`);
    else if (r.allocation.cpus.join(',') !== a.cpus.join(',')) problems.push(`acknowledged placement ${a.name}: CPUs ${a.cpus.join(',')} acknowledged, ${r.allocation.cpus.join(',')} stored`);
  }
  return { ok: problems.length === 0, hosts, vms, problems };
}

