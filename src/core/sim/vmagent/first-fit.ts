/**
 * The benchmark's FirstFit: the lowest-numbered server where the VM fits, node 0 before node 1.
 * Tie-break: there are no ties (the scan order decides).
 */
import type { VmagentCluster, VmagentVm } from './cluster.js';
import type { VmagentPolicy } from './policy.js';

/** FirstFit as the benchmark codes it. */
export const vmagentFirstFit: VmagentPolicy = {
  name: 'first-fit',
  description: 'lowest server where the VM fits, node 0 before node 1 (the benchmark\'s FirstFit)',
  choose(cluster: VmagentCluster, vm: VmagentVm): number {
    const nodes = 2 * cluster.servers;
    if (vm.double) {
      for (let a = 0; a < nodes; a += 2) if (cluster.fits(vm, a)) return a;
      return -1;
    }
    for (let a = 0; a < nodes; a++) if (cluster.fits(vm, a)) return a;
    return -1;
  },
};
