/**
 * The capacity view: what is free on each node of a host state, in the units placement decides in
 * (free whole cores, free PUs, free memory per page size, free devices and VFs). Built once per
 * placement in O(PUs + allocations + devices); policies only read it.
 */
import type { PciDevice, Topology } from '../topology/model.js';
import type { DeviceKind, DeviceRequest } from './request.js';
import type { HostState } from './state.js';
import { topologyIndex } from './topology-index.js';

/** A device (physical function or SR-IOV VF) as placement sees it. */
export interface DeviceSlot {
  address: string;
  class: PciDevice['class'];
  /** Physical function of a VF; null for a PF. */
  physfn: string | null;
  /** RDMA-capable (itself, or for a VF its PF). */
  rdma: boolean;
  /** Reported node, else inferred, else (for a VF) its PF's; null when unknown. */
  node: number | null;
  /** VF addresses of a PF. */
  vfs: string[];
}

/** What is free on one node. */
export interface NodeCapacity {
  id: number;
  kind: Topology['nodes'][number]['kind'];
  tier: Topology['nodes'][number]['tier'];
  /** Package of the node's first CPU; null for CPU-less nodes. */
  package: number | null;
  /** Usable PUs of the node (online, allowed), before any reserve or allocation. */
  totalPus: number;
  /** Cores with at least one usable PU on the node. */
  totalCores: number;
  /** Memory total in bytes. */
  totalMemory: number;
  /** Cores all of whose usable PUs are free, in topology order; each entry lists the core's PUs. */
  wholeCores: number[][];
  /** Free PUs (not reserved, not held by a dedicated VM), grouped by core in topology order. */
  freePus: number[];
  /** PUs a shared-CPU VM may use: free PUs plus PUs used only by shared VMs, with their tenant count. */
  sharedPus: { cpu: number; tenants: number }[];
  /** Free bytes per page size (4096 = regular memory). */
  memory: Map<number, number>;
  /** Free devices whose node is this one. */
  devices: DeviceSlot[];
}

/** The whole host's free capacity. */
export interface HostCapacity {
  nodes: NodeCapacity[];
  byId: Map<number, NodeCapacity>;
  /** Index of each node id in the topology's distance matrix. */
  index: Map<number, number>;
  /** Free devices whose node is unknown. */
  unplacedDevices: DeviceSlot[];
  /** All free devices by address. */
  freeDevices: Map<string, DeviceSlot>;
  /** Fraction of each package's usable PUs in use (reserve and allocations). */
  packageLoad: Map<number, number>;
  /** Page sizes the host has pools of, plus 4096; descending. */
  pageSizes: number[];
  /** Owner of each CPU that is not free: "host reserve" or a VM name. */
  cpuOwner: Map<number, string>;
  /**
   * vCPUs of the placed VMs per node, each VM counted on every node its vCPUs sit on (libxl's
   * nr_vcpus_on_nodes), when the view keeps it up to date (fleet mode's ledger); absent, policies
   * that need it count the state's allocations.
   */
  readonly vcpusByNode?: ReadonlyMap<number, number>;
}

/** All devices of a topology as slots, including VFs a PF announces but that are not listed. */
export function deviceSlots(topology: Topology): DeviceSlot[] {
  const byAddr = new Map(topology.pciDevices.map((d) => [d.address, d]));
  const nodeOf = (d: PciDevice): number | null => {
    const own = d.node ?? d.inferredNode;
    if (own !== null) return own;
    const pf = d.physfn ? byAddr.get(d.physfn) : undefined;
    return pf ? (pf.node ?? pf.inferredNode) : null;
  };
  const isRdma = (d: PciDevice | undefined): boolean => !!d && (d.class === 'rdma' || d.rdmaDevices.length > 0);
  const slots: DeviceSlot[] = [];
  const listed = new Set(byAddr.keys());
  for (const d of topology.pciDevices) {
    if (d.class === 'bridge') continue;
    const pf = d.physfn ? byAddr.get(d.physfn) : undefined;
    slots.push({
      address: d.address,
      class: pf ? pf.class : d.class,
      physfn: d.physfn,
      rdma: isRdma(d) || isRdma(pf),
      node: nodeOf(d),
      vfs: d.sriov ? [...d.sriov.vfs] : [],
    });
    for (const vf of d.sriov?.vfs ?? []) {
      if (listed.has(vf)) continue;
      listed.add(vf);
      slots.push({ address: vf, class: d.class, physfn: d.address, rdma: isRdma(d), node: d.node ?? d.inferredNode, vfs: [] });
    }
  }
  return slots.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

/** True when a free device can serve a device request. */
export function deviceMatches(slot: DeviceSlot, req: Pick<DeviceRequest, 'kind' | 'address'>): boolean {
  const kind: DeviceKind = req.kind;
  const isNic = slot.class === 'nic' || slot.class === 'rdma';
  switch (kind) {
    case 'rdma':
      return slot.physfn === null && slot.rdma;
    case 'rdma-vf':
      return slot.physfn !== null && slot.rdma;
    case 'nic':
      return slot.physfn === null && isNic;
    case 'vf':
      return slot.physfn !== null && isNic;
    case 'gpu':
      return slot.physfn === null && slot.class === 'gpu';
    case 'pci':
      return slot.address === req.address;
  }
}

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
export function hostCapacity(state: HostState): HostCapacity {
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
  constructor(
    readonly nodes: NodeCapacity[],
    readonly byId: Map<number, NodeCapacity>,
    readonly index: Map<number, number>,
    readonly unplacedDevices: DeviceSlot[],
    readonly freeDevices: Map<string, DeviceSlot>,
    readonly packageLoad: Map<number, number>,
    readonly pageSizes: number[],
    private readonly state: HostState,
  ) {}
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
