/**
 * The device affinity matrix: how every pair of I/O devices (GPUs, NICs, RDMA devices, NVMe,
 * accelerators, storage controllers) is connected, and how far each one is from each NUMA node. The
 * classes are those `nvidia-smi topo -m` prints, for any vendor, read from the PCI tree of the model
 * (pci-tree.ts: the tree hwloc builds, from sysfs or an hwloc XML file alike):
 *
 * - `SELF`: the same device;
 * - `PIX`: behind one PCIe switch: the nearest bridge above both is a switch (not a root port) and each
 *   device sits directly below one of its ports (GPU and NIC on the two downstream ports of a switch);
 * - `PXB`: behind several bridges that meet below the host bridge (a tree of switches, or one root port);
 * - `PHB`: no bridge in common, the same host bridge (root complex);
 * - `NODE`: different host bridges of one NUMA node;
 * - `SYS`: on different NUMA nodes (the path crosses the interconnect), with the SLIT distance;
 * - `?`: a device whose node is unknown and shares no PCI bridge or host bridge with the other.
 *
 * Virtual functions are left out (they sit where their physical function sits), and so are bridges.
 */
import type { DeviceClass, PciDevice, Topology } from './model.js';
import { pciAncestors, pciHostBridgeOf } from './pci-tree.js';

/** How two devices connect, closest first. */
export const LINK_CLASSES = ['SELF', 'PIX', 'PXB', 'PHB', 'NODE', 'SYS', '?'] as const;
export type LinkClass = (typeof LINK_CLASSES)[number];

/** What each class means, for legends. */
export const LINK_LEGEND: Record<LinkClass, string> = {
  SELF: 'the same device',
  PIX: 'behind one PCIe switch',
  PXB: 'behind several PCIe bridges, below one host bridge (a switch tree or one root port)',
  PHB: 'the same PCI host bridge (root complex), no bridge in common',
  NODE: 'different host bridges of one NUMA node',
  SYS: 'different NUMA nodes: across the interconnect (SLIT distance in --json)',
  '?': 'a node is unknown and no PCI bridge or host bridge is shared',
};

/** Device classes the matrix shows. */
export const MATRIX_CLASSES: readonly DeviceClass[] = ['gpu', 'nic', 'rdma', 'nvme', 'accelerator', 'storage'];

/** One device of the matrix. */
export interface MatrixDevice {
  /** Short name in the matrix: GPU0, NIC0, NVME0, ACC0, STO0 (by address within each class). */
  label: string;
  address: string;
  class: DeviceClass;
  name: string | null;
  /** Reported node, else inferred; null when unknown. */
  node: number | null;
  rdmaDevices: string[];
  netDevices: string[];
}

/** How two devices connect. */
export interface MatrixLink {
  class: LinkClass;
  /**
   * Where the two paths meet: the nearest common bridge's address (PIX, PXB), the host bridge as
   * "domain:bus-bus" (PHB), or null.
   */
  via: string | null;
  /** PCI bridges on the path from one device to the other (PIX, PXB); null otherwise. */
  bridges: number | null;
  /** SLIT distance between the two devices' nodes; null when a node is unknown. */
  distance: number | null;
}

/** The whole matrix. */
export interface DeviceMatrix {
  devices: MatrixDevice[];
  /** links[i][j]: how devices[i] and devices[j] connect (symmetric). */
  links: MatrixLink[][];
  /** NUMA node ids, the columns of `nodeDistance`. */
  nodes: number[];
  /** nodeDistance[i][k]: SLIT distance from devices[i]'s node to nodes[k]; null when its node is unknown. */
  nodeDistance: (number | null)[][];
}

const PREFIX: Partial<Record<DeviceClass, string>> = { gpu: 'GPU', nic: 'NIC', rdma: 'NIC', nvme: 'NVME', accelerator: 'ACC', storage: 'STO' };

const nodeOf = (d: PciDevice): number | null => d.node ?? d.inferredNode;

/** True for the functions the matrix shows: physical functions of the classes above. */
export function isMatrixDevice(d: PciDevice): boolean {
  return d.physfn === null && MATRIX_CLASSES.includes(d.class);
}

/** Finds how two functions of a topology connect (either may be any function, VFs included: a VF is taken where its PF sits). */
export function linkBetween(topology: Topology, a: string, b: string): MatrixLink {
  return linker(topology)(a, b);
}

/** A function that classifies pairs of one topology, sharing its lookups across calls. */
export function linker(topology: Topology): (a: string, b: string) => MatrixLink {
  const byAddress = new Map(topology.pciDevices.map((d) => [d.address, d]));
  const index = new Map(topology.nodes.map((n, i) => [n.id, i]));
  const chains = new Map<string, PciDevice[]>();
  // A VF a PF announces without listing it sits where its PF does.
  const pfOfVf = new Map<string, string>();
  for (const d of topology.pciDevices) for (const vf of d.sriov?.vfs ?? []) pfOfVf.set(vf, d.address);
  const home = (address: string): PciDevice | undefined => {
    const a = address.toLowerCase();
    const d = byAddress.get(a) ?? byAddress.get(pfOfVf.get(a) ?? '');
    return d && d.physfn !== null ? (byAddress.get(d.physfn) ?? d) : d;
  };
  const chainOf = (address: string): PciDevice[] => {
    let c = chains.get(address);
    if (!c) {
      c = pciAncestors(topology, address);
      chains.set(address, c);
    }
    return c;
  };
  const distance = (x: number | null, y: number | null): number | null => {
    if (x === null || y === null) return null;
    const i = index.get(x);
    const j = index.get(y);
    return i === undefined || j === undefined ? null : (topology.distances[i]?.[j] ?? null);
  };
  return (a, b) => {
    const da = home(a);
    const db = home(b);
    const aAddr = da?.address ?? a.toLowerCase();
    const bAddr = db?.address ?? b.toLowerCase();
    const na = da ? nodeOf(da) : null;
    const nb = db ? nodeOf(db) : null;
    const dist = distance(na, nb);
    if (aAddr === bAddr) return { class: 'SELF', via: null, bridges: 0, distance: dist };
    const ca = chainOf(aAddr);
    const cb = chainOf(bAddr);
    const inB = new Map(cb.map((x, i) => [x.address, i]));
    for (let i = 0; i < ca.length; i++) {
      const j = inB.get((ca[i] as PciDevice).address);
      if (j === undefined) continue;
      const common = ca[i] as PciDevice;
      // A switch: the common bridge is not the top of its tree (a root port has no bridge above it).
      const isSwitch = common.parent !== null;
      return { class: isSwitch && i <= 1 && j <= 1 ? 'PIX' : 'PXB', via: common.address, bridges: i + j + 1, distance: dist };
    }
    const ha = pciHostBridgeOf(topology, aAddr);
    const hb = pciHostBridgeOf(topology, bAddr);
    if (ha && hb && ha.domain === hb.domain && ha.buses.secondary === hb.buses.secondary && ha.buses.subordinate === hb.buses.subordinate) {
      return { class: 'PHB', via: `${ha.domain}:${hex(ha.buses.secondary)}-${hex(ha.buses.subordinate)}`, bridges: null, distance: dist };
    }
    if (na === null || nb === null) return { class: '?', via: null, bridges: null, distance: null };
    return { class: na === nb ? 'NODE' : 'SYS', via: null, bridges: null, distance: dist };
  };
}

const hex = (n: number): string => n.toString(16).padStart(2, '0');

/** Closeness rank of a class (0 = SELF ... 6 = unknown). */
export function linkRank(c: LinkClass): number {
  return LINK_CLASSES.indexOf(c);
}

/** The matrix of a topology's I/O devices. */
export function deviceMatrix(topology: Topology): DeviceMatrix {
  const counters = new Map<string, number>();
  const devices: MatrixDevice[] = topology.pciDevices.filter(isMatrixDevice).map((d) => {
    const prefix = PREFIX[d.class] ?? 'DEV';
    const n = counters.get(prefix) ?? 0;
    counters.set(prefix, n + 1);
    return { label: `${prefix}${n}`, address: d.address, class: d.class, name: d.name, node: nodeOf(d), rdmaDevices: d.rdmaDevices, netDevices: d.netDevices };
  });
  const link = linker(topology);
  const links = devices.map((a) => devices.map((b) => link(a.address, b.address)));
  const nodes = topology.nodes.map((n) => n.id);
  const nodeDistance = devices.map((d) => {
    const i = d.node === null ? -1 : nodes.indexOf(d.node);
    return nodes.map((_, k) => (i < 0 ? null : (topology.distances[i]?.[k] ?? null)));
  });
  return { devices, links, nodes, nodeDistance };
}
