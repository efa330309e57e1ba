/**
 * The rules of the VM placement benchmark the Huawei trace was published with (VMAgent, "SchedGym"),
 * as this module reads its code:
 *
 * - Servers have two NUMA nodes of 40 cores and 90 GB each.
 * - A VM is double-NUMA when its memory is strictly greater than the scenario's threshold (32 GB in
 *   "fading", 10 GB in "recovering"): half its cores and half its memory go on each node of one server.
 *   Halves are exact halves (an odd core count gives x.5 cores per node, as the original divides
 *   in floating point). Other VMs must fit whole in one node.
 * - A node fits a share when free cores >= cores and free memory >= memory (both inclusive).
 * - "fading" never applies departures; "recovering" applies them (a departure of a VM that is not
 *   placed, e.g. one that arrived before the start offset, is ignored).
 * - A run starts at an event-row offset drawn uniformly from [1000, 9999) (numpy's randint: the upper
 *   bound is excluded), skips departures at the offset, then places arrivals one by one; the score is
 *   the number of arrivals placed before the first one that fits on no server.
 */

/** The two published scenarios. */
export type VmagentScenarioName = 'fading' | 'recovering';

/** A scenario: fleet size and rules. */
export interface VmagentScenario {
  name: VmagentScenarioName;
  servers: number;
  /** Cores per node (40). */
  coresPerNode: number;
  /** GB per node (90). */
  memoryPerNode: number;
  /** A VM whose memory (GB) is strictly above this is split over both nodes of one server. */
  doubleThreshold: number;
  /** Whether departures free resources. */
  applyDeletions: boolean;
}

/** The published start-offset range: event rows [lo, hi). */
export const VMAGENT_OFFSET_RANGE = [1000, 9999] as const;

/** Builds a published scenario for `servers` servers. */
export function vmagentScenario(name: VmagentScenarioName, servers: number): VmagentScenario {
  return {
    name,
    servers,
    coresPerNode: 40,
    memoryPerNode: 90,
    doubleThreshold: name === 'fading' ? 32 : 10,
    applyDeletions: name === 'recovering',
  };
}
