/** Two-socket Sapphire Rapids with Sub-NUMA Clustering 2: four nodes. */
import { VENDOR, connectX, nvidiaGpu, nvme } from './devices.js';
import type { Preset } from './index.js';
import { SIZE, buildMachine } from './machine.js';

/** 2 x Xeon Platinum 8480+ (56C/112T each) in SNC2: 4 nodes of 28 cores and 128 GiB, distances 10/12/21. */
export const xeon2sSnc2: Preset = {
  name: 'xeon-2s-snc2',
  description: '2 x Xeon Platinum 8480+ (56C/112T each) in SNC2: 4 nodes of 128 GiB, distances 10/12/21; ConnectX-6 Dx + VFs, A100',
  provenance: [
    'Distances: 12 between the two SNC nodes of a socket from the Sapphire Rapids SNC4 table numactl/docs/umf-qemu-sock_8_var1_hmat.distances.txt',
    '(a QEMU model based on a real SPR SNC4 report, not a dump of the machine); 21 across sockets from the real SPR output',
    'numactl/docs/argonne-aurora-SPR-Max-flat-HBM.txt and the same table. Assumed: that SNC2 uses the same 12 as SNC4',
    "(the real dual Cascade Lake SNC2 capture in hwloc's test suite, memorysidecaches, shows 11 there).",
    'CPU numbering as in the real SPR SNC4 output (numactl/github-issues/unified-memory-framework-1289_*: consecutive cores per node,',
    'second threads after all first threads), so node0 = 0-27,112-139.',
    '56 cores and 105 MB L3 per socket: Intel specification of the 8480+; L3 split evenly over the two SNC nodes (illustrative).',
    'Memory 8 channels x 32 GiB = 256 GiB per socket, 128 GiB per node (illustrative).',
    'Devices illustrative: ConnectX-6 Dx (15b3:101d) with 8 VFs on nodes 0 and 2, A100 80GB PCIe (10de:20b5) on nodes 1 and 3,',
    'Intel D7-P5510 NVMe (8086:0b60) on node 0. Huge pages: pre-sized pools (1/4 of each node in 2M pages, 1/8 in 1G), all free.',
  ].join(' '),
  build: () =>
    buildMachine({
      name: 'xeon-2s-snc2',
      packages: 2,
      nodesPerPackage: 2,
      coresPerNode: 28,
      threadsPerCore: 2,
      numbering: 'linux',
      model: 'Intel(R) Xeon(R) Platinum 8480+',
      memoryPerNode: 128 * SIZE.GiB,
      coresPerL3: 28,
      l3Size: 52.5 * SIZE.MiB,
      distance: (i, j) => (i === j ? 10 : Math.floor(i / 2) === Math.floor(j / 2) ? 12 : 21),
      devices: [
        ...connectX({ address: '0000:17:00.0', node: 0, family: 'ConnectX-6 Dx', rdmaIndex: 0, netdev: 'ens1f0np0' }),
        ...connectX({ address: '0000:97:00.0', node: 2, family: 'ConnectX-6 Dx', rdmaIndex: 9, netdev: 'ens5f0np0' }),
        nvme('0000:31:00.0', 0, VENDOR.intel, 0x0b60, 'Intel D7-P5510 NVMe SSD'),
        nvidiaGpu('0000:4b:00.0', 1, 0x20b5, 'NVIDIA A100 80GB PCIe'),
        nvidiaGpu('0000:ca:00.0', 3, 0x20b5, 'NVIDIA A100 80GB PCIe'),
      ],
    }),
};
