/**
 * A reference capacity view for tests: what is free on each node, computed from scratch from a
 * state in one pass over its allocations (the engine's capacity builder before the incremental
 * ledger). The ledger, after any sequence of changes, must give exactly this view.
 */
import { type DeviceSlot, type HostCapacity, type ModeCaps, type NodeCapacity, memCapsOf, modeCapsOf } from '../../src/core/placement/capacity.js';
import type { CpuMode } from '../../src/core/placement/context.js';
import { nodeRows } from '../../src/core/placement/topology-index.js';
import type { HostState } from '../../src/core/placement/state.js';
import { topologyIndex } from '../../src/core/placement/topology-index.js';
import { vcpusOnNodesOf } from '../../src/core/placement/policies/baselines/libxl.js';
import type { Topology } from '../../src/core/topology/model.js';

/** Per-topology lookups of the capacity view: each PU's package as a dense index, by OS index. */
interface CapacityIndex {
  /** OS index -> dense package index (-1: no package known). */
  puPkg: Int32Array;
  /** Dense package index -> package id. */
  pkgIds: number[];
}
const CAP_INDEX = new WeakMap<Topology, CapacityIndex>();

function capacityIndex(topo: Topology): CapacityIndex {
  const hit = CAP_INDEX.get(topo);
  if (hit) return hit;
  const tix = topologyIndex(topo);
  const puPkg = new Int32Array(tix.maxOs + 1).fill(-1);
  const dense = new Map<number, number>();
  const pkgIds: number[] = [];
  for (const [os, pkg] of tix.puPackage) {
    if (os < 0 || os > tix.maxOs) continue;
    let d = dense.get(pkg);
    if (d === undefined) {
      d = pkgIds.length;
      dense.set(pkg, d);
      pkgIds.push(pkg);
    }
    puPkg[os] = d;
  }
  const out = { puPkg, pkgIds };
  CAP_INDEX.set(topo, out);
  return out;
}

/** Builds the capacity view of a state. */
export function referenceCapacity(state: HostState): HostCapacity {
  const topo = state.topology;
  const tix = topologyIndex(topo);
  const cix = capacityIndex(topo);
  // 0 = free, 1 = held by the reserve or a dedicated VM, 2 = used by shared VMs only.
  const status = new Uint8Array(tix.maxOs + 1);
  const maxOs = tix.maxOs;
  const hold = (c: number): void => {
    if (c <= maxOs) status[c] = 1;
  };
  for (const c of state.reserve.cpus) hold(c);
  let sharedTenants: Map<number, number> | null = null;
  // Bytes in use by page size, then node (few page sizes: few maps).
  const memUsed = new Map<number, Map<number, number>>();
  const takenDevices = new Set<string>();
  for (const a of state.allocations) {
    if (a.exclusive) for (const c of a.cpus) hold(c);
    else {
      sharedTenants ??= new Map<number, number>();
      for (const c of a.cpus) sharedTenants.set(c, (sharedTenants.get(c) ?? 0) + 1);
    }
    for (const c of a.heldCpus) hold(c);
    for (const c of a.emulatorCpus) hold(c);
    for (const m of a.memory) {
      let byNode = memUsed.get(m.pageSize);
      if (!byNode) memUsed.set(m.pageSize, (byNode = new Map<number, number>()));
      byNode.set(m.node, (byNode.get(m.node) ?? 0) + m.bytes);
    }
    for (const d of a.devices) takenDevices.add(d);
  }
  if (sharedTenants) for (const c of sharedTenants.keys()) if (c <= maxOs && status[c] === 0) status[c] = 2;
  const reserveMem = new Map<number, number>();
  for (const r of state.reserve.memory) reserveMem.set(r.node, (reserveMem.get(r.node) ?? 0) + r.bytes);

  // Usable PUs not free, per package (each usable PU sits in exactly one node's cores).
  const pkgUsed = new Float64Array(cix.pkgIds.length);
  const pageSizes = new Set<number>([4096]);
  const nodes: NodeCapacity[] = topo.nodes.map((n) => {
    const cores = tix.nodeCores.get(n.id) ?? [];
    const wholeCores: number[][] = [];
    const freePus: number[] = [];
    let totalPus = 0;
    for (const pus of cores) {
      totalPus += pus.length;
      let whole = true;
      for (const p of pus) {
        if (status[p] === 0) freePus.push(p);
        else {
          whole = false;
          const d = cix.puPkg[p] as number;
          if (d >= 0) pkgUsed[d] = (pkgUsed[d] as number) + 1;
        }
      }
      if (whole) wholeCores.push(pus);
    }
    const memory = new Map<number, number>();
    let pools = 0;
    for (const pool of n.hugePages) {
      pools += pool.pageSize * pool.total;
      if (pool.total > 0) pageSizes.add(pool.pageSize);
      const free = pool.pageSize * pool.total - (memUsed.get(pool.pageSize)?.get(n.id) ?? 0);
      memory.set(pool.pageSize, Math.max(0, free));
    }
    const regular = n.memory.total - pools - (reserveMem.get(n.id) ?? 0) - (memUsed.get(4096)?.get(n.id) ?? 0);
    memory.set(4096, Math.max(0, Math.floor(regular / 4096) * 4096));
    return new NodeView(n.id, n.kind, n.tier, tix.nodePackage.get(n.id) ?? null, totalPus, cores, n.memory.total, wholeCores, freePus, memory, status, sharedTenants);
  });
  const byId = new Map<number, NodeCapacity>();
  for (const n of nodes) byId.set(n.id, n);

  const slots = tix.slots;
  const takenPf = new Set<string>();
  if (takenDevices.size > 0) for (const s of slots) if (s.physfn && takenDevices.has(s.address)) takenPf.add(s.physfn);
  const freeDevices = new Map<string, DeviceSlot>();
  const unplacedDevices: DeviceSlot[] = [];
  for (const s of slots) {
    if (takenDevices.has(s.address)) continue;
    if (s.physfn === null && takenPf.has(s.address)) continue; // a VF of it is in use
    if (s.physfn !== null && takenDevices.has(s.physfn)) continue; // its PF is in use whole
    freeDevices.set(s.address, s);
    const n = s.node === null ? undefined : byId.get(s.node);
    if (n) n.devices.push(s);
    else unplacedDevices.push(s);
  }

  const packageLoad = new Map<number, number>();
  const dense = new Map(cix.pkgIds.map((pkg, i) => [pkg, i]));
  for (const [pkg, total] of tix.packagePus) packageLoad.set(pkg, total === 0 ? 0 : (pkgUsed[dense.get(pkg) ?? -1] ?? 0) / total);

  return new HostView(nodes, byId, tix.index, unplacedDevices, freeDevices, packageLoad, [...pageSizes].sort((a, b) => b - a), state);
}

/** A node's capacity; `sharedPus` is built on first use (only shared-CPU requests read it). */
class NodeView implements NodeCapacity {
  readonly devices: DeviceSlot[] = [];
  readonly totalCores: number;
  readonly package: number | null;
  #shared: { cpu: number; tenants: number }[] | null = null;
  constructor(
    readonly id: number,
    readonly kind: NodeCapacity['kind'],
    readonly tier: NodeCapacity['tier'],
    pkg: number | null,
    readonly totalPus: number,
    private readonly cores: readonly number[][],
    readonly totalMemory: number,
    readonly wholeCores: number[][],
    readonly freePus: number[],
    readonly memory: Map<number, number>,
    private readonly status: Uint8Array,
    private readonly tenants: Map<number, number> | null,
  ) {
    this.totalCores = cores.length;
    this.package = pkg;
  }
  get sharedPus(): { cpu: number; tenants: number }[] {
    if (!this.#shared) {
      const shared: { cpu: number; tenants: number }[] = [];
      for (const pus of this.cores) {
        for (const p of pus) {
          const st = this.status[p];
          if (st !== 1) shared.push({ cpu: p, tenants: st === 2 ? (this.tenants?.get(p) ?? 0) : 0 });
        }
      }
      this.#shared = shared;
    }
    return this.#shared;
  }
}

/** The host's capacity; `cpuOwner` is built on first use (explicit CPUs read it). */
class HostView implements HostCapacity {
  #owner: Map<number, string> | null = null;
  readonly topology: Topology;
  readonly vcpusByNode: ReadonlyMap<number, number>;
  constructor(
    readonly nodes: NodeCapacity[],
    readonly byId: Map<number, NodeCapacity>,
    readonly index: Map<number, number>,
    readonly unplacedDevices: DeviceSlot[],
    readonly freeDevices: Map<string, DeviceSlot>,
    readonly packageLoad: Map<number, number>,
    readonly pageSizes: number[],
    private readonly state: HostState,
  ) {
    this.topology = state.topology;
    this.vcpusByNode = vcpusOnNodesOf(state);
  }
  modeCaps(mode: CpuMode): ModeCaps {
    return modeCapsOf(this.nodes, nodeRows(this.topology).length, mode);
  }
  memCaps(pageSize: number): number[] {
    return memCapsOf(this.nodes, nodeRows(this.topology).length, pageSize);
  }
  get cpuOwner(): Map<number, string> {
    if (!this.#owner) {
      const owner = new Map<number, string>();
      for (const c of this.state.reserve.cpus) owner.set(c, 'host reserve');
      for (const a of this.state.allocations) {
        if (a.exclusive) for (const c of a.cpus) owner.set(c, a.name);
        for (const c of a.heldCpus) owner.set(c, a.name);
        for (const c of a.emulatorCpus) owner.set(c, a.name);
      }
      this.#owner = owner;
    }
    return this.#owner;
  }
}
