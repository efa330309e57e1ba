/**
 * The fleet's state as the simulator tracks it: per host and per CPU node, free vCPU slots (one per
 * usable hardware thread, after the engine's default host reserve) and free memory in bytes (all page
 * sizes together), kept in flat arrays, plus the host indexes (bucket-index.ts) refreshed on every
 * change. Host-level policies decide on this model alone; engine policies use it as a cheap bound to
 * pick candidate hosts and keep one engine `HostState` per host for the real decision.
 */
import { latencyDistance } from '../../cost/model.js';
import type { Topology } from '../../topology/model.js';
import type { HostCapacity } from '../../placement/capacity.js';
import { type HostState, defaultReserve } from '../../placement/state.js';
import { HostLedger } from '../../placement/ledger.js';
import { BucketIndex, MaxTree } from './bucket-index.js';

const GIB = 1024 ** 3;

/**
 * Bytes per vCPU slot of the memory-aware indexes (`FleetState.byFit`), ascending: a request uses
 * the largest at or below its own ratio, so a host's key overstates what it can take by at most a
 * factor of two in memory (the last entry: any larger ratio).
 */
export const FIT_RATIOS: readonly number[] = [0.5 * GIB, 1 * GIB, 2 * GIB, 4 * GIB, 8 * GIB, 16 * GIB];
const FIT_INVERSE = new Float64Array(FIT_RATIOS.map((r) => 1 / r));

/** A host group after its topology was loaded. */
export interface FleetGroup {
  spec: string;
  count: number;
  topology: Topology;
}

/** One host's part of a placement: global node indexes with vCPUs and bytes on each. */
export interface FleetShare {
  host: number;
  nodes: number[];
  cpu: number[];
  mem: number[];
  /** The VM's name on the host's engine state (engine policies only). */
  engineName: string | null;
}

interface GroupModel {
  topology: Topology;
  /** Node ids with usable CPUs, ascending. */
  nodeIds: number[];
  capCpu: number[];
  capMem: number[];
  /** OS CPU -> position in nodeIds. */
  puNode: Map<number, number>;
  /** Node id -> position in nodeIds. */
  nodePos: Map<number, number>;
  distance: (a: number, b: number) => number;
  /** Latency in SLIT units: measured where the host is calibrated, else `distance` (cost/model.ts latencyDistance). */
  latency: (a: number, b: number) => number;
  /** Scratch per node position for `shareOf` (all zero between calls). */
  scratchCpu: Float64Array;
  scratchMem: Float64Array;
  scratchSeen: Uint8Array;
}

/** Mutable fleet state with indexes. */
export class FleetState {
  readonly hosts: number;
  readonly groups: readonly FleetGroup[];
  /** Group of each host. */
  readonly groupOf: Int32Array;
  /** First global node index of each host, and its node count. */
  readonly nodeBase: Int32Array;
  readonly nodeCount: Int32Array;
  readonly freeCpu: Float64Array;
  readonly freeMem: Float64Array;
  readonly capCpu: Float64Array;
  readonly capMem: Float64Array;
  readonly totalCpu: number;
  readonly totalMem: number;
  /** Hosts by the free vCPU slots of their emptiest node / by total free slots. */
  readonly byNode: BucketIndex;
  /**
   * Memory-aware best-fit indexes, one per ratio of `FIT_RATIOS`: a host's key is the largest, over
   * its nodes, of min(free slots, free bytes / ratio) (floored). Any node that takes (cpu, mem) has a
   * key of at least floor(min(cpu, mem / ratio)), so scanning from there misses no host; with a ratio
   * at or below the request's bytes per vCPU the key also sees memory (see `fitScan`).
   */
  readonly byFit: readonly BucketIndex[];
  readonly byTotal: BucketIndex;
  /** Leftmost-fit trees: best node's (slots, bytes) and host totals. */
  readonly nodeTree: MaxTree;
  readonly totalTree: MaxTree;
  /**
   * Engine policies' leftmost-fit tree over the host ledgers: free PUs of the host, and the free
   * bytes of its best single page size (all nodes together). Both are necessary for any engine
   * placement on the host (a placement takes all its memory at one page size), so it prunes hosts
   * whose free memory is split over page sizes. Kept by `repage` (engine policies call it).
   */
  readonly pageTree: MaxTree;
  /** The same with the memory of nodes that have a free PU only (`HostLedger.liveFree`), for choosers that judge node sets. */
  readonly liveTree: MaxTree;
  /** Leftmost-fit tree over global nodes (free slots, free bytes of each node): exact at the leaves. */
  readonly nodeFit: MaxTree;
  /** Host of each global node. */
  readonly hostOfNode: Int32Array;
  private readonly models: GroupModel[];
  private readonly fitScratch = new Float64Array(FIT_RATIOS.length);
  private readonly ledgers: (HostLedger | null)[];

  constructor(groups: readonly FleetGroup[]) {
    this.groups = groups;
    this.models = groups.map((g) => groupModel(g.topology));
    this.hosts = groups.reduce((s, g) => s + g.count, 0);
    this.groupOf = new Int32Array(this.hosts);
    this.nodeBase = new Int32Array(this.hosts);
    this.nodeCount = new Int32Array(this.hosts);
    let h = 0;
    let nodes = 0;
    groups.forEach((g, gi) => {
      const m = this.models[gi] as GroupModel;
      for (let i = 0; i < g.count; i++, h++) {
        this.groupOf[h] = gi;
        this.nodeBase[h] = nodes;
        this.nodeCount[h] = m.nodeIds.length;
        nodes += m.nodeIds.length;
      }
    });
    this.freeCpu = new Float64Array(nodes);
    this.freeMem = new Float64Array(nodes);
    this.capCpu = new Float64Array(nodes);
    this.capMem = new Float64Array(nodes);
    for (let x = 0; x < this.hosts; x++) {
      const m = this.model(x);
      const base = this.nodeBase[x] as number;
      m.nodeIds.forEach((_, i) => {
        this.capCpu[base + i] = m.capCpu[i] as number;
        this.capMem[base + i] = m.capMem[i] as number;
      });
    }
    this.freeCpu.set(this.capCpu);
    this.freeMem.set(this.capMem);
    let tc = 0;
    let tm = 0;
    for (let i = 0; i < nodes; i++) {
      tc += this.capCpu[i] as number;
      tm += this.capMem[i] as number;
    }
    this.totalCpu = tc;
    this.totalMem = tm;
    this.nodeFit = new MaxTree(nodes);
    this.hostOfNode = new Int32Array(nodes);
    for (let x = 0; x < this.hosts; x++) {
      const base = this.nodeBase[x] as number;
      for (let i = 0; i < (this.nodeCount[x] as number); i++) {
        this.hostOfNode[base + i] = x;
        this.nodeFit.set(base + i, this.capCpu[base + i] as number, this.capMem[base + i] as number);
      }
    }
    this.byNode = new BucketIndex(this.hosts);
    this.byTotal = new BucketIndex(this.hosts);
    this.byFit = FIT_RATIOS.map(() => new BucketIndex(this.hosts));
    this.nodeTree = new MaxTree(this.hosts);
    this.totalTree = new MaxTree(this.hosts);
    this.ledgers = new Array<HostLedger | null>(this.hosts).fill(null);
    for (let x = 0; x < this.hosts; x++) this.reindex(x);
    this.pageTree = new MaxTree(this.hosts);
    this.liveTree = new MaxTree(this.hosts);
    const fresh = groups.map((g) => {
      const l = new HostLedger(g.topology);
      return [l.freeSlots, l.maxPageFree(), l.maxPageFree(true)] as const;
    });
    for (let x = 0; x < this.hosts; x++) {
      const [c, m, live] = fresh[this.groupOf[x] as number] as readonly [number, number, number];
      this.pageTree.set(x, c, m);
      this.liveTree.set(x, c, live);
    }
  }

  /** The topology of a host. */
  topology(host: number): Topology {
    return this.model(host).topology;
  }

  /** Host node id of a global node index. */
  nodeId(host: number, global: number): number {
    return this.model(host).nodeIds[global - (this.nodeBase[host] as number)] as number;
  }

  /** SLIT distance between two node ids of a host. */
  distance(host: number, a: number, b: number): number {
    return this.model(host).distance(a, b);
  }

  /** Latency between two node ids of a host in SLIT units: the measured ratio x 10 where the host is calibrated, else the SLIT distance. */
  latencyDistance(host: number, a: number, b: number): number {
    return this.model(host).latency(a, b);
  }

  /** The engine's state and capacity view of a host, kept incrementally (created on first use). */
  ledger(host: number): HostLedger {
    let l = this.ledgers[host];
    if (!l) {
      l = new HostLedger(this.topology(host));
      this.ledgers[host] = l;
    }
    return l;
  }

  /** Refreshes a host's `pageTree` and `liveTree` entries from its ledger (after the ledger changed). */
  repage(host: number): void {
    const l = this.ledger(host);
    this.pageTree.set(host, l.freeSlots, l.maxPageFree());
    this.liveTree.set(host, l.freeSlots, l.maxPageFree(true));
  }

  /** The engine's state of a host (its allocation list is updated in place). */
  engineState(host: number): HostState {
    return this.ledger(host).state;
  }

  /** The engine's capacity view of a host's current state. */
  capacity(host: number): HostCapacity {
    return this.ledger(host).capacity();
  }

  /** The share a placement on `host` takes, from the placement's CPUs and memory grants. */
  shareOf(host: number, cpus: readonly number[], memory: readonly { node: number; bytes: number }[], engineName: string | null): FleetShare {
    const m = this.model(host);
    const base = this.nodeBase[host] as number;
    // Scratch per group model (reset below): a node is in the share when a CPU or a grant names it.
    const { scratchCpu: cpu, scratchMem: mem, scratchSeen: seen } = m;
    for (const c of cpus) {
      const p = m.puNode.get(c);
      if (p !== undefined) {
        cpu[p] = (cpu[p] as number) + 1;
        seen[p] = 1;
      }
    }
    for (const g of memory) {
      const p = m.nodePos.get(g.node);
      if (p !== undefined) {
        mem[p] = (mem[p] as number) + g.bytes;
        seen[p] = 1;
      }
    }
    let k = 0;
    for (let p = 0; p < seen.length; p++) k += seen[p] as number;
    const share: FleetShare = { host, nodes: new Array<number>(k), cpu: new Array<number>(k), mem: new Array<number>(k), engineName };
    let at = 0;
    for (let p = 0; p < seen.length; p++) {
      if (seen[p] === 0) continue;
      share.nodes[at] = base + p;
      share.cpu[at] = cpu[p] as number;
      share.mem[at] = mem[p] as number;
      at++;
      cpu[p] = 0;
      mem[p] = 0;
      seen[p] = 0;
    }
    return share;
  }

  /** Takes (sign -1) or returns (sign +1) a share, and refreshes the host's index entries. */
  apply(share: FleetShare, sign: 1 | -1): void {
    for (let i = 0; i < share.nodes.length; i++) {
      const n = share.nodes[i] as number;
      this.freeCpu[n] = (this.freeCpu[n] as number) + sign * (share.cpu[i] as number);
      this.freeMem[n] = (this.freeMem[n] as number) + sign * (share.mem[i] as number);
      this.nodeFit.set(n, this.freeCpu[n] as number, this.freeMem[n] as number);
    }
    this.reindex(share.host);
  }

  /**
   * The lowest host id >= `from` with one node whose free slots and bytes both reach (cpu, mem), or
   * -1: the same host as walking `nodeTree` and checking each host's nodes, without the walk's false
   * positives (the node tree's leaves are single nodes).
   */
  firstFitHost(from: number, cpu: number, mem: number): number {
    if (from >= this.hosts) return -1;
    const n = this.nodeFit.leftmost(this.nodeBase[from] as number, cpu, mem);
    return n < 0 ? -1 : (this.hostOfNode[n] as number);
  }

  /**
   * Visits hosts in memory-aware best-fit order for (cpu, mem) until `visit` returns false: the
   * index of the largest ratio at or below the request's bytes per slot (else the smallest), from
   * the lowest key a fitting host can have. Every host with a node that fits is visited unless the
   * visit stops first; hosts without one may be visited too (the caller checks).
   */
  fitScan(cpu: number, mem: number, visit: (host: number) => boolean): void {
    const per = cpu > 0 ? mem / cpu : Number.POSITIVE_INFINITY;
    let r = 0;
    while (r + 1 < FIT_RATIOS.length && (FIT_RATIOS[r + 1] as number) <= per) r++;
    (this.byFit[r] as BucketIndex).scan(Math.floor(Math.min(cpu, mem / (FIT_RATIOS[r] as number))), visit);
  }

  /** Free vCPU slots and bytes of a host. */
  hostFree(host: number): { cpu: number; mem: number } {
    let cpu = 0;
    let mem = 0;
    const base = this.nodeBase[host] as number;
    for (let i = 0; i < (this.nodeCount[host] as number); i++) {
      cpu += this.freeCpu[base + i] as number;
      mem += this.freeMem[base + i] as number;
    }
    return { cpu, mem };
  }

  private reindex(host: number): void {
    const base = this.nodeBase[host] as number;
    let bestCpu = 0;
    let bestMem = 0;
    let totalCpu = 0;
    let totalMem = 0;
    const fit = this.fitScratch;
    fit.fill(0);
    for (let i = 0; i < (this.nodeCount[host] as number); i++) {
      const c = this.freeCpu[base + i] as number;
      const m = this.freeMem[base + i] as number;
      // Ratios are powers of two: the product is exact, as the division in `fitScan`.
      for (let r = 0; r < FIT_INVERSE.length; r++) {
        const k = Math.min(c, m * (FIT_INVERSE[r] as number));
        if (k > (fit[r] as number)) fit[r] = k;
      }
      if (c > bestCpu) bestCpu = c;
      if (m > bestMem) bestMem = m;
      totalCpu += c;
      totalMem += m;
    }
    this.byNode.set(host, Math.floor(bestCpu));
    this.byTotal.set(host, Math.floor(totalCpu));
    for (let r = 0; r < FIT_RATIOS.length; r++) (this.byFit[r] as BucketIndex).set(host, Math.floor(fit[r] as number));
    this.nodeTree.set(host, bestCpu, bestMem);
    this.totalTree.set(host, totalCpu, totalMem);
  }

  private model(host: number): GroupModel {
    return this.models[this.groupOf[host] as number] as GroupModel;
  }
}

function groupModel(topology: Topology): GroupModel {
  const reserve = defaultReserve(topology);
  const reservedCpus = new Set(reserve.cpus);
  const nodeIds = topology.nodes.filter((n) => topology.pus.some((p) => p.node === n.id && p.online && p.allowed)).map((n) => n.id).sort((a, b) => a - b);
  const nodePos = new Map(nodeIds.map((id, i) => [id, i]));
  const capCpu = nodeIds.map(() => 0);
  const puNode = new Map<number, number>();
  for (const p of topology.pus) {
    if (p.node === null) continue;
    const pos = nodePos.get(p.node);
    if (pos === undefined) continue;
    puNode.set(p.os, pos);
    if (p.online && p.allowed && !reservedCpus.has(p.os)) capCpu[pos] = (capCpu[pos] as number) + 1;
  }
  const capMem = nodeIds.map((id) => {
    const node = topology.nodes.find((n) => n.id === id);
    const kept = reserve.memory.filter((r) => r.node === id).reduce((s, r) => s + r.bytes, 0);
    return Math.max(0, (node?.memory.total ?? 0) - kept);
  });
  const index = new Map(topology.nodes.map((n, i) => [n.id, i]));
  const distance = (a: number, b: number): number => {
    const row = topology.distances?.[index.get(a) ?? -1];
    const d = row?.[index.get(b) ?? -1];
    return typeof d === 'number' && d > 0 ? d : a === b ? 10 : 20;
  };
  const k = nodeIds.length;
  return { topology, nodeIds, capCpu, capMem, puNode, nodePos, distance, latency: latencyDistance(topology, distance), scratchCpu: new Float64Array(k), scratchMem: new Float64Array(k), scratchSeen: new Uint8Array(k) };
}
