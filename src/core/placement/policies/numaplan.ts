/**
 * numaplan's own policy: one joint decision over vCPUs, memory, huge pages and devices.
 *
 * 1. Explicit nodes (`nodes=`): exactly that set, checked.
 * 2. One node when the VM fits in one (capacities counted in the context's CPU mode: whole cores
 *    under smt=auto/isolate/require). The node is the lowest *score*, a weighted sum:
 *      devices   1000 x preferred devices that would not be local        (locality first)
 *      distance    10 x (weighted SLIT ratio - 1)                        (only with a memory tier)
 *      fit          1 x (CPU left / node CPU + memory left / node memory) (best fit keeps big blocks)
 *      deviceRich 0.5 x free devices on the node / most on any node      (device-less VMs only)
 *      socket    0.25 x share of the node's package already in use       (balance across sockets)
 *    Ties: lowest node id. (Required devices are a constraint, not a score: nodes without them are
 *    not candidates.)
 * 3. Otherwise the fewest nodes k (from minNodes() up to maxNodes()), and among sets of k nodes the
 *    best by the context's objective: fewer missing preferred devices, then the lowest weighted
 *    SLIT ratio of the standard split, then the lowest node ids.
 *    - When C(candidates, k) <= EXACT_SUBSET_LIMIT every k-subset is judged (at most 256
 *      evaluations of O(k^2): a constant bound, so hosts of up to 8 nodes always get the exact optimum).
 *      Subsets are ranked with `quickEvaluate` (no intermediate objects); only the winner is
 *      evaluated in full.
 *    - Otherwise greedy growth from every seed node, each step adding the candidate with the smallest
 *      summed distance to the set that can still complete a feasible set (look-ahead on the largest
 *      remaining capacities), then 1-swap local search (at most MAX_SWAP_ROUNDS rounds) from the best
 *      grown sets in turn until LOCAL_SEARCH_STARTS in a row find no new local optimum (at most
 *      MAX_LOCAL_SEARCHES). Each topology keeps, memoised, the symmetric pair distances and every
 *      node's other nodes in nearest-first order (O(n^2 log n) once). The first step of a seed walks
 *      its order to the first feasible candidate; later steps walk the members' orders in step and stop once the
 *      summed distances of the walk exceed the best candidate met (the threshold algorithm), which
 *      finds the same candidate as a full scan. The look-ahead is O(1) per candidate after an O(k)
 *      pass per step. Worst case O(n^2 k) for the growth (a full walk per step); on regular hosts a
 *      walk stops after about one group of equidistant nodes per member. O(n k^3) per swap round;
 *      GREEDY_EVALUATIONS full evaluations. No subset enumeration.
 * 4. interleave: the set is all eligible nodes, or the best set of `maxNodes` nodes.
 */
import type { NodeCapacity } from '../capacity.js';
import { type CpuMode, type PlacementContext, type SetEvaluation, compareIds } from '../context.js';
import { type NodeChoice, type PlacementPolicy, definePolicy } from '../policy.js';
import type { Topology } from '../../topology/model.js';
import { topologyIndex } from '../topology-index.js';
import type { Alternative, ScoreTerm } from '../types.js';

/** Largest number of k-subsets evaluated exhaustively (C(8,4) = 70, C(16,2) = 120 fit under it). */
export const EXACT_SUBSET_LIMIT = 256;
/** Rounds of 1-swap improvement after greedy growth; each round is O(n k) evaluations. */
export const MAX_SWAP_ROUNDS = 8;
/** Candidates per member a swap round judges: its nearest candidate nodes. */
export const SWAP_NEIGHBOURS = 16;
/**
 * The swap local search starts from the best grown sets in turn, and stops once this many starts in
 * a row ended in local optima of a cost it had found already (or after MAX_LOCAL_SEARCHES starts).
 */
export const LOCAL_SEARCH_STARTS = 8;
/** Most local searches per placement (starts from grown sets). */
export const MAX_LOCAL_SEARCHES = 3 * LOCAL_SEARCH_STARTS;
/** Alternatives listed in an explanation. */
export const MAX_ALTERNATIVES = 3;

const W = { devices: 1000, distance: 10, fit: 1, deviceRich: 0.5, socket: 0.25 } as const;

/** n choose k, saturating above the limit. */
function binom(n: number, k: number): number {
  let r = 1;
  for (let i = 1; i <= k; i++) {
    r = (r * (n - k + i)) / i;
    if (r > EXACT_SUBSET_LIMIT * 4) return Number.POSITIVE_INFINITY;
  }
  return Math.round(r);
}

/**
 * What the single-node score reads of one candidate node: the node, its vCPU slots and bytes free in
 * the context's mode and page size, and how the set was judged (`cost`, `missingPreferred`).
 */
export interface SingleNodeFacts {
  node: NodeCapacity | undefined;
  mode: CpuMode;
  cpuCap: number;
  memCap: number;
  cost: number;
  missingPreferred: number;
}

/** What the single-node score reads of the request and the host, the same for every candidate node. */
export interface SingleScoreScope {
  slots: number;
  /** The request's bytes; ignored with `separateMemory`. */
  memory: number;
  separateMemory: boolean;
  /** Devices the request asks for (device-less VMs keep off device-rich nodes). */
  devices: number;
  /** Most physical-function devices on any candidate node. */
  maxDevices: number;
  packageLoad: ReadonlyMap<number, number>;
}

/** The raw values of the single-node score terms, in `W` order (see `singleScore`). */
function singleValues(f: SingleNodeFacts, scope: SingleScoreScope, out: number[]): void {
  const node = f.node;
  const cpuTotal = f.mode === 'thread' || f.mode === 'shared' || f.mode === 'fill' ? (node?.totalPus ?? 1) : Math.max(1, node?.totalCores ?? 1);
  const fitCpu = (f.cpuCap - scope.slots) / Math.max(1, cpuTotal);
  const memTotal = Math.max(1, node?.totalMemory ?? 1);
  const fitMem = scope.separateMemory ? 0 : (f.memCap - scope.memory) / memTotal;
  const pfs = node ? physicalFunctions(node) : 0;
  const rich = scope.devices === 0 && scope.maxDevices > 0 ? pfs / scope.maxDevices : 0;
  const load = node?.package === null || node?.package === undefined ? 0 : (scope.packageLoad.get(node.package) ?? 0);
  out[0] = f.missingPreferred;
  out[1] = r4(f.cost - 1);
  out[2] = r4(fitCpu + fitMem);
  out[3] = r4(rich);
  out[4] = r4(load);
}

/** Most physical-function devices on any of the nodes. */
export function maxPhysicalFunctions(nodes: readonly NodeCapacity[]): number {
  let max = 0;
  for (const n of nodes) max = Math.max(max, physicalFunctions(n));
  return max;
}

function scopeOf(ctx: PlacementContext, maxDevices: number): SingleScoreScope {
  return {
    slots: ctx.slots,
    memory: ctx.request.memory,
    separateMemory: ctx.separateMemory,
    devices: ctx.request.devices.length,
    maxDevices,
    packageLoad: ctx.capacity.packageLoad,
  };
}

function factsOf(ctx: PlacementContext, id: number, cost: number, missingPreferred: number): SingleNodeFacts {
  return { node: ctx.capacity.byId.get(id), mode: ctx.mode, cpuCap: ctx.cpuCap(id), memCap: ctx.memCap(id), cost, missingPreferred };
}

/** Devices of a node that are not SR-IOV virtual functions. */
function physicalFunctions(node: PlacementContext['cpuNodes'][number]): number {
  let k = 0;
  for (const d of node.devices) if (d.physfn === null) k++;
  return k;
}

const TERMS = [
  { name: 'devices', weight: W.devices, note: 'preferred devices not on the node' },
  { name: 'distance', weight: W.distance, note: 'weighted SLIT ratio above local' },
  { name: 'fit', weight: W.fit, note: 'share of the node left free (best fit keeps large blocks free)' },
  { name: 'deviceRich', weight: W.deviceRich, note: 'device-less VMs keep off device-rich nodes' },
  { name: 'socket', weight: W.socket, note: "load of the node's package (balance sockets)" },
] as const;

const scoreScratch = [0, 0, 0, 0, 0];

function singleScore(ctx: PlacementContext, ev: SetEvaluation, maxDevices: number): ScoreTerm[] {
  return termsOf(ctx, ev.nodes[0] as number, ev.cost, ev.missingPreferred, maxDevices);
}

function termsOf(ctx: PlacementContext, id: number, cost: number, missingPreferred: number, maxDevices: number): ScoreTerm[] {
  const v = [0, 0, 0, 0, 0];
  singleValues(factsOf(ctx, id, cost, missingPreferred), scopeOf(ctx, maxDevices), v);
  return TERMS.map((t, i) => ({ name: t.name, value: v[i] as number, weight: t.weight, note: t.note }));
}

/**
 * The single-node score total (lower wins): the same terms and order of addition as the score an
 * explanation lists, without building the terms. Exported for callers that judge a node from a
 * capacity view without a context (fleet mode's direct judgement).
 */
export function singleNodeTotal(f: SingleNodeFacts, scope: SingleScoreScope): number {
  singleValues(f, scope, scoreScratch);
  let sum = 0;
  for (let i = 0; i < TERMS.length; i++) sum += (scoreScratch[i] as number) * (TERMS[i] as (typeof TERMS)[number]).weight;
  return sum;
}

const total = (terms: ScoreTerm[]): number => terms.reduce((s, t) => s + t.value * t.weight, 0);
const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** Best single node, or null. `lean`: no alternatives or notes (same node, evaluation and score). */
function chooseSingle(ctx: PlacementContext, lean = false): NodeChoice | null {
  const maxDevices = maxPhysicalFunctions(ctx.cpuNodes);
  if (lean) return chooseSingleLean(ctx, maxDevices);
  const scored: { ev: SetEvaluation; terms: ScoreTerm[]; score: number }[] = [];
  const refused: SetEvaluation[] = [];
  const needMem = ctx.separateMemory ? 0 : ctx.request.memory;
  for (const n of ctx.cpuNodes) {
    if (refused.length >= MAX_ALTERNATIVES && (ctx.cpuCap(n.id) < ctx.slots || ctx.memCap(n.id) < needMem)) continue; // cannot fit: skip the full evaluation
    const ev = quickSingle(ctx, n.id, needMem) ?? ctx.evaluate([n.id]);
    if (!ev.ok) {
      refused.push(ev);
      continue;
    }
    const terms = singleScore(ctx, ev, maxDevices);
    scored.push({ ev, terms, score: total(terms) });
  }
  if (scored.length === 0) return null;
  scored.sort((a, b) => a.score - b.score || (a.ev.nodes[0] as number) - (b.ev.nodes[0] as number));
  const best = scored[0] as (typeof scored)[number];
  if (best.ev.parts.length === 0) best.ev = ctx.evaluate(best.ev.nodes);
  if (!best.ev.ok) throw new Error(`internal: node ${best.ev.nodes[0]} passed the capacity check but not evaluation`);
  const alternatives: Alternative[] = scored.slice(1, 1 + MAX_ALTERNATIVES).map((s) => ({
    nodes: s.ev.nodes,
    cost: r4(s.score),
    lostBecause: lostSingle(best.terms, s.terms, s.score - best.score),
  }));
  for (const ev of refused.slice(0, Math.max(0, MAX_ALTERNATIVES - alternatives.length))) {
    alternatives.push({ nodes: ev.nodes, cost: null, lostBecause: `does not fit: ${ev.shortfalls.map((s) => `${s.resource} need ${s.need}, have ${s.have}`).join('; ')}` });
  }
  return { evaluation: best.ev, score: best.terms, alternatives, notes: [`score of node ${best.ev.nodes[0]}: ${r4(best.score)} (lower wins; ties: lowest node id)`] };
}

/**
 * True when a single node's evaluation needs no building for the common request (DRAM, no devices)
 * on a node that fits: it is ok at cost 1 (all local) with nothing missing; the chosen node is then
 * evaluated in full.
 */
function fitsSimply(ctx: PlacementContext, id: number, needMem: number): boolean {
  const emulator = ctx.slots - ctx.request.vcpus;
  return (
    !ctx.separateMemory &&
    ctx.request.devices.length === 0 &&
    ctx.cpuCap(id) >= ctx.slots &&
    ctx.memCap(id) >= needMem &&
    (emulator === 0 || ctx.emulatorCap(id) >= emulator)
  );
}

/** A single node's evaluation, left unbuilt (see `fitsSimply`) when it is simple. */
function quickSingle(ctx: PlacementContext, id: number, needMem: number): SetEvaluation | null {
  return fitsSimply(ctx, id, needMem) ? { ok: true, nodes: [id], parts: [], memory: [], cost: 1, missingPreferred: 0, shortfalls: [] } : null;
}

const leanFacts: SingleNodeFacts = { node: undefined, mode: 'thread', cpuCap: 0, memCap: 0, cost: 1, missingPreferred: 0 };

/** The lean single-node choice: the same node, evaluation and score as the full one, scores kept as numbers until the winner. */
function chooseSingleLean(ctx: PlacementContext, maxDevices: number): NodeChoice | null {
  const needMem = ctx.separateMemory ? 0 : ctx.request.memory;
  const scope = scopeOf(ctx, maxDevices);
  let bestId = -1;
  let bestEv: SetEvaluation | null = null;
  let bestCost = 0;
  let bestMissing = 0;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const n of ctx.cpuNodes) {
    if (ctx.cpuCap(n.id) < ctx.slots || ctx.memCap(n.id) < needMem) continue; // cannot fit: skip the full evaluation
    let ev: SetEvaluation | null = null;
    let cost = 1;
    let missing = 0;
    if (!fitsSimply(ctx, n.id, needMem)) {
      ev = ctx.evaluate([n.id]);
      if (!ev.ok) continue;
      cost = ev.cost;
      missing = ev.missingPreferred;
    }
    // Scratch facts (judging is synchronous): no object per node.
    leanFacts.node = n;
    leanFacts.mode = ctx.mode;
    leanFacts.cpuCap = ctx.cpuCap(n.id);
    leanFacts.memCap = ctx.memCap(n.id);
    leanFacts.cost = cost;
    leanFacts.missingPreferred = missing;
    const score = singleNodeTotal(leanFacts, scope);
    // Nodes come in ascending id order: a later node wins only with a strictly lower score.
    if (bestId < 0 || score < bestScore) {
      bestId = n.id;
      bestEv = ev;
      bestCost = cost;
      bestMissing = missing;
      bestScore = score;
    }
  }
  leanFacts.node = undefined;
  if (bestId < 0) return null;
  const ev = bestEv ?? ctx.evaluate([bestId]);
  if (!ev.ok) throw new Error(`internal: node ${bestId} passed the capacity check but not evaluation`);
  // The terms of the judged evaluation (the unbuilt one when it was simple), as the full choice reports them.
  return { evaluation: ev, score: termsOf(ctx, bestId, bestCost, bestMissing, maxDevices) };
}

function lostSingle(best: ScoreTerm[], other: ScoreTerm[], diff: number): string {
  if (Math.abs(diff) < 1e-12) return 'same score; tie broken by the lowest node id';
  let worst = other[0] as ScoreTerm;
  let gap = Number.NEGATIVE_INFINITY;
  other.forEach((t, i) => {
    const g = (t.value - (best[i]?.value ?? 0)) * t.weight;
    if (g > gap) {
      gap = g;
      worst = t;
    }
  });
  return `score higher by ${r4(diff)}, mostly ${worst.name} (${worst.note})`;
}

function describeLoss(best: SetEvaluation, other: SetEvaluation): string {
  if (other.nodes.length !== best.nodes.length) return `${other.nodes.length} nodes instead of ${best.nodes.length}`;
  if (other.missingPreferred !== best.missingPreferred) return `${other.missingPreferred} preferred device(s) not local`;
  if (Math.abs(other.cost - best.cost) > 1e-9) return `weighted distance ${r4(other.cost)} vs ${r4(best.cost)}`;
  return 'same cost; tie broken by the lowest node ids';
}

function multiChoice(best: SetEvaluation, others: SetEvaluation[], exact: boolean, lean = false): NodeChoice {
  const alternatives = lean ? [] : others.slice(0, MAX_ALTERNATIVES).map((o) => ({ nodes: o.nodes, cost: r4(o.cost), lostBecause: describeLoss(best, o) }));
  return {
    evaluation: best,
    score: [
      { name: 'nodes', value: best.nodes.length, weight: 1, note: 'fewest nodes first' },
      { name: 'devices', value: best.missingPreferred, weight: 1, note: 'preferred devices not on the set' },
      { name: 'distance', value: r4(best.cost), weight: 1, note: 'weighted SLIT ratio of the split (1 = all local)' },
    ],
    ...(lean ? {} : { alternatives, notes: [exact ? `every ${best.nodes.length}-node set was compared` : `greedy growth from every seed node, then 1-swap local search from the best grown sets until ${LOCAL_SEARCH_STARTS} in a row find no new local optimum (at most ${MAX_LOCAL_SEARCHES})`] }),
  };
}

/** The best feasible set of exactly k candidate nodes, with runners-up (none when `lean`); null if none found. */
export function bestOfSize(ctx: PlacementContext, k: number, lean = false): NodeChoice | null {
  const cands = ctx.cpuNodes.map((n) => n.id).filter((id) => ctx.cpuCap(id) > 0);
  if (k > cands.length) return null;
  if (binom(cands.length, k) <= EXACT_SUBSET_LIMIT) {
    const found: SetEvaluation[] = [];
    const combo: number[] = [];
    const rec = (start: number): void => {
      if (combo.length === k) {
        const ev = ctx.quickEvaluate(combo);
        if (ev.ok) found.push(ev);
        return;
      }
      for (let i = start; i <= cands.length - (k - combo.length); i++) {
        combo.push(cands[i] as number);
        rec(i + 1);
        combo.pop();
      }
    };
    rec(0);
    if (found.length === 0) return null;
    found.sort(ctx.compare);
    // Ranked on quick evaluations (same ok, cost, devices and ids); the winner is evaluated in full.
    return multiChoice(ctx.evaluate((found[0] as SetEvaluation).nodes), lean ? [] : found.slice(1), true, lean);
  }
  const found = greedySets(ctx, cands, k);
  if (found.length === 0) return null;
  // Local search from the best grown sets (they often sit in different parts of the host) while
  // they keep finding local optima of a cost not seen before. On a regular host every start ends in
  // sets of the same few costs; on an irregular one the best set can be one swap away from a grown
  // set ranked below starts that all fell into optima found already (on a random distance matrix of
  // 32 nodes, the best 8 grown sets led to 4 optima, and the ninth to a set 4.7% cheaper).
  let improved: SetEvaluation | null = null;
  const optima = new Set<number>();
  for (let i = 0, stale = 0; i < found.length && i < MAX_LOCAL_SEARCHES && stale < LOCAL_SEARCH_STARTS; i++) {
    const ev = swapImprove(ctx, cands, found[i] as SetEvaluation);
    // Optima told apart by cost: on a symmetric host the starts end in sets of equal cost on
    // different nodes, which are no new ground.
    const key = Math.round(ev.cost / COST_EPS);
    stale = optima.has(key) ? stale + 1 : 0;
    optima.add(key);
    if (!improved || ctx.compare(ev, improved) < 0) improved = ev;
  }
  const winner = ctx.evaluate((improved as SetEvaluation).nodes);
  const others = lean ? [] : found.filter((f) => compareIds(f.nodes, winner.nodes) !== 0);
  return multiChoice(winner, others, false, lean);
}

/** Symmetric pair distances d(a,b) + d(b,a), in distance-matrix rows, memoised per topology. */
const PAIRS = new WeakMap<Topology, Float64Array>();
function pairMatrix(topo: Topology): Float64Array {
  const hit = PAIRS.get(topo);
  if (hit) return hit;
  const { dist, n } = topologyIndex(topo);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[i * n + j] = (dist[i * n + j] as number) + (dist[j * n + i] as number);
  PAIRS.set(topo, out);
  return out;
}

/**
 * For every distance-matrix row, all rows ordered by pair distance to it, then by row: the order in
 * which greedy growth's first step meets candidates (memoised per topology; O(n^2 log n) once).
 */
const NEAREST = new WeakMap<Topology, Int32Array>();
function nearestRows(topo: Topology): Int32Array {
  const hit = NEAREST.get(topo);
  if (hit) return hit;
  const { n } = topologyIndex(topo);
  const pm = pairMatrix(topo);
  const out = new Int32Array(n * n);
  const row = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) row[j] = j;
    const base = i * n;
    row.sort((a, b) => (pm[base + a] as number) - (pm[base + b] as number) || a - b);
    out.set(row, base);
  }
  NEAREST.set(topo, out);
  return out;
}

/**
 * Sum of the `r` largest capacities outside the set, for every candidate left out in turn, in O(1)
 * per candidate after an O(n) pass per growth step (the look-ahead of greedy growth). Capacities are
 * whole numbers (vCPU slots, bytes), so the sums are exact whatever the order of the additions.
 */
class TopRemaining {
  private readonly inTop: Uint8Array;
  private readonly marked: Int32Array;
  private nMarked = 0;
  private order: readonly number[] | null = null;
  private sumR = 0;
  private next = 0;
  private ready = false;
  /** `limit`: how many of the largest capacities can ever be needed (set size + 1). */
  constructor(
    private readonly caps: Float64Array,
    private readonly limit: number,
  ) {
    this.inTop = new Uint8Array(caps.length);
    this.marked = new Int32Array(caps.length);
  }
  /** Forget the pass (the set changed). */
  reset(): void {
    if (this.ready) for (let k = 0; k < this.nMarked; k++) this.inTop[this.marked[k] as number] = 0;
    this.nMarked = 0;
    this.ready = false;
  }
  /** The sum of the r largest capacities not in the set and not `extra`. */
  get(r: number, inSet: Uint8Array, extra: number): number {
    if (r <= 0) return 0;
    if (!this.ready) {
      this.order ??= largestFirst(this.caps, this.limit);
      let s = 0;
      let taken = 0;
      this.next = 0;
      for (const i of this.order) {
        if (inSet[i]) continue;
        if (taken === r) {
          this.next = this.caps[i] as number;
          break;
        }
        s += this.caps[i] as number;
        this.inTop[i] = 1;
        this.marked[this.nMarked++] = i;
        taken++;
      }
      this.sumR = s;
      this.ready = true;
    }
    return this.inTop[extra] ? this.sumR - (this.caps[extra] as number) + this.next : this.sumR;
  }
}

/** Indexes of the `limit` largest capacities, largest first (ties: lowest index), by insertion: O(n limit). */
function largestFirst(caps: Float64Array, limit: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < caps.length; i++) {
    const c = caps[i] as number;
    if (out.length >= limit && c <= (caps[out[out.length - 1] as number] as number)) continue;
    let j = out.length;
    while (j > 0 && (caps[out[j - 1] as number] as number) < c) j--;
    out.splice(j, 0, i);
    if (out.length > limit) out.pop();
  }
  return out;
}

/**
 * Greedy growth from every seed: the distinct sets grown, by summed pair distance, then ids (each
 * feasible by the capacity look-ahead; the split is judged by the caller).
 */
export function grownSets(ctx: PlacementContext, cands: readonly number[], k: number): number[][] {
  const n = cands.length;
  const cpu = new Float64Array(n);
  const mem = new Float64Array(n);
  cands.forEach((id, i) => {
    cpu[i] = ctx.cpuCap(id);
    mem[i] = ctx.separateMemory ? 0 : ctx.memCap(id);
  });
  const needMem = ctx.separateMemory ? 0 : ctx.request.memory;
  const cpuTop = new TopRemaining(cpu, k + 1);
  const memTop = new TopRemaining(mem, k + 1);
  const topo = ctx.topology;
  const { index, n: rowsN } = topologyIndex(topo);
  const pm = pairMatrix(topo);
  const row = new Int32Array(n);
  cands.forEach((id, i) => (row[i] = index.get(id) as number));
  const d = (i: number, j: number): number => pm[(row[i] as number) * rowsN + (row[j] as number)] as number;
  const nearest = nearestRows(topo);
  const candOf = new Int32Array(rowsN).fill(-1);
  for (let i = 0; i < n; i++) candOf[row[i] as number] = i;
  const seen = new Set<string | number>();
  const grown: { ids: number[]; pairs: number; key: number | string }[] = [];
  const inSet = new Uint8Array(n);
  const sorted = new Array<number>(k).fill(0);
  let maxId = 0;
  for (const id of cands) if (id > maxId) maxId = id;
  const radix = maxId + 1;
  // Sorted ids packed into one number when that is exact (below 2^52), else joined.
  const packed = cands.every((id) => Number.isInteger(id) && id >= 0) && k * Math.log2(radix) < 52;
  const stamp = new Int32Array(n);
  const pos = new Int32Array(k);
  let epoch = 0;
  const members: number[] = [];
  for (let seed = 0; seed < n; seed++) {
    for (const m of members) inSet[m] = 0;
    members.length = 0;
    members.push(seed);
    inSet[seed] = 1;
    let capC = cpu[seed] as number;
    let capM = mem[seed] as number;
    const seedRow = row[seed] as number;
    let stuck = false;
    while (members.length < k) {
      const r = k - members.length - 1;
      cpuTop.reset();
      memTop.reset();
      let best = -1;
      if (members.length === 1) {
        // First step: the summed distance is the seed's row, so the first feasible candidate in
        // (distance, id) order is the one the scan below would keep.
        for (let t = 0; t < rowsN; t++) {
          const c = candOf[nearest[seedRow * rowsN + t] as number] as number;
          if (c < 0 || inSet[c] || (cpu[c] as number) === 0) continue;
          if (capC + (cpu[c] as number) + cpuTop.get(r, inSet, c) < ctx.slots) continue;
          if (capM + (mem[c] as number) + memTop.get(r, inSet, c) < needMem) continue;
          best = c;
          break;
        }
      } else {
        // Later steps: the candidate with the smallest distance summed over the members (ties: lowest
        // id), found by walking every member's nearest-first order in step (threshold algorithm): a
        // candidate not met yet is at least as far as the sum of the walk's current distances, so the
        // walk stops once that sum exceeds the best found. Same result as scanning every candidate.
        epoch++;
        const m = members.length;
        for (let i = 0; i < m; i++) pos[i] = 0;
        let bestSum = Number.POSITIVE_INFINITY;
        let done = false;
        while (!done) {
          for (let i = 0; i < m; i++) {
            const p = pos[i] as number;
            if (p >= rowsN) {
              done = true;
              break;
            }
            pos[i] = p + 1;
            const c = candOf[nearest[(row[members[i] as number] as number) * rowsN + p] as number] as number;
            if (c < 0 || inSet[c] || (cpu[c] as number) === 0 || stamp[c] === epoch) continue;
            stamp[c] = epoch;
            const rc = row[c] as number;
            let sc = pm[(row[members[0] as number] as number) * rowsN + rc] as number;
            for (let q = 1; q < m; q++) sc += pm[(row[members[q] as number] as number) * rowsN + rc] as number;
            if (best >= 0 && (sc > bestSum || (sc === bestSum && c > best))) continue;
            if (capC + (cpu[c] as number) + cpuTop.get(r, inSet, c) < ctx.slots) continue;
            if (capM + (mem[c] as number) + memTop.get(r, inSet, c) < needMem) continue;
            best = c;
            bestSum = sc;
          }
          if (done || best < 0) continue;
          let frontier = 0;
          for (let i = 0; i < m; i++) {
            const p = pos[i] as number;
            if (p >= rowsN) {
              done = true;
              break;
            }
            const base = (row[members[i] as number] as number) * rowsN;
            frontier += pm[base + (nearest[base + p] as number)] as number;
          }
          if (frontier > bestSum) done = true;
        }
      }
      if (best < 0) {
        stuck = true;
        break;
      }
      members.push(best);
      inSet[best] = 1;
      capC += cpu[best] as number;
      capM += mem[best] as number;
    }
    if (stuck) continue;
    for (let a = 0; a < k; a++) {
      const v = cands[members[a] as number] as number;
      let b = a;
      while (b > 0 && (sorted[b - 1] as number) > v) {
        sorted[b] = sorted[b - 1] as number;
        b--;
      }
      sorted[b] = v;
    }
    let key: number | string;
    if (packed) {
      key = 0;
      for (let a = 0; a < k; a++) key = key * radix + (sorted[a] as number);
    } else key = sorted.join(',');
    if (seen.has(key)) continue;
    seen.add(key);
    const ids = sorted.slice();
    let pairs = 0;
    for (let a = 0; a < members.length; a++) for (let b = a + 1; b < members.length; b++) pairs += d(members[a] as number, members[b] as number);
    grown.push({ ids, pairs, key });
  }
  // Ties by ids: a packed key orders like compareIds on these equal-length ascending lists.
  if (packed) grown.sort((x, y) => x.pairs - y.pairs || (x.key as number) - (y.key as number));
  else grown.sort((x, y) => x.pairs - y.pairs || compareIds(x.ids, y.ids));
  return grown.map((g) => g.ids);
}

/**
 * The grown sets that hold the VM under the standard split, best first by the objective: every
 * grown set is judged with `quickEvaluate` (allocation-free), not only the closest few, since splits
 * follow free capacity and a set slightly farther apart can be cheaper.
 */
export function greedySets(ctx: PlacementContext, cands: readonly number[], k: number): SetEvaluation[] {
  const grown = grownSets(ctx, cands, k);
  const costs: { ids: number[]; cost: number }[] = [];
  for (const ids of grown) {
    const cost = ctx.quickCost(ids);
    if (cost === null) {
      // A request quickCost cannot judge: every grown set through quickEvaluate.
      const out: SetEvaluation[] = [];
      for (const g of grown) {
        const ev = ctx.quickEvaluate(g);
        if (ev.ok) out.push(ev);
      }
      return out.sort(ctx.compare);
    }
    if (cost !== Number.POSITIVE_INFINITY) costs.push({ ids, cost });
  }
  // The objective's order on sets of k nodes without devices: cost, then ids (grown ids are ascending).
  costs.sort((x, y) => (Math.abs(x.cost - y.cost) > COST_EPS ? x.cost - y.cost : compareIds(x.ids, y.ids)));
  return costs.map((c) => ({ ok: true, nodes: c.ids, parts: [], memory: [], cost: c.cost, missingPreferred: 0, shortfalls: [] }));
}

/**
 * Steepest-descent 1-swap local search from a feasible set: each round judges every swap of one
 * member for one candidate outside the set (quickEvaluate, no distance filter: a farther node with
 * the right free capacity can make a cheaper split) and takes the best, until no swap improves or
 * MAX_SWAP_ROUNDS rounds. O(k n) judgements per round.
 */
export function swapImprove(ctx: PlacementContext, cands: readonly number[], start: SetEvaluation): SetEvaluation {
  let current = start;
  const topo = ctx.topology;
  const { index, n: rowsN } = topologyIndex(topo);
  const nearest = nearestRows(topo);
  const rowId = rowIds(topo);
  let maxId = 0;
  for (const c of cands) if (c > maxId) maxId = c;
  for (const c of start.nodes) if (c > maxId) maxId = c;
  // Marks by node id: 1 candidate, 2 in the set, 4 in the round's pool.
  const mark = new Uint8Array(maxId + 1);
  for (const c of cands) mark[c] = 1;
  const pool: number[] = [];
  const trial: number[] = [];
  for (let round = 0; round < MAX_SWAP_ROUNDS; round++) {
    const set = current.nodes;
    for (const m of set) mark[m] = (mark[m] as number) | 2;
    // Candidates: the SWAP_NEIGHBOURS nearest candidates of each member (distance from the set decides
    // little on its own, free capacity decides the split; the starts cover the rest of the host).
    pool.length = 0;
    for (const m of set) {
      const base = (index.get(m) as number) * rowsN;
      let taken = 0;
      for (let p = 0; p < rowsN && taken < SWAP_NEIGHBOURS; p++) {
        const id = rowId[nearest[base + p] as number] as number;
        if (id > maxId || ((mark[id] as number) & 3) !== 1) continue;
        taken++;
        if (((mark[id] as number) & 4) === 0) {
          mark[id] = (mark[id] as number) | 4;
          pool.push(id);
        }
      }
    }
    let best: SetEvaluation | null = null;
    let bestCost = current.cost;
    let bestIds: number[] = set;
    for (let m = 0; m < set.length; m++) {
      trial.length = 0;
      for (let x = 0; x < set.length; x++) if (x !== m) trial.push(set[x] as number);
      trial.push(0);
      for (const c of pool) {
        trial[set.length - 1] = c;
        const cost = ctx.quickCost(trial);
        if (cost === null) {
          // A request quickCost cannot judge: the full comparison.
          const ev = ctx.quickEvaluate(trial);
          if (ev.ok && ctx.compare(ev, best ?? current) < 0) best = ev;
          continue;
        }
        if (cost === Number.POSITIVE_INFINITY) continue;
        // The objective's order (same node count, no devices): lower cost, then lower ids.
        if (cost < bestCost - COST_EPS || (Math.abs(cost - bestCost) <= COST_EPS && idsBefore(trial, bestIds))) {
          best = ctx.quickEvaluate(trial);
          bestCost = cost;
          bestIds = best.nodes;
        }
      }
    }
    for (const m of set) mark[m] = (mark[m] as number) & ~2;
    for (const id of pool) mark[id] = (mark[id] as number) & ~4;
    if (!best) break;
    current = best;
  }
  return current;
}

/** The objective's tolerance on costs (compareEvaluations). */
const COST_EPS = 1e-9;

const sortScratch: number[] = [];

/** True when the ascending order of `ids` comes before `sorted` (already ascending) lexicographically. */
function idsBefore(ids: readonly number[], sorted: readonly number[]): boolean {
  const s = sortScratch;
  s.length = 0;
  for (const v of ids) {
    let j = s.length;
    s.push(v);
    while (j > 0 && (s[j - 1] as number) > v) {
      s[j] = s[j - 1] as number;
      j--;
    }
    s[j] = v;
  }
  return compareIds(s, sorted) < 0;
}

/** Node id of each distance-matrix row, memoised per topology. */
const ROW_IDS = new WeakMap<Topology, number[]>();
function rowIds(topo: Topology): number[] {
  let ids = ROW_IDS.get(topo);
  if (!ids) ROW_IDS.set(topo, (ids = topo.nodes.map((x) => x.id)));
  return ids;
}

/**
 * The chooser of the numaplan policy. Without `detail` it returns the same node set, evaluation and
 * score terms, without the alternatives and notes (no explanation text is built, and single-node
 * candidates that cannot fit are not evaluated for the alternatives list): how the fleet judges
 * many hosts per decision.
 */
export function chooseNumaplan(ctx: PlacementContext, detail = true): NodeChoice | null {
  const lean = !detail;
  const request = ctx.request;
  if (request.nodes) {
    const ids = ctx.cpuNodes.map((n) => n.id);
    if (ids.length !== request.nodes.filter((id) => ctx.capacity.byId.get(id)?.totalPus).length || ids.length === 0) return null;
    const ev = ctx.evaluate(ids);
    return ev.ok ? { evaluation: ev, score: [], alternatives: [], notes: ['nodes given explicitly (nodes=): exactly these, checked'] } : null;
  }
  const lo = ctx.minNodes();
  const hi = ctx.maxNodes();
  if (lo > hi) return null;
  if (request.numa === 'interleave' && !request.layout) {
    const k = Math.max(lo, Math.min(hi, ctx.cpuNodes.length));
    return bestOfSize(ctx, k, lean);
  }
  if (lo === 1 && !request.layout) {
    const single = chooseSingle(ctx, lean);
    if (single) return single;
  }
  for (let k = Math.max(lo, request.layout ? 1 : 2); k <= hi; k++) {
    const choice = bestOfSize(ctx, k, lean);
    if (choice) return choice;
  }
  return null;
}

/** numaplan's engine. */
export const numaplanPolicy: PlacementPolicy = definePolicy(
  'numaplan',
  'one node when it fits (scored: device locality, best fit, device-less off device-rich nodes, socket balance), else the fewest, closest nodes; joint CPU/memory/huge-page/device decision',
  chooseNumaplan,
);
