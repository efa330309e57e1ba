/**
 * numaplan's policy under the benchmark's rules: pack the fullest server, and inside it choose the
 * node that costs the fleet the least room for the VMs that keep coming.
 *
 * 1. Server: among servers where the VM fits, the fullest one (least free capacity, measured as free
 *    cores / cores + free GB / GB over both nodes: each resource as the fraction of a server it is,
 *    so no weight is chosen by hand). Filling the fullest feasible server leaves the emptiest servers
 *    whole, and a whole server is the only place the largest double-NUMA VMs fit. Ties: lowest server.
 * 2. Node (a single-node VM that fits on both nodes): the node whose use loses the least "room", where
 *    the room of a server is how many more VMs of each size seen so far would fit in it (single-node
 *    sizes on each node, double-NUMA sizes on both nodes at once), each size weighted by how often it
 *    has arrived so far. This one measure trades balance (a double-NUMA VM needs both nodes) against
 *    tight packing (splitting a 4-core hole into 2 + 2 loses a 4-core slot); the weights are the
 *    observed size mix, learned online from the requests the policy has seen (never the future ones),
 *    so nothing is tuned to the trace. Ties: the node left fuller (tighter fit), then node 0.
 * The policy keeps the size counts, so call `reset()` before each run (the runner does).
 */
import type { VmagentCluster, VmagentVm } from './cluster.js';
import type { VmagentPolicy } from './policy.js';

interface Size {
  cpu: number;
  mem: number;
  double: boolean;
  count: number;
}

/** Creates numaplan's policy for the benchmark mode (it learns the size mix of one run). */
export function createVmagentNumaplan(): VmagentPolicy {
  const byKey = new Map<string, Size>();
  let sizes: Size[] = [];
  /** Weighted number of VMs of the seen sizes that still fit in a server with these free amounts. */
  const room = (c0: number, m0: number, c1: number, m1: number): number => {
    let total = 0;
    for (const s of sizes) {
      if (s.double) {
        const hc = s.cpu / 2;
        const hm = s.mem / 2;
        total += s.count * Math.min(Math.floor(c0 / hc), Math.floor(m0 / hm), Math.floor(c1 / hc), Math.floor(m1 / hm));
      } else {
        total += s.count * (Math.min(Math.floor(c0 / s.cpu), Math.floor(m0 / s.mem)) + Math.min(Math.floor(c1 / s.cpu), Math.floor(m1 / s.mem)));
      }
    }
    return total;
  };
  return {
    name: 'numaplan',
    description: 'fullest feasible server (keeps whole servers free); node losing the least room for the observed size mix',
    reset() {
      byKey.clear();
      sizes = [];
    },
    choose(cluster: VmagentCluster, vm: VmagentVm): number {
      const key = `${vm.cpu}/${vm.mem}/${vm.double ? 2 : 1}`;
      let size = byKey.get(key);
      if (!size) {
        size = { cpu: vm.cpu, mem: vm.mem, double: vm.double, count: 0 };
        byKey.set(key, size);
        sizes.push(size);
      }
      size.count++;
      const { freeCpu, freeMem, cpuPerNode: C, memPerNode: M } = cluster;
      let server = -1;
      let bestFree = Number.POSITIVE_INFINITY;
      for (let s = 0; s < cluster.servers; s++) {
        const a0 = 2 * s;
        const free = (freeCpu[a0] as number) / C + (freeMem[a0] as number) / M + (freeCpu[a0 + 1] as number) / C + (freeMem[a0 + 1] as number) / M;
        if (free >= bestFree) continue;
        if (vm.double ? cluster.fits(vm, a0) : cluster.fits(vm, a0) || cluster.fits(vm, a0 + 1)) {
          server = s;
          bestFree = free;
        }
      }
      if (server < 0) return -1;
      const a0 = 2 * server;
      if (vm.double) return a0;
      const f0 = cluster.fits(vm, a0);
      const f1 = cluster.fits(vm, a0 + 1);
      if (!(f0 && f1)) return f0 ? a0 : a0 + 1;
      const c0 = freeCpu[a0] as number;
      const m0 = freeMem[a0] as number;
      const c1 = freeCpu[a0 + 1] as number;
      const m1 = freeMem[a0 + 1] as number;
      const r0 = room(c0 - vm.cpu, m0 - vm.mem, c1, m1);
      const r1 = room(c0, m0, c1 - vm.cpu, m1 - vm.mem);
      if (r0 !== r1) return r0 > r1 ? a0 : a0 + 1;
      return c1 / C + m1 / M < c0 / C + m0 / M ? a0 + 1 : a0;
    },
  };
}
