/**
 * first-fit: the simplest placement, as a naive scheduler or `numactl --cpunodebind=N --membind=N`
 * picked by hand would do it: the lowest node id that holds the VM; otherwise the lowest window of k
 * consecutive eligible nodes (by id), k growing from the fewest the capacities allow. No scoring, no
 * distances, no device awareness beyond the hard constraints the shared evaluation enforces.
 *
 * Complexity: at most n windows per size k, so O(n^2) evaluations in the worst case.
 */
import type { PlacementContext } from '../../context.js';
import { type NodeChoice, definePolicy } from '../../policy.js';
import { choiceOf, explicitChoice, sizeRange } from './common.js';

/** The first-fit chooser. */
export function chooseFirstFit(ctx: PlacementContext): NodeChoice | null {
  const explicit = explicitChoice(ctx, 'first-fit');
  if (explicit !== undefined) return explicit;
  const ids = ctx.cpuNodes.map((n) => n.id);
  const [lo, hi] = sizeRange(ctx);
  if (!Number.isFinite(lo)) return null; // all the free capacity together does not hold the VM
  for (let k = lo; k <= hi; k++) {
    for (let start = 0; start + k <= ids.length; start++) {
      const ev = ctx.evaluate(ids.slice(start, start + k));
      if (ev.ok) return choiceOf(ev, [`first-fit: lowest ${k === 1 ? 'node' : `window of ${k} consecutive nodes`} that holds the VM`]);
    }
  }
  return null;
}

/** first-fit policy. */
export const firstFitPolicy = definePolicy('first-fit', 'lowest node (or lowest window of consecutive nodes) that holds the VM; no scoring, distances ignored', chooseFirstFit);
