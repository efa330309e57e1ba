/**
 * Views of a topology: what is usable (online and allowed by the cgroup cpuset, which is what hwloc
 * shows by default) and the summary counts the CLI prints.
 */
import type { NumaNode, Topology } from './model.js';

/** Counts in the usable view, plus what was left out of it and why. */
export interface TopologySummary {
  /** Packages hwloc keeps: with a usable PU, an allowed NUMA node, or a PCI device local to them. */
  packages: number;
  /** Allowed NUMA nodes. */
  nodes: number;
  /** Cores with at least one usable PU. */
  cores: number;
  /** Online, allowed PUs. */
  pus: number;
  pciDevices: number;
  offlinePus: number;
  disallowedPus: number;
  disallowedNodes: number;
  cpuLessNodes: number;
  memoryLessNodes: number;
  memoryBytes: number;
  hugePages: { pageSize: number; total: number; free: number }[];
  smt: number;
  /** Warnings about the data (notes about the source format's limits are not counted). */
  warnings: number;
}

/** True for a PU the host can run work on: online and allowed. */
export function isUsablePu(pu: { online: boolean; allowed: boolean }): boolean {
  return pu.online && pu.allowed;
}

/** Summary counts in hwloc's default (allowed, online) view. */
export function summarize(topo: Topology): TopologySummary {
  const usable = new Set(topo.pus.filter(isUsablePu).map((p) => p.os));
  const allowedNodes = topo.nodes.filter((n) => n.allowed);
  const pools = new Map<number, { pageSize: number; total: number; free: number }>();
  for (const n of allowedNodes) {
    for (const p of n.hugePages) {
      const acc = pools.get(p.pageSize) ?? { pageSize: p.pageSize, total: 0, free: 0 };
      acc.total += p.total;
      acc.free += p.free;
      pools.set(p.pageSize, acc);
    }
  }
  const usableCores = topo.cores.filter((c) => c.pus.some((p) => usable.has(p)));
  return {
    packages: topo.packages.filter((p) => packageIsVisible(topo, p.pus, usable)).length,
    nodes: allowedNodes.length,
    cores: usableCores.length,
    pus: usable.size,
    pciDevices: topo.pciDevices.length,
    offlinePus: topo.pus.filter((p) => !p.online).length + topo.offlineCpus.length,
    disallowedPus: topo.pus.filter((p) => p.online && !p.allowed).length,
    disallowedNodes: topo.nodes.length - allowedNodes.length,
    cpuLessNodes: allowedNodes.filter((n) => n.kind === 'cpu-less').length,
    memoryLessNodes: allowedNodes.filter((n) => n.kind === 'memory-less').length,
    memoryBytes: allowedNodes.reduce((s, n) => s + n.memory.total, 0),
    hugePages: [...pools.values()].sort((a, b) => a.pageSize - b.pageSize),
    smt: usableCores.reduce((m, c) => Math.max(m, c.pus.filter((p) => usable.has(p)).length), 0),
    warnings: topo.warnings.filter((w) => w.level !== 'note').length,
  };
}

/**
 * hwloc's rule for keeping a package in its default view: it has a usable PU, or an allowed NUMA node
 * lies inside it, or a PCI device's locality lies inside it (even when all its PUs are disallowed).
 */
function packageIsVisible(topo: Topology, pus: readonly number[], usable: ReadonlySet<number>): boolean {
  if (pus.some((c) => usable.has(c))) return true;
  const mine = new Set(pus);
  const inside = (cpus: readonly number[] | null): boolean => cpus !== null && cpus.length > 0 && cpus.every((c) => mine.has(c));
  return topo.nodes.some((n) => n.allowed && inside(n.cpus)) || topo.pciDevices.some((d) => inside(d.localCpus));
}

/** The allowed nodes and the distance matrix restricted to them (rows/columns in node order). */
export function allowedDistances(topo: Topology): { nodes: NumaNode[]; distances: number[][] } {
  const keep = topo.nodes.map((n, i) => (n.allowed ? i : -1)).filter((i) => i >= 0);
  return {
    nodes: keep.map((i) => topo.nodes[i] as NumaNode),
    distances: keep.map((i) => keep.map((j) => (topo.distances[i] as number[])[j] as number)),
  };
}

/** Looks a node up by OS id. */
export function nodeById(topo: Topology, id: number): NumaNode | undefined {
  return topo.nodes.find((n) => n.id === id);
}

/** Distance between two nodes by OS id (undefined when either does not exist). */
export function distanceBetween(topo: Topology, from: number, to: number): number | undefined {
  const i = topo.nodes.findIndex((n) => n.id === from);
  const j = topo.nodes.findIndex((n) => n.id === to);
  if (i < 0 || j < 0) return undefined;
  return topo.distances[i]?.[j];
}
