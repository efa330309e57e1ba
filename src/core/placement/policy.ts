/**
 * The policy interface. Every placement policy (numaplan's own and the peers' baselines) is a
 * chooser over the kernel's evaluator: given a `PlacementContext` (one request against one host's
 * capacity, in one CPU mode and page size), it returns the node set it picked (a `NodeChoice`, with
 * its score terms), a refusal with reasons in its own terms (`PolicyRefusal`), or null when no set
 * fits (the kernel's shared per-node reasons then say why). The kernel (`decide.ts`) does the rest:
 * CPU modes and page sizes in order, explicit CPUs, concrete CPUs and devices, and, only for what is
 * reported, the explanation and the refusal's reasons and hints. No policy reads another's output.
 *
 *   export const firstFitPolicy = definePolicy('first-fit', 'lowest node first', (ctx) => {
 *     for (const n of ctx.cpuNodes) { const ev = ctx.evaluate([n.id]); if (ev.ok) return { evaluation: ev }; }
 *     return null;
 *   });
 */
import type { PlacementContext, SetEvaluation } from './context.js';
import { placeWith } from './decide.js';
import type { VmRequest } from './request.js';
import type { HostState } from './state.js';
import type { Alternative, PlacementResult, RefusalReason, ScoreTerm } from './types.js';

/** What a chooser decided. */
export interface NodeChoice {
  evaluation: SetEvaluation;
  /** The policy's score terms of the chosen set (their weighted sum ranks hosts: lower wins). */
  score?: ScoreTerm[];
  /** Sets considered and not chosen (only when asked for detail). */
  alternatives?: Alternative[];
  /** Sentences for the explanation (only when asked for detail, for policies whose notes cost work). */
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

/**
 * Decides the node set for one context; null when no set fits (the shared reasons explain why).
 * `detail`: the caller will report this choice, so fill in the alternatives and notes of the
 * explanation; without it a chooser may leave them out (the same set and score either way).
 */
export type ChooseNodes = (ctx: PlacementContext, detail: boolean) => NodeChoice | PolicyRefusal | null;

/** Options of one placement. */
export interface PlaceOptions {
  /** Compute hints on refusal (each hint re-runs the policy on a changed request). Default true. */
  hints?: boolean;
  /** vNUMA: CPU-less guest nodes for devices outside the VM's nodes. Default false. */
  deviceNodes?: boolean;
}

/** A placement policy: its chooser and the limits the kernel applies around it. */
export interface PlacementPolicy {
  name: string;
  description: string;
  /** Picks the node set in one context. */
  choose: ChooseNodes;
  /**
   * Hosts with more NUMA nodes than this are refused up front with a `numa-nodes` reason, the way
   * the peer gives up (the kubelet's Topology Manager above 8 nodes, libxl above 16).
   */
  nodeLimit: number;
  /** Why the peer has its node limit (the refusal's detail). */
  limitWhy: string;
  /**
   * True when the evaluation of every choice is the context's `evaluate` of its node set (each node
   * of a set runs at least one vCPU; DRAM memory only on the set's nodes): the fleet may then prune
   * hosts on the memory of nodes with a free PU only (`HostLedger.mayHold`), and rebuild a
   * remembered decision from its node set. False for choosers that build placements of their own
   * (interleave puts memory on every node).
   */
  sets: boolean;
  /** Places one VM on a host state (the kernel's `place` with this policy). */
  place(request: VmRequest, state: HostState, options?: PlaceOptions): PlacementResult;
}

/** Options of `definePolicy`. */
export interface PolicyOptions {
  nodeLimit?: number;
  limitWhy?: string;
  sets?: boolean;
}

/** Builds a policy from a node-set chooser. */
export function definePolicy(name: string, description: string, choose: ChooseNodes, options: PolicyOptions = {}): PlacementPolicy {
  const policy: PlacementPolicy = {
    name,
    description,
    choose,
    nodeLimit: options.nodeLimit ?? Number.POSITIVE_INFINITY,
    limitWhy: options.limitWhy ?? '',
    sets: options.sets ?? true,
    place: (request, state, opts = {}) => placeWith(policy, request, state, opts),
  };
  return policy;
}
