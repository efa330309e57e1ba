/**
 * Helpers shared by the baseline policies: the explicit-nodes escape hatch (honoured the same way by
 * every policy), the node-count range a request allows, k-combinations in lexicographic order, and a
 * wrapper that refuses hosts above a peer's node limit with a structured reason.
 */
import type { PlacementContext, SetEvaluation } from '../../context.js';
import type { NodeChoice, PlacementPolicy } from '../../policy.js';
import type { ScoreTerm } from '../../types.js';

/**
 * `nodes=` given: exactly those nodes, checked by the standard evaluation (as numaplan does).
 * Returns undefined when the request names no nodes, so the policy decides itself.
 */
export function explicitChoice(ctx: PlacementContext, policy: string): NodeChoice | null | undefined {
  if (!ctx.request.nodes) return undefined;
  const ids = ctx.cpuNodes.map((n) => n.id);
  if (ids.length === 0) return null;
  const ev = ctx.evaluate(ids);
  return ev.ok ? choiceOf(ev, [`${policy}: nodes given explicitly (nodes=): exactly these, checked`]) : null;
}

/** The node counts a request allows: [max(1, minNodes), maxNodes]; lo > hi when nothing can fit. */
export function sizeRange(ctx: PlacementContext): [number, number] {
  const lo = Math.max(1, ctx.minNodes());
  return [lo, ctx.maxNodes()];
}

/** A NodeChoice with notes and optional score terms. */
export function choiceOf(evaluation: SetEvaluation, notes: string[], score: ScoreTerm[] = []): NodeChoice {
  return { evaluation, score, alternatives: [], notes };
}

/**
 * Visits the k-combinations of `items` in lexicographic order of positions (the order of Python's
 * itertools.combinations and of libxl's comb_next); stops when `visit` returns true.
 */
export function combinations<T>(items: readonly T[], k: number, visit: (combo: T[]) => boolean | void): void {
  const n = items.length;
  if (k <= 0 || k > n) return;
  const idx = Array.from({ length: k }, (_, i) => i);
  for (;;) {
    if (visit(idx.map((i) => items[i] as T)) === true) return;
    let i = k - 1;
    while (i >= 0 && (idx[i] as number) === n - k + i) i--;
    if (i < 0) return;
    idx[i] = (idx[i] as number) + 1;
    for (let j = i + 1; j < k; j++) idx[j] = (idx[j - 1] as number) + 1;
  }
}

/**
 * Wraps a policy so that hosts with more NUMA nodes than `limit` are refused up front with a reason
 * `{ resource: 'numa-nodes', node: null, need: <host nodes>, have: <limit> }`, the way the peer
 * gives up (the kubelet refuses to start its Topology Manager, libxl skips automatic placement).
 */
export function withNodeLimit(policy: PlacementPolicy, limit: number, why: string): PlacementPolicy {
  return {
    name: policy.name,
    description: policy.description,
    place(request, state, options) {
      const n = state.topology.nodes.length;
      if (n > limit) {
        return {
          ok: false,
          reasons: [{ resource: 'numa-nodes', node: null, need: n, have: limit, shortfall: n - limit, detail: `${policy.name}: ${why} (host has ${n} NUMA nodes, limit ${limit})` }],
          hints: [`policy numaplan has no node limit`],
        };
      }
      return policy.place(request, state, options);
    },
  };
}
