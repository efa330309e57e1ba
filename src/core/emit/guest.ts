/**
 * The guest a placement describes, in the terms every emitter needs: guest NUMA cells (vCPUs,
 * memory, host node), the guest CPU topology (sockets/dies/cores/threads), the host CPUs of each
 * vCPU, the emulator CPUs, the memory policy, and where each device sits in the guest.
 *
 * Guest CPU topology rule (documented because every target must agree):
 * - threads = the host's SMT width when each guest cell's vCPUs come in consecutive groups of that
 *   width whose host CPUs are siblings of one host core (the placement stacked vCPUs on sibling
 *   threads); otherwise 1 (one vCPU per host core: the guest must not believe two vCPUs share a
 *   core's execution units when they do not);
 * - a VM without vNUMA gets one socket of vCPUs / threads cores;
 * - one socket per CPU cell when every CPU cell holds a contiguous, equally sized range of vCPUs in
 *   cell order (cores = vCPUs per cell / threads);
 * - uneven contiguous cells (a split such as 11+11+10): one socket whose dies are g cores each, g
 *   the greatest common divisor of the cells' core counts, so every cell is a whole number of dies
 *   and no die (the unit sharing a last-level cache) straddles two guest nodes; a socket spanning
 *   several nodes is what SNC/NPS hosts show too;
 * - cells that are not contiguous ranges (explicit `cpus=` interleaving nodes): one socket of one-core
 *   dies, so any cell can hold any vCPUs.
 * Dies (or sockets) are then the unit each target maps to a guest node (QEMU `-numa cpu,socket-id=,die-id=`).
 *
 * CPU pinning: a dedicated VM pins vCPU i to `cpus[i]`; a shared VM (`cpu=shared`) lets each vCPU
 * float over the placement's CPUs on its cell's host node (all of them without a vNUMA).
 */
import { pageSizeLabel } from '../topology/sizes.js';
import type { MemoryPolicy, Placement } from '../placement/types.js';
import { distanceBetween } from '../topology/view.js';
import type { Topology } from '../topology/model.js';
import { EmitError } from './errors.js';

/** One guest NUMA cell. */
export interface GuestCell {
  id: number;
  /** Host node whose memory backs this cell. */
  hostNode: number;
  /** Guest vCPU indexes, ascending. */
  vcpus: number[];
  /** Bytes. */
  memory: number;
}

/** sockets x dies x cores x threads = vCPUs. */
export interface GuestCpuTopology {
  sockets: number;
  dies: number;
  cores: number;
  threads: number;
}

/** A device as the guest sees it. */
export interface GuestDevice {
  /** Host PCI address, e.g. "0000:c1:00.2". */
  address: string;
  kind: string;
  /** Guest cell the device is attached to, or null (no guest NUMA: it sits on the root bus). */
  guestNode: number | null;
}

/** A virtio disk or NIC as the guest sees it, with what serves it on the host. */
export interface GuestVirtio {
  kind: 'disk' | 'net';
  /** Index among the devices of its kind. */
  index: number;
  /** Queues of a disk, queue pairs of a NIC; null: the hypervisor's default. */
  queues: number | null;
  /** A disk's I/O thread id (1-based), or null: the main loop. */
  iothread: number | null;
  /** A NIC served by vhost-net workers. */
  vhost: boolean;
}

/** The I/O part of the guest (the placement's I/O plan, io-threads.ts). */
export interface GuestIo {
  /** Host node the I/O is served from. */
  hostNode: number;
  /** Guest cell the virtio devices attach to, or null (no guest NUMA: the root bus). */
  guestNode: number | null;
  /** Host CPUs of the I/O threads and vhost workers. */
  cpus: number[];
  /** Where they come from: the VM's vCPU pCPUs, pCPUs of their own, or sibling threads of its vCPUs. */
  source: 'vcpus' | 'dedicated' | 'siblings';
  iothreads: { id: number; cpus: number[] }[];
  devices: GuestVirtio[];
}

/** Everything an emitter needs. */
export interface Guest {
  name: string;
  vcpus: number;
  /** Bytes, the sum of the cells. */
  memory: number;
  /** Page size backing guest memory, bytes (4096 = regular pages). */
  pageSize: number;
  /** True when the placement has a vNUMA (the guest sees `cells`); false: one cell, not exposed. */
  numa: boolean;
  cells: GuestCell[];
  /** Guest distances by cell id (a single 10 when `numa` is false). */
  distances: number[][];
  topology: GuestCpuTopology;
  /** Host CPU of each vCPU, in vCPU order (the placement's `cpus`). */
  pins: number[];
  /** Host CPUs each vCPU may run on, in vCPU order: [pins[i]] when dedicated, a set when shared. */
  pinSets: number[][];
  /** True for a shared-CPU VM (vCPUs float over their pin sets). */
  sharedCpus: boolean;
  /** How guest memory is placed on its host nodes. */
  memoryPolicy: MemoryPolicy;
  /** Host CPUs for emulator/IO threads: the placement's own, else the vCPUs' (shared). */
  emulatorCpus: number[];
  /** Every host node holding the VM's memory, ascending. */
  memoryNodes: number[];
  devices: GuestDevice[];
  /** The virtio disks and NICs and their threads; null for a placement without an I/O part. */
  io: GuestIo | null;
}

/** What the emitters read of a placement (a `Placement` is one; so is the JSON of `place --json`). */
export type PlacementLike = Pick<Placement, 'name' | 'cpus' | 'emulatorCpus' | 'memoryByNode' | 'pageSize' | 'devices' | 'vnuma'> &
  Partial<Pick<Placement, 'memoryPolicy' | 'cpuPolicy' | 'io'>>;

const sortNum = (a: number, b: number): number => a - b;

/**
 * Builds the guest of a placement. Throws EmitError (ERR_EMIT) naming the field when the placement
 * contradicts itself or the host (a CPU or node the topology lacks, memory that does not add up).
 */
export function guestOf(placement: PlacementLike, topology: Topology): Guest {
  const p = placement;
  const vcpus = p.cpus.length;
  if (vcpus === 0) throw new EmitError('placement.cpus', 'no vCPUs');
  const puByOs = new Map(topology.pus.map((u) => [u.os, u]));
  p.cpus.forEach((c, i) => {
    if (!puByOs.has(c)) throw new EmitError(`placement.cpus[${i}]`, `host CPU ${c} does not exist on host "${topology.source}"`);
  });
  const nodeIds = new Set(topology.nodes.map((n) => n.id));
  const memoryByNode = new Map<number, number>();
  for (const [key, bytes] of Object.entries(p.memoryByNode)) {
    const node = Number(key);
    if (!nodeIds.has(node)) throw new EmitError(`placement.memoryByNode.${key}`, `node ${key} does not exist on host "${topology.source}"`);
    if (bytes > 0) memoryByNode.set(node, bytes);
  }
  const memory = [...memoryByNode.values()].reduce((s, b) => s + b, 0);
  if (memory <= 0) throw new EmitError('placement.memoryByNode', 'no memory placed');
  if (p.pageSize <= 0 || memory % p.pageSize !== 0) {
    throw new EmitError('placement.pageSize', `${memory} bytes is not a whole number of ${p.pageSize}-byte pages`);
  }
  const memoryNodes = [...memoryByNode.keys()].sort(sortNum);

  let cells: GuestCell[];
  let distances: number[][];
  const numa = p.vnuma !== null;
  if (p.vnuma) {
    const v = p.vnuma;
    cells = v.nodes.map((g, i) => {
      if (g.id !== i) throw new EmitError(`placement.vnuma.nodes[${i}].id`, `expected guest node ids 0..n-1 in order, got ${g.id}`);
      if (!nodeIds.has(g.hostNode)) throw new EmitError(`placement.vnuma.nodes[${i}].hostNode`, `node ${g.hostNode} does not exist on host "${topology.source}"`);
      return { id: g.id, hostNode: g.hostNode, vcpus: [...g.vcpus].sort(sortNum), memory: g.memory };
    });
    const seen = new Set<number>();
    for (const c of cells) {
      for (const v of c.vcpus) {
        if (v < 0 || v >= vcpus || seen.has(v)) throw new EmitError(`placement.vnuma.nodes[${c.id}].vcpus`, `vCPU ${v} is out of range or listed twice`);
        seen.add(v);
      }
    }
    if (seen.size !== vcpus) throw new EmitError('placement.vnuma.nodes', `guest nodes hold ${seen.size} vCPUs, the VM has ${vcpus}`);
    const cellMemory = cells.reduce((s, c) => s + c.memory, 0);
    if (cellMemory !== memory) throw new EmitError('placement.vnuma.nodes', `guest nodes hold ${cellMemory} bytes, memoryByNode ${memory}`);
    distances = v.distances.map((row) => [...row]);
    if (distances.length !== cells.length || distances.some((r) => r.length !== cells.length)) {
      throw new EmitError('placement.vnuma.distances', `expected a ${cells.length}x${cells.length} matrix`);
    }
  } else {
    const first = p.cpus[0] as number;
    const hostNode = puByOs.get(first)?.node ?? memoryNodes[0] ?? 0;
    cells = [{ id: 0, hostNode, vcpus: [...Array(vcpus).keys()], memory }];
    distances = [[10]];
  }

  const topo = cpuTopology(p.cpus, cells, topology, numa);
  const guestNodeOf = new Map((p.vnuma?.devices ?? []).map((d) => [d.address, d.guestNode]));
  const devices: GuestDevice[] = p.devices.map((d) => ({
    address: d.address,
    kind: d.kind,
    guestNode: numa ? (guestNodeOf.get(d.address) ?? null) : null,
  }));
  const io = p.io ? guestIo(p.io, cells, numa, guestNodeOf, topology) : null;
  const emulatorCpus = p.io
    ? [...p.io.emulatorCpus].sort(sortNum)
    : p.emulatorCpus.length > 0
      ? [...p.emulatorCpus].sort(sortNum)
      : [...new Set(p.cpus)].sort(sortNum);
  const sharedCpus = p.cpuPolicy === 'shared';
  let pinSets: number[][];
  if (!sharedCpus) pinSets = p.cpus.map((c) => [c]);
  else {
    const setOfCell = cells.map((c) => [...new Set(c.vcpus.map((v) => p.cpus[v] as number))].sort(sortNum));
    const cellOf = new Map<number, number>();
    for (const c of cells) for (const v of c.vcpus) cellOf.set(v, c.id);
    pinSets = p.cpus.map((_, v) => setOfCell[cellOf.get(v) ?? 0] as number[]);
  }
  const memoryPolicy: MemoryPolicy = p.memoryPolicy ?? 'bind';
  if (memoryPolicy === 'interleave' && numa) {
    throw new EmitError('placement.memoryPolicy', 'interleave spreads memory for a guest without vNUMA; this placement has one');
  }
  return {
    name: p.name,
    vcpus,
    memory,
    pageSize: p.pageSize,
    numa,
    cells,
    distances,
    topology: topo,
    pins: [...p.cpus],
    pinSets,
    sharedCpus,
    memoryPolicy,
    emulatorCpus,
    memoryNodes,
    devices,
    io,
  };
}

/**
 * The I/O part of the guest: the virtio devices attach to the guest cell of the I/O node (a cell
 * with vCPUs there, else the guest node a host device of that node has, else the cell nearest to it).
 */
function guestIo(plan: NonNullable<PlacementLike['io']>, cells: readonly GuestCell[], numa: boolean, guestNodeOf: ReadonlyMap<string, number>, topology: Topology): GuestIo {
  for (const [i, c] of plan.cpus.entries()) {
    if (!topology.pus.some((u) => u.os === c)) throw new EmitError(`placement.io.cpus[${i}]`, `host CPU ${c} does not exist on host "${topology.source}"`);
  }
  let guestNode: number | null = null;
  if (numa) {
    const withCpus = cells.find((c) => c.hostNode === plan.node && c.vcpus.length > 0);
    const own = cells.find((c) => c.hostNode === plan.node && [...guestNodeOf.values()].includes(c.id));
    let near = cells.find((c) => c.vcpus.length > 0) ?? (cells[0] as GuestCell);
    for (const c of cells) if (c.vcpus.length > 0 && hostDistance(topology, plan.node, c.hostNode) < hostDistance(topology, plan.node, near.hostNode)) near = c;
    guestNode = (withCpus ?? own ?? near).id;
  }
  return {
    hostNode: plan.node,
    guestNode,
    cpus: [...plan.cpus].sort(sortNum),
    source: plan.source,
    iothreads: plan.iothreads.map((t) => ({ id: t.id, cpus: [...t.cpus].sort(sortNum) })),
    devices: plan.devices.map((d) => ({ kind: d.kind, index: d.index, queues: d.queues, iothread: d.iothread, vhost: d.vhost })),
  };
}

/** Guest nodes that hold devices (host devices and the virtio devices), ascending. */
export function deviceGuestNodes(g: Guest): number[] {
  const set = new Set<number>();
  for (const d of g.devices) if (d.guestNode !== null) set.add(d.guestNode);
  if (g.io && g.io.guestNode !== null && g.io.devices.length > 0) set.add(g.io.guestNode);
  return [...set].sort(sortNum);
}

function cpuTopology(cpus: readonly number[], cells: readonly GuestCell[], topology: Topology, numa: boolean): GuestCpuTopology {
  const coreOf = new Map(topology.pus.map((u) => [u.os, u.core]));
  const width = Math.max(1, ...topology.cores.map((c) => c.pus.length));
  const cpuCells = cells.filter((c) => c.vcpus.length > 0);
  let threads = 1;
  if (width > 1) {
    const stacked = cpuCells.every((c) => {
      if (c.vcpus.length % width !== 0) return false;
      for (let i = 0; i < c.vcpus.length; i += width) {
        const group = c.vcpus.slice(i, i + width);
        const first = group[0] as number;
        if (group.some((v, k) => v !== first + k)) return false;
        const core = coreOf.get(cpus[first] as number);
        if (group.some((v) => coreOf.get(cpus[v] as number) !== core)) return false;
      }
      return true;
    });
    if (stacked) threads = width;
  }
  const vcpus = cpus.length;
  if (!numa) return { sockets: 1, dies: 1, cores: vcpus / threads, threads };
  let next = 0;
  const contiguous = cpuCells.every((c) => {
    const ok = c.vcpus.every((v, k) => v === next + k);
    next += c.vcpus.length;
    return ok;
  });
  if (!contiguous) return { sockets: 1, dies: vcpus / threads, cores: 1, threads };
  const coreCounts = cpuCells.map((c) => c.vcpus.length / threads);
  const first = coreCounts[0] as number;
  if (coreCounts.every((n) => n === first)) return { sockets: cpuCells.length, dies: 1, cores: first, threads };
  const g = coreCounts.reduce((a, b) => gcd(a, b));
  return { sockets: 1, dies: vcpus / threads / g, cores: g, threads };
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Socket index of a vCPU under the guest topology (QEMU numbers vCPUs socket-major, then die, core, thread). */
export function socketOf(topology: GuestCpuTopology, vcpu: number): number {
  return Math.floor(vcpu / (topology.cores * topology.threads * topology.dies));
}

/** Bits of an x86 APIC ID a level of `count` items takes (QEMU's apicid_bitwidth_for_count). */
function apicBits(count: number): number {
  return count <= 1 ? 0 : Math.ceil(Math.log2(count));
}

/**
 * The highest x86 APIC ID the guest's vCPUs get: QEMU packs socket, die, core and thread into an APIC
 * ID with each level rounded up to a power of two (x86_apicid_from_topo_ids), so an uneven topology
 * reaches higher IDs than its vCPU count.
 */
export function maxApicId(g: Pick<Guest, 'vcpus' | 'topology'>): number {
  const t = g.topology;
  const threadBits = apicBits(t.threads);
  const coreBits = apicBits(t.cores);
  const dieBits = apicBits(t.dies);
  const v = g.vcpus - 1;
  const thread = v % t.threads;
  const core = Math.floor(v / t.threads) % t.cores;
  return (socketOf(t, v) << (dieBits + coreBits + threadBits)) | (dieOf(t, v) << (coreBits + threadBits)) | (core << threadBits) | thread;
}

/**
 * True when the guest needs x2APIC: an APIC ID above 254 (QEMU refuses such a topology without the
 * kernel's split irqchip and the x2APIC API, and interrupts need remapping with extended interrupt
 * mode: an intel-iommu with intremap and eim), or more than 255 vCPUs (libvirt's own rule for the
 * same requirement).
 */
export function needsX2apic(g: Pick<Guest, 'vcpus' | 'topology'>): boolean {
  return g.vcpus > 255 || maxApicId(g) > 254;
}

/** Die index (within its socket) of a vCPU under the guest topology. */
export function dieOf(topology: GuestCpuTopology, vcpu: number): number {
  return Math.floor(vcpu / (topology.cores * topology.threads)) % topology.dies;
}

/** Host distance, with a clear error when the topology lacks one of the nodes. */
export function hostDistance(topology: Topology, a: number, b: number): number {
  const d = distanceBetween(topology, a, b);
  if (d === undefined) throw new EmitError('topology.distances', `no distance between nodes ${a} and ${b}`);
  return d;
}

/** Formats a size the way QEMU and Cloud Hypervisor read it: the largest binary suffix that divides it. */
export const formatSizeSuffix: (bytes: number) => string = pageSizeLabel;

/** The letters of disk `i` as Linux names disks: a..z, aa..az, ba... (vda, xvdaa...). */
export function diskLetters(i: number): string {
  let n = i;
  let s = '';
  do {
    s = String.fromCharCode(97 + (n % 26)) + s;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return s;
}
