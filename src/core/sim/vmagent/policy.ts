/** The interface every policy of the benchmark mode implements. */
import type { VmagentCluster, VmagentVm } from './cluster.js';

/**
 * Chooses where a VM goes: an action `server * 2 + node` (node 0 for a double-NUMA VM), or -1 when
 * it fits nowhere. Contract: returns -1 only when no action fits (so every policy sees the same
 * "first failure"), never mutates the cluster, and is deterministic.
 */
export interface VmagentPolicy {
  readonly name: string;
  /** One line for reports: the rule and its tie-break. */
  readonly description: string;
  choose(cluster: VmagentCluster, vm: VmagentVm): number;
  /** Forgets what the policy learned; the runner calls it before every run. */
  reset?(): void;
}
