/**
 * The builder every preset uses: a regular machine described by a few numbers, turned into a
 * topology through makeTopology(). It differs from syntheticTopology() in what presets need: L3
 * domains smaller than a node (one per AMD CCD), CPU-less nodes of a given tier near a given package,
 * per-node huge-page pools pre-sized as a reserved host has them, and the preset naming convention
 * (source "preset:NAME", hostname "preset-NAME").
 *
 * CPU numbering: 'linux' is what Linux shows on x86 with SMT: the first thread of every core in node
 * order (cpu0..N-1), then the second threads in the same order; 'sequential' numbers cores one after
 * another (ARM servers, SMT off).
 */
import { type NodeInput, type PciDeviceInput, type PuInput, makeTopology } from '../build.js';
import type { Cache, MemoryTier, PagePool, Topology } from '../model.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Binary size units for preset files. */
export const SIZE = { KiB, MiB, GiB, TiB: 1024 * GiB } as const;

/** A CPU-less node (HBM, CXL, GPU memory), numbered after the CPU nodes in the order given. */
export interface MemoryNodeSpec {
  memory: number;
  tier: MemoryTier;
  /** Pre-sized huge-page pools; default none (pools are reserved on DRAM nodes with CPUs). */
  hugePages?: readonly PagePool[];
}

/** A preset machine. */
export interface MachineSpec {
  name: string;
  packages: number;
  nodesPerPackage: number;
  coresPerNode: number;
  threadsPerCore: number;
  numbering: 'linux' | 'sequential';
  model: string;
  /** Bytes of DRAM per CPU node. */
  memoryPerNode: number;
  /** Cores sharing one L3 (an AMD CCD: 8; Intel: every core of the node). */
  coresPerL3: number;
  /** Bytes of each L3. */
  l3Size: number;
  memoryNodes?: readonly MemoryNodeSpec[];
  /** Distance between node ids i and j (CPU nodes first, then memory nodes). */
  distance(i: number, j: number): number;
  devices?: readonly PciDeviceInput[];
}

/**
 * The huge-page pools a preset's DRAM node comes with, as on a host reserved for VMs: a quarter of
 * the node's memory in 2 MiB pages and an eighth in 1 GiB pages, all free. Nodes without memory get
 * no pools.
 */
export function presetPagePools(memory: number): PagePool[] {
  if (memory <= 0) return [];
  const twoM = Math.floor(memory / 4 / (2 * MiB));
  const oneG = Math.floor(memory / 8 / GiB);
  return [
    { pageSize: 2 * MiB, total: twoM, free: twoM },
    { pageSize: GiB, total: oneG, free: oneG },
  ];
}

/** Builds a preset machine. Deterministic: the same spec gives a deep-equal topology. */
export function buildMachine(spec: MachineSpec): Topology {
  const cpuNodes = spec.packages * spec.nodesPerPackage;
  const totalCores = cpuNodes * spec.coresPerNode;
  const osOf = (core: number, thread: number): number =>
    spec.numbering === 'linux' ? thread * totalCores + core : core * spec.threadsPerCore + thread;

  const nodes: NodeInput[] = [];
  const pus: PuInput[] = [];
  const caches: Cache[] = [];
  for (let node = 0; node < cpuNodes; node++) {
    const pkg = Math.floor(node / spec.nodesPerPackage);
    const cpus: number[] = [];
    let l3: number[] = [];
    for (let c = 0; c < spec.coresPerNode; c++) {
      const core = node * spec.coresPerNode + c;
      const coreId = (node % spec.nodesPerPackage) * spec.coresPerNode + c;
      for (let t = 0; t < spec.threadsPerCore; t++) {
        const os = osOf(core, t);
        cpus.push(os);
        l3.push(os);
        pus.push({ os, package: pkg, core, coreId });
      }
      if ((c + 1) % spec.coresPerL3 === 0 || c === spec.coresPerNode - 1) {
        caches.push({ level: 3, type: 'unified', size: spec.l3Size, lineSize: 64, ways: null, cpus: l3 });
        l3 = [];
      }
    }
    nodes.push({ id: node, cpus, memory: { total: spec.memoryPerNode }, hugePages: presetPagePools(spec.memoryPerNode), tier: 'dram' });
  }
  (spec.memoryNodes ?? []).forEach((m, i) => {
    nodes.push({ id: cpuNodes + i, cpus: [], memory: { total: m.memory }, hugePages: m.hugePages ?? [], tier: m.tier });
  });
  const ids = nodes.map((n) => n.id);
  return makeTopology({
    source: `preset:${spec.name}`,
    hostname: `preset-${spec.name}`,
    nodes,
    distances: ids.map((i) => ids.map((j) => spec.distance(i, j))),
    pus,
    packages: Array.from({ length: spec.packages }, (_, id) => ({ id, model: spec.model })),
    caches,
    pciDevices: spec.devices ?? [],
  });
}
