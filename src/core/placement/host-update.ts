/**
 * Judging allocations against a host: which VMs no longer fit a topology and reserve, and why, in
 * the shape of a placement refusal (`{ resource, node, need, have, shortfall, detail }`) plus the
 * VM's name. One judgement serves a host update (the service's PUT, the CLI's --reserve-*), a state
 * file read from disk and the fleet store's invariant checker.
 *
 * What an allocation needs of its host:
 * - every node it uses exists;
 * - every CPU it holds (vCPUs, held siblings, emulator pCPUs) exists, is online, allowed by the
 *   cpuset, sits on a node and is not in the host reserve; a CPU held exclusively (dedicated vCPUs,
 *   held, emulator) by one VM is used by no other VM, and a shared VM's CPU is held by nobody;
 * - every device it holds exists (as a PF or a listed VF), is held by no other VM, and a PF is never
 *   handed out together with one of its VFs;
 * - memory per node and page size: the huge pages of each size fit in that node's pool, the regular
 *   (4K) memory fits in the node's memory minus its pools and the reserve.
 *
 * Which VM loses when several together overfill something: displaced VMs (already marked) hold
 * their CPUs and devices first, since they still run there (so a VM placed onto them later is the
 * one at fault); memory goes to the others first, committed VMs before claims, then by name, so the
 * VMs that keep their place always fit together, and a displaced VM is restored once it fits again.
 *
 * Pure and deterministic: the same inputs give the same list, in allocation name order.
 */
import type { Topology } from '../topology/model.js';
import { deviceSlots } from './capacity.js';
import { memResource } from './context.js';
import type { Allocation, HostReserve, HostState } from './state.js';

export type { Displacement } from './state.js';
import type { RefusalReason } from './types.js';

/** One way an allocation does not fit its host: a refusal reason naming the VM. */
export interface Breakage extends RefusalReason {
  vm: string;
  shortfall: number;
}

const byName = (a: Allocation, b: Allocation): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The order memory is handed out in: VMs keeping their place first, committed before claims, then by name. */
function memoryOrder(a: Allocation, b: Allocation): number {
  const da = a.displaced ? 1 : 0;
  const db = b.displaced ? 1 : 0;
  if (da !== db) return da - db;
  const ca = a.status === 'committed' ? 0 : 1;
  const cb = b.status === 'committed' ? 0 : 1;
  return ca !== cb ? ca - cb : byName(a, b);
}

function reason(vm: string, resource: string, node: number | null, need: number, have: number, detail: string): Breakage {
  return { vm, resource, node, need, have, shortfall: Math.max(0, need - have), detail };
}

/** Judges every allocation against `topology` and `reserve`; returns what is broken, VM by VM (name order). */
export function judgeAllocations(topology: Topology, reserve: HostReserve, allocations: readonly Allocation[]): Breakage[] {
  const pus = new Map(topology.pus.map((p) => [p.os, p]));
  const nodeIds = new Set(topology.nodes.map((n) => n.id));
  const reserved = new Set(reserve.cpus);
  const slots = new Map(deviceSlots(topology).map((s) => [s.address, s]));
  const found = new Map<string, Breakage[]>();
  const add = (b: Breakage): void => {
    const list = found.get(b.vm);
    if (list) list.push(b);
    else found.set(b.vm, [b]);
  };

  // --- CPUs, devices and nodes: displaced VMs first (they still hold theirs), then by name ---
  const owner = new Map<number, string>();
  const sharedBy = new Map<number, string>();
  const deviceOwner = new Map<string, string>();
  const discrete = [...allocations].sort((a, b) => (a.displaced ? 0 : 1) - (b.displaced ? 0 : 1) || byName(a, b));
  for (const a of discrete) {
    for (const n of new Set(a.nodes)) if (!nodeIds.has(n)) add(reason(a.name, 'node', n, 1, 0, `node ${n} is gone from the host`));
    const exclusive = new Set([...(a.exclusive ? a.cpus : []), ...a.heldCpus, ...a.emulatorCpus]);
    for (const c of new Set([...a.cpus, ...a.heldCpus, ...a.emulatorCpus])) {
      const pu = pus.get(c);
      const node = pu?.node ?? null;
      const lost = (why: string): void => add(reason(a.name, `cpu:${c}`, node, 1, 0, `CPU ${c} ${why}`));
      if (!pu) lost('is gone from the host');
      else if (!pu.online) lost('is offline');
      else if (!pu.allowed) lost('is outside the cpuset');
      else if (pu.node === null) lost('is on no NUMA node');
      if (reserved.has(c)) lost('is in the host reserve');
      const held = owner.get(c);
      if (exclusive.has(c)) {
        if (held !== undefined) lost(`is held by both ${held} and ${a.name}`);
        else {
          const shared = sharedBy.get(c);
          if (shared !== undefined) lost(`is held by ${a.name} but shared VM ${shared} runs on it`);
          owner.set(c, a.name);
        }
      } else {
        if (held !== undefined) lost(`is held by ${held} but shared VM ${a.name} runs on it`);
        if (!sharedBy.has(c)) sharedBy.set(c, a.name);
      }
    }
    for (const d of new Set(a.devices)) {
      const slot = slots.get(d);
      const node = slot?.node ?? null;
      if (!slot) {
        add(reason(a.name, 'device', null, 1, 0, `device ${d} is gone from the host`));
        continue;
      }
      const held = deviceOwner.get(d) ?? (slot.physfn !== null ? deviceOwner.get(slot.physfn) : undefined) ?? slot.vfs.map((vf) => deviceOwner.get(vf)).find((o) => o !== undefined);
      if (held !== undefined) add(reason(a.name, 'device', node, 1, 0, `device ${d} (or its physical or virtual function) is held by both ${held} and ${a.name}`));
      else deviceOwner.set(d, a.name);
    }
  }

  // --- memory: per node and page size, VMs keeping their place first ---
  const reserveMem = new Map<number, number>();
  for (const r of reserve.memory) reserveMem.set(r.node, (reserveMem.get(r.node) ?? 0) + r.bytes);
  const left = new Map<string, number>();
  for (const n of topology.nodes) {
    let pools = 0;
    for (const p of n.hugePages) {
      pools += p.pageSize * p.total;
      left.set(`${n.id}/${p.pageSize}`, p.pageSize * p.total);
    }
    left.set(`${n.id}/4096`, n.memory.total - pools - (reserveMem.get(n.id) ?? 0));
  }
  for (const a of [...allocations].sort(memoryOrder)) {
    if (found.has(a.name)) continue; // already broken: it keeps no memory of the judgement
    const need = new Map<string, { node: number; pageSize: number; bytes: number }>();
    for (const m of a.memory) {
      const k = `${m.node}/${m.pageSize}`;
      const cur = need.get(k);
      if (cur) cur.bytes += m.bytes;
      else need.set(k, { node: m.node, pageSize: m.pageSize, bytes: m.bytes });
    }
    const short: Breakage[] = [];
    for (const [k, m] of need) {
      const have = Math.max(0, left.get(k) ?? 0);
      if (m.bytes > have) {
        const what = m.pageSize === 4096 ? 'regular memory' : `${memResource(m.pageSize)} pool`;
        short.push(reason(a.name, memResource(m.pageSize), m.node, m.bytes, have, `holds ${m.bytes} bytes of node ${m.node}'s ${what}, ${have} bytes are left for it`));
      }
    }
    if (short.length > 0) for (const b of short) add(b);
    else for (const [k, m] of need) left.set(k, (left.get(k) ?? 0) - m.bytes);
  }

  return [...found.keys()].sort().flatMap((vm) => found.get(vm) as Breakage[]);
}

/** The names of the VMs a judgement breaks, in order. */
export function brokenVms(broken: readonly Breakage[]): string[] {
  return [...new Set(broken.map((b) => b.vm))];
}

/** A host state after a change of its topology or reserve. */
export interface HostUpdate {
  state: HostState;
  /** Everything broken under the new host (already displaced VMs included). */
  broken: Breakage[];
  /** VMs broken now that were not displaced before: the update needs the caller's consent for them. */
  displaces: string[];
  /** VMs displaced before that fit again: no longer displaced. */
  restores: string[];
}

/**
 * Judges the allocations of `state` under a new topology and reserve and marks the broken VMs
 * displaced (keeping the time they were first displaced), clearing the mark of those that fit
 * again. Whether to accept new displacements is the caller's decision (`displaces`).
 */
export function updateHost(state: HostState, topology: Topology, reserve: HostReserve, now: number): HostUpdate {
  const broken = judgeAllocations(topology, reserve, state.allocations);
  const byVm = new Map<string, Breakage[]>();
  for (const b of broken) {
    const list = byVm.get(b.vm);
    if (list) list.push(b);
    else byVm.set(b.vm, [b]);
  }
  const displaces: string[] = [];
  const restores: string[] = [];
  const allocations = state.allocations.map((a) => {
    const why = byVm.get(a.name);
    if (why) {
      if (!a.displaced) displaces.push(a.name);
      const reasons = why.map(({ vm, ...r }) => (void vm, r));
      return { ...a, displaced: { since: a.displaced?.since ?? now, reasons } };
    }
    if (a.displaced) {
      restores.push(a.name);
      const { displaced, ...rest } = a;
      void displaced;
      return rest;
    }
    return a;
  });
  return { state: { ...state, topology, reserve, allocations }, broken, displaces, restores };
}

/** Error for a change that would break VMs the caller did not agree to displace. */
export class HostUpdateError extends Error {
  readonly code = 'ERR_HOST_IN_USE';
  constructor(
    readonly path: string,
    readonly broken: Breakage[],
    readonly vms: string[],
  ) {
    super(`${path}: the change would break ${vms.length} VM(s) on this host (${vms.join(', ')}): ${broken.filter((b) => vms.includes(b.vm)).map((b) => `${b.vm}: ${b.detail}`).slice(0, 5).join('; ')}`);
    this.name = 'HostUpdateError';
  }
}
