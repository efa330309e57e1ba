/**
 * The benchmark's "BestFit", exactly as its code computes it (which is a worst fit): for every
 * feasible action it scores the node after placement by min(free cores / cores, free GB / GB) and
 * keeps the highest score, so it prefers the emptiest node. For a double-NUMA VM only node 0 of the
 * server is scored (the original takes min(rate(0), rate(0))). Ties: the first action in scan order
 * (lowest server, node 0 first) wins, since later ones must score strictly higher.
 */
import type { VmagentCluster, VmagentVm } from './cluster.js';
import type { VmagentPolicy } from './policy.js';

/** "BestFit" of the benchmark, named for what it is. */
export const vmagentBestFit: VmagentPolicy = {
  name: 'vmagent-best-fit',
  description: 'the benchmark\'s "BestFit" as coded: the node left emptiest after placement (double VMs: node 0 only)',
  choose(cluster: VmagentCluster, vm: VmagentVm): number {
    const { freeCpu, freeMem, cpuPerNode, memPerNode } = cluster;
    const nodes = 2 * cluster.servers;
    let best = -1;
    let bestRate = -1;
    if (vm.double) {
      const c = vm.cpu / 2;
      const m = vm.mem / 2;
      for (let a = 0; a < nodes; a += 2) {
        if (!cluster.fits(vm, a)) continue;
        const rate = Math.min(((freeCpu[a] as number) - c) / cpuPerNode, ((freeMem[a] as number) - m) / memPerNode);
        if (rate > bestRate) {
          bestRate = rate;
          best = a;
        }
      }
      return best;
    }
    for (let a = 0; a < nodes; a++) {
      if (!cluster.fits(vm, a)) continue;
      const rate = Math.min(((freeCpu[a] as number) - vm.cpu) / cpuPerNode, ((freeMem[a] as number) - vm.mem) / memPerNode);
      if (rate > bestRate) {
        bestRate = rate;
        best = a;
      }
    }
    return best;
  },
};
