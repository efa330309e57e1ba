/**
 * A guest's NUMA shape and what it becomes on QEMU's and the kernel's command lines.
 *
 * vCPU indexes follow QEMU's order: index = (socket * cores + core) * threads + thread, so with
 * `threads: 2` the vCPUs 2k and 2k+1 are SMT siblings of one core. Each vCPU sits on exactly one
 * node (`-numa cpu,node-id=,socket-id=,core-id=,thread-id=`); a node without `cpus` is a CPU-less
 * memory node (the CXL / HBM case). Each node is backed by its own `memory-backend-ram`.
 *
 * Huge pages are reserved per node at boot with the kernel's node format
 * `hugepagesz=2M hugepages=0:16,1:8` (Linux 5.16 and later), so the pools exist before anything
 * runs; the harness then reads each node's pool back from sysfs and fails the boot when the kernel
 * granted less than asked.
 */
import { formatCpuList, parseCpuList } from '../../../src/core/topology/cpulist.js';
import { parseSize } from '../../../src/core/topology/sizes.js';

/** Huge-page sizes the harness reserves at boot. */
export type HugePageSize = '2M' | '1G';

/** Bytes of each huge-page size. */
export const HUGE_PAGE_BYTES: Record<HugePageSize, number> = { '2M': 2 << 20, '1G': 1 << 30 };

/** One guest NUMA node. */
export interface GuestNodeSpec {
  /** vCPU indexes on this node (cpulist text such as "0-3" or an array); omitted or empty: a CPU-less memory node. */
  cpus?: string | readonly number[];
  /** Memory of the node: bytes or a size such as "512M". */
  memory: string | number;
  /** Huge pages reserved on this node at boot, by size: { '2M': 16 }. */
  hugepages?: Partial<Record<HugePageSize, number>>;
}

/** The machine a guest boots as. */
export interface GuestShape {
  /** A short name: the guest's hostname and the label in every message. */
  name: string;
  /** CPU topology: sockets, cores per socket, threads per core (SMT). vCPUs = sockets x cores x threads. */
  cpu: { sockets: number; cores: number; threads: number };
  /** The nodes, in node id order (node i is nodes[i]). */
  nodes: readonly GuestNodeSpec[];
  /** The node distance matrix (SLIT), row = from, column = to; default 10 local, 20 remote. */
  distances?: readonly (readonly number[])[];
  /** Extra kernel command-line arguments. */
  kernelArgs?: readonly string[];
}

/** A checked shape with everything resolved. */
export interface ResolvedShape {
  name: string;
  vcpus: number;
  cpu: { sockets: number; cores: number; threads: number };
  nodes: { id: number; cpus: number[]; memory: number; hugepages: Partial<Record<HugePageSize, number>> }[];
  distances: number[][];
  memory: number;
}

/** A shape that cannot be booted; `field` names what is wrong. */
export class ShapeError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`guest shape: ${field}: ${message}`);
    this.name = 'ShapeError';
  }
}

const MIB = 1 << 20;

/** Checks a shape and resolves cpulists, sizes and the default distances. */
export function resolveShape(shape: GuestShape): ResolvedShape {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(shape.name)) throw new ShapeError('name', `"${shape.name}" must be a hostname (a-z, 0-9, -)`);
  const { sockets, cores, threads } = shape.cpu;
  for (const [k, v] of Object.entries(shape.cpu)) {
    if (!Number.isInteger(v) || v < 1) throw new ShapeError(`cpu.${k}`, `expected a positive integer, got ${v}`);
  }
  const vcpus = sockets * cores * threads;
  if (vcpus > 64) throw new ShapeError('cpu', `${vcpus} vCPUs is more than this harness boots under TCG (64)`);
  if (shape.nodes.length === 0) throw new ShapeError('nodes', 'at least one node');
  if (shape.nodes.length > 64) throw new ShapeError('nodes', `${shape.nodes.length} nodes (QEMU takes at most 64 here)`);
  const owner = new Map<number, number>();
  const nodes = shape.nodes.map((n, id) => {
    let cpus: number[];
    try {
      cpus = typeof n.cpus === 'string' ? parseCpuList(n.cpus) : [...(n.cpus ?? [])].sort((a, b) => a - b);
    } catch (err) {
      throw new ShapeError(`nodes[${id}].cpus`, (err as Error).message);
    }
    for (const c of cpus) {
      if (!Number.isInteger(c) || c < 0 || c >= vcpus) throw new ShapeError(`nodes[${id}].cpus`, `vCPU ${c} does not exist (the shape has ${vcpus}: 0-${vcpus - 1})`);
      const prev = owner.get(c);
      if (prev !== undefined) throw new ShapeError(`nodes[${id}].cpus`, `vCPU ${c} is already on node ${prev}`);
      owner.set(c, id);
    }
    const memory = typeof n.memory === 'number' ? n.memory : parseSizeField(n.memory, `nodes[${id}].memory`);
    if (!Number.isSafeInteger(memory) || memory < 64 * MIB || memory % MIB !== 0) {
      throw new ShapeError(`nodes[${id}].memory`, `expected a whole number of MiB, at least 64M, got ${n.memory}`);
    }
    const hugepages: Partial<Record<HugePageSize, number>> = {};
    let hugeBytes = 0;
    for (const [size, count] of Object.entries(n.hugepages ?? {})) {
      if (size !== '2M' && size !== '1G') throw new ShapeError(`nodes[${id}].hugepages`, `size "${size}" (expected 2M or 1G)`);
      if (!Number.isInteger(count) || (count as number) < 0) throw new ShapeError(`nodes[${id}].hugepages.${size}`, `expected a count, got ${count}`);
      hugepages[size] = count as number;
      hugeBytes += (count as number) * HUGE_PAGE_BYTES[size];
    }
    if (hugeBytes > memory / 2) throw new ShapeError(`nodes[${id}].hugepages`, `${hugeBytes / MIB} MiB of huge pages leave too little of the node's ${memory / MIB} MiB`);
    return { id, cpus, memory, hugepages };
  });
  const missing = Array.from({ length: vcpus }, (_, i) => i).filter((c) => !owner.has(c));
  if (missing.length > 0) throw new ShapeError('nodes', `vCPUs ${formatCpuList(missing)} are on no node`);
  if (owner.size === 0) throw new ShapeError('nodes', 'no node has CPUs');
  const n = nodes.length;
  const distances = shape.distances
    ? shape.distances.map((row) => [...row])
    : Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 10 : 20)));
  if (distances.length !== n || distances.some((r) => r.length !== n)) throw new ShapeError('distances', `expected a ${n}x${n} matrix`);
  distances.forEach((row, i) =>
    row.forEach((d, j) => {
      if (!Number.isInteger(d) || d < 10 || d > 255) throw new ShapeError(`distances[${i}][${j}]`, `expected 10..255, got ${d}`);
      if ((i === j) !== (d === 10)) throw new ShapeError(`distances[${i}][${j}]`, `${d}: the local distance is 10 and only the local one`);
    }),
  );
  return { name: shape.name, vcpus, cpu: { sockets, cores, threads }, nodes, distances, memory: nodes.reduce((s, x) => s + x.memory, 0) };
}

function parseSizeField(text: string, field: string): number {
  try {
    return parseSize(text);
  } catch (err) {
    throw new ShapeError(field, (err as Error).message);
  }
}

/** Socket, core and thread ids of a vCPU index (QEMU's order). */
export function vcpuTopologyIds(index: number, cpu: ResolvedShape['cpu']): { socket: number; core: number; thread: number } {
  return {
    thread: index % cpu.threads,
    core: Math.floor(index / cpu.threads) % cpu.cores,
    socket: Math.floor(index / (cpu.threads * cpu.cores)),
  };
}

/** QEMU arguments for the shape: SMP topology, one RAM backend per node, vCPU placement, distances. */
export function shapeQemuArgs(s: ResolvedShape): string[] {
  const args = ['-m', `${s.memory / MIB}M`, '-smp', `${s.vcpus},sockets=${s.cpu.sockets},dies=1,cores=${s.cpu.cores},threads=${s.cpu.threads}`];
  for (const n of s.nodes) {
    args.push('-object', `memory-backend-ram,id=ram-node${n.id},size=${n.memory / MIB}M`);
    args.push('-numa', `node,nodeid=${n.id},memdev=ram-node${n.id}`);
  }
  for (const n of s.nodes) {
    for (const c of n.cpus) {
      const t = vcpuTopologyIds(c, s.cpu);
      args.push('-numa', `cpu,node-id=${n.id},socket-id=${t.socket},core-id=${t.core},thread-id=${t.thread}`);
    }
  }
  s.distances.forEach((row, i) =>
    row.forEach((d, j) => {
      if (i !== j) args.push('-numa', `dist,src=${i},dst=${j},val=${d}`);
    }),
  );
  return args;
}

/** Kernel arguments for the shape: per-node huge-page pools in the kernel's node format. */
export function shapeKernelArgs(s: ResolvedShape): string[] {
  const args: string[] = [];
  for (const size of ['2M', '1G'] as const) {
    const per = s.nodes.filter((n) => (n.hugepages[size] ?? 0) > 0).map((n) => `${n.id}:${n.hugepages[size]}`);
    if (per.length > 0) args.push(`hugepagesz=${size}`, `hugepages=${per.join(',')}`);
  }
  return args;
}

/**
 * QEMU arguments for a NIC whose PCI device sits on guest node `node`: a PCIe expander bus
 * (`pxb-pcie` with `numa_node`, which the guest's ACPI tables turn into the device's node), a root
 * port on it, and a virtio-net device (id `numaplan-net<index>`) behind the port; `backend` is the
 * `-netdev` backend without its id (default "user,restrict=on", QEMU's isolated user-mode network).
 * `busNr` must be unique per expander and leave room below it for the root bus (default 0x20 + 8 x
 * index). The guest needs the `virtio_net` module (pass `modules: ['virtio_net']`).
 */
export function nicOnNode(
  node: number,
  options: { index?: number; busNr?: number; backend?: string; mac?: string } = {},
): string[] {
  const i = options.index ?? 0;
  const busNr = options.busNr ?? 0x20 + 8 * i;
  const mac = options.mac ?? `52:54:00:12:34:${(0x10 + i).toString(16).padStart(2, '0')}`;
  return [
    '-device', `pxb-pcie,id=numaplan-pxb${i},bus_nr=${busNr},numa_node=${node},bus=pcie.0`,
    '-device', `pcie-root-port,id=numaplan-rp${i},bus=numaplan-pxb${i},chassis=${10 + i},slot=0`,
    '-netdev', `${options.backend ?? 'user,restrict=on'},id=numaplan-net${i}`,
    '-device', `virtio-net-pci,netdev=numaplan-net${i},mac=${mac},bus=numaplan-rp${i}`,
  ];
}
