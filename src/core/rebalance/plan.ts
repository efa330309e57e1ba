/**
 * # Rebalancing plans
 *
 * Given a host state (the VMs placed, as the state file or the ledger knows them), propose an ordered
 * plan of moves that pay for themselves. The planner finds no targets of its own: a candidate move of
 * a VM is the kernel's decision (`decide`, the numaplan policy) for the same request on the host with
 * that VM released, its page size kept (huge pages cannot change size live). Steps are planned in
 * order on one ledger, each on the host as the steps before it left it.
 *
 * ## Moves
 * - `repin`: the same nodes and memory, other host CPUs;
 * - `move-memory`: vCPUs stay on their nodes, memory moves node by node;
 * - `narrow` / `widen`: the VM ends on fewer / more nodes;
 * - `move`: another node set of the same size;
 * - `swap`: two VMs exchange room (both released, the first decided, then the second), used only
 *   when the first has no single move that pays;
 * - `make-room`: defragmentation for a waiting request that fits nowhere on the host although the
 *   host's free totals hold it (free PUs on some nodes, free memory of its page size on others):
 *   up to `ROOM_MAX_VMS` VMs are released, the waiting request is decided first, then each released
 *   VM again, all by the kernel (`decide`), so the search has no placement rules of its own. A
 *   make-room move never makes a moved VM's predicted latency worse (no neighbour pays for the
 *   newcomer in locality) and is proposed only when it admits a waiting request.
 *
 * ## Gain and cost (both per move, summed over its VMs)
 * - gain: the cost model's predicted remote-access fraction and relative latency (and ns) before and
 *   after, for a NUMA-unaware guest (the headline figures of `../cost`), and the whole nodes and
 *   cores the host has free after the move that it did not before;
 * - cost: bytes of memory leaving a node (`memory`: the per-node transfers, largest first), the time
 *   they take at `rateBytesPerSec`, and the vCPUs re-pinned.
 * - value = Δ relative latency x vCPU share x horizon (s): latency-ratio seconds saved over the
 *   horizon, plus the horizon for each waiting request (`waiting`: VMs that fit nowhere on the host
 *   now) that fits once the move is made, as much as one VM going from x2 to x1; price = migration
 *   seconds + `repinSeconds` per re-pin. A move is proposed only when Δ relative latency >=
 *   `minGain` or it admits a waiting request, and value >= `threshold` x price. The room of an
 *   admitted request is held while later steps are planned.
 *
 * ## Stability
 * - Cool-down: a VM whose `movedAt` is within `cooldownMs` of `now` is not moved.
 * - A VM is moved at most once per plan, so no later step undoes an earlier one.
 * - `maxBytes` caps the bytes a plan migrates; `maxMoves` its steps.
 * - Never moved: VMs with explicit CPUs (`cpus=`), nodes (`nodes=`) or a guest layout (`layout=`),
 *   VMs with devices (a device cannot follow a live VM to another node), claims, displaced VMs.
 *
 * Pure and deterministic: no clock (`now` is a parameter), candidates in name order, ties by name.
 */
import { predictCost, measuredOf } from '../cost/model.js';
import { allocationOfDecision, decide } from '../placement/decide.js';
import { HostLedger } from '../placement/ledger.js';
import { getPolicy } from '../placement/policies/index.js';
import type { VmRequest } from '../placement/request.js';
import type { Allocation, HostState } from '../placement/state.js';
import { topologyDistance } from '../placement/topology-index.js';

/** Planner settings; every field has a default (see DEFAULT_PLAN_OPTIONS). */
export interface PlanOptions {
  /** The time of planning (ms, same clock as `movedAt`). */
  now: number;
  /** A VM moved less than this long ago (ms) is not moved. */
  cooldownMs: number;
  /** Bytes per second memory migrates at. */
  rateBytesPerSec: number;
  /** value must be at least threshold x price. */
  threshold: number;
  /** Smallest improvement of relative latency (x the VM's share) a move may claim. */
  minGain: number;
  /** Seconds over which a latency gain is counted. */
  horizonSec: number;
  /** Price of re-pinning one vCPU, seconds. */
  repinSeconds: number;
  /** Bytes one plan may migrate in total. */
  maxBytes: number;
  /** Steps one plan may hold. */
  maxMoves: number;
}

const GIB = 1024 ** 3;

/** The defaults: 10 min cool-down, 1 GiB/s, value >= 4 x price, 2% minimum gain, 10 min horizon, 64 GiB, 32 moves. */
export const DEFAULT_PLAN_OPTIONS: PlanOptions = {
  now: 0,
  cooldownMs: 10 * 60_000,
  rateBytesPerSec: GIB,
  threshold: 4,
  minGain: 0.02,
  horizonSec: 600,
  repinSeconds: 0.01,
  maxBytes: 64 * GIB,
  maxMoves: 32,
};

/** Predicted access figures of a VM where it sits. */
export interface Locality {
  remoteAccessFraction: number;
  relativeLatency: number;
  expectedLatencyNs: number;
}

/** Memory moving from one node to another, in one page size. */
export interface MemoryTransfer {
  from: number;
  to: number;
  bytes: number;
  pageSize: number;
}

/** One VM's part of a move. */
export interface VmMove {
  vm: string;
  before: Allocation;
  after: Allocation;
  locality: { before: Locality; after: Locality };
  /** Memory transfers, node by node (largest first). */
  memory: MemoryTransfer[];
  /** vCPUs whose host CPU changes. */
  repins: { vcpu: number; from: number; to: number }[];
}

/** Kinds of moves (see the module comment). */
export type MoveKind = 'repin' | 'move-memory' | 'narrow' | 'widen' | 'move' | 'swap' | 'make-room';

/** One step of a plan. */
export interface Move {
  step: number;
  kind: MoveKind;
  vms: VmMove[];
  gain: {
    /** Δ relative latency summed over the move's VMs, each weighted by its share of their vCPUs. */
    latency: number;
    /** Nodes completely free after the move that were not before. */
    freedNodes: number[];
    /** Whole cores free after the move minus before (negative: the move takes cores). */
    freedCores: number;
    /** Waiting requests (`planRebalance`'s `waiting`) that fit once this step is made. */
    admits: string[];
    /** latency x horizon (s), plus the horizon for each admitted request (`planRoom`: what the caller says one is worth). */
    value: number;
  };
  cost: { bytes: number; seconds: number; repins: number; price: number };
  reason: string;
}

/** A VM the planner left where it is, and why (the operator reads these too). */
export interface Skipped {
  vm: string;
  why: string;
}

/** A plan: its steps in order, what it left alone, totals, and the settings it was made with. */
export interface Plan {
  schema: 'numaplan.plan/v1';
  host: string;
  createdAt: number;
  options: PlanOptions;
  moves: Move[];
  skipped: Skipped[];
  /** Waiting requests: those that fit already, those a step admits (its number), those still waiting. */
  waiting: { name: string; fitsNow: boolean; admittedAt: number | null }[];
  totals: { moves: number; bytes: number; seconds: number; repins: number; latencyBefore: number; latencyAfter: number; remoteBefore: number; remoteAfter: number };
}

/** The predicted figures of an allocation on its host (headline: NUMA-unaware guest). */
export function localityOf(state: HostState, a: Allocation): Locality {
  const puNode = nodeOfPu(state);
  const vcpus = new Map<number, number>();
  for (const c of a.cpus) {
    const n = puNode.get(c);
    if (n !== undefined) vcpus.set(n, (vcpus.get(n) ?? 0) + 1);
  }
  const memory = new Map<number, number>();
  for (const m of a.memory) memory.set(m.node, (memory.get(m.node) ?? 0) + m.bytes);
  const interleave = a.request.numa === 'interleave';
  const c = predictCost({
    distance: topologyDistance(state.topology),
    vcpusByNode: vcpus,
    memoryByNode: memory,
    pageSize: a.memory[0]?.pageSize ?? 4096,
    deviceNodes: [],
    interleave,
    measured: measuredOf(state.topology),
  });
  return { remoteAccessFraction: c.remoteAccessFraction, relativeLatency: c.relativeLatency, expectedLatencyNs: c.expectedLatencyNs };
}

const PU_NODES = new WeakMap<object, Map<number, number>>();
function nodeOfPu(state: HostState): Map<number, number> {
  let m = PU_NODES.get(state.topology);
  if (!m) {
    m = new Map();
    for (const p of state.topology.pus) if (p.node !== null) m.set(p.os, p.node);
    PU_NODES.set(state.topology, m);
  }
  return m;
}

/** Why a VM may not be moved, or null when it may. */
export function whyNotMovable(a: Allocation, options: Pick<PlanOptions, 'now' | 'cooldownMs'>): string | null {
  if (a.request.cpus) return 'explicit host CPUs (cpus=): never moved';
  if (a.request.nodes) return 'explicit nodes (nodes=): never moved';
  if (a.request.layout) return 'explicit guest layout (layout=): never moved';
  if (a.devices.length > 0) return 'holds devices, which cannot follow a live VM to another node';
  if (a.status !== 'committed') return 'a claim, not yet committed';
  if (a.displaced) return 'displaced by a host update: release or re-place it';
  if (a.movedAt !== undefined && options.now - a.movedAt < options.cooldownMs) {
    return `moved ${Math.round((options.now - a.movedAt) / 1000)} s ago, within the ${Math.round(options.cooldownMs / 1000)} s cool-down`;
  }
  return null;
}

/** Bytes per node of an allocation. */
function bytesByNode(a: Allocation): Map<number, number> {
  const m = new Map<number, number>();
  for (const g of a.memory) m.set(g.node, (m.get(g.node) ?? 0) + g.bytes);
  return m;
}

/** The memory transfers from `before` to `after`, node by node: surpluses matched to deficits, largest first. */
export function memoryTransfers(before: Allocation, after: Allocation, distance: (a: number, b: number) => number): MemoryTransfer[] {
  const b = bytesByNode(before);
  const a = bytesByNode(after);
  const pageSize = after.memory[0]?.pageSize ?? before.memory[0]?.pageSize ?? 4096;
  const nodes = [...new Set([...b.keys(), ...a.keys()])].sort((x, y) => x - y);
  const out: { node: number; bytes: number }[] = [];
  const into: { node: number; bytes: number }[] = [];
  for (const n of nodes) {
    const d = (a.get(n) ?? 0) - (b.get(n) ?? 0);
    if (d < 0) out.push({ node: n, bytes: -d });
    else if (d > 0) into.push({ node: n, bytes: d });
  }
  const transfers: MemoryTransfer[] = [];
  for (const src of out.sort((x, y) => y.bytes - x.bytes || x.node - y.node)) {
    // Nearest destinations first.
    const dests = into.filter((x) => x.bytes > 0).sort((x, y) => distance(src.node, x.node) - distance(src.node, y.node) || x.node - y.node);
    for (const dst of dests) {
      if (src.bytes === 0) break;
      const n = Math.min(src.bytes, dst.bytes);
      transfers.push({ from: src.node, to: dst.node, bytes: n, pageSize });
      src.bytes -= n;
      dst.bytes -= n;
    }
  }
  return transfers.sort((x, y) => y.bytes - x.bytes || x.from - y.from || x.to - y.to);
}

function kindOf(before: Allocation, after: Allocation): MoveKind {
  const nb = [...before.nodes].sort((x, y) => x - y);
  const na = [...after.nodes].sort((x, y) => x - y);
  if (nb.join(',') === na.join(',')) {
    const mb = [...bytesByNode(before)].sort((x, y) => x[0] - y[0]).join(';');
    const ma = [...bytesByNode(after)].sort((x, y) => x[0] - y[0]).join(';');
    return mb === ma ? 'repin' : 'move-memory';
  }
  if (na.length < nb.length) return 'narrow';
  if (na.length > nb.length) return 'widen';
  return 'move';
}

/** Nodes no VM and no reserve uses, and the whole cores free, on a ledger's state. */
function freeShape(state: HostState): { nodes: Set<number>; cores: number } {
  const usedCpu = new Set<number>(state.reserve.cpus);
  const usedNode = new Set<number>();
  const puNode = nodeOfPu(state);
  for (const a of state.allocations) {
    for (const c of [...a.cpus, ...a.heldCpus, ...a.emulatorCpus]) {
      usedCpu.add(c);
      const n = puNode.get(c);
      if (n !== undefined) usedNode.add(n);
    }
    for (const m of a.memory) if (m.bytes > 0) usedNode.add(m.node);
  }
  for (const c of state.reserve.cpus) {
    const n = puNode.get(c);
    if (n !== undefined) usedNode.add(n);
  }
  const nodes = new Set(state.topology.nodes.filter((n) => !usedNode.has(n.id) && n.cpus.length > 0).map((n) => n.id));
  let cores = 0;
  for (const core of state.topology.cores) if (core.pus.length > 0 && core.pus.every((p) => !usedCpu.has(p))) cores++;
  return { nodes, cores };
}

/** The request a VM is re-decided with: the same, its page size fixed to the one it holds. */
function redecideRequest(a: Allocation): VmRequest {
  return { ...a.request, pageSize: a.memory[0]?.pageSize ?? (a.request.pageSize === 'auto' ? 4096 : a.request.pageSize) };
}

function sameSpot(x: Allocation, y: Allocation): boolean {
  const key = (a: Allocation): string =>
    `${a.cpus.join(',')}|${a.heldCpus.join(',')}|${a.emulatorCpus.join(',')}|${[...a.memory].sort((p, q) => p.node - q.node || p.pageSize - q.pageSize).map((m) => `${m.node}:${m.pageSize}:${m.bytes}`).join(',')}`;
  return key(x) === key(y);
}

/** A candidate move, judged on the ledger it would be applied to (not yet applied). */
interface Candidate {
  kind: MoveKind;
  /** Waiting requests that fit once the move is made and did not before. */
  admits: string[];
  vms: VmMove[];
  latency: number;
  value: number;
  bytes: number;
  seconds: number;
  repins: number;
  price: number;
}

/** One VM's part of a move from `before` to `after` on a host state: locality, memory transfers, re-pins. */
export function vmMove(state: HostState, before: Allocation, after: Allocation): VmMove {
  const repins: VmMove['repins'] = [];
  before.cpus.forEach((c, i) => {
    const to = after.cpus[i];
    if (to !== undefined && to !== c) repins.push({ vcpu: i, from: c, to });
  });
  return {
    vm: before.name,
    before,
    after,
    locality: { before: localityOf(state, before), after: localityOf(state, after) },
    memory: memoryTransfers(before, after, topologyDistance(state.topology)),
    repins,
  };
}

function judge(kind: MoveKind, vms: VmMove[], o: PlanOptions): Candidate {
  const total = vms.reduce((s, v) => s + v.before.cpus.length, 0) || 1;
  let latency = 0;
  for (const v of vms) latency += ((v.locality.before.relativeLatency - v.locality.after.relativeLatency) * v.before.cpus.length) / total;
  const bytes = vms.reduce((s, v) => s + v.memory.reduce((t, m) => t + m.bytes, 0), 0);
  const repins = vms.reduce((s, v) => s + v.repins.length, 0);
  const seconds = bytes / o.rateBytesPerSec;
  return { kind, admits: [], vms, latency, value: latency * o.horizonSec, bytes, seconds, repins, price: seconds + repins * o.repinSeconds };
}

function pays(c: Candidate, o: PlanOptions): boolean {
  return (c.latency >= o.minGain || c.admits.length > 0) && c.value >= o.threshold * c.price;
}

/** True when a request fits the ledger's host as it is (the kernel's decision succeeds). */
function fits(ledger: HostLedger, r: VmRequest): boolean {
  return decide(getPolicy(), r, ledger).ok;
}

/** Adds to a candidate the waiting requests it admits, and their value (the ledger is left as it was). */
function withAdmits(ledger: HostLedger, c: Candidate | null, pending: readonly VmRequest[], o: PlanOptions, admitSec = o.horizonSec): Candidate | null {
  if (!c || pending.length === 0) return c;
  for (const v of c.vms) ledger.release(v.vm);
  for (const v of c.vms) ledger.add(v.after);
  try {
    c.admits = pending.filter((r) => fits(ledger, r)).map((r) => r.name);
  } finally {
    for (const v of c.vms) ledger.release(v.vm);
    for (const v of c.vms) ledger.add(v.before);
  }
  c.value += c.admits.length * admitSec;
  return c;
}

/** The best single move of a VM on the ledger (the ledger is left as it was), or null. */
function singleMove(ledger: HostLedger, a: Allocation, o: PlanOptions): Candidate | null {
  const state = ledger.state;
  ledger.release(a.name);
  try {
    const d = decide(getPolicy(), redecideRequest(a), ledger);
    if (!d.ok) return null;
    const after: Allocation = { ...allocationOfDecision(d, 'committed', null), request: a.request };
    if (sameSpot(a, after)) return null;
    const move = vmMove(state, a, after);
    return judge(kindOf(a, after), [move], o);
  } finally {
    ledger.add(a);
  }
}

/** A swap: `a` and `b` released, `a` decided first, then `b`; null unless both are placed and `a` gains. */
function swapMove(ledger: HostLedger, a: Allocation, b: Allocation, o: PlanOptions): Candidate | null {
  const state = ledger.state;
  ledger.release(a.name);
  ledger.release(b.name);
  const added: string[] = [];
  try {
    const da = decide(getPolicy(), redecideRequest(a), ledger);
    if (!da.ok) return null;
    const afterA: Allocation = { ...allocationOfDecision(da, 'committed', null), request: a.request };
    ledger.add(afterA);
    added.push(a.name);
    const db = decide(getPolicy(), redecideRequest(b), ledger);
    if (!db.ok) return null;
    const afterB: Allocation = { ...allocationOfDecision(db, 'committed', null), request: b.request };
    if (sameSpot(a, afterA) || sameSpot(b, afterB)) return null;
    return judge('swap', [vmMove(state, a, afterA), vmMove(state, b, afterB)], o);
  } finally {
    for (const n of added) ledger.release(n);
    ledger.add(a);
    ledger.add(b);
  }
}

/**
 * Most VMs one make-room move may move to admit one waiting request. Two covers the common case of
 * stranded room (free PUs on one node, free memory on another: one VM off each); each further VM
 * multiplies the search and the bytes, for admissions that are rarely worth it.
 */
export const ROOM_MAX_VMS = 2;
/** VMs tried alone per waiting request and round, the likeliest first (bounds a plan's cost on hosts with hundreds of VMs). */
export const ROOM_SINGLES = 24;
/** The likeliest VMs of which every pair is tried when no single one makes room (8: 28 pairs). */
export const ROOM_PAIRS_OF = 8;
/** Waiting requests a round searches room for (the others wait for the next round). */
export const ROOM_REQUESTS = 4;

/**
 * The VMs worth releasing to make room for `r`, likeliest first: by how far one of their nodes falls
 * short of holding `r` alone once they are released (free PUs, and free bytes of a page size `r` may
 * use, each short by a fraction of what `r` needs; 0 when the node then holds it), plus 1 when no
 * other node could take the VM whole as the host is; then by the bytes they would move (cheapest
 * first), ties by name. Only an order: the kernel decides what fits.
 */
function roomCandidates(ledger: HostLedger, r: VmRequest, movable: readonly Allocation[]): Allocation[] {
  const capacity = ledger.capacity();
  const puNode = nodeOfPu(ledger.state);
  const usable = (p: number): boolean => (r.pageSize === 'auto' ? r.memory % p === 0 : p === r.pageSize);
  const scored = movable.map((a) => {
    const pus = new Map<number, number>();
    for (const c of [...a.cpus, ...a.heldCpus, ...a.emulatorCpus]) {
      const n = puNode.get(c);
      if (n !== undefined) pus.set(n, (pus.get(n) ?? 0) + 1);
    }
    let short = Number.POSITIVE_INFINITY;
    for (const n of a.nodes) {
      const node = capacity.byId.get(n);
      if (!node || node.tier !== 'dram') continue;
      const cpuShort = Math.max(0, r.vcpus - node.freePus.length - (pus.get(n) ?? 0)) / Math.max(1, r.vcpus);
      for (const [p, free] of node.memory) {
        if (!usable(p)) continue;
        let mine = 0;
        for (const m of a.memory) if (m.node === n && m.pageSize === p) mine += m.bytes;
        short = Math.min(short, cpuShort + Math.max(0, r.memory - free - mine) / Math.max(1, r.memory));
      }
    }
    let bytes = 0;
    for (const m of a.memory) bytes += m.bytes;
    // Whether the VM could land whole on another node as the host is (its PUs, its page size).
    const page = a.memory[0]?.pageSize ?? 4096;
    const need = a.cpus.length + a.heldCpus.length + a.emulatorCpus.length;
    let lands = false;
    for (const node of capacity.nodes) {
      if (node.tier !== 'dram' || a.nodes.includes(node.id)) continue;
      if (node.freePus.length >= need && (node.memory.get(page) ?? 0) >= bytes) lands = true;
    }
    return { a, short: short + (lands ? 0 : 1), bytes };
  });
  scored.sort((x, y) => x.short - y.short || x.bytes - y.bytes || (x.a.name < y.a.name ? -1 : x.a.name > y.a.name ? 1 : 0));
  return scored.map((x) => x.a);
}

/**
 * A make-room move: `vms` released, `r` decided, then each of `vms` decided again (largest first) on
 * the host with `r` in its spot; null unless all are placed, at least one VM changes spot and none
 * gets a worse predicted latency. The ledger is left as it was. `admits` is filled by `withAdmits`.
 */
function roomMove(ledger: HostLedger, r: VmRequest, vms: readonly Allocation[], o: PlanOptions): Candidate | null {
  const state = ledger.state;
  const order = [...vms].sort((x, y) => y.cpus.length - x.cpus.length || (x.name < y.name ? -1 : 1));
  for (const a of order) ledger.release(a.name);
  const added: string[] = [];
  try {
    const dr = decide(getPolicy(), r, ledger);
    if (!dr.ok) return null;
    ledger.add(allocationOfDecision(dr, 'committed', null));
    added.push(r.name);
    const parts: VmMove[] = [];
    for (const a of order) {
      const d = decide(getPolicy(), redecideRequest(a), ledger);
      if (!d.ok) return null;
      const after: Allocation = { ...allocationOfDecision(d, 'committed', null), request: a.request };
      ledger.add(after);
      added.push(a.name);
      if (sameSpot(a, after)) return null; // this VM need not move: a smaller set makes the room
      const m = vmMove(state, a, after);
      if (m.locality.after.relativeLatency > m.locality.before.relativeLatency + 1e-9) return null;
      parts.push(m);
    }
    return judge('make-room', parts, o);
  } finally {
    for (const n of added) ledger.release(n);
    for (const a of order) ledger.add(a);
  }
}

/** The make-room moves for `r` worth judging: single VMs, then (none admitting) pairs of the likeliest. */
function roomMoves(ledger: HostLedger, r: VmRequest, movable: readonly Allocation[], pending: readonly VmRequest[], o: PlanOptions, admitSec: number): Candidate[] {
  const ranked = roomCandidates(ledger, r, movable);
  const out: Candidate[] = [];
  for (const a of ranked.slice(0, ROOM_SINGLES)) {
    const c = withAdmits(ledger, roomMove(ledger, r, [a], o), pending, o, admitSec);
    if (c && c.admits.includes(r.name)) out.push(c);
  }
  if (out.length > 0 || ROOM_MAX_VMS < 2) return out;
  const pool = ranked.slice(0, ROOM_PAIRS_OF);
  for (let i = 0; i < pool.length; i++) {
    for (let j = i + 1; j < pool.length; j++) {
      const c = withAdmits(ledger, roomMove(ledger, r, [pool[i] as Allocation, pool[j] as Allocation], o), pending, o, admitSec);
      if (c && c.admits.includes(r.name)) out.push(c);
    }
  }
  return out;
}

function reasonOf(c: Candidate, o: PlanOptions): string {
  const parts = c.vms.map((v) => {
    const b = v.locality.before;
    const a = v.locality.after;
    const nodes = `nodes ${v.before.nodes.join(',')} -> ${v.after.nodes.join(',')}`;
    return `${v.vm}: ${nodes}, remote ${pct(b.remoteAccessFraction)} -> ${pct(a.remoteAccessFraction)}, latency x${b.relativeLatency.toFixed(2)} -> x${a.relativeLatency.toFixed(2)}`;
  });
  // A move kept only because it admits a waiting request says so, whatever its kind.
  const forRoom = c.kind !== 'make-room' && c.kind !== 'swap' && c.admits.length > 0 && c.latency < o.minGain;
  const why = forRoom
    ? `makes room for ${c.admits.join(', ')}, which fits nowhere on the host as it is`
    : c.kind === 'swap'
      ? `swap: ${c.vms[0]?.vm} has no room of its own that pays; ${c.vms[1]?.vm} makes room`
      : c.kind === 'make-room'
        ? `make room: ${c.admits.join(', ')} fits nowhere on the host as it is, though its free totals hold it`
        : c.kind === 'narrow'
        ? 'the VM now fits on fewer nodes'
        : c.kind === 'move-memory'
          ? 'memory follows the vCPUs'
          : 'a closer set of nodes is free';
  const admits = c.admits.length > 0 && c.kind !== 'make-room' && !forRoom ? `; makes room for ${c.admits.join(', ')}` : '';
  return `${why}${admits}; ${parts.join('; ')}; gain ${(c.value / Math.max(c.price, 1e-9)).toFixed(1)}x its cost`;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** Settings with defaults filled in; throws RangeError naming a bad one. */
export function planOptions(partial: Partial<PlanOptions>): PlanOptions {
  const o = { ...DEFAULT_PLAN_OPTIONS, ...partial };
  const check = (name: keyof PlanOptions, ok: boolean): void => {
    if (!ok) throw new RangeError(`${name}: ${o[name]} is out of range`);
  };
  check('now', Number.isFinite(o.now));
  check('cooldownMs', Number.isFinite(o.cooldownMs) && o.cooldownMs >= 0);
  check('rateBytesPerSec', Number.isFinite(o.rateBytesPerSec) && o.rateBytesPerSec > 0);
  check('threshold', Number.isFinite(o.threshold) && o.threshold >= 0);
  check('minGain', Number.isFinite(o.minGain) && o.minGain >= 0);
  check('horizonSec', Number.isFinite(o.horizonSec) && o.horizonSec > 0);
  check('repinSeconds', Number.isFinite(o.repinSeconds) && o.repinSeconds >= 0);
  check('maxBytes', Number.isFinite(o.maxBytes) && o.maxBytes >= 0);
  check('maxMoves', Number.isInteger(o.maxMoves) && o.maxMoves >= 0);
  return o;
}

/** Most swap partners tried per VM and round (keeps a plan's cost bounded on crowded hosts). */
const SWAP_PARTNERS = 16;

/** Plans the moves for a host state (see the module comment). The state is not changed. */
export function planRebalance(state: HostState, partial: Partial<PlanOptions> = {}, waiting: readonly VmRequest[] = []): Plan {
  const o = planOptions(partial);
  return plan(state, o, waiting, false, o.horizonSec);
}

/**
 * The plan that makes room for one request the host refuses as it is: make-room moves only (see the
 * module comment), ending with the step that admits it; no moves when none pays or the host's free
 * totals cannot hold it whatever moves (`plan.waiting[0].admittedAt` says which). The simulator asks
 * for it when an arrival is refused. `admitSec` is what letting the request in is worth (default
 * the horizon, as for any waiting VM): the simulator passes the remote-access latency a VM avoids
 * when it asks for room on one node for a VM the host would otherwise split.
 */
export function planRoom(state: HostState, request: VmRequest, partial: Partial<PlanOptions> = {}, admitSec?: number): Plan {
  const o = planOptions(partial);
  if (admitSec !== undefined && !(Number.isFinite(admitSec) && admitSec >= 0)) throw new RangeError(`admitSec: ${admitSec} is out of range`);
  return plan(state, o, [request], true, admitSec ?? o.horizonSec);
}

/** False when no moves on the host can make room for `r`: its free PUs, or its free memory of every page size `r` may use, fall short (moves keep page sizes). */
export function roomPossible(ledger: HostLedger, r: VmRequest): boolean {
  if (r.cpuPolicy !== 'dedicated' || r.tier !== 'dram' || r.nodes || r.cpus || r.layout) return true;
  return ledger.mayHold(r.vcpus + (r.emulator === 'share' ? 0 : r.emulator), r.memory, r.pageSize, false);
}

function plan(state: HostState, o: PlanOptions, waiting: readonly VmRequest[], roomOnly: boolean, admitSec: number): Plan {
  const ledger = HostLedger.of(state);
  for (const r of waiting) if (ledger.has(r.name)) throw new RangeError(`waiting request ${r.name}: a VM of this name is already on the host`);
  const waitingReport = waiting.map((r) => ({ name: r.name, fitsNow: fits(ledger, r), admittedAt: null as number | null }));
  let pending = waiting.filter((_, i) => !waitingReport[i]?.fitsNow);
  /** Room held for admitted requests while later steps are planned (released before the totals). */
  const holds: string[] = [];
  const skipped: Skipped[] = [];
  const movable = new Set<string>();
  for (const a of state.allocations) {
    const why = whyNotMovable(a, o);
    if (why) skipped.push({ vm: a.name, why });
    else movable.add(a.name);
  }
  const moves: Move[] = [];
  let bytes = 0;
  const before = summary(state);
  while (moves.length < o.maxMoves && movable.size > 0) {
    let best: Candidate | null = null;
    const better = (c: Candidate | null): void => {
      if (!c || !pays(c, o) || bytes + c.bytes > o.maxBytes) return;
      if (!best || c.value - c.price > best.value - best.price) best = c;
    };
    const names = [...movable].sort();
    const stuck: Allocation[] = [];
    if (!roomOnly) {
      for (const name of names) {
        const a = ledger.get(name) as Allocation;
        const c = withAdmits(ledger, singleMove(ledger, a, o), pending, o, admitSec);
        if (c && pays(c, o)) better(c);
        else if (localityOf(ledger.state, a).relativeLatency - 1 >= o.minGain) stuck.push(a);
      }
    }
    // Defragmentation: room for waiting requests that no move above admits.
    const room = pending.filter((r) => roomPossible(ledger, r)).slice(0, ROOM_REQUESTS);
    if (room.length > 0) {
      const candidates = names.map((n) => ledger.get(n) as Allocation);
      for (const r of room) {
        if ((best as Candidate | null)?.admits.includes(r.name)) continue;
        for (const c of roomMoves(ledger, r, candidates, pending, o, admitSec)) better(c);
      }
    }
    if (!best && !roomOnly) {
      for (const a of stuck) {
        let tried = 0;
        for (const name of names) {
          if (name === a.name || tried >= SWAP_PARTNERS) continue;
          const b = ledger.get(name) as Allocation;
          if (!b.nodes.some((n) => !a.nodes.includes(n))) continue;
          tried++;
          better(withAdmits(ledger, swapMove(ledger, a, b, o), pending, o, admitSec));
        }
      }
    }
    const chosen = best as Candidate | null;
    if (!chosen) break;
    const freeBefore = freeShape(ledger.state);
    for (const v of chosen.vms) ledger.release(v.vm);
    for (const v of chosen.vms) ledger.add(v.after);
    const freeAfter = freeShape(ledger.state);
    for (const v of chosen.vms) movable.delete(v.vm);
    bytes += chosen.bytes;
    // Hold the room of the requests this step admits, so that later steps keep it free.
    for (const name of chosen.admits) {
      const r = pending.find((x) => x.name === name) as VmRequest;
      const d = decide(getPolicy(), r, ledger);
      if (!d.ok) continue;
      ledger.add(allocationOfDecision(d, 'committed', null));
      holds.push(name);
      const w = waitingReport.find((x) => x.name === name);
      if (w) w.admittedAt = moves.length + 1;
    }
    pending = pending.filter((r) => !chosen.admits.includes(r.name));
    moves.push({
      step: moves.length + 1,
      kind: chosen.kind,
      vms: chosen.vms,
      gain: {
        latency: round(chosen.latency),
        freedNodes: [...freeAfter.nodes].filter((n) => !freeBefore.nodes.has(n)).sort((x, y) => x - y),
        freedCores: freeAfter.cores - freeBefore.cores,
        admits: [...chosen.admits],
        value: round(chosen.value),
      },
      cost: { bytes: chosen.bytes, seconds: round(chosen.seconds), repins: chosen.repins, price: round(chosen.price) },
      reason: reasonOf(chosen, o),
    });
  }
  for (const name of holds) ledger.release(name);
  const after = summary(ledger.state);
  return {
    schema: 'numaplan.plan/v1',
    host: state.topology.source,
    createdAt: o.now,
    options: o,
    moves,
    skipped,
    waiting: waitingReport,
    totals: {
      moves: moves.length,
      bytes,
      seconds: round(bytes / o.rateBytesPerSec),
      repins: moves.reduce((s, m) => s + m.cost.repins, 0),
      latencyBefore: before.latency,
      latencyAfter: after.latency,
      remoteBefore: before.remote,
      remoteAfter: after.remote,
    },
  };
}

const round = (x: number): number => Math.round(x * 1e4) / 1e4;

/** vCPU-weighted mean relative latency and remote fraction of a host's VMs. */
export function summary(state: HostState): { latency: number; remote: number } {
  let v = 0;
  let lat = 0;
  let rem = 0;
  for (const a of state.allocations) {
    const l = localityOf(state, a);
    v += a.cpus.length;
    lat += l.relativeLatency * a.cpus.length;
    rem += l.remoteAccessFraction * a.cpus.length;
  }
  return v === 0 ? { latency: 1, remote: 0 } : { latency: round(lat / v), remote: round(rem / v) };
}
