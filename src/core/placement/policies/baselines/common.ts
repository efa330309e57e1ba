/**
 * Helpers shared by the baseline policies: the explicit-nodes escape hatch (honoured the same way by
 * every policy), the node-count range a request allows, and k-combinations in lexicographic order.
 * (A peer's node limit is a property of the policy, `definePolicy(..., { nodeLimit })`: the kernel
 * refuses hosts above it with a `numa-nodes` reason.)
 */
import type { PlacementContext, SetEvaluation } from '../../context.js';
import type { NodeChoice } from '../../policy.js';
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
