/**
 * One host's engine state kept incrementally: a `HostState` whose allocation list is updated in
 * place, and a capacity view (the engine's `HostCapacity` interface) that is updated per node
 * instead of being rebuilt from every allocation. Adding or releasing a VM marks the nodes it
 * touches; the next read rebuilds only those nodes' free lists (whole cores, free PUs, memory per
 * page size) and the package loads, in O(PUs of the touched nodes). The result equals
 * `hostCapacity(state)` field for field (tested): same node order, cores in topology order, free
 * PUs grouped by core, memory maps in the same key order, devices in address order.
 *
 * Limits: dedicated-vCPU allocations only (fleet mode maps every trace VM to dedicated vCPUs);
 * allocation order in `state.allocations` is not kept sorted by name (nothing in the engine's
 * decision reads that order for dedicated VMs).
 */
import type { DeviceSlot, HostCapacity, NodeCapacity } from '../../placement/capacity.js';
import { type Allocation, type HostState, createHostState } from '../../placement/state.js';
import { nodesOfCpus, puNodes } from '../../placement/policies/baselines/libxl.js';
import { topologyIndex } from '../../placement/topology-index.js';
import type { Topology } from '../../topology/model.js';

/** A node's capacity, rebuilt in place when the node changes. */
class LedgerNode implements NodeCapacity {
  wholeCores: number[][] = [];
  freePus: number[] = [];
  memory = new Map<number, number>();
  devices: DeviceSlot[] = [];
  readonly totalPus: number;
  readonly totalCores: number;
  /** The node's huge-page pools as plain arrays (the topology's are frozen, and slower to iterate), and the bytes they set aside. */
  readonly poolSizes: number[];
  readonly poolTotals: number[];
  readonly poolBytes: number;
  /** Position in the ledger's node list, and bytes the host reserve keeps on the node (set by the ledger). */
  pos = 0;
  reserved = 0;
  constructor(
    readonly id: number,
    readonly kind: NodeCapacity['kind'],
    readonly tier: NodeCapacity['tier'],
    readonly pkg: number | null,
    readonly cores: readonly number[][],
    readonly totalMemory: number,
    readonly hugePages: Topology['nodes'][number]['hugePages'],
    private readonly status: Uint8Array,
  ) {
    let pus = 0;
    for (const c of cores) pus += c.length;
    this.totalPus = pus;
    this.totalCores = cores.length;
    this.poolSizes = hugePages.map((p) => p.pageSize);
    this.poolTotals = hugePages.map((p) => p.total);
    let bytes = 0;
    for (const p of hugePages) bytes += p.pageSize * p.total;
    this.poolBytes = bytes;
  }
  get package(): number | null {
    return this.pkg;
  }
  get sharedPus(): { cpu: number; tenants: number }[] {
    const out: { cpu: number; tenants: number }[] = [];
    for (const pus of this.cores) for (const p of pus) if (this.status[p] !== 1) out.push({ cpu: p, tenants: 0 });
    return out;
  }
}

/** A host's state and capacity view, updated incrementally. */
export class HostLedger implements HostCapacity {
  readonly state: HostState;
  readonly nodes: LedgerNode[];
  readonly byId: Map<number, NodeCapacity>;
  readonly index: Map<number, number>;
  unplacedDevices: DeviceSlot[] = [];
  freeDevices = new Map<string, DeviceSlot>();
  readonly packageLoad = new Map<number, number>();
  /** vCPUs of the placed VMs per node they have vCPUs on (libxl's count), kept on every change. */
  readonly vcpusByNode = new Map<number, number>();
  readonly pageSizes: number[];
  /** Per-host memo of decisions on the current state (e.g. judgements by request shape); cleared on every change. */
  readonly memo = new Map<string, unknown>();
  /**
   * Free PUs on the DRAM nodes that have CPUs (the nodes a DRAM request may use), kept on every
   * change without a rebuild: an upper bound on the vCPU slots any dedicated placement can take.
   */
  freeSlots = 0;
  /**
   * Free bytes per page size (`pageSizes` order) summed over the same nodes, kept on every change:
   * a placement takes all its memory at one page size, so it needs one entry that reaches it.
   */
  readonly pageFree: Float64Array;
  /**
   * The same over the nodes that still have a free PU: for choosers whose memory follows the vCPUs
   * (node sets judged by the context's evaluate, where every node of a set runs at least one vCPU).
   */
  readonly liveFree: Float64Array;
  /** Free PUs per node (node index), counted nodes only. */
  private readonly nodeFreePus: Int32Array;
  /** Per page size and node (`pageSizes` index * nodes + node index): free bytes, as the capacity view reports. */
  private readonly nodePageFree: Float64Array;
  private readonly nodePos = new Map<number, number>();
  private readonly counted: boolean[];
  private readonly topo: Topology;
  private readonly status: Uint8Array;
  /** Node index of each OS CPU (-1: none). */
  private readonly puIdx: Int32Array;
  private readonly puPkg: Map<number, number>;
  /** Bytes granted per page size and node (`pageSizes` index * nodes + node index). */
  private readonly memUsed: Float64Array;
  private readonly reserveMem = new Map<number, number>();
  private readonly taken = new Set<string>();
  private readonly slot = new Map<string, number>();
  /** Nodes (by index) whose free lists need a rebuild, and how many. */
  private readonly dirty: Uint8Array;
  private dirtyCount = 0;
  private readonly seenNodes: number[] = [];
  /** Package ids, in the topology index's order (the order of `packageLoad`'s keys). */
  private readonly pkgIds: number[];
  /** Dense package index of each OS CPU (-1: none). */
  private readonly puPkgIdx: Int32Array;
  /** PUs per package, and used (non-free) PUs per package over the nodes' cores, kept on every change. */
  private readonly pkgTotal: Float64Array;
  private readonly pkgUsed: Float64Array;
  /** Packages whose load changed since the last `reload` (dense indexes). */
  private readonly pkgTouched: Uint8Array;
  private devicesDirty = true;

  constructor(topology: Topology) {
    this.topo = topology;
    this.state = createHostState(topology);
    const tix = topologyIndex(topology);
    this.index = tix.index;
    this.puPkg = tix.puPackage;
    this.pkgIds = [...tix.packagePus.keys()];
    this.pkgTotal = Float64Array.from(this.pkgIds, (pkg) => tix.packagePus.get(pkg) ?? 0);
    this.pkgUsed = new Float64Array(this.pkgIds.length);
    this.pkgTouched = new Uint8Array(this.pkgIds.length);
    this.puPkgIdx = new Int32Array(tix.maxOs + 1).fill(-1);
    const dense = new Map(this.pkgIds.map((pkg, i) => [pkg, i]));
    for (const [pu, pkg] of tix.puPackage) if (pu <= tix.maxOs) this.puPkgIdx[pu] = dense.get(pkg) ?? -1;
    this.status = new Uint8Array(tix.maxOs + 1);
    for (const c of this.state.reserve.cpus) if (c <= tix.maxOs) this.status[c] = 1;
    for (const r of this.state.reserve.memory) this.reserveMem.set(r.node, (this.reserveMem.get(r.node) ?? 0) + r.bytes);
    const sizes = new Set<number>([4096]);
    this.nodes = topology.nodes.map((n) => {
      for (const pool of n.hugePages) if (pool.total > 0) sizes.add(pool.pageSize);
      return new LedgerNode(n.id, n.kind, n.tier, tix.nodePackage.get(n.id) ?? null, tix.nodeCores.get(n.id) ?? [], n.memory.total, n.hugePages, this.status);
    });
    this.pageSizes = [...sizes].sort((a, b) => b - a);
    this.byId = new Map(this.nodes.map((n) => [n.id, n]));
    this.puIdx = new Int32Array(tix.maxOs + 1).fill(-1);
    this.nodes.forEach((n, i) => {
      for (const pus of n.cores) for (const p of pus) if (p <= tix.maxOs) this.puIdx[p] = i;
    });
    this.dirty = new Uint8Array(this.nodes.length).fill(1);
    this.dirtyCount = this.nodes.length;
    this.nodes.forEach((n, i) => {
      this.nodePos.set(n.id, i);
      n.pos = i;
      n.reserved = this.reserveMem.get(n.id) ?? 0;
    });
    for (const n of this.nodes) {
      for (const pus of n.cores) {
        for (const p of pus) {
          const k = this.status[p] === 0 || p > tix.maxOs ? -1 : (this.puPkgIdx[p] as number);
          if (k >= 0) this.pkgUsed[k] = (this.pkgUsed[k] as number) + 1;
        }
      }
    }
    this.pkgTouched.fill(1);
    this.reload();
    this.counted = this.nodes.map((n) => n.totalPus > 0 && n.tier === 'dram');
    this.memUsed = new Float64Array(this.pageSizes.length * this.nodes.length);
    this.pageFree = new Float64Array(this.pageSizes.length);
    this.liveFree = new Float64Array(this.pageSizes.length);
    this.nodePageFree = new Float64Array(this.pageSizes.length * this.nodes.length);
    this.nodeFreePus = new Int32Array(this.nodes.length);
    this.nodes.forEach((n, i) => {
      if (!this.counted[i]) return;
      for (const pus of n.cores) for (const p of pus) if (this.status[p] === 0) this.nodeFreePus[i] = (this.nodeFreePus[i] as number) + 1;
      this.freeSlots += this.nodeFreePus[i] as number;
      this.pageSizes.forEach((size, k) => (this.nodePageFree[k * this.nodes.length + i] = this.freeAt(n, size)));
    });
    this.retotal();
    this.refresh();
  }

  /** Recomputes `pageFree` and `liveFree` from the per-node figures (O(page sizes x nodes)). */
  private retotal(): void {
    const count = this.nodes.length;
    for (let k = 0; k < this.pageSizes.length; k++) {
      let sum = 0;
      let live = 0;
      for (let i = 0; i < count; i++) {
        if (!this.counted[i]) continue;
        const f = this.nodePageFree[k * count + i] as number;
        sum += f;
        if ((this.nodeFreePus[i] as number) > 0) live += f;
      }
      this.pageFree[k] = sum;
      this.liveFree[k] = live;
    }
  }

  /**
   * A necessary condition for any dedicated DRAM placement of `vcpus` vCPU slots and `memory` bytes
   * at `pageSize` (`auto`: any page size dividing `memory`, as the engine tries them): enough free
   * PUs, and one page size with enough free bytes over all nodes together. With `sets` (choosers
   * whose memory follows the vCPUs: every node of a set runs at least one vCPU) only nodes with a
   * free PU count, and at most `vcpus` of them (the largest). O(page sizes x nodes); reads no
   * capacity view (no rebuild).
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

  /** Owner of each CPU that is not free (built on each read; only explicit CPUs read it). */
  get cpuOwner(): Map<number, string> {
    const owner = new Map<number, string>();
    for (const c of this.state.reserve.cpus) owner.set(c, 'host reserve');
    for (const a of this.state.allocations) {
      for (const c of a.cpus) owner.set(c, a.name);
      for (const c of a.heldCpus) owner.set(c, a.name);
      for (const c of a.emulatorCpus) owner.set(c, a.name);
    }
    return owner;
  }

  /** The capacity view, brought up to date. */
  capacity(): HostCapacity {
    this.refresh();
    return this;
  }

  /** Records an allocation (dedicated vCPUs only). */
  add(a: Allocation): void {
    if (!a.exclusive) throw new Error(`internal: fleet ledger holds dedicated VMs only (${a.name} is shared)`);
    if (this.slot.has(a.name)) throw new Error(`internal: ${a.name} is already on this host`);
    this.slot.set(a.name, this.state.allocations.length);
    this.state.allocations.push(a);
    this.mark(a, 1);
  }

  /** Releases an allocation by name. */
  release(name: string): void {
    const i = this.slot.get(name);
    if (i === undefined) throw new Error(`internal: ${name} is not on this host`);
    const list = this.state.allocations;
    const a = list[i] as Allocation;
    const last = list.pop() as Allocation;
    if (last !== a) {
      list[i] = last;
      this.slot.set(last.name, i);
    }
    this.slot.delete(name);
    this.mark(a, -1);
  }

  /** Adds (or removes) a VM's vCPUs on each node its vCPUs sit on, as libxl counts them. */
  private countVcpus(a: Allocation, sign: 1 | -1): void {
    for (const n of nodesOfCpus(a.cpus, puNodes(this.topo), this.seenNodes)) this.vcpusByNode.set(n, (this.vcpusByNode.get(n) ?? 0) + sign * a.cpus.length);
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
    for (let k = 0; k < this.pkgIds.length; k++) {
      if (this.pkgTouched[k] === 0) continue;
      this.pkgTouched[k] = 0;
      const total = this.pkgTotal[k] as number;
      this.packageLoad.set(this.pkgIds[k] as number, total === 0 ? 0 : (this.pkgUsed[k] as number) / total);
    }
  }

  private hold(c: number, st: number): void {
    if (c >= this.status.length) return;
    const was = this.status[c] as number;
    this.status[c] = st;
    const i = this.puIdx[c] as number;
    if (i >= 0) {
      const k = (was === 0) === (st === 0) ? -1 : (this.puPkgIdx[c] as number);
      if (k >= 0) {
        this.pkgUsed[k] = (this.pkgUsed[k] as number) + (st === 0 ? -1 : 1);
        this.pkgTouched[k] = 1;
      }
      this.touch(i);
      if (this.counted[i]) {
        const d = st === 1 ? -1 : 1;
        this.freeSlots += d;
        this.nodeFreePus[i] = (this.nodeFreePus[i] as number) + d;
      }
    }
  }

  private mark(a: Allocation, sign: 1 | -1): void {
    const st = sign === 1 ? 1 : 0;
    this.countVcpus(a, sign);
    for (const c of a.cpus) this.hold(c, st);
    for (const c of a.heldCpus) this.hold(c, st);
    for (const c of a.emulatorCpus) this.hold(c, st);
    this.reload();
    const count = this.nodes.length;
    for (const m of a.memory) {
      const i = this.nodePos.get(m.node);
      if (i === undefined) continue;
      const k = this.pageSizes.indexOf(m.pageSize);
      if (k < 0) throw new Error(`internal: ${a.name} has ${m.pageSize}-byte pages, which this host has no pool of`);
      const at = k * count + i;
      this.memUsed[at] = (this.memUsed[at] as number) + sign * m.bytes;
      const n = this.nodes[i] as LedgerNode;
      this.touch(i);
      if (this.counted[i]) this.nodePageFree[at] = this.freeAt(n, m.pageSize);
    }
    this.retotal();
    if (a.devices.length > 0) {
      for (const d of a.devices) {
        if (sign === 1) this.taken.add(d);
        else this.taken.delete(d);
      }
      this.devicesDirty = true;
    }
    if (this.memo.size > 0) this.memo.clear();
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
   * ledger keeps them across a change, since judgements are dropped with the memo on every change).
   */
  private rebuildNode(n: LedgerNode): void {
    const wholeCores = n.wholeCores;
    const freePus = n.freePus;
    wholeCores.length = 0;
    freePus.length = 0;
    const cores = n.cores;
    for (let c = 0; c < cores.length; c++) {
      const pus = cores[c] as readonly number[];
      let whole = true;
      for (let j = 0; j < pus.length; j++) {
        const p = pus[j] as number;
        if (this.status[p] === 0) freePus.push(p);
        else whole = false;
      }
      if (whole) wholeCores.push(pus as number[]);
    }
    const memory = n.memory;
    for (let i = 0; i < n.poolSizes.length; i++) memory.set(n.poolSizes[i] as number, this.freeAt(n, n.poolSizes[i] as number));
    memory.set(4096, this.freeAt(n, 4096));
  }

  /** Free bytes of one page size on a node, as the capacity view reports them (the last pool of that size wins). */
  /** Bytes of one page size granted on a node. */
  private used(n: LedgerNode, pageSize: number): number {
    const k = this.pageSizes.indexOf(pageSize);
    return k < 0 ? 0 : (this.memUsed[k * this.nodes.length + n.pos] as number);
  }

  private freeAt(n: LedgerNode, pageSize: number): number {
    if (pageSize === 4096) {
      const regular = n.totalMemory - n.poolBytes - n.reserved - this.used(n, 4096);
      return Math.max(0, Math.floor(regular / 4096) * 4096);
    }
    let free = 0;
    for (let i = 0; i < n.poolSizes.length; i++) {
      const size = n.poolSizes[i] as number;
      if (size === pageSize) free = Math.max(0, size * (n.poolTotals[i] as number) - this.used(n, size));
    }
    return free;
  }

  private rebuildDevices(): void {
    this.devicesDirty = false;
    for (const n of this.nodes) n.devices = [];
    const slots = topologyIndex(this.topo).slots;
    const takenPf = new Set<string>();
    if (this.taken.size > 0) for (const s of slots) if (s.physfn && this.taken.has(s.address)) takenPf.add(s.physfn);
    const free = new Map<string, DeviceSlot>();
    const unplaced: DeviceSlot[] = [];
    for (const s of slots) {
      if (this.taken.has(s.address)) continue;
      if (s.physfn === null && takenPf.has(s.address)) continue;
      if (s.physfn !== null && this.taken.has(s.physfn)) continue;
      free.set(s.address, s);
      const n = s.node === null ? undefined : (this.byId.get(s.node) as LedgerNode | undefined);
      if (n) n.devices.push(s);
      else unplaced.push(s);
    }
    this.freeDevices = free;
    this.unplacedDevices = unplaced;
  }
}
