/**
 * The policy interface. Every placement policy (numaplan's own engine and the peers' baselines)
 * implements `PlacementPolicy`; most are built with `definePolicy`, which supplies the shared
 * machinery (page-size and SMT fallbacks, explicit CPUs, concrete assignment, vNUMA, cost,
 * explanation, refusal reasons and hints) so that a policy only decides the node set:
 *
 *   export const firstFit = definePolicy('first-fit', 'lowest node first', (ctx) => {
 *     for (const n of ctx.cpuNodes) { const ev = ctx.evaluate([n.id]); if (ev.ok) return { evaluation: ev }; }
 *     return null;
 *   });
 *
 * A chooser receives a PlacementContext (capacities per node, `evaluate(nodeSet)` with the standard
 * split, `distance`, `minNodes`/`maxNodes`) and returns the evaluation it picked (plus, optionally,
 * its score terms, the alternatives it rejected and notes), or null when nothing fits.
 */
import type { PlacementContext, SetEvaluation } from './context.js';
import { placeWith } from './engine.js';
import type { VmRequest } from './request.js';
import type { HostState } from './state.js';
import type { Alternative, PlacementResult, RefusalReason, ScoreTerm } from './types.js';

/** What a chooser decided. */
export interface NodeChoice {
  evaluation: SetEvaluation;
  score?: ScoreTerm[];
  alternatives?: Alternative[];
  notes?: string[];
}

/**
 * A chooser's refusal that says why in the policy's own terms (its pick, and what that pick lacks),
 * for refusals the shared per-node reasons cannot explain (a policy whose rule picks a set that
 * fails while another set would hold the VM).
 */
export interface PolicyRefusal {
  refused: RefusalReason[];
}

/** Decides the node set for one context; null when no set fits (the shared reasons explain why). */
export type ChooseNodes = (ctx: PlacementContext) => NodeChoice | PolicyRefusal | null;

/** Options of one placement. */
export interface PlaceOptions {
  /** Compute hints on refusal (each hint re-runs the policy on a changed request). Default true. */
  hints?: boolean;
  /** vNUMA: CPU-less guest nodes for devices outside the VM's nodes. Default false. */
  deviceNodes?: boolean;
}

/** A placement policy. */
export interface PlacementPolicy {
  name: string;
  description: string;
  place(request: VmRequest, state: HostState, options?: PlaceOptions): PlacementResult;
}

/** Builds a policy from a node-set chooser and the shared machinery. */
export function definePolicy(name: string, description: string, choose: ChooseNodes): PlacementPolicy {
  return {
    name,
    description,
    place: (request, state, options = {}) => placeWith(name, choose, request, state, options),
  };
}
