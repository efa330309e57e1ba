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

/** Builds the capacity view of a state. */
export function hostCapacity(state: HostState): HostCapacity {
  const topo = state.topology;
  const cpuOwner = new Map<number, string>();
  for (const c of state.reserve.cpus) cpuOwner.set(c, 'host reserve');
  const sharedTenants = new Map<number, number>();
  const memUsed = new Map<string, number>();
  const takenDevices = new Set<string>();
  for (const a of state.allocations) {
    if (a.exclusive) for (const c of a.cpus) cpuOwner.set(c, a.name);
    else for (const c of a.cpus) sharedTenants.set(c, (sharedTenants.get(c) ?? 0) + 1);
    for (const c of a.heldCpus) cpuOwner.set(c, a.name);
    for (const c of a.emulatorCpus) cpuOwner.set(c, a.name);
    for (const m of a.memory) memUsed.set(`${m.node}/${m.pageSize}`, (memUsed.get(`${m.node}/${m.pageSize}`) ?? 0) + m.bytes);
    for (const d of a.devices) takenDevices.add(d);
  }
  const reserveMem = new Map<number, number>();
  for (const r of state.reserve.memory) reserveMem.set(r.node, (reserveMem.get(r.node) ?? 0) + r.bytes);

  const tix = topologyIndex(topo);
  const usable = tix.usable;
  // 0 = free, 1 = held by the reserve or a dedicated VM, 2 = used by shared VMs only.
  const status = new Uint8Array(tix.maxOs + 1);
  for (const c of sharedTenants.keys()) if (c <= tix.maxOs) status[c] = 2;
  for (const c of cpuOwner.keys()) if (c <= tix.maxOs) status[c] = 1;

  const pageSizes = new Set<number>([4096]);
  const nodes: NodeCapacity[] = topo.nodes.map((n) => {
    const cores = tix.nodeCores.get(n.id) ?? [];
    const wholeCores: number[][] = [];
    const freePus: number[] = [];
    const sharedPus: { cpu: number; tenants: number }[] = [];
    let totalPus = 0;
    for (const pus of cores) {
      totalPus += pus.length;
      let whole = true;
      for (const p of pus) {
        const st = status[p];
        if (st === 0) freePus.push(p);
        else whole = false;
        if (st !== 1) sharedPus.push({ cpu: p, tenants: st === 2 ? (sharedTenants.get(p) ?? 0) : 0 });
      }
      if (whole) wholeCores.push(pus);
    }
    const memory = new Map<number, number>();
    let pools = 0;
    for (const pool of n.hugePages) {
      pools += pool.pageSize * pool.total;
      if (pool.total > 0) pageSizes.add(pool.pageSize);
      const free = pool.pageSize * pool.total - (memUsed.get(`${n.id}/${pool.pageSize}`) ?? 0);
      memory.set(pool.pageSize, Math.max(0, free));
    }
    const regular = n.memory.total - pools - (reserveMem.get(n.id) ?? 0) - (memUsed.get(`${n.id}/4096`) ?? 0);
    memory.set(4096, Math.max(0, Math.floor(regular / 4096) * 4096));
    return {
      id: n.id,
      kind: n.kind,
      tier: n.tier,
      package: tix.nodePackage.get(n.id) ?? null,
      totalPus,
      totalCores: cores.length,
      totalMemory: n.memory.total,
      wholeCores,
      freePus,
      sharedPus,
      memory,
      devices: [],
    };
  });
  const byId = new Map(nodes.map((n) => [n.id, n]));

  const slots = tix.slots;
  const takenPf = new Set<string>();
  for (const s of slots) if (s.physfn && takenDevices.has(s.address)) takenPf.add(s.physfn);
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

  const pkgUsed = new Map<number, number>();
  for (const c of cpuOwner.keys()) {
    if (!usable.has(c)) continue;
    const pkg = tix.puPackage.get(c) as number;
    pkgUsed.set(pkg, (pkgUsed.get(pkg) ?? 0) + 1);
  }
  for (const c of sharedTenants.keys()) {
    if (!usable.has(c) || cpuOwner.has(c)) continue;
    const pkg = tix.puPackage.get(c) as number;
    pkgUsed.set(pkg, (pkgUsed.get(pkg) ?? 0) + 1);
  }
  const packageLoad = new Map<number, number>();
  for (const [pkg, total] of tix.packagePus) packageLoad.set(pkg, total === 0 ? 0 : (pkgUsed.get(pkg) ?? 0) / total);

  return {
    nodes,
    byId,
    index: tix.index,
    unplacedDevices,
    freeDevices,
    packageLoad,
    pageSizes: [...pageSizes].sort((a, b) => b - a),
    cpuOwner,
  };
}
