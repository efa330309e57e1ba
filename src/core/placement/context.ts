/**
 * The placement context: one request, one host state, one page size and one CPU mode, with every
 * per-node capacity precomputed, and `evaluate(nodeSet)`, the shared judgement of a node set that
 * every policy reuses (split of vCPUs and memory, feasibility with shortfalls, device locality, and
 * the weighted-distance cost). A policy only decides which node set to evaluate and keep.
 *
 * Splitting a node set (documented defaults of the product):
 * - vCPUs are spread as evenly as the nodes' capacities allow (water filling: nodes with little room
 *   take what they can, the rest is shared evenly; a remainder goes to the lowest node ids first).
 *   Under smt=require the split is in whole cores.
 * - Memory follows the vCPUs: each node gets memory in proportion to its vCPUs; if a node cannot hold
 *   its share, memory is water-filled instead (and the cost says so). Interleave: memory evenly.
 * - An explicit guest layout fixes the parts: guest node i gets its vCPUs and its memory on one host
 *   node of the set, each guest node on a different host node (`layoutHosts`): guest node i goes to
 *   the i-th node of the set in ascending id when every guest node fits there, else the
 *   lexicographically first assignment that fits (guest 0 on the lowest node that leaves a fitting
 *   assignment for the rest, and so on). Which set: the policy's choice among sets of exactly as
 *   many nodes as guest nodes (numaplan: the closest, by the weighted distance of the layout).
 *   The reserved emulator pCPUs go with the guest node with the most vCPUs (ties: lowest index).
 * - A memory tier other than DRAM puts memory on that tier's nodes, nearest to the vCPUs first.
 */
import { SLIT_LOCAL, weightedDistance } from '../cost/model.js';
import type { Topology } from '../topology/model.js';
import { formatSize } from '../topology/sizes.js';
import { pairDevices, pairable, pairedWishes } from './pairing.js';
import { type DeviceSlot, type HostCapacity, type NodeCapacity, deviceMatches, hostCapacity } from './capacity.js';
import type { VmRequest } from './request.js';
import type { HostState } from './state.js';
import { topologyIndex } from './topology-index.js';
import type { RefusalReason } from './types.js';

/**
 * How vCPUs map to hardware threads:
 * - core: one vCPU per free whole core, siblings left free (smt=auto while whole cores exist);
 * - thread: any free PU, filling a core's siblings (smt=prefer; smt=auto's fallback);
 * - isolate: one vCPU per whole core, its siblings held idle for the VM;
 * - fill: whole cores only, vCPUs fill all their threads (smt=require);
 * - shared: shared vCPUs on PUs not dedicated to anyone.
 */
export type CpuMode = 'core' | 'thread' | 'isolate' | 'fill' | 'shared';

/** vCPUs (and emulator pCPUs) and memory on one node, in vCPU order. */
export interface Part {
  node: number;
  vcpus: number;
  emulator: number;
  memory: number;
}

/** The judgement of one node set. */
export interface SetEvaluation {
  ok: boolean;
  /** The vCPU nodes, ascending (the set that was evaluated). */
  nodes: number[];
  /** vCPU parts in vCPU order; memory here is the memory on that same node. */
  parts: Part[];
  /** Every memory grant by node, ascending node id (includes tier nodes without vCPUs). */
  memory: { node: number; bytes: number }[];
  /** Weighted SLIT ratio (1 = all local). */
  cost: number;
  /** Preferred devices that cannot be on the set's nodes. */
  missingPreferred: number;
  shortfalls: RefusalReason[];
}

/** Everything a policy needs to judge node sets for one request. */
export interface PlacementContext {
  request: VmRequest;
  state: HostState;
  capacity: HostCapacity;
  pageSize: number;
  /** The unit memory is split over nodes in (memorySplitUnit: whole MiB, or the page size when larger). */
  memUnit: number;
  mode: CpuMode;
  /** vCPUs + reserved emulator pCPUs. */
  slots: number;
  memory: number;
  /** Nodes eligible for vCPUs, ascending id. */
  cpuNodes: NodeCapacity[];
  /** Nodes eligible for memory: the same as cpuNodes for DRAM, the tier's nodes otherwise. */
  memNodes: NodeCapacity[];
  separateMemory: boolean;
  /** vCPU slots a node can take in this mode. */
  cpuCap(node: number): number;
  /** Bytes of the page size a node can give. */
  memCap(node: number): number;
  /**
   * Reserved emulator pCPUs a node can give: in shared mode only completely free PUs (no tenant,
   * not the reserve, not held by anyone), since emulator pCPUs are then held exclusively; in the
   * dedicated modes every vCPU slot is exclusive already, so this is `cpuCap`.
   */
  emulatorCap(node: number): number;
  distance(a: number, b: number): number;
  evaluate(nodes: readonly number[]): SetEvaluation;
  /**
   * The same judgement as `evaluate` for ranking many sets: `ok`, `nodes`, `cost` and
   * `missingPreferred` are exactly evaluate's, but `parts`, `memory` and `shortfalls` may be left
   * empty (they are, on the allocation-free path for the common request: no layout, no memory tier,
   * no devices). Call `evaluate` on the sets you keep.
   */
  quickEvaluate(nodes: readonly number[]): SetEvaluation;
  /**
   * For an explicit guest layout: why no assignment of guest nodes to distinct nodes of `nodes`
   * fits (per guest node that fits on none of them, what it lacks on the closest; else the set as a
   * whole); empty when an assignment fits or the request has no layout.
   */
  layoutShortfalls(nodes: readonly number[]): RefusalReason[];
  /** Lower bound on the node count from capacities alone. */
  minNodes(): number;
  /** Upper bound on the node count from the request (strict, maxNodes, layout) and the host. */
  maxNodes(): number;
  /** Objective order of two evaluations: fewer nodes, fewer missing preferred devices, lower cost, lower ids. */
  compare(a: SetEvaluation, b: SetEvaluation): number;
}

const EPS = 1e-9;

/** A copy of node ids in ascending order. */
function sortedIds(set: readonly number[]): number[] {
  const out = Array.from(set);
  if (out.length > 32) return out.sort((a, b) => a - b);
  for (let i = 1; i < out.length; i++) {
    const v = out[i] as number;
    let j = i;
    while (j > 0 && (out[j - 1] as number) > v) {
      out[j] = out[j - 1] as number;
      j--;
    }
    out[j] = v;
  }
  return out;
}

/** Lexicographic order of ascending id lists. */
export function compareIds(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** The objective every policy's multi-node choice is judged by (see PlacementContext.compare). */
export function compareEvaluations(a: SetEvaluation, b: SetEvaluation): number {
  if (a.ok !== b.ok) return a.ok ? -1 : 1;
  if (a.nodes.length !== b.nodes.length) return a.nodes.length - b.nodes.length;
  if (a.missingPreferred !== b.missingPreferred) return a.missingPreferred - b.missingPreferred;
  if (Math.abs(a.cost - b.cost) > EPS) return a.cost - b.cost;
  return compareIds(a.nodes, b.nodes);
}

/** Free devices matching each device request, as used by evaluate and assignment. */
export function matchingDevices(capacity: HostCapacity, kind: VmRequest['devices'][number]): DeviceSlot[] {
  const out: DeviceSlot[] = [];
  for (const d of capacity.freeDevices.values()) if (deviceMatches(d, kind)) out.push(d);
  return out;
}

/** Indexes 0..n-1 ordered by key ascending, ties by index (insertion sort for the few nodes of a set). */
function orderBy(keys: readonly number[]): number[] {
  const n = keys.length;
  const order = new Array<number>(n);
  if (n > 32) {
    for (let i = 0; i < n; i++) order[i] = i;
    return order.sort((x, y) => (keys[x] as number) - (keys[y] as number) || x - y);
  }
  for (let i = 0; i < n; i++) {
    const k = keys[i] as number;
    let j = i;
    while (j > 0 && (keys[order[j - 1] as number] as number) > k) {
      order[j] = order[j - 1] as number;
      j--;
    }
    order[j] = i;
  }
  return order;
}

/** Spreads `total` over capacities as evenly as they allow, in units of `unit`. Null if it cannot. */
export function waterFill(total: number, caps: readonly number[], unit = 1): number[] | null {
  const len = caps.length;
  const out = new Array<number>(len).fill(0);
  return waterFillInto(total, caps, len, unit, out, new Array<number>(len), new Array<number>(len)) ? out : null;
}

/**
 * waterFill on the first `len` entries of `caps`, writing the parts to `out` (scratch: `capUnits`,
 * `order`, at least `len` long). False if the capacities cannot hold the total.
 */
function waterFillInto(total: number, caps: ArrayLike<number>, len: number, unit: number, out: number[], capUnits: number[], order: number[]): boolean {
  const units = Math.ceil(total / unit);
  let sum = 0;
  for (let i = 0; i < len; i++) {
    const c = Math.floor((caps[i] as number) / unit);
    capUnits[i] = c;
    sum += c;
  }
  if (sum < units) return false;
  orderInto(capUnits, len, order);
  let remaining = units;
  let left = len;
  for (let k = 0; k < len; k++) {
    const i = order[k] as number;
    const g = Math.min(capUnits[i] as number, Math.floor(remaining / left));
    out[i] = g;
    remaining -= g;
    left--;
  }
  while (remaining > 0) {
    for (let i = 0; remaining > 0 && i < len; i++) {
      if ((out[i] as number) < (capUnits[i] as number)) {
        out[i] = (out[i] as number) + 1;
        remaining--;
      }
    }
  }
  for (let i = 0; i < len; i++) out[i] = (out[i] as number) * unit;
  const excess = units * unit - total;
  if (excess > 0) {
    let big = 0;
    for (let i = 0; i < len; i++) if ((out[i] as number) >= (out[big] as number)) big = i;
    out[big] = (out[big] as number) - excess;
  }
  return true;
}

/** Indexes 0..len-1 into `order`, by key ascending, ties by index (insertion sort for the few nodes of a set). */
function orderInto(keys: readonly number[], len: number, order: number[]): void {
  if (len > 32) {
    const idx = Array.from({ length: len }, (_, i) => i).sort((x, y) => (keys[x] as number) - (keys[y] as number) || x - y);
    for (let i = 0; i < len; i++) order[i] = idx[i] as number;
    return;
  }
  for (let i = 0; i < len; i++) {
    const k = keys[i] as number;
    let j = i;
    while (j > 0 && (keys[order[j - 1] as number] as number) > k) {
      order[j] = order[j - 1] as number;
      j--;
    }
    order[j] = i;
  }
}

/** Splits `total` bytes in proportion to weights, in whole pages; remainder pages to the first entries. */
export function proportional(total: number, weights: readonly number[], page: number): number[] {
  const out = new Array<number>(weights.length);
  proportionalInto(total, weights, weights.length, page, out);
  return out;
}

/** proportional on the first `len` weights, writing to `out`. */
function proportionalInto(total: number, weights: ArrayLike<number>, len: number, page: number, out: number[]): void {
  const pages = total / page;
  let wsum = 0;
  for (let i = 0; i < len; i++) wsum += weights[i] as number;
  let given = 0;
  for (let i = 0; i < len; i++) {
    const p = Math.floor((pages * (weights[i] as number)) / wsum);
    out[i] = p;
    given += p;
  }
  let rest = pages - given;
  for (let i = 0; rest > 0; i = (i + 1) % len) {
    if ((weights[i] as number) > 0) {
      out[i] = (out[i] as number) + 1;
      rest--;
    }
  }
  for (let i = 0; i < len; i++) out[i] = (out[i] as number) * page;
}

/** The nodes a request may use: for vCPUs (and their ids), for memory. */
interface Eligible {
  cpu: NodeCapacity[];
  mem: NodeCapacity[];
  cpuIds: number[];
}

/** Eligible node lists without an explicit node list, per capacity node array and tier (eligibility reads only static fields). */
const ELIGIBLE = new WeakMap<readonly NodeCapacity[], Map<string, Eligible>>();

/** Which nodes may hold vCPUs and memory for a request (shared, read-only lists). */
function eligible(request: VmRequest, cap: HostCapacity): Eligible {
  if (request.nodes) return eligibleAmong(request, cap, new Set(request.nodes));
  let byTier = ELIGIBLE.get(cap.nodes);
  if (!byTier) ELIGIBLE.set(cap.nodes, (byTier = new Map()));
  let hit = byTier.get(request.tier);
  if (!hit) byTier.set(request.tier, (hit = eligibleAmong(request, cap, null)));
  return hit;
}

function eligibleAmong(request: VmRequest, cap: HostCapacity, allowed: Set<number> | null): Eligible {
  const topoAllowed = (n: NodeCapacity): boolean => allowed === null || allowed.has(n.id);
  const cpu = cap.nodes.filter((n) => topoAllowed(n) && n.totalPus > 0 && (request.tier !== 'dram' || n.tier === 'dram'));
  const mem =
    request.tier === 'dram'
      ? cpu
      : cap.nodes.filter((n) => (allowed ? allowed.has(n.id) : true) && n.tier === request.tier && n.totalMemory > 0);
  return { cpu, mem, cpuIds: cpu.map((c) => c.id) };
}

const ROWS = new WeakMap<Topology, Float64Array>();

/** Node id -> row of the distance matrix (NaN for ids that are not nodes), memoised per topology. */
function nodeRows(topo: Topology): Float64Array {
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

/** True when no node repeats among the parts nor among the memory grants (a set given twice the same id). */
function unique(parts: readonly Part[], memory: readonly { node: number }[]): boolean {
  for (let i = 0; i < parts.length; i++) for (let j = i + 1; j < parts.length; j++) if ((parts[i] as Part).node === (parts[j] as Part).node) return false;
  for (let i = 0; i < memory.length; i++) for (let j = i + 1; j < memory.length; j++) if ((memory[i] as { node: number }).node === (memory[j] as { node: number }).node) return false;
  return true;
}

/**
 * The weighted SLIT ratio of parts and memory grants: the same arithmetic, in the same order, as
 * `weightedDistance` of the cost model (vCPU weights include emulator pCPUs), without building maps.
 */
function relativeDistance(distance: (a: number, b: number) => number, parts: readonly Part[], memory: readonly { node: number; bytes: number }[]): number {
  let v = 0;
  let m = 0;
  for (const p of parts) v += p.vcpus + p.emulator;
  for (const g of memory) m += g.bytes;
  if (v === 0 || m === 0) return 1;
  let rel = 0;
  for (const p of parts) {
    const va = p.vcpus + p.emulator;
    if (va === 0) continue;
    for (const g of memory) {
      const mb = g.bytes;
      if (mb === 0) continue;
      const w = (va / v) * (mb / m);
      rel += (w * distance(p.node, g.node)) / SLIT_LOCAL;
    }
  }
  return rel;
}

// Scratch space of quickEvaluate (sets of up to QUICK_MAX nodes); shared, as evaluation is synchronous.
const QUICK_MAX = 32;
const scratch = (): number[] => new Array<number>(QUICK_MAX).fill(0);
const qIds = scratch();
const qCaps = scratch();
const qSplit = scratch();
const qVcpus = scratch();
const qEmu = scratch();
const qMcaps = scratch();
const qPages = scratch();
const qShare = scratch();
const qUnits = scratch();
const qOrder = scratch();

/** A context's helpers for an explicit guest layout (see makeContext). */
interface LayoutTools {
  /** Host node per guest node for a set, or null when no assignment fits. */
  layoutHosts(nodes: readonly number[]): number[] | null;
  /** Why no assignment of the layout fits a set (empty when one does). */
  layoutShortfalls(nodes: readonly number[], unmatched?: boolean): RefusalReason[];
}

/** The helpers of a request without a layout: no guest nodes to assign, nothing short. */
const NO_LAYOUT: LayoutTools = { layoutHosts: () => [], layoutShortfalls: () => [] };

const fewScratch: number[] = [];

/**
 * How many of the largest `value(id)` over `ids` it takes for their sum to reach `target` (largest
 * first); infinity when all of them do not. Sorts a shared scratch array (evaluation is synchronous).
 */
export function fewestToReach(ids: readonly number[], value: (id: number) => number, target: number): number {
  const len = ids.length;
  const vs = fewScratch;
  vs.length = len;
  for (let i = 0; i < len; i++) vs[i] = value(ids[i] as number);
  if (len > 32) vs.sort((x, y) => y - x);
  else {
    // Insertion sort, descending: short node lists.
    for (let i = 1; i < len; i++) {
      const v = vs[i] as number;
      let j = i;
      while (j > 0 && (vs[j - 1] as number) < v) {
        vs[j] = vs[j - 1] as number;
        j--;
      }
      vs[j] = v;
    }
  }
  let k = 0;
  let acc = 0;
  while (acc < target && k < len) acc += vs[k++] as number;
  return acc < target ? Number.POSITIVE_INFINITY : k;
}

/** One MiB: the unit hypervisors size guest NUMA nodes in (xl's size=, libvirt aligns cells to it). */
export const MIB = 1024 * 1024;

/**
 * The unit memory is split over nodes in: whole MiB, or the page size when larger, so that every
 * guest node is a whole number of MiB and the nodes sum exactly to the total; the page size when
 * the total itself is not a whole number of that unit.
 */
export function memorySplitUnit(total: number, pageSize: number): number {
  const unit = Math.max(pageSize, MIB);
  return total % unit === 0 ? unit : pageSize;
}

/** Builds the context for one request, page size and CPU mode. */
export function makeContext(request: VmRequest, state: HostState, pageSize: number, mode: CpuMode, capacity = hostCapacity(state)): PlacementContext {
  const topo = state.topology;
  const { cpu, mem, cpuIds: cpuNodeIds } = eligible(request, capacity);
  const emulator = request.emulator === 'share' ? 0 : request.emulator;
  const slots = request.vcpus + emulator;
  const separateMemory = request.tier !== 'dram';
  const memUnit = memorySplitUnit(request.memory, pageSize);
  const { dist, n } = topologyIndex(topo);
  const rows = nodeRows(topo);
  const distance = topologyDistance(topo);

  // Per-node capacities in this mode, as arrays indexed by node id (ids are small integers).
  const size = rows.length;
  const cpuCapArr = new Array<number>(size).fill(0);
  const unitArr = new Array<number>(size).fill(1);
  const memCapArr = new Array<number>(size).fill(0);
  const emuCapArr = new Array<number>(size).fill(0);
  for (const node of capacity.nodes) {
    let c = 0;
    let unit = 1;
    switch (mode) {
      case 'core':
      case 'isolate':
        c = node.wholeCores.length;
        break;
      case 'thread':
        c = node.freePus.length;
        break;
      case 'shared':
        c = node.sharedPus.length;
        break;
      case 'fill':
        for (const core of node.wholeCores) {
          c += core.length;
          if (core.length > unit) unit = core.length;
        }
        break;
    }
    if (node.id < size) {
      cpuCapArr[node.id] = c;
      unitArr[node.id] = unit;
      memCapArr[node.id] = node.memory.get(pageSize) ?? 0;
      emuCapArr[node.id] = mode === 'shared' ? node.freePus.length : c;
    }
  }
  const cpuCap = (id: number): number => (id < size ? (cpuCapArr[id] as number) : 0) || 0;
  const memCap = (id: number): number => (id < size ? (memCapArr[id] as number) : 0) || 0;
  const emulatorCap = (id: number): number => (id < size ? (emuCapArr[id] as number) : 0) || 0;
  /**
   * The part that carries the reserved emulator pCPUs: the largest vCPU share (first on ties) among
   * the nodes that can give them (emulatorCap); -1 when none can. `split[i]` holds vCPUs + emulator.
   */
  const primaryOf = (split: ArrayLike<number>, ids: ArrayLike<number>, len: number): number => {
    let primary = -1;
    for (let i = 0; i < len; i++) {
      if (emulator > 0 && emulatorCap(ids[i] as number) < emulator) continue;
      if (primary < 0 || (split[i] as number) > (split[primary] as number)) primary = i;
    }
    return primary;
  };
  const emulatorShortfall = (nodes: number[]): RefusalReason => {
    let have = 0;
    for (const id of nodes) have = Math.max(have, emulatorCap(id));
    return {
      resource: 'emulator-cpus',
      node: nodes.length === 1 ? (nodes[0] as number) : null,
      nodes,
      need: emulator,
      have,
      detail: `${emulator} reserved emulator pCPU(s) must be completely free CPUs on one node (no other tenant, not the reserve); at most ${have} free on nodes ${nodes.join(',')}`,
    };
  };

  // Explicit guest layout: the guest node carrying the emulator pCPUs, and which host node each
  // guest node may go to.
  const layout = request.layout ?? [];
  let layoutPrimary = 0;
  for (let i = 1; i < layout.length; i++) if ((layout[i] as (typeof layout)[number]).vcpus > (layout[layoutPrimary] as (typeof layout)[number]).vcpus) layoutPrimary = i;
  // The layout's helpers are closures over this context: built only for requests with a layout.
  const tools = layout.length === 0 ? NO_LAYOUT : layoutToolsOf();
  const layoutHosts = tools.layoutHosts;
  const layoutShortfalls = tools.layoutShortfalls;
  function layoutToolsOf(): LayoutTools {
    const cpuResource = mode === 'thread' || mode === 'shared' ? 'cpus' : mode === 'fill' ? 'threads-of-whole-cores' : 'cores';
    const guestLabel = (g: number): string => {
      const guest = layout[g] as (typeof layout)[number];
      const emu = g === layoutPrimary ? emulator : 0;
      return `guest node ${g} (${guest.vcpus} vCPUs${emu > 0 ? ` + ${emu} emulator pCPUs` : ''}, ${formatSize(guest.memory)})`;
    };
    /** The first thing guest node g lacks on host node h, or null when it fits there alone. */
    const guestMisfit = (g: number, h: number): RefusalReason | null => {
      const guest = layout[g] as (typeof layout)[number];
      const emu = g === layoutPrimary ? emulator : 0;
      const label = guestLabel(g);
      if (guest.vcpus + emu > cpuCap(h)) {
        return { resource: cpuResource, node: h, need: guest.vcpus + emu, have: cpuCap(h), detail: `${label} on host node ${h}: ${modeLabel(mode)}` };
      }
      if (emu > 0 && emulatorCap(h) < emu) {
        return { resource: 'emulator-cpus', node: h, need: emu, have: emulatorCap(h), detail: `${label} on host node ${h}: emulator pCPUs need completely free CPUs` };
      }
      if (!separateMemory && guest.memory > memCap(h)) {
        return { resource: memResource(pageSize), node: h, need: guest.memory, have: memCap(h), detail: `${label} on host node ${h}` };
      }
      return null;
    };
    /**
     * Host node per guest node for a set (ascending ids) of layout.length nodes, or null when no
     * assignment fits: the identity (guest i on the i-th node) when it fits, else the
     * lexicographically first fitting assignment, found guest by guest with a bipartite-matching
     * check of the rest (Kuhn's augmenting paths, O(k^3) per check, O(k^5) at worst; k = guest nodes).
     */
    const layoutHosts = (nodes: readonly number[]): number[] | null => {
      const k = layout.length;
      let identity = true;
      for (let g = 0; g < k && identity; g++) if (guestMisfit(g, nodes[g] as number)) identity = false;
      if (identity) return nodes.slice(0, k);
      const fits: boolean[][] = layout.map((_, g) => nodes.map((h) => guestMisfit(g, h) === null));
      const hostOf = new Array<number>(k).fill(-1);
      const used = new Array<boolean>(k).fill(false);
      // Can guests from..k-1 be matched to the unused hosts?
      const matchable = (from: number): boolean => {
        const owner = new Array<number>(k).fill(-1);
        const tryGuest = (g: number, seen: boolean[]): boolean => {
          for (let h = 0; h < k; h++) {
            if (used[h] || seen[h] || !(fits[g] as boolean[])[h]) continue;
            seen[h] = true;
            if (owner[h] === -1 || tryGuest(owner[h] as number, seen)) {
              owner[h] = g;
              return true;
            }
          }
          return false;
        };
        for (let g = from; g < k; g++) if (!tryGuest(g, new Array<boolean>(k).fill(false))) return false;
        return true;
      };
      for (let g = 0; g < k; g++) {
        let placed = false;
        for (let h = 0; h < k && !placed; h++) {
          if (used[h] || !(fits[g] as boolean[])[h]) continue;
          used[h] = true;
          if (matchable(g + 1)) {
            hostOf[g] = h;
            placed = true;
          } else used[h] = false;
        }
        if (!placed) return null;
      }
      return hostOf.map((h) => nodes[h] as number);
    };
    /**
     * Why no assignment of the layout fits a set: for each guest node that fits on none of the set's
     * nodes, what it lacks on the node closest to holding it; if each fits somewhere, the set as a whole.
     */
    const layoutShortfalls = (nodes: readonly number[], unmatched = false): RefusalReason[] => {
      const out: RefusalReason[] = [];
      if (layout.length === 0) return out;
      layout.forEach((_, g) => {
        let worst: RefusalReason | null = null;
        for (const h of nodes) {
          const m = guestMisfit(g, h);
          if (!m) return;
          if (!worst || m.need - m.have < worst.need - worst.have) worst = m;
        }
        if (worst) out.push({ ...worst, detail: `${guestLabel(g)} fits on no node of ${nodes.join(',')}; closest: node ${worst.node}, short of ${worst.resource}` });
      });
      if (out.length === 0 && nodes.length >= layout.length) {
        if (!unmatched) {
          // Over a larger set (the whole host), try every subset's worth at once: a matching of the
          // guest nodes into the set, each guest node on its own node.
          const hostsOf = layout.map((_, g) => nodes.filter((h) => guestMisfit(g, h) === null));
          const owner = new Map<number, number>();
          const tryGuest = (g: number, seen: Set<number>): boolean => {
            for (const h of hostsOf[g] as number[]) {
              if (seen.has(h)) continue;
              seen.add(h);
              const o = owner.get(h);
              if (o === undefined || tryGuest(o, seen)) {
                owner.set(h, g);
                return true;
              }
            }
            return false;
          };
          let all = true;
          for (let g = 0; g < layout.length && all; g++) all = tryGuest(g, new Set());
          if (all) return out;
        }
        out.push({
          resource: 'layout',
          node: null,
          nodes: [...nodes],
          need: layout.length,
          have: layout.length - 1,
          detail: `each guest node fits on some node of ${nodes.join(',')}, but no assignment puts every guest node on a different one`,
        });
      }
      return out;
    };
      return { layoutHosts, layoutShortfalls: (nodes, unmatched = false) => layoutShortfalls(nodes, unmatched) };
    }

  const deviceReqs = request.devices.map((d) => ({ req: d, matching: matchingDevices(capacity, d) }));
  const wishes = request.pairing ? pairedWishes(request) : null;
  let pairShort: string | null = null;
  if (request.pairing && wishes) {
    // A pairing request counts only the GPUs and NICs that have a free partner within its level.
    const g = deviceReqs[wishes.gpu] as { matching: DeviceSlot[] };
    const n = deviceReqs[wishes.nic] as { matching: DeviceSlot[] };
    const both = pairable(state.topology, request.pairing, g.matching, n.matching);
    const gpuReq = request.devices[wishes.gpu] as VmRequest['devices'][number];
    const nicReq = request.devices[wishes.nic] as VmRequest['devices'][number];
    if (both.gpus.length < gpuReq.count) {
      const r = pairDevices(state.topology, request.pairing, gpuReq.count, g.matching, n.matching, nicReq.kind);
      pairShort = r.ok ? null : r.detail;
    }
    g.matching = both.gpus;
    n.matching = both.nics;
  }

  const devicesOk = (nodes: readonly number[], shortfalls: RefusalReason[]): number => {
    if (deviceReqs.length === 0) return 0;
    const inSet = new Set(nodes);
    const used = new Set<string>();
    let missing = 0;
    for (const [i, { req, matching }] of deviceReqs.entries()) {
      const free = matching.filter((d) => !used.has(d.address) && !(d.physfn !== null && used.has(d.physfn)));
      const local = free.filter((d) => d.node !== null && inSet.has(d.node));
      const take = (list: DeviceSlot[], k: number): void => {
        for (const d of list.slice(0, k)) used.add(d.address);
      };
      // A pairing request's shortage is one of pairs, said once, on the GPU wish.
      const paired = wishes !== null && request.pairing !== undefined && (i === wishes.gpu || i === wishes.nic);
      if (paired && i === wishes?.nic) {
        take(local, req.count);
        take(free.filter((d) => !used.has(d.address)), Math.max(0, req.count - local.length));
        continue;
      }
      const label = paired ? `device-pairs:${request.pairing}` : req.kind === 'pci' ? `device:${req.address}` : `device:${req.kind}`;
      if (req.locality === 'required') {
        if (local.length < req.count) {
          shortfalls.push({
            resource: label,
            node: null,
            nodes: [...nodes],
            need: req.count,
            have: local.length,
            detail: paired
              ? `${req.count} GPU-NIC pair(s) (pairing=${request.pairing}) required on nodes ${nodes.join(',')}; ${local.length} pairable GPU(s) free there`
              : `${req.count} ${req.kind} device(s) required on nodes ${nodes.join(',')}; ${local.length} free there`,
          });
        }
        take(local, req.count);
      } else {
        if (free.length < req.count) {
          shortfalls.push({
            resource: label,
            node: null,
            need: req.count,
            have: free.length,
            detail: paired && pairShort ? pairShort : `${req.count} ${req.kind} device(s) requested; ${free.length} free on the whole host`,
          });
        }
        if (req.locality === 'preferred') missing += Math.max(0, req.count - local.length);
        take(local, req.count);
        take(free.filter((d) => !used.has(d.address)), Math.max(0, req.count - local.length));
      }
    }
    return missing;
  };

  const evaluate = (set: readonly number[]): SetEvaluation => {
    const nodes = sortedIds(set);
    const shortfalls: RefusalReason[] = [];
    let parts: Part[] = [];
    let memory: { node: number; bytes: number }[] = [];
    const fail = (): SetEvaluation => ({ ok: false, nodes, parts, memory, cost: Number.POSITIVE_INFINITY, missingPreferred: 0, shortfalls });
    const caps = nodes.map(cpuCap);
    if (request.layout) {
      const layout = request.layout;
      if (layout.length !== nodes.length) {
        shortfalls.push({
          resource: 'nodes',
          node: null,
          nodes,
          need: layout.length,
          have: nodes.length,
          detail: `the layout has ${layout.length} guest nodes, one per host node; this set has ${nodes.length}`,
        });
        return fail();
      }
      const hostOf = layoutHosts(nodes);
      if (!hostOf) {
        shortfalls.push(...layoutShortfalls(nodes, true));
        return fail();
      }
      parts = layout.map((g, i) => ({ node: hostOf[i] as number, vcpus: g.vcpus, emulator: i === layoutPrimary ? emulator : 0, memory: g.memory }));
      if (!separateMemory) memory = parts.map((p) => ({ node: p.node, bytes: p.memory })).sort((a, b) => a.node - b.node);
    } else {
      let unit = 1;
      if (mode === 'fill') {
        unit = Number.NEGATIVE_INFINITY;
        for (const x of nodes) unit = Math.max(unit, x < size ? (unitArr[x] as number) : 1);
      }
      const split = nodes.length === 1 ? (slots <= (caps[0] ?? 0) ? [slots] : null) : waterFill(slots, caps, unit);
      if (!split || split.some((s) => s === 0)) {
        let have = 0;
        for (const c of caps) have += c;
        shortfalls.push({
          resource: mode === 'thread' || mode === 'shared' ? 'cpus' : mode === 'fill' ? 'threads-of-whole-cores' : 'cores',
          node: nodes.length === 1 ? (nodes[0] as number) : null,
          nodes,
          need: nodes.length === 1 ? slots : Math.max(slots, nodes.length),
          have,
          detail: split ? 'every node of a set must run at least one vCPU' : `${slots} vCPU slots needed, ${have} free in ${modeLabel(mode)} on nodes ${nodes.join(',')}`,
        });
        return fail();
      }
      const primary = primaryOf(split, nodes, nodes.length);
      if (primary < 0) {
        shortfalls.push(emulatorShortfall(nodes));
        return fail();
      }
      parts = nodes.map((node, i) => ({ node, vcpus: (split[i] as number) - (i === primary ? emulator : 0), emulator: i === primary ? emulator : 0, memory: 0 }));
      if (parts.some((p) => p.vcpus <= 0)) {
        shortfalls.push({ resource: 'cpus', node: null, nodes, need: slots, have: slots, detail: 'emulator pCPUs would leave a node without vCPUs' });
        return fail();
      }
      if (!separateMemory) {
        const mcaps = nodes.map(memCap);
        let share =
          request.numa === 'interleave'
            ? waterFill(request.memory / memUnit, mcaps.map((m) => Math.floor(m / memUnit)))?.map((p) => p * memUnit) ?? null
            : proportional(request.memory, parts.map((p) => p.vcpus), memUnit);
        if (share && share.some((m, i) => m > (mcaps[i] as number))) {
          share = waterFill(request.memory / memUnit, mcaps.map((m) => Math.floor(m / memUnit)))?.map((p) => p * memUnit) ?? null;
        }
        if (!share) {
          let have = 0;
          for (const m of mcaps) have += m;
          shortfalls.push({
            resource: memResource(pageSize),
            node: nodes.length === 1 ? (nodes[0] as number) : null,
            nodes,
            need: request.memory,
            have,
            detail: `${request.memory} bytes of ${memResource(pageSize)} needed, ${have} free on nodes ${nodes.join(',')}`,
          });
          return fail();
        }
        parts.forEach((p, i) => (p.memory = share[i] as number));
        memory = parts.map((p) => ({ node: p.node, bytes: p.memory }));
      }
    }
    if (separateMemory) {
      const total = parts.reduce((s, p) => s + p.vcpus, 0);
      const order = memNodes
        .map((m) => {
          let d = 0;
          for (const p of parts) d += (p.vcpus / total) * distance(p.node, m.id);
          return { id: m.id, d };
        })
        .sort((a, b) => a.d - b.d || a.id - b.id);
      let left = request.memory;
      for (const { id } of order) {
        if (left === 0) break;
        const g = Math.min(left, Math.floor(memCap(id) / memUnit) * memUnit);
        if (g > 0) {
          memory.push({ node: id, bytes: g });
          left -= g;
        }
      }
      if (left > 0) {
        const have = request.memory - left;
        shortfalls.push({ resource: `${request.tier}-${memResource(pageSize)}`, node: null, need: request.memory, have, detail: `${request.tier} memory on the host` });
        return fail();
      }
      memory.sort((a, b) => a.node - b.node);
      for (const p of parts) p.memory = 0;
    }
    const missingPreferred = devicesOk(nodes, shortfalls);
    if (shortfalls.length > 0) return fail();
    const cost = unique(parts, memory)
      ? relativeDistance(distance, parts, memory)
      : weightedDistance(distance, new Map(parts.map((p) => [p.node, p.vcpus + p.emulator])), new Map(memory.map((m) => [m.node, m.bytes]))).relative;
    return { ok: true, nodes, parts, memory, cost, missingPreferred, shortfalls };
  };

  const quickable = !request.layout && !separateMemory && deviceReqs.length === 0;
  const quickFail = (nodes: number[]): SetEvaluation => ({ ok: false, nodes, parts: [], memory: [], cost: Number.POSITIVE_INFINITY, missingPreferred: 0, shortfalls: [] });
  const quickEvaluate = (set: readonly number[]): SetEvaluation => {
    const len = set.length;
    if (!quickable || len === 0 || len > QUICK_MAX) return evaluate(set);
    for (let i = 0; i < len; i++) {
      const v = set[i] as number;
      let j = i;
      while (j > 0 && (qIds[j - 1] as number) > v) {
        qIds[j] = qIds[j - 1] as number;
        j--;
      }
      qIds[j] = v;
    }
    for (let i = 1; i < len; i++) if (qIds[i] === qIds[i - 1]) return evaluate(set);
    const nodes = new Array<number>(len);
    for (let i = 0; i < len; i++) nodes[i] = qIds[i] as number;
    let unit = 1;
    if (mode === 'fill') unit = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < len; i++) {
      const id = nodes[i] as number;
      qCaps[i] = cpuCap(id);
      qMcaps[i] = memCap(id);
      if (mode === 'fill') unit = Math.max(unit, id < size ? (unitArr[id] as number) : 1);
    }
    if (len === 1) {
      if (!(slots <= (qCaps[0] as number))) return quickFail(nodes);
      qSplit[0] = slots;
    } else if (!waterFillInto(slots, qCaps, len, unit, qSplit, qUnits, qOrder)) return quickFail(nodes);
    for (let i = 0; i < len; i++) if (qSplit[i] === 0) return quickFail(nodes);
    const primary = primaryOf(qSplit, nodes, len);
    if (primary < 0) return quickFail(nodes);
    for (let i = 0; i < len; i++) {
      const e = i === primary ? emulator : 0;
      qEmu[i] = e;
      qVcpus[i] = (qSplit[i] as number) - e;
      if ((qVcpus[i] as number) <= 0) return quickFail(nodes);
    }
    const byPages = (): boolean => {
      for (let i = 0; i < len; i++) qPages[i] = Math.floor((qMcaps[i] as number) / memUnit);
      if (!waterFillInto(request.memory / memUnit, qPages, len, 1, qShare, qUnits, qOrder)) return false;
      for (let i = 0; i < len; i++) qShare[i] = (qShare[i] as number) * memUnit;
      return true;
    };
    let share = request.numa === 'interleave' ? byPages() : (proportionalInto(request.memory, qVcpus, len, memUnit, qShare), true);
    if (share) {
      let over = false;
      for (let i = 0; i < len; i++) if ((qShare[i] as number) > (qMcaps[i] as number)) over = true;
      if (over) share = byPages();
    }
    if (!share) return quickFail(nodes);
    // relativeDistance over parts (vCPUs + emulator) and memory, in node order.
    let v = 0;
    let m = 0;
    for (let i = 0; i < len; i++) v += (qVcpus[i] as number) + (qEmu[i] as number);
    for (let i = 0; i < len; i++) m += qShare[i] as number;
    let cost = 1;
    if (!(v === 0 || m === 0)) {
      let rel = 0;
      for (let i = 0; i < len; i++) {
        const va = (qVcpus[i] as number) + (qEmu[i] as number);
        if (va === 0) continue;
        const base = (rows[nodes[i] as number] as number) * n;
        for (let j = 0; j < len; j++) {
          const mb = qShare[j] as number;
          if (mb === 0) continue;
          const w = (va / v) * (mb / m);
          rel += (w * (dist[base + (rows[nodes[j] as number] as number)] as number)) / SLIT_LOCAL;
        }
      }
      cost = rel;
    }
    return { ok: true, nodes, parts: [], memory: [], cost, missingPreferred: 0, shortfalls: [] };
  };

  const memNodes = mem;
  let minMemo: number | null = null;
  const minNodes = (): number => {
    if (minMemo === null) minMemo = computeMinNodes();
    return minMemo;
  };
  const computeMinNodes = (): number => {
    const k = fewestToReach(cpuNodeIds, cpuCap, slots);
    if (!Number.isFinite(k) || separateMemory) return Number.isFinite(k) ? Math.max(1, k) : k;
    const j = fewestToReach(cpuNodeIds, memCap, request.memory);
    if (!Number.isFinite(j)) return j;
    return Math.max(1, k, j, request.layout?.length ?? 1);
  };
  const maxNodes = (): number => {
    if (request.numa === 'strict') return 1;
    if (request.layout) return request.layout.length;
    return Math.min(request.maxNodes ?? cpuNodeIds.length, cpuNodeIds.length, request.vcpus);
  };

  return {
    request,
    state,
    capacity,
    pageSize,
    memUnit,
    mode,
    slots,
    memory: request.memory,
    cpuNodes: cpu,
    memNodes,
    separateMemory,
    cpuCap,
    memCap,
    emulatorCap,
    distance,
    evaluate,
    quickEvaluate,
    layoutShortfalls: layout.length === 0 ? NO_LAYOUT.layoutShortfalls : (nodes) => layoutShortfalls(nodes),
    minNodes,
    maxNodes,
    compare: compareEvaluations,
  };
}

/** Resource name of memory of a page size: "memory" for 4K, "hugepages-2M", "hugepages-1G". */
export function memResource(pageSize: number): string {
  if (pageSize === 4096) return 'memory';
  return pageSize >= 1024 ** 3 ? `hugepages-${pageSize / 1024 ** 3}G` : `hugepages-${pageSize / 1024 ** 2}M`;
}

/** Human label of a CPU mode. */
export function modeLabel(mode: CpuMode): string {
  switch (mode) {
    case 'core':
      return 'whole cores (one vCPU per core)';
    case 'thread':
      return 'hardware threads';
    case 'isolate':
      return 'whole cores (one vCPU per core, siblings held)';
    case 'fill':
      return 'threads of whole cores';
    case 'shared':
      return 'shared PUs';
  }
}
