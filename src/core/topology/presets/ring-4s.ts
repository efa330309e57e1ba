/** Four sockets in a ring: neighbours one hop apart, opposite sockets two. */
import { VENDOR, connectX, nvidiaGpu, nvme } from './devices.js';
import type { Preset } from './index.js';
import { SIZE, buildMachine } from './machine.js';

/** Hops between sockets i and j on a ring of n. */
function ringHops(i: number, j: number, n: number): number {
  const d = Math.abs(i - j);
  return Math.min(d, n - d);
}

/** 4 sockets x 20 cores x 2 threads, 192 GiB each, distances 10 / 21 adjacent / 32 opposite. */
export const ring4s: Preset = {
  name: 'ring-4s',
  description: '4 sockets in a ring (20C/40T, 192 GiB each): distances 10, 21 to neighbours, 32 to the opposite socket; ConnectX-5, V100',
  provenance: [
    'Illustrative: a four-socket host whose sockets are linked in a ring (0-1-2-3-0), so each socket reaches two neighbours',
    'in one hop and the opposite socket in two. Distances 21 for one hop (the usual Intel inter-socket SLIT value, as in',
    'numactl/docs/argonne-aurora-SPR-Max-flat-HBM.txt) and 32 for two hops (the two-socket EPYC inter-socket value used as a',
    'stand-in for "farther"); neither is from a real four-socket ring. Core counts, 20-core Xeon naming and 192 GiB',
    '(6 channels x 32 GiB) per socket are illustrative. Devices illustrative: ConnectX-5 (15b3:1017) with 8 VFs on nodes 0 and 2,',
    'Tesla V100 PCIe (10de:1db4) on node 3, Intel DC P4510 NVMe (8086:0a54) on node 1.',
    'Huge pages: pre-sized pools (1/4 of each node in 2M pages, 1/8 in 1G), all free.',
  ].join(' '),
  build: () =>
    buildMachine({
      name: 'ring-4s',
      packages: 4,
      nodesPerPackage: 1,
      coresPerNode: 20,
      threadsPerCore: 2,
      numbering: 'linux',
      model: 'Intel(R) Xeon(R) Gold 6148 (illustrative four-socket ring)',
      memoryPerNode: 192 * SIZE.GiB,
      coresPerL3: 20,
      l3Size: 27.5 * SIZE.MiB,
      distance: (i, j) => [10, 21, 32][ringHops(i, j, 4)] as number,
      devices: [
        ...connectX({ address: '0000:18:00.0', node: 0, family: 'ConnectX-5', rdmaIndex: 0, netdev: 'ens1f0np0' }),
        ...connectX({ address: '0000:d8:00.0', node: 2, family: 'ConnectX-5', rdmaIndex: 9, netdev: 'ens9f0np0' }),
        nvme('0000:5e:00.0', 1, VENDOR.intel, 0x0a54, 'Intel DC P4510 NVMe SSD'),
        nvidiaGpu('0000:f1:00.0', 3, 0x1db4, 'NVIDIA Tesla V100 PCIe 16GB'),
      ],
    }),
};
