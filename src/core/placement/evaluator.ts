/**
 * The evaluator: one request against one host's capacity view, in one page size and CPU mode. It is
 * the `PlacementContext` every policy's chooser receives, and `evaluate(nodeSet)` is the shared
 * judgement of a node set (the split of vCPUs and memory, feasibility with shortfalls, device
 * locality, the weighted-distance cost). A policy only decides which node sets to judge and keep.
 *
 * Construction reads the per-node capacities of the mode and page size into arrays indexed by node
 * id, once; `quickEvaluate` ranks a node set on those arrays and module-level scratch space, without
 * allocating anything but its result, and `evaluate` builds the parts, grants and shortfalls of the
 * sets a policy keeps. Methods, not closures: building an evaluator is a handful of field writes and
 * the capacity arrays.
 *
 * Splitting a node set (documented defaults of the product):
 * - vCPUs are spread as evenly as the nodes' capacities allow (water filling, `split.ts`: nodes with
 *   little room take what they can, the rest is shared evenly). Under smt=require the split is in
 *   whole cores.
 * - Memory follows the vCPUs: each node gets memory in proportion to its vCPUs; if a node cannot hold
 *   its share, memory is water-filled instead (and the cost says so). Interleave: memory evenly.
 * - An explicit guest layout fixes the parts (`layout.ts`): guest node i gets its vCPUs and its memory
 *   on one host node of the set, each guest node on a different host node. Which set: the policy's
 *   choice among sets of exactly as many nodes as guest nodes (numaplan: the closest, by the
 *   weighted distance of the layout).
 * - The reserved emulator pCPUs go with the part with the largest share (first on ties) among the
 *   nodes that can give them.
 * - A memory tier other than DRAM puts memory on that tier's nodes, nearest to the vCPUs first.
 */
import { SLIT_LOCAL, weightedDistance } from '../cost/model.js';
import { type DeviceSlot, type HostCapacity, type NodeCapacity, deviceMatches } from './capacity.js';
import type { CpuMode, Part, PlacementContext, SetEvaluation } from './context.js';
import { LayoutFit, cpuResource, memResource, modeLabel } from './layout.js';
import { pairDevices, pairable, pairedWishes } from './pairing.js';
import type { VmRequest } from './request.js';
import { fewestToReach, memorySplitUnit, proportional, proportionalInto, waterFill, waterFillInto } from './split.js';
import type { Topology } from '../topology/model.js';
import { nodeRows, topologyDistance, topologyIndex } from './topology-index.js';
import type { RefusalReason } from './types.js';

/** Writes the first `len` ids of `set` into `out` in ascending order (insertion sort: sets are small). */
function sortInto(set: readonly number[], len: number, out: { [i: number]: number }): void {
  for (let i = 0; i < len; i++) {
    const v = set[i] as number;
    let j = i;
    while (j > 0 && (out[j - 1] as number) > v) {
      out[j] = out[j - 1] as number;
      j--;
    }
    out[j] = v;
  }
}

/** A copy of node ids in ascending order. */
function sortedIds(set: readonly number[]): number[] {
  if (set.length > 32) return Array.from(set).sort((a, b) => a - b);
  const out = new Array<number>(set.length);
  sortInto(set, set.length, out);
  return out;
}

const EPS = 1e-9;

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

/** Free devices matching a device request, as used by evaluate and assignment. */
export function matchingDevices(capacity: HostCapacity, kind: VmRequest['devices'][number]): DeviceSlot[] {
  const out: DeviceSlot[] = [];
  for (const d of capacity.freeDevices.values()) if (deviceMatches(d, kind)) out.push(d);
  return out;
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

/** The shortfalls of a quick judgement: none are built (frozen: nothing may add to them). */
const NO_SHORTFALLS = Object.freeze([]) as unknown as RefusalReason[];

/** A device request with the free devices that match it. */
interface DeviceNeed {
  req: VmRequest['devices'][number];
  matching: DeviceSlot[];
}

/** One request against one host's capacity, in one page size and CPU mode (see the module comment). */
export class Evaluator implements PlacementContext {
  readonly memory: number;
  readonly memUnit: number;
  readonly slots: number;
  readonly separateMemory: boolean;
  readonly cpuNodes: NodeCapacity[];
  readonly memNodes: NodeCapacity[];
  readonly distance: (a: number, b: number) => number;
  readonly compare = compareEvaluations;
  /** Reserved emulator pCPUs (0 when the emulator shares the vCPUs' pCPUs). */
  readonly emulator: number;
  private readonly cpuNodeIds: number[];
  private readonly dist: Float64Array;
  private readonly n: number;
  private readonly rows: Float64Array;
  /** Per node id: vCPU slots, whole-core unit (fill mode), bytes and emulator pCPUs free in this mode and page size. */
  private readonly size: number;
  private readonly cpuCapArr: readonly number[];
  private readonly unitArr: readonly number[];
  private readonly memCapArr: readonly number[];
  private readonly emuCapArr: readonly number[];
  private readonly layoutFit: LayoutFit | null;
  private devices: DeviceNeed[] | null = null;
  /** The GPU and NIC wishes of a pairing request (set with `devices`). */
  private wishes: { gpu: number; nic: number } | null = null;
  /** Why the host lacks the pairs a pairing request asks for, when it does (set with `devices`). */
  private pairShort: string | null = null;
  private minMemo: number | null = null;
  /** True when quickEvaluate can rank sets without building them (no layout, memory tier or devices). */
  private readonly quickable: boolean;

  readonly topology: Topology;

  constructor(
    readonly request: VmRequest,
    readonly capacity: HostCapacity,
    readonly pageSize: number,
    readonly mode: CpuMode,
  ) {
    const topo = capacity.topology;
    this.topology = topo;
    const { cpu, mem, cpuIds } = eligible(request, capacity);
    this.cpuNodes = cpu;
    this.memNodes = mem;
    this.cpuNodeIds = cpuIds;
    this.emulator = request.emulator === 'share' ? 0 : request.emulator;
    this.slots = request.vcpus + this.emulator;
    this.memory = request.memory;
    this.separateMemory = request.tier !== 'dram';
    this.memUnit = memorySplitUnit(request.memory, pageSize);
    const tix = topologyIndex(topo);
    this.dist = tix.dist;
    this.n = tix.n;
    this.rows = nodeRows(topo);
    this.distance = topologyDistance(topo);

    // Per-node capacities in this mode and page size, as arrays indexed by node id (the view's, cached until it changes).
    this.size = this.rows.length;
    const caps = capacity.modeCaps(mode);
    this.cpuCapArr = caps.cpu;
    this.unitArr = caps.unit;
    this.emuCapArr = caps.emulator;
    this.memCapArr = capacity.memCaps(pageSize);
    this.layoutFit = request.layout && request.layout.length > 0 ? new LayoutFit(this, request.layout, this.emulator) : null;
    this.quickable = !request.layout && !this.separateMemory && request.devices.length === 0;
  }

  /** vCPU slots a node can take in this mode. */
  cpuCap(id: number): number {
    return (id < this.size ? (this.cpuCapArr[id] as number) : 0) || 0;
  }

  /** Bytes of the page size a node can give. */
  memCap(id: number): number {
    return (id < this.size ? (this.memCapArr[id] as number) : 0) || 0;
  }

  /** Reserved emulator pCPUs a node can give (see PlacementContext.emulatorCap). */
  emulatorCap(id: number): number {
    return (id < this.size ? (this.emuCapArr[id] as number) : 0) || 0;
  }

  /** The whole-core unit of a node in fill mode (1 in the other modes). */
  private unitOf(id: number): number {
    return id < this.size ? (this.unitArr[id] as number) : 1;
  }

  /**
   * The part that carries the reserved emulator pCPUs: the largest vCPU share (first on ties) among
   * the nodes that can give them (emulatorCap); -1 when none can. `split[i]` holds vCPUs + emulator.
   */
  private primaryOf(split: ArrayLike<number>, ids: ArrayLike<number>, len: number): number {
    let primary = -1;
    const emulator = this.emulator;
    for (let i = 0; i < len; i++) {
      if (emulator > 0 && this.emulatorCap(ids[i] as number) < emulator) continue;
      if (primary < 0 || (split[i] as number) > (split[primary] as number)) primary = i;
    }
    return primary;
  }

  private emulatorShortfall(nodes: number[]): RefusalReason {
    let have = 0;
    for (const id of nodes) have = Math.max(have, this.emulatorCap(id));
    const emulator = this.emulator;
    return {
      resource: 'emulator-cpus',
      node: nodes.length === 1 ? (nodes[0] as number) : null,
      nodes,
      need: emulator,
      have,
      detail: `${emulator} reserved emulator pCPU(s) must be completely free CPUs on one node (no other tenant, not the reserve); at most ${have} free on nodes ${nodes.join(',')}`,
    };
  }

  /** The device requests with their matching free devices (built on first use). */
  private deviceNeeds(): DeviceNeed[] {
    if (this.devices !== null) return this.devices;
    const request = this.request;
    const needs = request.devices.map((d) => ({ req: d, matching: matchingDevices(this.capacity, d) }));
    this.wishes = request.pairing ? pairedWishes(request) : null;
    if (request.pairing && this.wishes) {
      // A pairing request counts only the GPUs and NICs that have a free partner within its level.
      const g = needs[this.wishes.gpu] as DeviceNeed;
      const n = needs[this.wishes.nic] as DeviceNeed;
      const both = pairable(this.topology, request.pairing, g.matching, n.matching);
      if (both.gpus.length < g.req.count) {
        const r = pairDevices(this.topology, request.pairing, g.req.count, g.matching, n.matching, n.req.kind);
        this.pairShort = r.ok ? null : r.detail;
      }
      g.matching = both.gpus;
      n.matching = both.nics;
    }
    this.devices = needs;
    return needs;
  }

  /** Checks the device requests against a set: appends shortfalls, returns the preferred devices that cannot be local. */
  private devicesOk(nodes: readonly number[], shortfalls: RefusalReason[]): number {
    if (this.request.devices.length === 0) return 0;
    const inSet = new Set(nodes);
    const used = new Set<string>();
    let missing = 0;
    const needs = this.deviceNeeds();
    const wishes = this.wishes;
    const pairing = this.request.pairing;
    for (const [i, { req, matching }] of needs.entries()) {
      const free = matching.filter((d) => !used.has(d.address) && !(d.physfn !== null && used.has(d.physfn)));
      const local = free.filter((d) => d.node !== null && inSet.has(d.node));
      const take = (list: DeviceSlot[], k: number): void => {
        for (const d of list.slice(0, k)) used.add(d.address);
      };
      // A pairing request's shortage is one of pairs, said once, on the GPU wish.
      const paired = wishes !== null && pairing !== undefined && (i === wishes.gpu || i === wishes.nic);
      if (paired && i === wishes.nic) {
        take(local, req.count);
        take(free.filter((d) => !used.has(d.address)), Math.max(0, req.count - local.length));
        continue;
      }
      const label = paired ? `device-pairs:${pairing}` : req.kind === 'pci' ? `device:${req.address}` : `device:${req.kind}`;
      if (req.locality === 'required') {
        if (local.length < req.count) {
          shortfalls.push({
            resource: label,
            node: null,
            nodes: [...nodes],
            need: req.count,
            have: local.length,
            detail: paired
              ? `${req.count} GPU-NIC pair(s) (pairing=${pairing}) required on nodes ${nodes.join(',')}; ${local.length} pairable GPU(s) free there`
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
            detail: paired && this.pairShort ? this.pairShort : `${req.count} ${req.kind} device(s) requested; ${free.length} free on the whole host`,
          });
        }
        if (req.locality === 'preferred') missing += Math.max(0, req.count - local.length);
        take(local, req.count);
        take(free.filter((d) => !used.has(d.address)), Math.max(0, req.count - local.length));
      }
    }
    return missing;
  }

  /**
   * Memory of a separate tier (`tier=hbm|cxl`) for these parts: from the tier's nodes closest to the
   * vCPUs (distance weighted by each part's vCPUs), sorted by node; or what is short of it.
   */
  tierMemory(parts: readonly Part[]): { node: number; bytes: number }[] | RefusalReason {
    const request = this.request;
    const memUnit = this.memUnit;
    const total = parts.reduce((s, p) => s + p.vcpus, 0);
    const order = this.memNodes
      .map((m) => {
        let d = 0;
        for (const p of parts) d += (p.vcpus / total) * this.distance(p.node, m.id);
        return { id: m.id, d };
      })
      .sort((a, b) => a.d - b.d || a.id - b.id);
    const memory: { node: number; bytes: number }[] = [];
    let left = request.memory;
    for (const { id } of order) {
      if (left === 0) break;
      const g = Math.min(left, Math.floor(this.memCap(id) / memUnit) * memUnit);
      if (g > 0) {
        memory.push({ node: id, bytes: g });
        left -= g;
      }
    }
    if (left > 0) {
      return { resource: `${request.tier}-${memResource(this.pageSize)}`, node: null, need: request.memory, have: request.memory - left, detail: `${request.tier} memory on the host` };
    }
    return memory.sort((a, b) => a.node - b.node);
  }

  /** The full judgement of a node set: parts, memory grants, cost, missing devices, shortfalls. */
  evaluate(set: readonly number[]): SetEvaluation {
    const request = this.request;
    const mode = this.mode;
    const slots = this.slots;
    const memUnit = this.memUnit;
    const separateMemory = this.separateMemory;
    const nodes = sortedIds(set);
    const shortfalls: RefusalReason[] = [];
    let parts: Part[] = [];
    let memory: { node: number; bytes: number }[] = [];
    const fail = (): SetEvaluation => ({ ok: false, nodes, parts, memory, cost: Number.POSITIVE_INFINITY, missingPreferred: 0, shortfalls });
    const caps = nodes.map((id) => this.cpuCap(id));
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
      const fit = this.layoutFit as LayoutFit;
      const hostOf = fit.hosts(nodes);
      if (!hostOf) {
        shortfalls.push(...fit.shortfalls(nodes, true));
        return fail();
      }
      parts = layout.map((g, i) => ({ node: hostOf[i] as number, vcpus: g.vcpus, emulator: i === fit.primary ? this.emulator : 0, memory: g.memory }));
      if (!separateMemory) memory = parts.map((p) => ({ node: p.node, bytes: p.memory })).sort((a, b) => a.node - b.node);
    } else {
      let unit = 1;
      if (mode === 'fill') {
        unit = Number.NEGATIVE_INFINITY;
        for (const x of nodes) unit = Math.max(unit, this.unitOf(x));
      }
      const split = nodes.length === 1 ? (slots <= (caps[0] ?? 0) ? [slots] : null) : waterFill(slots, caps, unit);
      if (!split || split.some((s) => s === 0)) {
        let have = 0;
        for (const c of caps) have += c;
        shortfalls.push({
          resource: cpuResource(mode),
          node: nodes.length === 1 ? (nodes[0] as number) : null,
          nodes,
          need: nodes.length === 1 ? slots : Math.max(slots, nodes.length),
          have,
          detail: split ? 'every node of a set must run at least one vCPU' : `${slots} vCPU slots needed, ${have} free in ${modeLabel(mode)} on nodes ${nodes.join(',')}`,
        });
        return fail();
      }
      const primary = this.primaryOf(split, nodes, nodes.length);
      if (primary < 0) {
        shortfalls.push(this.emulatorShortfall(nodes));
        return fail();
      }
      const emulator = this.emulator;
      parts = nodes.map((node, i) => ({ node, vcpus: (split[i] as number) - (i === primary ? emulator : 0), emulator: i === primary ? emulator : 0, memory: 0 }));
      if (parts.some((p) => p.vcpus <= 0)) {
        shortfalls.push({ resource: 'cpus', node: null, nodes, need: slots, have: slots, detail: 'emulator pCPUs would leave a node without vCPUs' });
        return fail();
      }
      if (!separateMemory) {
        const mcaps = nodes.map((id) => this.memCap(id));
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
            resource: memResource(this.pageSize),
            node: nodes.length === 1 ? (nodes[0] as number) : null,
            nodes,
            need: request.memory,
            have,
            detail: `${request.memory} bytes of ${memResource(this.pageSize)} needed, ${have} free on nodes ${nodes.join(',')}`,
          });
          return fail();
        }
        parts.forEach((p, i) => (p.memory = share[i] as number));
        memory = parts.map((p) => ({ node: p.node, bytes: p.memory }));
      }
    }
    if (separateMemory) {
      const grant = this.tierMemory(parts);
      if (!Array.isArray(grant)) {
        shortfalls.push(grant);
        return fail();
      }
      memory = grant;
      for (const p of parts) p.memory = 0;
    }
    const missingPreferred = this.devicesOk(nodes, shortfalls);
    if (shortfalls.length > 0) return fail();
    const cost = unique(parts, memory)
      ? relativeDistance(this.distance, parts, memory)
      : weightedDistance(this.distance, new Map(parts.map((p) => [p.node, p.vcpus + p.emulator])), new Map(memory.map((m) => [m.node, m.bytes]))).relative;
    return { ok: true, nodes, parts, memory, cost, missingPreferred, shortfalls };
  }

  /**
   * The same judgement as `evaluate` for ranking many sets (see PlacementContext.quickEvaluate):
   * on the common request (no layout, memory tier or devices) it works on scratch arrays and
   * builds only its result, without parts, grants or shortfalls.
   */
  quickEvaluate(set: readonly number[]): SetEvaluation {
    const cost = this.quickCost(set);
    if (cost === null) return this.evaluate(set);
    const len = set.length;
    const nodes = new Array<number>(len);
    for (let i = 0; i < len; i++) nodes[i] = qIds[i] as number;
    if (cost === Number.POSITIVE_INFINITY) return quickFail(nodes);
    return { ok: true, nodes, parts: [], memory: [], cost, missingPreferred: 0, shortfalls: NO_SHORTFALLS };
  }

  /**
   * `quickEvaluate`'s verdict as a number, allocating nothing: the cost, +Infinity when the set does
   * not hold the VM, null when the request needs the full evaluation (layout, memory tier, devices,
   * a node given twice, more than QUICK_MAX nodes). Leaves the set's ids, ascending, in scratch for
   * quickEvaluate.
   */
  quickCost(set: readonly number[]): number | null {
    const len = set.length;
    if (!this.quickable || len === 0 || len > QUICK_MAX) return null;
    const request = this.request;
    const mode = this.mode;
    const slots = this.slots;
    const memUnit = this.memUnit;
    sortInto(set, len, qIds);
    for (let i = 1; i < len; i++) if (qIds[i] === qIds[i - 1]) return null;
    const nodes = qIds;
    let unit = 1;
    if (mode === 'fill') unit = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < len; i++) {
      const id = nodes[i] as number;
      qCaps[i] = this.cpuCap(id);
      qMcaps[i] = this.memCap(id);
      if (mode === 'fill') unit = Math.max(unit, this.unitOf(id));
    }
    const INF = Number.POSITIVE_INFINITY;
    if (len === 1) {
      if (!(slots <= (qCaps[0] as number))) return INF;
      qSplit[0] = slots;
    } else if (!waterFillInto(slots, qCaps, len, unit, qSplit, qUnits, qOrder)) return INF;
    for (let i = 0; i < len; i++) if (qSplit[i] === 0) return INF;
    const primary = this.primaryOf(qSplit, nodes, len);
    if (primary < 0) return INF;
    const emulator = this.emulator;
    for (let i = 0; i < len; i++) {
      const e = i === primary ? emulator : 0;
      qEmu[i] = e;
      qVcpus[i] = (qSplit[i] as number) - e;
      if ((qVcpus[i] as number) <= 0) return INF;
    }
    let share = request.numa === 'interleave' ? this.quickByPages(len) : (proportionalInto(request.memory, qVcpus, len, memUnit, qShare), true);
    if (share) {
      let over = false;
      for (let i = 0; i < len; i++) if ((qShare[i] as number) > (qMcaps[i] as number)) over = true;
      if (over) share = this.quickByPages(len);
    }
    if (!share) return INF;
    // relativeDistance over parts (vCPUs + emulator) and memory, in node order.
    let v = 0;
    let m = 0;
    for (let i = 0; i < len; i++) v += (qVcpus[i] as number) + (qEmu[i] as number);
    for (let i = 0; i < len; i++) m += qShare[i] as number;
    let cost = 1;
    if (!(v === 0 || m === 0)) {
      const rows = this.rows;
      const dist = this.dist;
      const n = this.n;
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
    return cost;
  }

  /** quickCost's memory split in whole pages as even as the nodes allow (scratch in, scratch out). */
  private quickByPages(len: number): boolean {
    const memUnit = this.memUnit;
    for (let i = 0; i < len; i++) qPages[i] = Math.floor((qMcaps[i] as number) / memUnit);
    if (!waterFillInto(this.request.memory / memUnit, qPages, len, 1, qShare, qUnits, qOrder)) return false;
    for (let i = 0; i < len; i++) qShare[i] = (qShare[i] as number) * memUnit;
    return true;
  }

  /** Why no assignment of the layout fits a set (empty when one does, or without a layout). */
  layoutShortfalls(nodes: readonly number[]): RefusalReason[] {
    return this.layoutFit === null ? [] : this.layoutFit.shortfalls(nodes);
  }

  /** Lower bound on the node count from capacities alone. */
  minNodes(): number {
    if (this.minMemo === null) this.minMemo = this.computeMinNodes();
    return this.minMemo;
  }

  private computeMinNodes(): number {
    // The common case first: one node reaches the vCPU slots and one the memory (not necessarily the
    // same one), so the bound is 1 (or the layout's guest nodes) without sorting capacities.
    let maxCpu = 0;
    let maxMem = 0;
    for (const id of this.cpuNodeIds) {
      const c = this.cpuCap(id);
      const m = this.memCap(id);
      if (c > maxCpu) maxCpu = c;
      if (m > maxMem) maxMem = m;
    }
    if (maxCpu >= this.slots && (this.separateMemory || maxMem >= this.request.memory)) return Math.max(1, this.separateMemory ? 1 : (this.request.layout?.length ?? 1));
    const k = fewestToReach(this.cpuNodeIds, (id) => this.cpuCap(id), this.slots);
    if (!Number.isFinite(k) || this.separateMemory) return Number.isFinite(k) ? Math.max(1, k) : k;
    const j = fewestToReach(this.cpuNodeIds, (id) => this.memCap(id), this.request.memory);
    if (!Number.isFinite(j)) return j;
    return Math.max(1, k, j, this.request.layout?.length ?? 1);
  }

  /** Upper bound on the node count from the request (strict, maxNodes, layout) and the host. */
  maxNodes(): number {
    const request = this.request;
    if (request.numa === 'strict') return 1;
    if (request.layout) return request.layout.length;
    return Math.min(request.maxNodes ?? this.cpuNodeIds.length, this.cpuNodeIds.length, request.vcpus);
  }
}

function quickFail(nodes: number[]): SetEvaluation {
  return { ok: false, nodes, parts: [], memory: [], cost: Number.POSITIVE_INFINITY, missingPreferred: 0, shortfalls: NO_SHORTFALLS };
}
