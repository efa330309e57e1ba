/**
 * Regular machines from a compact description: the building block of presets, tests and benchmarks.
 *
 * CPU numbering follows Linux on x86 by default: first thread of every core in package/node order
 * (cpu0..cpuN-1), then the second threads in the same order (cpuN..), so a two-socket 10-core host
 * has node0 = 0-9,20-29 and node1 = 10-19,30-39, exactly like the hosts of the source documents.
 */
import { type NodeInput, type PciDeviceInput, type PuInput, makeTopology } from './build.js';
import type { Cache, MemoryTier, PagePool, Topology } from './model.js';

/** Extra nodes without CPUs (HBM, CXL, GPU memory), attached near a package. */
export interface MemoryOnlyNodeSpec {
  memory: number;
  tier: MemoryTier;
  hugePages?: readonly PagePool[];
}

/** What a regular machine looks like. */
export interface SyntheticSpec {
  source: string;
  hostname?: string;
  packages: number;
  nodesPerPackage: number;
  coresPerNode: number;
  threadsPerCore: number;
  /** Bytes of memory per CPU node. */
  memoryPerNode: number;
  /** Huge-page pools of every CPU node. */
  hugePages?: readonly PagePool[];
  /** CPU-less nodes, numbered after the CPU nodes. */
  memoryOnlyNodes?: readonly MemoryOnlyNodeSpec[];
  /** Distance between node ids i and j (all nodes, CPU and memory-only). Default: 10 / 11 same package / 21. */
  distance?: (i: number, j: number) => number;
  /** Full matrix instead of a function (rows/columns by node id). */
  distances?: readonly (readonly number[])[];
  devices?: readonly PciDeviceInput[];
  model?: string;
  /** 'linux' (default): first threads of all cores, then second threads. 'sequential': siblings adjacent. */
  numbering?: 'linux' | 'sequential';
  /** L3 size per node in bytes (one shared L3 per node); default 32 MiB. 0 for none. */
  l3PerNode?: number;
}

/** Builds the topology a spec describes. */
export function syntheticTopology(spec: SyntheticSpec): Topology {
  const cpuNodes = spec.packages * spec.nodesPerPackage;
  const totalCores = cpuNodes * spec.coresPerNode;
  const numbering = spec.numbering ?? 'linux';
  const osOf = (coreIndex: number, thread: number): number =>
    numbering === 'linux' ? thread * totalCores + coreIndex : coreIndex * spec.threadsPerCore + thread;

  const pus: PuInput[] = [];
  const nodes: NodeInput[] = [];
  const caches: Cache[] = [];
  for (let node = 0; node < cpuNodes; node++) {
    const pkg = Math.floor(node / spec.nodesPerPackage);
    const cpus: number[] = [];
    for (let c = 0; c < spec.coresPerNode; c++) {
      const coreIndex = node * spec.coresPerNode + c;
      const within = (node % spec.nodesPerPackage) * spec.coresPerNode + c;
      for (let t = 0; t < spec.threadsPerCore; t++) {
        const os = osOf(coreIndex, t);
        cpus.push(os);
        pus.push({ os, package: pkg, core: coreIndex, coreId: within });
      }
    }
    nodes.push({ id: node, cpus, memory: { total: spec.memoryPerNode }, hugePages: spec.hugePages ?? [] });
    const l3 = spec.l3PerNode ?? 32 * 1024 * 1024;
    if (l3 > 0) caches.push({ level: 3, type: 'unified', size: l3, lineSize: 64, ways: null, cpus });
  }
  (spec.memoryOnlyNodes ?? []).forEach((m, i) => {
    nodes.push({ id: cpuNodes + i, cpus: [], memory: { total: m.memory }, hugePages: m.hugePages ?? [], tier: m.tier });
  });
  const n = nodes.length;
  const samePkg = (i: number, j: number): boolean =>
    i < cpuNodes && j < cpuNodes && Math.floor(i / spec.nodesPerPackage) === Math.floor(j / spec.nodesPerPackage);
  const distance = spec.distance ?? ((i: number, j: number) => (i === j ? 10 : samePkg(i, j) ? 11 : 21));
  const distances =
    spec.distances ?? Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => distance(i, j)));
  return makeTopology({
    source: spec.source,
    hostname: spec.hostname ?? null,
    nodes,
    distances,
    pus,
    packages: Array.from({ length: spec.packages }, (_, id) => ({ id, model: spec.model ?? null })),
    caches,
    pciDevices: spec.devices ?? [],
  });
}
