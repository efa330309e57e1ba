/**
 * The host ledger: one host's state (topology, reserve, allocations) and its capacity view, kept
 * incrementally. Every caller of the kernel reads capacity through a ledger: the CLI placing many
 * VMs on one host, the service holding a fleet in memory, the simulator replaying a trace.
 *
 * What it tracks, per allocation kind:
 * - CPUs: a holder count per PU (the reserve, dedicated vCPUs, held siblings, emulator pCPUs) and a
 *   tenant count per PU (shared vCPUs). A PU is free with neither, held with a holder, shared with
 *   tenants only. Counts, not flags, so that releasing one of two overlapping holders (a displaced VM
 *   and a reserve that grew under it) leaves the PU held.
 * - memory: bytes granted per page size and node (any page size, also one the host has no pool of),
 *   the reserve's bytes per node; free = pool - granted (huge pages), total - pools - reserve -
 *   granted (regular memory, in whole 4 KiB pages).
 * - devices: a holder count per address; a PF in use takes its VFs, a VF in use its PF.
 * - claims: an allocation with `status: 'claimed'` and `expiresAt` counts like a committed one until
 *   `expire(now)` drops it (time is always a parameter).
 *
 * Adding, releasing or replacing an allocation marks the nodes it touches; the next read of the
 * capacity view rebuilds only those nodes' free lists (whole cores, free PUs, memory per page size)
 * and the loads of the packages whose PUs changed, in O(PUs of the touched nodes). A ledger built
 * from a state (`HostLedger.of`) and one brought to the same state by any sequence of changes give
 * the same view field for field (tested): nodes in topology order, cores in topology order, free PUs
 * grouped by core, memory maps in pool order then 4 KiB, devices in address order.
 *
 * Running totals for the fleet index, kept on every change without a rebuild: free PUs over the DRAM
 * nodes with CPUs (`freeSlots`), and free bytes per page size over those nodes (`pageFree`) and over
 * those of them with a free PU (`liveFree`). `mayHold` turns them into a necessary condition for a
 * plain dedicated request.
 */
import type { Topology } from '../topology/model.js';
import { type HostCapacity, type ModeCaps, type NodeCapacity, memCapsOf, modeCapsOf } from './capacity.js';
import type { CpuMode } from './context.js';
import type { DeviceSlot } from './devices.js';
import { type Allocation, type HostReserve, type HostState, StateError, defaultReserve } from './state.js';
import { nodeRows, topologyIndex } from './topology-index.js';

/** What a ledger node knows of its node from the topology alone (shared by every ledger of the topology). */
interface NodeShape {
  id: number;
  kind: NodeCapacity['kind'];
  tier: NodeCapacity['tier'];
  pkg: number | null;
  cores: readonly number[][];
  totalMemory: number;
  totalPus: number;
  /** The node's huge-page pools as plain arrays (the topology's are frozen, and slower to iterate), and the bytes they set aside. */
  poolSizes: number[];
  poolTotals: number[];
  poolBytes: number;
}

/** Everything a ledger derives from its topology alone, computed once per topology. */
interface LedgerShape {
  nodes: NodeShape[];
  index: Map<number, number>;
  /** Node id -> node index. */
  pos: Map<number, number>;
  /** Page sizes of the host's pools (with pages), plus 4096; descending. */
  pageSizes: number[];
  /** Node indexes counted in the running totals: DRAM nodes with CPUs. */
  counted: boolean[];
  maxOs: number;
  /** OS CPU -> node id (-1: none), node index (-1: not a usable PU of a node), dense package index (-1: none). */
  puNodeId: Int32Array;
  puIdx: Int32Array;
  puPkgIdx: Int32Array;
  /** Package ids in the topology index's order (the order of `packageLoad`'s keys) and their usable PUs. */
  pkgIds: number[];
  pkgTotal: Float64Array;
}

const SHAPES = new WeakMap<Topology, LedgerShape>();

function shapeOf(topology: Topology): LedgerShape {
  const hit = SHAPES.get(topology);
  if (hit) return hit;
  const tix = topologyIndex(topology);
  const sizes = new Set<number>([4096]);
  const nodes: NodeShape[] = topology.nodes.map((n) => {
    for (const pool of n.hugePages) if (pool.total > 0) sizes.add(pool.pageSize);
    const cores = tix.nodeCores.get(n.id) ?? [];
    let pus = 0;
    for (const c of cores) pus += c.length;
    let bytes = 0;
    for (const p of n.hugePages) bytes += p.pageSize * p.total;
    return {
      id: n.id,
      kind: n.kind,
      tier: n.tier,
      pkg: tix.nodePackage.get(n.id) ?? null,
      cores,
      totalMemory: n.memory.total,
      totalPus: pus,
      poolSizes: n.hugePages.map((p) => p.pageSize),
      poolTotals: n.hugePages.map((p) => p.total),
      poolBytes: bytes,
    };
  });
  const maxOs = tix.maxOs;
  const puNodeId = new Int32Array(maxOs + 1).fill(-1);
  for (const p of topology.pus) if (p.os >= 0 && p.os <= maxOs && p.node !== null) puNodeId[p.os] = p.node;
  const puIdx = new Int32Array(maxOs + 1).fill(-1);
  nodes.forEach((n, i) => {
    for (const pus of n.cores) for (const p of pus) if (p <= maxOs) puIdx[p] = i;
  });
  const pkgIds = [...tix.packagePus.keys()];
  const dense = new Map(pkgIds.map((pkg, i) => [pkg, i]));
  const puPkgIdx = new Int32Array(maxOs + 1).fill(-1);
  for (const [pu, pkg] of tix.puPackage) if (pu >= 0 && pu <= maxOs) puPkgIdx[pu] = dense.get(pkg) ?? -1;
  const shape: LedgerShape = {
    nodes,
    index: tix.index,
    pos: new Map(nodes.map((n, i) => [n.id, i])),
    pageSizes: [...sizes].sort((a, b) => b - a),
    counted: nodes.map((n) => n.totalPus > 0 && n.tier === 'dram'),
    maxOs,
    puNodeId,
    puIdx,
    puPkgIdx,
    pkgIds,
    pkgTotal: Float64Array.from(pkgIds, (pkg) => tix.packagePus.get(pkg) ?? 0),
  };
  SHAPES.set(topology, shape);
  return shape;
}

/** A node's capacity, rebuilt in place when the node changes. */
class LedgerNode implements NodeCapacity {
  wholeCores: number[][] = [];
  freePus: number[] = [];
  memory = new Map<number, number>();
  devices: DeviceSlot[] = [];
  readonly id: number;
  readonly kind: NodeCapacity['kind'];
  readonly tier: NodeCapacity['tier'];
  readonly package: number | null;
  readonly cores: readonly number[][];
  readonly totalMemory: number;
  readonly totalPus: number;
  readonly totalCores: number;
  #shared: { cpu: number; tenants: number }[] | null = null;
  constructor(
    readonly shape: NodeShape,
    /** Position in the ledger's node list. */
    readonly pos: number,
    /** Bytes the host reserve keeps on the node. */
    readonly reserved: number,
    private readonly ledger: HostLedger,
  ) {
    this.id = shape.id;
    this.kind = shape.kind;
    this.tier = shape.tier;
    this.package = shape.pkg;
    this.cores = shape.cores;
    this.totalMemory = shape.totalMemory;
    this.totalPus = shape.totalPus;
    this.totalCores = shape.cores.length;
  }
  /** PUs a shared-CPU VM may use (not held by anyone), with their shared tenants; built on first read after a change. */
  get sharedPus(): { cpu: number; tenants: number }[] {
    if (!this.#shared) this.#shared = this.ledger.sharedPusOf(this.cores);
    return this.#shared;
  }
  /** Forgets the shared list (the node changed). */
  dropShared(): void {
    this.#shared = null;
  }
}

/** Names -> allocations in name order, with the insertion point found by binary search. */
function insertSorted(list: Allocation[], a: Allocation): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((list[mid] as Allocation).name < a.name) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, a);
}

/** A host's state and capacity view, updated incrementally (see the module comment). */
export class HostLedger implements HostCapacity {
  readonly topology: Topology;
  readonly reserve: HostReserve;
  readonly nodes: LedgerNode[];
  readonly byId: Map<number, NodeCapacity>;
  readonly index: Map<number, number>;
  unplacedDevices: DeviceSlot[] = [];
  freeDevices = new Map<string, DeviceSlot>();
  readonly packageLoad = new Map<number, number>();
  /** vCPUs of the placed VMs per node they have vCPUs on (libxl's nr_vcpus_on_nodes), kept on every change. */
  readonly vcpusByNode = new Map<number, number>();
  readonly pageSizes: number[];
  /** Bumped on every change: memos of decisions on this host are valid while it is unchanged. */
  version = 0;
  /** Per-host memo of decisions on the current state (e.g. judgements by request shape); cleared on every change. */
  readonly memo = new Map<string, unknown>();
  /** Free PUs on the DRAM nodes that have CPUs (the nodes a DRAM request may use). */
  freeSlots = 0;
  /** Free bytes per page size (`pageSizes` order) summed over the same nodes. */
  readonly pageFree: Float64Array;
  /** The same over the nodes that still have a free PU (choosers whose every node runs a vCPU). */
  readonly liveFree: Float64Array;
  /** Per-mode and per-page-size capacities of the current version (built on first use after a change). */
  private readonly modeCache = new Map<CpuMode, ModeCaps>();
  private readonly memCache = new Map<number, number[]>();
  /** Free bytes of every page size per node index (counted nodes), kept on every change. */
  private readonly nodeBytes: Float64Array;
  /** Allocations in name order (the state's order). */
  private readonly list: Allocation[] = [];
  private readonly byName = new Map<string, Allocation>();
  private snapshot: HostState | null = null;
  /** Claims (name -> expiry), for `expire` and `nextExpiry`. */
  private readonly claims = new Map<string, number>();
  private readonly shape: LedgerShape;
  private readonly nodeFreePus: Int32Array;
  /** Per page size and node (`pageSizes` index * nodes + node index): free bytes, as the capacity view reports. */
  private readonly nodePageFree: Float64Array;
  /** Holders (reserve, dedicated, held, emulator) and shared tenants per OS CPU. */
  private readonly holders: Uint16Array;
  private readonly tenants: Uint16Array;
  /** Bytes granted per page size, per node index (any page size, pools or not). */
  private readonly memUsed = new Map<number, Float64Array>();
  private readonly takenDevices = new Map<string, number>();
  /** Nodes (by index) whose free lists need a rebuild, and how many. */
  private readonly dirty: Uint8Array;
  private dirtyCount = 0;
  private readonly seenNodes: number[] = [];
  /** Used (non-free) PUs per package over the nodes' cores, kept on every change; packages whose load changed. */
  private readonly pkgUsed: Float64Array;
  private readonly pkgTouched: Uint8Array;
  private devicesDirty = true;
  /** While building from a state: totals are brought up to date once at the end. */
  private bulk = false;
  #owner: Map<number, string> | null = null;
  #totals: { pus: number; bytes: number } | null = null;

  /** A ledger of a host with nothing placed: the given reserve, or the default one. */
  constructor(topology: Topology, reserve: HostReserve = defaultReserve(topology)) {
    this.topology = topology;
    this.reserve = reserve;
    const shape = shapeOf(topology);
    this.shape = shape;
    this.index = shape.index;
    this.pageSizes = shape.pageSizes;
    this.pkgUsed = new Float64Array(shape.pkgIds.length);
    this.pkgTouched = new Uint8Array(shape.pkgIds.length).fill(1);
    this.holders = new Uint16Array(shape.maxOs + 1);
    this.tenants = new Uint16Array(shape.maxOs + 1);
    const reserveMem = new Map<number, number>();
    for (const r of reserve.memory) reserveMem.set(r.node, (reserveMem.get(r.node) ?? 0) + r.bytes);
    this.nodes = shape.nodes.map((s, i) => new LedgerNode(s, i, reserveMem.get(s.id) ?? 0, this));
    this.byId = new Map(this.nodes.map((n) => [n.id, n]));
    const count = this.nodes.length;
    this.dirty = new Uint8Array(count).fill(1);
    this.dirtyCount = count;
    this.pageFree = new Float64Array(this.pageSizes.length);
    this.liveFree = new Float64Array(this.pageSizes.length);
    this.nodePageFree = new Float64Array(this.pageSizes.length * count);
    this.nodeFreePus = new Int32Array(count);
    this.nodeBytes = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      if (!shape.counted[i]) continue;
      const n = this.nodes[i] as LedgerNode;
      this.nodeFreePus[i] = n.totalPus;
      this.freeSlots += n.totalPus;
      for (let k = 0; k < this.pageSizes.length; k++) this.nodePageFree[k * count + i] = this.freeAt(n, this.pageSizes[k] as number);
      this.sumBytes(i);
    }
    for (const c of reserve.cpus) this.hold(c, 1);
    this.reload();
    this.retotal();
  }

  /** The ledger of a state (its reserve and allocations). */
  static of(state: HostState): HostLedger {
    const ledger = new HostLedger(state.topology, state.reserve);
    // Package loads and page totals once at the end, not per allocation.
    ledger.bulk = true;
    for (const a of state.allocations) ledger.add(a);
    ledger.bulk = false;
    ledger.reload();
    ledger.retotal();
    return ledger;
  }

  /** The current state: topology, reserve, allocations in name order (a value; rebuilt after a change). */
  get state(): HostState {
    this.snapshot ??= { schema: 'numaplan.state/v1', topology: this.topology, reserve: this.reserve, allocations: this.list.slice() };
    return this.snapshot;
  }

  /** The allocations, in name order (read-only view; do not keep across changes). */
  get allocations(): readonly Allocation[] {
    return this.list;
  }

  /** The allocation of a VM, if it is on this host. */
  get(name: string): Allocation | undefined {
    return this.byName.get(name);
  }

  /** True when a VM of this name is on the host. */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The capacity view, brought up to date. */
  capacity(): HostCapacity {
    this.refresh();
    return this;
  }

  /** Records an allocation. Throws ERR_NAME_TAKEN when a VM of that name is already on the host. */
  add(a: Allocation): void {
    if (this.byName.has(a.name)) throw new StateError(a.name, 'a VM of this name is already placed on this host', 'ERR_NAME_TAKEN');
    this.byName.set(a.name, a);
    insertSorted(this.list, a);
    if (a.status === 'claimed' && a.expiresAt !== null) this.claims.set(a.name, a.expiresAt);
    this.mark(a, 1);
  }

  /** Releases an allocation by name; returns it. Throws ERR_UNKNOWN_VM for a name not on the host. */
  release(name: string): Allocation {
    const a = this.byName.get(name);
    if (!a) throw new StateError(name, 'no such VM on this host', 'ERR_UNKNOWN_VM');
    this.byName.delete(name);
    this.claims.delete(name);
    const list = this.list;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((list[mid] as Allocation).name < name) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 1);
    this.mark(a, -1);
    return a;
  }

  /** Replaces a VM's allocation (a claim committed, a displacement mark set or cleared). */
  replace(a: Allocation): void {
    this.release(a.name);
    this.add(a);
  }

  /** Drops the claims whose expiry is at or before `now`; returns them. */
  expire(now: number): Allocation[] {
    const out: Allocation[] = [];
    if (this.claims.size === 0) return out;
    for (const [name, at] of [...this.claims]) if (at <= now) out.push(this.release(name));
    return out;
  }

  /** The earliest claim expiry on the host, or null. */
  nextExpiry(): number | null {
    let min: number | null = null;
    for (const at of this.claims.values()) if (min === null || at < min) min = at;
    return min;
  }

  /** Owner of each CPU that is not free: "host reserve" or a VM name (built on first read after a change). */
  get cpuOwner(): Map<number, string> {
    if (!this.#owner) {
      const owner = new Map<number, string>();
      for (const c of this.reserve.cpus) owner.set(c, 'host reserve');
      for (const a of this.list) {
        if (a.exclusive) for (const c of a.cpus) owner.set(c, a.name);
        for (const c of a.heldCpus) owner.set(c, a.name);
        for (const c of a.emulatorCpus) owner.set(c, a.name);
      }
      this.#owner = owner;
    }
    return this.#owner;
  }

  /** True when a CPU is used by shared VMs (and held by nobody). */
  sharedUse(cpu: number): boolean {
    return cpu < this.tenants.length && (this.tenants[cpu] as number) > 0;
  }

  /**
   * A necessary condition for any dedicated DRAM placement of `vcpus` vCPU slots and `memory` bytes
   * at `pageSize` (`auto`: any page size dividing `memory`): enough free PUs, and one page size with
   * enough free bytes over all nodes together. With `sets` (choosers whose memory follows the vCPUs:
   * every node of a set runs at least one vCPU) only nodes with a free PU count, and at most `vcpus`
   * of them (the largest). O(page sizes x nodes); reads no capacity view (no rebuild).
   */
  mayHold(vcpus: number, memory: number, pageSize: number | 'auto', sets: boolean): boolean {
    if (this.freeSlots < vcpus) return false;
    const count = this.nodes.length;
    let live = 0;
    if (sets) for (let i = 0; i < count; i++) if ((this.nodeFreePus[i] as number) > 0) live++;
    for (let k = 0; k < this.pageSizes.length; k++) {
      const p = this.pageSizes[k] as number;
      if (!(pageSize === 'auto' ? memory % p === 0 : p === pageSize)) continue;
      if (!sets) {
        if ((this.pageFree[k] as number) >= memory) return true;
        continue;
      }
      if ((this.liveFree[k] as number) < memory) continue;
      if (vcpus >= live || this.topFree(k, vcpus) >= memory) return true;
    }
    return false;
  }

  /** The largest `pageFree` entry (`sets`: `liveFree`): free bytes of the best single page size. */
  maxPageFree(sets = false): number {
    let best = 0;
    for (const f of sets ? this.liveFree : this.pageFree) if (f > best) best = f;
    return best;
  }

  /** Free PUs and free bytes (all page sizes) of a counted node, by node index, without a rebuild. */
  nodeFree(i: number): { pus: number; bytes: number } {
    return { pus: this.nodeFreePus[i] as number, bytes: this.nodeBytes[i] as number };
  }

  /** Free PUs of a counted node, by node index (0 for nodes not counted). */
  freePusAt(i: number): number {
    return this.nodeFreePus[i] as number;
  }

  /** Free bytes (all page sizes) of a counted node, by node index (0 for nodes not counted). */
  freeBytesAt(i: number): number {
    return this.nodeBytes[i] as number;
  }

  /** True when one counted node has at least `pus` free PUs and `bytes` free bytes (all page sizes). */
  oneNodeFits(pus: number, bytes: number): boolean {
    for (let i = 0; i < this.nodes.length; i++) if ((this.nodeFreePus[i] as number) >= pus && (this.nodeBytes[i] as number) >= bytes && this.shape.counted[i]) return true;
    return false;
  }

  /** Per-node capacities in a CPU mode (cached until the next change). */
  modeCaps(mode: CpuMode): ModeCaps {
    let caps = this.modeCache.get(mode);
    if (!caps) {
      this.refresh();
      this.modeCache.set(mode, (caps = modeCapsOf(this.nodes, nodeRows(this.topology).length, mode)));
    }
    return caps;
  }

  /** Free bytes of a page size per node id (cached until the next change). */
  memCaps(pageSize: number): number[] {
    let caps = this.memCache.get(pageSize);
    if (!caps) {
      this.refresh();
      this.memCache.set(pageSize, (caps = memCapsOf(this.nodes, nodeRows(this.topology).length, pageSize)));
    }
    return caps;
  }

  /** Recomputes a counted node's free bytes over page sizes. */
  private sumBytes(i: number): void {
    const count = this.nodes.length;
    let bytes = 0;
    for (let k = 0; k < this.pageSizes.length; k++) bytes += this.nodePageFree[k * count + i] as number;
    this.nodeBytes[i] = bytes;
  }

  /** What the counted nodes offer when nothing is placed: usable PUs outside the reserve, and bytes of every page size. */
  totals(): { pus: number; bytes: number } {
    if (!this.#totals) {
      const empty = new HostLedger(this.topology, this.reserve);
      let bytes = 0;
      for (let i = 0; i < empty.nodes.length; i++) if (empty.isCounted(i)) bytes += empty.freeBytesAt(i);
      this.#totals = { pus: empty.freeSlots, bytes };
    }
    return this.#totals;
  }

  /** True for a node index counted in the running totals (DRAM with CPUs). */
  isCounted(i: number): boolean {
    return this.shape.counted[i] === true;
  }

  /** The shared-PU list of a node's cores (see LedgerNode.sharedPus). */
  sharedPusOf(cores: readonly number[][]): { cpu: number; tenants: number }[] {
    const shared: { cpu: number; tenants: number }[] = [];
    for (const pus of cores) {
      for (const p of pus) {
        if ((this.holders[p] as number) === 0) shared.push({ cpu: p, tenants: this.tenants[p] as number });
      }
    }
    return shared;
  }

  /** Sum of the `top` largest free byte counts at page size index `k` among nodes with a free PU. */
  private topFree(k: number, top: number): number {
    const count = this.nodes.length;
    let sum = 0;
    let below = Number.POSITIVE_INFINITY;
    let belowAt = count;
    // Repeated maximum in (value, index) order: O(top x nodes), nodes are few.
    for (let t = 0; t < top; t++) {
      let best = -1;
      let bestAt = -1;
      for (let i = 0; i < count; i++) {
        if ((this.nodeFreePus[i] as number) === 0) continue;
        const f = this.nodePageFree[k * count + i] as number;
        if ((f < below || (f === below && i > belowAt)) && f > best) {
          best = f;
          bestAt = i;
        }
      }
      if (bestAt < 0) break;
      sum += best;
      below = best;
      belowAt = bestAt;
    }
    return sum;
  }

  /** Recomputes `pageFree` and `liveFree` from the per-node figures (O(page sizes x nodes)). */
  private retotal(): void {
    const count = this.nodes.length;
    for (let k = 0; k < this.pageSizes.length; k++) {
      let sum = 0;
      let live = 0;
      for (let i = 0; i < count; i++) {
        if (!this.shape.counted[i]) continue;
        const f = this.nodePageFree[k * count + i] as number;
        sum += f;
        if ((this.nodeFreePus[i] as number) > 0) live += f;
      }
      this.pageFree[k] = sum;
      this.liveFree[k] = live;
    }
  }

  /** Marks node `i` for a rebuild of its free lists. */
  private touch(i: number): void {
    if (this.dirty[i] === 0) {
      this.dirty[i] = 1;
      this.dirtyCount++;
    }
  }

  /** Recomputes the loads of the packages touched since the last call from their used-PU counts. */
  private reload(): void {
    const { pkgIds, pkgTotal } = this.shape;
    for (let k = 0; k < pkgIds.length; k++) {
      if (this.pkgTouched[k] === 0) continue;
      this.pkgTouched[k] = 0;
      const total = pkgTotal[k] as number;
      this.packageLoad.set(pkgIds[k] as number, total === 0 ? 0 : (this.pkgUsed[k] as number) / total);
    }
  }

  /** Changes a CPU's holders (`held`) or tenants by `sign`, keeping the per-node and per-package counts. */
  private hold(c: number, sign: 1 | -1, shared = false): void {
    if (c < 0 || c >= this.holders.length) return;
    const wasFree = this.holders[c] === 0 && this.tenants[c] === 0;
    const wasHeld = this.holders[c] !== 0;
    if (shared) this.tenants[c] = (this.tenants[c] as number) + sign;
    else this.holders[c] = (this.holders[c] as number) + sign;
    const nowFree = this.holders[c] === 0 && this.tenants[c] === 0;
    const nowHeld = this.holders[c] !== 0;
    const i = this.shape.puIdx[c] as number;
    if (i < 0) return;
    if (wasFree !== nowFree) {
      const k = this.shape.puPkgIdx[c] as number;
      if (k >= 0) {
        this.pkgUsed[k] = (this.pkgUsed[k] as number) + (nowFree ? -1 : 1);
        this.pkgTouched[k] = 1;
      }
      if (this.shape.counted[i]) {
        const d = nowFree ? 1 : -1;
        this.freeSlots += d;
        this.nodeFreePus[i] = (this.nodeFreePus[i] as number) + d;
      }
    }
    if (wasFree !== nowFree || wasHeld !== nowHeld || shared) this.touch(i);
  }

  /** Adds (sign 1) or removes (-1) an allocation's resources, and marks what changed. */
  private mark(a: Allocation, sign: 1 | -1): void {
    for (const n of this.nodesOfCpus(a.cpus)) this.vcpusByNode.set(n, (this.vcpusByNode.get(n) ?? 0) + sign * a.cpus.length);
    for (const c of a.cpus) this.hold(c, sign, !a.exclusive);
    for (const c of a.heldCpus) this.hold(c, sign);
    for (const c of a.emulatorCpus) this.hold(c, sign);
    if (!this.bulk) this.reload();
    const count = this.nodes.length;
    for (const m of a.memory) {
      const i = this.shape.pos.get(m.node);
      if (i === undefined) continue;
      let used = this.memUsed.get(m.pageSize);
      if (!used) this.memUsed.set(m.pageSize, (used = new Float64Array(count)));
      used[i] = (used[i] as number) + sign * m.bytes;
      this.touch(i);
      const k = this.pageSizes.indexOf(m.pageSize);
      if (k >= 0 && this.shape.counted[i]) {
        this.nodePageFree[k * count + i] = this.freeAt(this.nodes[i] as LedgerNode, m.pageSize);
        this.sumBytes(i);
      }
    }
    if (!this.bulk) this.retotal();
    if (a.devices.length > 0) {
      for (const d of a.devices) {
        const k = (this.takenDevices.get(d) ?? 0) + sign;
        if (k > 0) this.takenDevices.set(d, k);
        else this.takenDevices.delete(d);
      }
      this.devicesDirty = true;
    }
    this.changed();
  }

  /** Drops what is derived from the allocation list (state snapshot, owners, memos). */
  private changed(): void {
    this.version++;
    this.snapshot = null;
    if (this.modeCache.size > 0) this.modeCache.clear();
    if (this.memCache.size > 0) this.memCache.clear();
    this.#owner = null;
    if (this.memo.size > 0) this.memo.clear();
  }

  /** The distinct nodes of some CPUs, in first-seen order (a VM spans few nodes). */
  private nodesOfCpus(cpus: readonly number[]): number[] {
    const out = this.seenNodes;
    out.length = 0;
    for (const c of cpus) {
      const n = c >= 0 && c < this.shape.puNodeId.length ? (this.shape.puNodeId[c] as number) : -1;
      if (n >= 0 && !out.includes(n)) out.push(n);
    }
    return out;
  }

  private refresh(): void {
    if (this.dirtyCount > 0) {
      for (let i = 0; i < this.nodes.length; i++) {
        if (this.dirty[i] === 0) continue;
        this.dirty[i] = 0;
        this.rebuildNode(this.nodes[i] as LedgerNode);
      }
      this.dirtyCount = 0;
    }
    if (this.devicesDirty) this.rebuildDevices();
  }

  /**
   * Rebuilds a node's free lists in place (the arrays and maps are reused: nothing outside the
   * ledger may keep them across a change; decisions are dropped with the memo on every change).
   */
  private rebuildNode(n: LedgerNode): void {
    const wholeCores = n.wholeCores;
    const freePus = n.freePus;
    wholeCores.length = 0;
    freePus.length = 0;
    const cores = n.cores;
    const holders = this.holders;
    const tenants = this.tenants;
    for (let c = 0; c < cores.length; c++) {
      const pus = cores[c] as readonly number[];
      let whole = true;
      for (let j = 0; j < pus.length; j++) {
        const p = pus[j] as number;
        if (holders[p] === 0 && tenants[p] === 0) freePus.push(p);
        else whole = false;
      }
      if (whole) wholeCores.push(pus as number[]);
    }
    const memory = n.memory;
    const sizes = n.shape.poolSizes;
    for (let i = 0; i < sizes.length; i++) memory.set(sizes[i] as number, this.freeAt(n, sizes[i] as number));
    memory.set(4096, this.freeAt(n, 4096));
    n.dropShared();
  }

  /** Bytes of one page size granted on a node. */
  private used(n: LedgerNode, pageSize: number): number {
    return this.memUsed.get(pageSize)?.[n.pos] ?? 0;
  }

  /** Free bytes of one page size on a node, as the capacity view reports them (the last pool of that size wins). */
  private freeAt(n: LedgerNode, pageSize: number): number {
    if (pageSize === 4096) {
      const regular = n.totalMemory - n.shape.poolBytes - n.reserved - this.used(n, 4096);
      return Math.max(0, Math.floor(regular / 4096) * 4096);
    }
    let free = 0;
    const { poolSizes, poolTotals } = n.shape;
    for (let i = 0; i < poolSizes.length; i++) {
      const size = poolSizes[i] as number;
      if (size === pageSize) free = Math.max(0, size * (poolTotals[i] as number) - this.used(n, size));
    }
    return free;
  }

  private rebuildDevices(): void {
    this.devicesDirty = false;
    for (const n of this.nodes) n.devices = [];
    const slots = topologyIndex(this.topology).slots;
    const taken = this.takenDevices;
    const takenPf = new Set<string>();
    if (taken.size > 0) for (const s of slots) if (s.physfn && taken.has(s.address)) takenPf.add(s.physfn);
    const free = new Map<string, DeviceSlot>();
    const unplaced: DeviceSlot[] = [];
    for (const s of slots) {
      if (taken.has(s.address)) continue;
      if (s.physfn === null && takenPf.has(s.address)) continue; // a VF of it is in use
      if (s.physfn !== null && taken.has(s.physfn)) continue; // its PF is in use whole
      free.set(s.address, s);
      const n = s.node === null ? undefined : (this.byId.get(s.node) as LedgerNode | undefined);
      if (n) n.devices.push(s);
      else unplaced.push(s);
    }
    this.freeDevices = free;
    this.unplacedDevices = unplaced;
  }
}
