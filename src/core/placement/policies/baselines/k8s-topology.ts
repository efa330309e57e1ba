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
 * (K8S_MAX_NUMA_NODES); so does this baseline. The merge here folds providers one at a time and
 * drops duplicate partial results (first occurrence kept, same best hint as the literal cross
 * product, which `mergeHints(..., { literal: true })` still runs for tests and the benchmark).
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

const popcount = (m: number): number => {
  let c = 0;
  for (let x = m; x; x &= x - 1) c++;
  return c;
};

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

/** Hints of one resource: masks whose free amount covers `need`, preferred at the minimal total-fit size. */
export function resourceHints(masks: readonly number[], total: readonly number[], free: readonly number[], need: number, totalAny = 0, freeAny = 0): TopologyHint[] {
  let minAffinity = Number.POSITIVE_INFINITY;
  const out: TopologyHint[] = [];
  for (const m of masks) {
    let t = totalAny;
    let f = freeAny;
    for (let i = 0; i < total.length; i++) {
      if (m & (1 << i)) {
        t += total[i] as number;
        f += free[i] as number;
      }
    }
    if (t >= need) minAffinity = Math.min(minAffinity, popcount(m));
    if (f >= need) out.push({ mask: m, preferred: false });
  }
  for (const h of out) h.preferred = popcount(h.mask) === minAffinity;
  return out;
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

/** HintMerger.Merge over providers' hint lists (already filtered as the policy requires). */
export function mergeHints(providers: readonly TopologyHint[][], n: number, options: MergeOptions = {}): MergeResult {
  const all = n >= 31 ? -1 : (1 << n) - 1;
  let bestNonPreferred = 0;
  for (const list of providers) {
    let narrow: number | null = null;
    for (const h of list) {
      if (h.any) continue;
      if (narrow === null || isNarrowerThan(h.mask, narrow)) narrow = h.mask;
    }
    if (narrow !== null) bestNonPreferred = Math.max(bestNonPreferred, popcount(narrow));
  }
  const merge: MergeScope = { n, bestNonPreferred, preferClosest: options.preferClosest === true, distance: options.distance };
  const compare = (current: TopologyHint | null, cand: TopologyHint): TopologyHint | null => compareHints(merge, current, cand);
  let best: TopologyHint | null = null;
  let permutations = 0;
  if (options.literal) {
    const rec = (i: number, mask: number, preferred: boolean): void => {
      if (i === providers.length) {
        permutations++;
        best = compare(best, { mask, preferred });
        return;
      }
      for (const h of providers[i] as TopologyHint[]) rec(i + 1, mask & (h.any ? all : h.mask), preferred && h.preferred);
    };
    rec(0, all, true);
  } else {
    let acc: TopologyHint[] = [{ mask: all, preferred: true }];
    const seen: number[] = [];
    for (const list of providers) {
      const next: TopologyHint[] = [];
      seen.length = 0;
      for (const a of acc) {
        for (const h of list) {
          permutations++;
          const mask = a.mask & (h.any ? all : h.mask);
          if (mask === 0) continue;
          const preferred = a.preferred && h.preferred;
          const key = mask * 2 + (preferred ? 1 : 0);
          if (seen.includes(key)) continue;
          seen.push(key);
          next.push({ mask, preferred });
        }
      }
      acc = next;
    }
    for (const h of acc) best = compareHints(merge, best, h);
  }
  return { hint: best ?? { mask: all, preferred: false }, permutations };
}

const DONT_CARE: TopologyHint[] = [{ mask: 0, preferred: true, any: true }];
const NO_FIT: TopologyHint[] = [{ mask: 0, preferred: false, any: true }];

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

/** The hint lists of the three providers for a context (filterProvidersHints applied). */
export function providerHints(ctx: PlacementContext): TopologyHint[][] {
  const nodes = ctx.cpuNodes;
  const n = nodes.length;
  const masks = bitMasks(n);
  const request = ctx.request;
  const providers: TopologyHint[][] = [];
  const dontCare = DONT_CARE;
  const noFit = NO_FIT;
  const add = (hints: TopologyHint[]): void => {
    providers.push(hints.length === 0 ? noFit : hints);
  };
  // CPU manager (static policy): dedicated vCPUs only.
  if (ctx.mode === 'shared') providers.push(dontCare);
  else {
    const total = totalsOf(ctx, `cpu|${ctx.mode}`, () => nodes.map((c) => (ctx.mode === 'core' || ctx.mode === 'isolate' ? c.totalCores : c.totalPus)));
    add(resourceHints(masks, total, nodes.map((c) => ctx.cpuCap(c.id)), ctx.slots));
  }
  // Memory manager: the page size of this context.
  if (ctx.separateMemory) providers.push(dontCare);
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
    add(resourceHints(masks, total, nodes.map((c) => ctx.memCap(c.id)), request.memory));
  }
  // Device manager: one resource per device request.
  const everything = request.devices.length === 0 ? [] : topologyIndex(ctx.topology).slots;
  const pos = request.devices.length === 0 ? null : new Map(nodes.map((c, i) => [c.id, i]));
  for (const d of request.devices) {
    if (d.locality === 'none') {
      providers.push(dontCare);
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
    add(resourceHints(masks, total.per, free.per, d.count, total.anywhere, free.anywhere));
  }
  return providers;
}

/** filterSingleNumaHints: keep preferred hints of one node, or preferred don't-care hints. */
export function filterSingleNuma(providers: readonly TopologyHint[][]): TopologyHint[][] {
  return providers.map((list) => list.filter((h) => h.preferred && (h.any || popcount(h.mask) === 1)));
}

/** The chooser of one Topology Manager policy. */
export function k8sChooser(kind: K8sPolicyKind, preferClosest: boolean, name: string): (ctx: PlacementContext) => NodeChoice | null {
  return (ctx) => {
    const explicit = explicitChoice(ctx, name);
    if (explicit !== undefined) return explicit;
    const nodes = ctx.cpuNodes.map((c) => c.id);
    const n = nodes.length;
    if (n === 0) return null;
    let providers = providerHints(ctx);
    if (kind === 'single-numa-node') providers = filterSingleNuma(providers);
    const { hint, permutations } = mergeHints(providers, n, { preferClosest: preferClosest && kind !== 'single-numa-node', distance: (a, b) => ctx.distance(nodes[a] as number, nodes[b] as number) });
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
    const supersets = bitMasks(n)
      .filter((m) => (m & hint.mask) === hint.mask && m !== hint.mask && popcount(m) <= hi)
      .sort((a, b) => (isNarrowerThan(a, b) ? -1 : isNarrowerThan(b, a) ? 1 : 0));
    for (const m of supersets) {
      const set = nodes.filter((_, i) => m & (1 << i));
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
