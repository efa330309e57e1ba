/**
 * Kubernetes' kubelet Topology Manager (pkg/kubelet/cm/topologymanager), policies single-numa-node,
 * restricted and best-effort, with and without the `prefer-closest-numa-nodes` policy option.
 *
 * What the kubelet does, and what is reproduced here:
 * - Hint providers. For every resource, every non-empty subset of the NUMA nodes (bitmask.
 *   IterateBitMasks: by size, then combinations in order) whose *free* amount covers the request is
 *   a hint; a hint is *preferred* when its node count equals the fewest nodes whose *total* amount
 *   (free or not) could cover the request. Providers: the CPU manager (static policy: dedicated
 *   vCPUs; a shared VM gets no CPU hint, i.e. "don't care"), the memory manager (regular memory or
 *   the huge page size chosen), the device manager (one resource per device request; locality
 *   `none` = no hint). A resource with no possible hint contributes {any, not preferred}.
 * - Merge (HintMerger.Merge): the cross product of all providers' hints, each permutation merged by
 *   bitwise AND (preferred only if every hint is); empty masks are skipped; the best hint is kept by
 *   HintMerger.compare: preferred beats non-preferred; between preferred hints the *narrowest* mask
 *   (bitmask.IsNarrowerThan: fewer nodes, then the lower mask value) or, with prefer-closest, the
 *   lowest average distance between the mask's nodes (NUMAInfo.Closest) for equal node counts;
 *   between non-preferred hints, the one whose count is closest to (not above) the largest of the
 *   providers' narrowest counts (BestNonPreferredAffinityCount), then narrowest.
 * - Admission: best-effort always admits; restricted admits only a preferred hint; single-numa-node
 *   keeps only single-node (or don't-care) preferred hints before merging and admits only a preferred
 *   one. Distances are ignored unless prefer-closest is on.
 *
 * Simplifications (documented): the merged mask is the node set and the shared machinery splits
 * vCPUs and memory over it (the CPU manager would pack CPUs inside the mask); when the mask cannot
 * hold the VM (e.g. CPUs preferred on one node, memory needing two: the AND is one node, still
 * "preferred"), restricted and best-effort extend it to the narrowest superset that holds it, as
 * the memory manager's extendTopologyManagerHint does (the kubelet would keep the CPUs inside the
 * original mask; here they are split over the superset);
 * the memory manager's rule about reusing nodes of earlier multi-node groups is not modelled; devices
 * whose node is unknown count as local to every mask; tiers other than DRAM get no memory hint.
 * Hints are counted in the engine's CPU units (whole cores under smt=auto).
 *
 * Cost: each provider yields up to 2^n - 1 hints and the merge is their cross product, O((2^n)^P)
 * for P providers. The kubelet refuses hosts above 8 NUMA nodes for this reason
 * (K8S_MAX_NUMA_NODES); so does this baseline. The merge here computes which merged hints the cross
 * product reaches with a subset transform (O(P n 2^n): 6,000 steps at 8 nodes instead of 65,025
 * pairs per provider) and keeps the best by the same comparison: the same best hint as the literal
 * cross product, which `mergeHints(..., { literal: true })` still runs for tests and the benchmark.
 */
import { deviceMatches } from '../../capacity.js';
import { topologyIndex } from '../../topology-index.js';
import type { PlacementContext } from '../../context.js';
import type { Topology } from '../../../topology/model.js';
import { type NodeChoice, type PlacementPolicy, definePolicy } from '../../policy.js';
import { choiceOf, explicitChoice } from './common.js';

/** The kubelet's limit (maxAllowableNUMANodes): above it the Topology Manager does not start. */
export const K8S_MAX_NUMA_NODES = 8;

/** One topology hint: `mask` over node positions (bit i = i-th eligible node); `any` = don't care. */
export interface TopologyHint {
  mask: number;
  preferred: boolean;
  any?: boolean;
}

/** The three Topology Manager policies reproduced. */
export type K8sPolicyKind = 'single-numa-node' | 'restricted' | 'best-effort';

/** Set bits of every 16-bit mask (masks here have at most K8S_MAX_NUMA_NODES bits; wider ones count in halves). */
const POPCOUNT = (() => {
  const t = new Uint8Array(1 << 16);
  for (let m = 1; m < t.length; m++) t[m] = (t[m >> 1] as number) + (m & 1);
  return t;
})();

const popcount = (m: number): number => (m >>> 0 < 1 << 16 ? (POPCOUNT[m] as number) : (POPCOUNT[m & 0xffff] as number) + (POPCOUNT[(m >>> 16) & 0xffff] as number));

const MASKS = new Map<number, readonly number[]>();

/** iterateBitMasks(n), memoised (callers only read it). */
function bitMasks(n: number): readonly number[] {
  let m = MASKS.get(n);
  if (!m) MASKS.set(n, (m = iterateBitMasks(n)));
  return m;
}

const NODES_BY_ID = new WeakMap<Topology, Map<number, Topology['nodes'][number]>>();

function nodesById(topo: Topology): Map<number, Topology['nodes'][number]> {
  let m = NODES_BY_ID.get(topo);
  if (!m) NODES_BY_ID.set(topo, (m = new Map(topo.nodes.map((t) => [t.id, t]))));
  return m;
}

/** Every non-empty mask over n bits in IterateBitMasks order (by size, then combinations in order). */
export function iterateBitMasks(n: number): number[] {
  const out: number[] = [];
  for (let k = 1; k <= n; k++) {
    const rec = (start: number, left: number, mask: number): void => {
      if (left === 0) {
        out.push(mask);
        return;
      }
      for (let i = start; i <= n - left; i++) rec(i + 1, left - 1, mask | (1 << i));
    };
    rec(0, k, 0);
  }
  return out;
}

/**
 * One provider's hints as sets of masks over n node positions: `pref[m]` / `plain[m]` is 1 where the
 * list has a preferred / not preferred hint with mask m; `anyPref` / `anyPlain` for a "don't care"
 * hint; `count` is the length of the kubelet's list.
 */
export interface HintSet {
  pref: Uint8Array;
  plain: Uint8Array;
  anyPref: boolean;
  anyPlain: boolean;
  count: number;
  /** Set bits of the narrowest hint that is not "don't care" (infinity when there is none). */
  narrow: number;
  /** Set bits of the widest preferred hint that is not "don't care" (0 when there is none). */
  prefBits: number;
}

function emptySet(n: number): HintSet {
  return { pref: new Uint8Array(1 << n), plain: new Uint8Array(1 << n), anyPref: false, anyPlain: false, count: 0, narrow: Number.POSITIVE_INFINITY, prefBits: 0 };
}

/** A hint list as a set. */
export function setOfList(list: readonly TopologyHint[], n: number): HintSet {
  const s = emptySet(n);
  for (const h of list) {
    if (h.any) {
      if (h.preferred) s.anyPref = true;
      else s.anyPlain = true;
    } else {
      if (h.preferred) {
        s.pref[h.mask] = 1;
        s.prefBits = Math.max(s.prefBits, popcount(h.mask));
      } else s.plain[h.mask] = 1;
      s.narrow = Math.min(s.narrow, popcount(h.mask));
    }
  }
  s.count = list.length;
  return s;
}

// Scratch subset sums of resourceSet (hint generation is synchronous).
let sumTotal = new Float64Array(256);
let sumFree = new Float64Array(256);

/**
 * Hints of one resource: masks whose free amount covers `need`, preferred at the minimal total-fit
 * size; none at all is the "no fit" don't-care hint. Subset sums by dynamic programming: O(2^n).
 */
export function resourceSet(n: number, total: readonly number[], free: readonly number[], need: number, totalAny = 0, freeAny = 0): HintSet {
  const size = 1 << n;
  if (sumTotal.length < size) {
    sumTotal = new Float64Array(size);
    sumFree = new Float64Array(size);
  }
  const tot = sumTotal;
  const fr = sumFree;
  tot[0] = totalAny;
  fr[0] = freeAny;
  let minAffinity = Number.POSITIVE_INFINITY;
  for (let m = 1; m < size; m++) {
    const low = m & -m;
    const i = 31 - Math.clz32(low);
    tot[m] = (tot[m ^ low] as number) + (total[i] as number);
    fr[m] = (fr[m ^ low] as number) + (free[i] as number);
    if ((tot[m] as number) >= need) {
      const c = popcount(m);
      if (c < minAffinity) minAffinity = c;
    }
  }
  const s = emptySet(n);
  for (let m = 1; m < size; m++) {
    if ((fr[m] as number) < need) continue;
    const c = popcount(m);
    if (c === minAffinity) {
      s.pref[m] = 1;
      s.prefBits = c;
    } else s.plain[m] = 1;
    if (c < s.narrow) s.narrow = c;
    s.count++;
  }
  if (s.count === 0) {
    s.anyPlain = true;
    s.count = 1;
  }
  return s;
}

/** Hints of one resource as a list (masks in IterateBitMasks order): `resourceSet`'s hints. */
export function resourceHints(masks: readonly number[], total: readonly number[], free: readonly number[], need: number, totalAny = 0, freeAny = 0): TopologyHint[] {
  const s = resourceSet(total.length, total, free, need, totalAny, freeAny);
  const out: TopologyHint[] = [];
  for (const m of masks) if (s.pref[m] || s.plain[m]) out.push({ mask: m, preferred: s.pref[m] === 1 });
  return out;
}

const NARROW = new Map<number, readonly number[]>();

/** Every non-empty mask over n bits, narrowest first (IsNarrowerThan order), memoised. */
function narrowOrder(n: number): readonly number[] {
  let m = NARROW.get(n);
  if (!m) NARROW.set(n, (m = [...bitMasks(n)].sort((a, b) => (isNarrowerThan(a, b) ? -1 : isNarrowerThan(b, a) ? 1 : 0))));
  return m;
}

/** IsNarrowerThan: fewer bits set, or as many and a lower mask value. */
export function isNarrowerThan(a: number, b: number): boolean {
  const ca = popcount(a);
  const cb = popcount(b);
  return ca === cb ? a < b : ca < cb;
}

/** Options of a merge. */
export interface MergeOptions {
  /** prefer-closest-numa-nodes: average distance between the mask's nodes decides equal counts. */
  preferClosest?: boolean;
  /** distance between node positions (needed with preferClosest). */
  distance?: (a: number, b: number) => number;
  /** Run the literal cross product (no folding): the kubelet's cost, same result. */
  literal?: boolean;
}

/** Result of a merge, with the number of merged permutations (the work done). */
export interface MergeResult {
  hint: TopologyHint;
  permutations: number;
}

/** What comparing two hints reads of a merge. */
interface MergeScope {
  n: number;
  /** Bits of the narrowest non-don't-care hint of the provider whose narrowest is widest. */
  bestNonPreferred: number;
  preferClosest: boolean;
  distance: ((a: number, b: number) => number) | undefined;
}

/** Average distance between the nodes of a mask (prefer-closest-numa-nodes). */
function avgDistance(scope: MergeScope, m: number): number {
  let s = 0;
  let bits = 0;
  for (let a = 0; a < scope.n; a++) {
    if (!(m & (1 << a))) continue;
    bits++;
    for (let b = 0; b < scope.n; b++) if (m & (1 << b)) s += scope.distance ? scope.distance(a, b) : 0;
  }
  return s / (bits * bits);
}

/** The better of two masks of one merge (narrower; with preferClosest, closer among equal counts). */
function pickMask(scope: MergeScope, current: number, candidate: number): number {
  if (current === candidate) return current;
  if (scope.preferClosest && popcount(current) === popcount(candidate)) {
    const dc = avgDistance(scope, current);
    const dd = avgDistance(scope, candidate);
    if (dc === dd) return current < candidate ? current : candidate;
    return dc < dd ? current : candidate;
  }
  return isNarrowerThan(current, candidate) ? current : candidate;
}

/** HintMerger's compare: the hint kept of the current best and a candidate. */
function compareHints(scope: MergeScope, current: TopologyHint | null, cand: TopologyHint): TopologyHint | null {
  if (cand.mask === 0) return current;
  if (current === null) return cand;
  if (!current.preferred && cand.preferred) return cand;
  if (current.preferred && !cand.preferred) return current;
  if (current.preferred && cand.preferred) return pickMask(scope, current.mask, cand.mask) === current.mask ? current : cand;
  const cc = popcount(current.mask);
  const nc = popcount(cand.mask);
  const bnp = scope.bestNonPreferred;
  if (cc > bnp) return pickMask(scope, current.mask, cand.mask) === current.mask ? current : cand;
  if (cc === bnp) return nc !== bnp ? current : pickMask(scope, current.mask, cand.mask) === current.mask ? current : cand;
  if (nc > bnp) return current;
  if (nc === bnp) return cand;
  if (nc > cc) return cand;
  if (nc < cc) return current;
  return pickMask(scope, current.mask, cand.mask) === current.mask ? current : cand;
}

/** In place: a[s] becomes the sum of a[m] over the supersets m of s (n bits). */
function supersetSums(a: Int32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const bit = 1 << i;
    for (let m = 0; m < a.length; m++) if ((m & bit) === 0) a[m] = (a[m] as number) + (a[m | bit] as number);
  }
}

/** In place: the inverse of `supersetSums` (counts of pairs ANDing to exactly s), then 1 where some pair does, else 0. */
function exactSets(a: Int32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const bit = 1 << i;
    for (let m = 0; m < a.length; m++) if ((m & bit) === 0) a[m] = (a[m] as number) - (a[m | bit] as number);
  }
  for (let m = 0; m < a.length; m++) a[m] = (a[m] as number) > 0 ? 1 : 0;
}

/**
 * HintMerger.Merge over providers' hint lists (already filtered as the policy requires).
 * `permutations` is the number of combinations the kubelet's literal cross product merges.
 */
export function mergeHints(providers: readonly TopologyHint[][], n: number, options: MergeOptions = {}): MergeResult {
  if (!options.literal) return mergeHintSets(providers.map((l) => setOfList(l, n)), n, options);
  const all = n >= 31 ? -1 : (1 << n) - 1;
  const merge = mergeScope(providers.map((l) => setOfList(l, n)), n, options);
  let best: TopologyHint | null = null;
  let permutations = 0;
  const rec = (i: number, mask: number, preferred: boolean): void => {
    if (i === providers.length) {
      permutations++;
      best = compareHints(merge, best, { mask, preferred });
      return;
    }
    for (const h of providers[i] as TopologyHint[]) rec(i + 1, mask & (h.any ? all : h.mask), preferred && h.preferred);
  };
  rec(0, all, true);
  return { hint: best ?? { mask: all, preferred: false }, permutations };
}

/** The comparison's scope: bestNonPreferred is the widest of the providers' narrowest non-don't-care hints. */
function mergeScope(sets: readonly HintSet[], n: number, options: MergeOptions): MergeScope {
  let bestNonPreferred = 0;
  for (const s of sets) if (Number.isFinite(s.narrow)) bestNonPreferred = Math.max(bestNonPreferred, s.narrow);
  return { n, bestNonPreferred, preferClosest: options.preferClosest === true, distance: options.distance };
}

/**
 * HintMerger.Merge over hint sets. Which (mask, preferred) pairs the cross product reaches, without
 * walking it: per mask, whether some combination ANDs to it with every hint preferred (`pref`) or
 * with one not preferred (`plain`). Folding one provider in is an AND-convolution of mask sets, done
 * with the superset zeta transform (the pairs whose AND contains s are the products of the supersets
 * of s on each side) and its Moebius inverse: O(n 2^n) per provider instead of |acc| x |list| pairs.
 * The best reached pair is then found by the kubelet's comparison, as the literal merge keeps it.
 */
export function mergeHintSets(sets: readonly HintSet[], n: number, options: MergeOptions = {}): MergeResult {
  const all = (1 << n) - 1;
  const size = 1 << n;
  const scope = mergeScope(sets, n, options);
  if (scratch.length < 4 * size) scratch = new Int32Array(4 * size);
  const pref = scratch.subarray(0, size);
  const plain = scratch.subarray(size, 2 * size);
  const hp = scratch.subarray(2 * size, 3 * size);
  const hn = scratch.subarray(3 * size, 4 * size);
  let permutations = 1;
  for (const s of sets) permutations *= s.count;
  const quick = singlePreferred(sets, n, scope);
  if (quick >= 0) return { hint: { mask: quick, preferred: true }, permutations };
  // A preferred merged hint beats every other: the preferred ones alone first (hints ANDed only
  // with preferred hints), the others only when no preferred one is reached.
  for (const full of [false, true]) {
    // The first provider ANDed with "every node" is itself.
    pref.fill(0);
    plain.fill(0);
    pref[all] = 1;
    sets.forEach((s, k) => {
      for (let m = 0; m < size; m++) {
        hp[m] = s.pref[m] as number;
        hn[m] = full ? (s.plain[m] as number) : 0;
      }
      if (s.anyPref) hp[all] = 1;
      if (s.anyPlain && full) hn[all] = 1;
      if (k === 0) {
        pref.set(hp);
        plain.set(hn);
        return;
      }
      supersetSums(pref, n);
      supersetSums(hp, n);
      if (full) {
        supersetSums(plain, n);
        supersetSums(hn, n);
        for (let m = 0; m < size; m++) plain[m] = (pref[m] as number) * (hn[m] as number) + (plain[m] as number) * ((hp[m] as number) + (hn[m] as number));
        exactSets(plain, n);
      }
      for (let m = 0; m < size; m++) pref[m] = (pref[m] as number) * (hp[m] as number);
      exactSets(pref, n);
    });
    let bestMask = -1;
    let bestPref = false;
    for (let m = 1; m < size; m++) {
      if (pref[m] === 1 && replaces(scope, bestMask, bestPref, m, true)) {
        bestMask = m;
        bestPref = true;
      }
      if (plain[m] === 1 && replaces(scope, bestMask, bestPref, m, false)) {
        bestMask = m;
        bestPref = false;
      }
    }
    if (bestMask >= 0 && (bestPref || full)) return { hint: { mask: bestMask, preferred: bestPref }, permutations };
  }
  return { hint: { mask: all, preferred: false }, permutations };
}

/**
 * The best preferred merged hint when every provider's preferred hints are single nodes (or "don't
 * care"), the common case (a VM one node holds): a combination of preferred hints ANDs to node i
 * when every provider offers i or does not care, to every node when none cares; -1 when no
 * preferred hint is reached (or the providers' preferred hints are wider: the transform decides).
 */
function singlePreferred(sets: readonly HintSet[], n: number, scope: MergeScope): number {
  let allAny = true;
  for (const s of sets) {
    if (s.prefBits > 1) return -1;
    if (!s.anyPref) allAny = false;
    if (!s.anyPref && s.prefBits === 0) return -1;
  }
  let best = -1;
  for (let i = 0; i < n; i++) {
    const m = 1 << i;
    let offered = false;
    let ok = true;
    for (const s of sets) {
      if (s.pref[m] === 1) offered = true;
      else if (!s.anyPref) {
        ok = false;
        break;
      }
    }
    if (ok && offered && replaces(scope, best, true, m, true)) best = m;
  }
  const all = (1 << n) - 1;
  if (allAny && replaces(scope, best, true, all, true)) best = all;
  return best;
}

/** Scratch of mergeHintSets (merging is synchronous). */
let scratch = new Int32Array(4 * 256);

/** `compareHints` on numbers: true when (mask, pref) replaces the current best (curMask -1: none yet). */
function replaces(scope: MergeScope, curMask: number, curPref: boolean, mask: number, pref: boolean): boolean {
  if (mask === 0) return false;
  if (curMask < 0) return true;
  if (!curPref && pref) return true;
  if (curPref && !pref) return false;
  if (curPref && pref) return pickMask(scope, curMask, mask) !== curMask;
  const cc = popcount(curMask);
  const nc = popcount(mask);
  const bnp = scope.bestNonPreferred;
  if (cc > bnp) return pickMask(scope, curMask, mask) !== curMask;
  if (cc === bnp) return nc !== bnp ? false : pickMask(scope, curMask, mask) !== curMask;
  if (nc > bnp) return false;
  if (nc === bnp) return true;
  if (nc > cc) return true;
  if (nc < cc) return false;
  return pickMask(scope, curMask, mask) !== curMask;
}

/** A provider that says "don't care" (one preferred hint over every node). */
function dontCare(n: number): HintSet {
  const s = emptySet(n);
  s.anyPref = true;
  s.count = 1;
  return s;
}

const TOTALS = new WeakMap<Topology, Map<string, readonly number[]>>();

/**
 * A provider's per-node totals (whole capacity, free or not), memoised per topology, the eligible
 * nodes (static without an explicit node list: they depend on the topology and the memory tier only)
 * and `key` (resource and mode or page size).
 */
function totalsOf(ctx: PlacementContext, key: string, compute: () => number[]): readonly number[] {
  if (ctx.request.nodes) return compute(); // a restricted node list: not the static eligible set
  let byKey = TOTALS.get(ctx.topology);
  if (!byKey) TOTALS.set(ctx.topology, (byKey = new Map()));
  const full = `${ctx.request.tier}|${key}`;
  let t = byKey.get(full);
  if (!t) byKey.set(full, (t = compute()));
  return t;
}

/** The hints of the providers for a context (filterProvidersHints applied), as sets. */
export function providerSets(ctx: PlacementContext): HintSet[] {
  const nodes = ctx.cpuNodes;
  const n = nodes.length;
  const request = ctx.request;
  const providers: HintSet[] = [];
  // CPU manager (static policy): dedicated vCPUs only.
  if (ctx.mode === 'shared') providers.push(dontCare(n));
  else {
    const total = totalsOf(ctx, `cpu|${ctx.mode}`, () => nodes.map((c) => (ctx.mode === 'core' || ctx.mode === 'isolate' ? c.totalCores : c.totalPus)));
    providers.push(resourceSet(n, total, nodes.map((c) => ctx.cpuCap(c.id)), ctx.slots));
  }
  // Memory manager: the page size of this context.
  if (ctx.separateMemory) providers.push(dontCare(n));
  else {
    const topo = nodesById(ctx.topology);
    const total = totalsOf(ctx, `mem|${ctx.pageSize}`, () =>
      nodes.map((c) => {
        const t = topo.get(c.id);
        if (!t) return 0;
        const pools = t.hugePages.reduce((s, p) => s + p.pageSize * p.total, 0);
        if (ctx.pageSize === 4096) return t.memory.total - pools;
        return t.hugePages.filter((p) => p.pageSize === ctx.pageSize).reduce((s, p) => s + p.pageSize * p.total, 0);
      }),
    );
    providers.push(resourceSet(n, total, nodes.map((c) => ctx.memCap(c.id)), request.memory));
  }
  // Device manager: one resource per device request.
  const everything = request.devices.length === 0 ? [] : topologyIndex(ctx.topology).slots;
  const pos = request.devices.length === 0 ? null : new Map(nodes.map((c, i) => [c.id, i]));
  for (const d of request.devices) {
    if (d.locality === 'none') {
      providers.push(dontCare(n));
      continue;
    }
    // per node position, plus devices of unknown node (local to every mask)
    const count = (list: Iterable<{ node: number | null }>): { per: number[]; anywhere: number } => {
      const per = new Array<number>(n).fill(0);
      let anywhere = 0;
      for (const s of list) {
        if (s.node === null) anywhere++;
        else {
          const p = pos?.get(s.node);
          if (p !== undefined) per[p] = (per[p] as number) + 1;
        }
      }
      return { per, anywhere };
    };
    const total = count(everything.filter((s) => deviceMatches(s, d)));
    const free = count([...ctx.capacity.freeDevices.values()].filter((s) => deviceMatches(s, d)));
    providers.push(resourceSet(n, total.per, free.per, d.count, total.anywhere, free.anywhere));
  }
  return providers;
}

/** The hint lists of the providers for a context (masks in IterateBitMasks order). */
export function providerHints(ctx: PlacementContext): TopologyHint[][] {
  const masks = bitMasks(ctx.cpuNodes.length);
  return providerSets(ctx).map((s) => {
    const list: TopologyHint[] = [];
    if (s.anyPref) list.push({ mask: 0, preferred: true, any: true });
    if (s.anyPlain) list.push({ mask: 0, preferred: false, any: true });
    for (const m of masks) if (s.pref[m] || s.plain[m]) list.push({ mask: m, preferred: s.pref[m] === 1 });
    return list;
  });
}

/** filterSingleNumaHints: keep preferred hints of one node, or preferred don't-care hints. */
export function filterSingleNuma(providers: readonly HintSet[]): HintSet[] {
  return providers.map((s) => {
    const out = emptySet(Math.log2(s.pref.length));
    out.anyPref = s.anyPref;
    out.count = s.anyPref ? 1 : 0;
    for (let m = 1; m < s.pref.length; m++) {
      if (s.pref[m] && popcount(m) === 1) {
        out.pref[m] = 1;
        out.narrow = 1;
        out.prefBits = 1;
        out.count++;
      }
    }
    return out;
  });
}

/** The chooser of one Topology Manager policy. */
export function k8sChooser(kind: K8sPolicyKind, preferClosest: boolean, name: string): (ctx: PlacementContext) => NodeChoice | null {
  return (ctx) => {
    const explicit = explicitChoice(ctx, name);
    if (explicit !== undefined) return explicit;
    const nodes = ctx.cpuNodes.map((c) => c.id);
    const n = nodes.length;
    if (n === 0) return null;
    // Every choice below is an evaluation that holds the VM: none can when all the free capacity together does not.
    if (!Number.isFinite(ctx.minNodes())) return null;
    let providers = providerSets(ctx);
    if (kind === 'single-numa-node') providers = filterSingleNuma(providers);
    const { hint, permutations } = mergeHintSets(providers, n, { preferClosest: preferClosest && kind !== 'single-numa-node', distance: (a, b) => ctx.distance(nodes[a] as number, nodes[b] as number) });
    const all = (1 << n) - 1;
    const any = hint.mask === all;
    const admit = kind === 'best-effort' ? true : hint.preferred;
    if (!admit) return null;
    const ids = nodes.filter((_, i) => hint.mask & (1 << i));
    const notes = [`${name}: merged hint nodes ${ids.join(',')}${hint.preferred ? ' (preferred)' : ' (not preferred)'} from ${permutations} merged hint combinations`];
    const hi = ctx.maxNodes();
    if (kind === 'single-numa-node' && any && n > 1) {
      // every provider said "don't care": the kubelet admits without alignment; take the first node that fits
      for (const id of nodes) {
        const ev = ctx.evaluate([id]);
        if (ev.ok) return choiceOf(ev, [...notes, 'no provider expressed a preference: first node that fits']);
      }
      return null;
    }
    if (ids.length > hi) return null;
    const ev = ctx.evaluate(ids);
    if (ev.ok) return choiceOf(ev, notes);
    if (kind === 'single-numa-node') return null;
    // The resource managers extend a hint they cannot satisfy to the narrowest of their own masks
    // containing it (memory manager extendTopologyManagerHint; the CPU manager takes the rest
    // elsewhere): here, the narrowest superset of the merged mask that holds the VM.
    // Supersets are judged with quickEvaluate (the same verdict) and the first that holds the VM in full.
    for (const m of narrowOrder(n)) {
      if ((m & hint.mask) !== hint.mask || m === hint.mask || popcount(m) > hi) continue;
      const set = nodes.filter((_, i) => m & (1 << i));
      if (!ctx.quickEvaluate(set).ok) continue;
      const grown = ctx.evaluate(set);
      if (grown.ok) return choiceOf(grown, [...notes, `the merged hint does not hold the VM: extended to the narrowest mask containing it, nodes ${set.join(',')}`]);
    }
    return null;
  };
}

const LIMIT_WHY = 'the kubelet does not start its Topology Manager on machines with more than 8 NUMA nodes: the hint merge enumerates every node subset per resource';

function k8s(name: string, kind: K8sPolicyKind, preferClosest: boolean, description: string): PlacementPolicy {
  return definePolicy(name, description, k8sChooser(kind, preferClosest, name), { nodeLimit: K8S_MAX_NUMA_NODES, limitWhy: LIMIT_WHY });
}

/** Topology Manager single-numa-node: one NUMA node for everything, or refuse. */
export const k8sSingleNumaNodePolicy = k8s('k8s-single-numa-node', 'single-numa-node', false, 'Kubernetes Topology Manager single-numa-node: every resource on one node or the VM is refused');
/** Topology Manager restricted: the merged hint must be preferred (narrowest possible). */
export const k8sRestrictedPolicy = k8s('k8s-restricted', 'restricted', false, 'Kubernetes Topology Manager restricted: narrowest merged bitmask, admitted only when preferred; distances ignored');
/** Topology Manager best-effort: the merged hint, admitted anyway. */
export const k8sBestEffortPolicy = k8s('k8s-best-effort', 'best-effort', false, 'Kubernetes Topology Manager best-effort: narrowest merged bitmask, always admitted; distances ignored');
/** best-effort with the prefer-closest-numa-nodes option. */
export const k8sBestEffortClosestPolicy = k8s('k8s-best-effort-closest', 'best-effort', true, 'Kubernetes Topology Manager best-effort with prefer-closest-numa-nodes: equal-size masks ranked by average distance');
