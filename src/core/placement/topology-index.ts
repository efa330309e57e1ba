/**
 * Facts derived from a topology alone (it is immutable), computed once per topology value and
 * memoised in a WeakMap: usable PUs, each node's cores, the distance matrix as a flat typed array,
 * device slots. Keeps every placement on a 256-node host from re-deriving them.
 */
import type { Topology } from '../topology/model.js';
import { type DeviceSlot, deviceSlots } from './devices.js';

/** Per-topology lookups. */
export interface TopologyIndex {
  /** Online, allowed PUs that belong to a node. */
  usable: Set<number>;
  puCore: Map<number, number>;
  /** Node id -> the node's cores, each as its usable PUs on that node (topology order). */
  nodeCores: Map<number, number[][]>;
  /** Node id -> package of its first CPU. */
  nodePackage: Map<number, number | null>;
  /** Node id -> row in the distance matrix. */
  index: Map<number, number>;
  /** Flat distance matrix, n x n in `nodes` order. */
  dist: Float64Array;
  n: number;
  slots: DeviceSlot[];
  /** Package -> usable PU count. */
  packagePus: Map<number, number>;
  puPackage: Map<number, number>;
  /** Largest PU OS index. */
  maxOs: number;
}

const CACHE = new WeakMap<Topology, TopologyIndex>();

/** The index of a topology (memoised). */
export function topologyIndex(topo: Topology): TopologyIndex {
  const hit = CACHE.get(topo);
  if (hit) return hit;
  const usable = new Set<number>();
  const puCore = new Map<number, number>();
  const puNode = new Map<number, number | null>();
  const puPackage = new Map<number, number>();
  const packagePus = new Map<number, number>();
  for (const p of topo.pus) {
    puCore.set(p.os, p.core);
    puNode.set(p.os, p.node);
    puPackage.set(p.os, p.package);
    if (p.online && p.allowed && p.node !== null) {
      usable.add(p.os);
      packagePus.set(p.package, (packagePus.get(p.package) ?? 0) + 1);
    }
  }
  const nodeCores = new Map<number, number[][]>();
  for (const n of topo.nodes) nodeCores.set(n.id, []);
  for (const c of topo.cores) {
    const byNode = new Map<number, number[]>();
    for (const p of c.pus) {
      const n = puNode.get(p);
      if (n === null || n === undefined || !usable.has(p)) continue;
      const list = byNode.get(n);
      if (list) list.push(p);
      else byNode.set(n, [p]);
    }
    for (const [n, pus] of byNode) nodeCores.get(n)?.push(pus);
  }
  const nodePackage = new Map<number, number | null>();
  for (const n of topo.nodes) {
    const first = n.cpus[0];
    nodePackage.set(n.id, first === undefined ? null : (puPackage.get(first) ?? null));
  }
  const n = topo.nodes.length;
  const dist = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const row = topo.distances[i] as readonly number[];
    for (let j = 0; j < n; j++) dist[i * n + j] = row[j] as number;
  }
  const index = new Map(topo.nodes.map((node, i) => [node.id, i]));
  const result: TopologyIndex = { usable, puCore, nodeCores, nodePackage, index, dist, n, slots: deviceSlots(topo), packagePus, puPackage, maxOs: Math.max(0, ...topo.pus.map((p) => p.os)) };
  CACHE.set(topo, result);
  return result;
}

const ROWS = new WeakMap<Topology, Float64Array>();

/** Node id -> row of the distance matrix (NaN for ids that are not nodes), memoised per topology. */
export function nodeRows(topo: Topology): Float64Array {
  const hit = ROWS.get(topo);
  if (hit) return hit;
  let max = 0;
  for (const node of topo.nodes) if (node.id > max) max = node.id;
  const rows = new Float64Array(max + 1).fill(Number.NaN);
  topo.nodes.forEach((node, i) => (rows[node.id] = i));
  ROWS.set(topo, rows);
  return rows;
}

const DISTANCES = new WeakMap<Topology, (a: number, b: number) => number>();

/** The SLIT distance between two node ids of a topology, as one function per topology (memoised). */
export function topologyDistance(topo: Topology): (a: number, b: number) => number {
  let f = DISTANCES.get(topo);
  if (!f) {
    const { dist, n } = topologyIndex(topo);
    const rows = nodeRows(topo);
    f = (a: number, b: number): number => dist[(rows[a] as number) * n + (rows[b] as number)] as number;
    DISTANCES.set(topo, f);
  }
  return f;
}
