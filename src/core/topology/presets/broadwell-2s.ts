/** Two-socket Broadwell: the host of the source documents' worked example. */
import { CONNECTX, VENDOR, connectX, nvidiaGpu, nvme } from './devices.js';
import type { Preset } from './index.js';
import { SIZE, buildMachine } from './machine.js';

/** 2 x Xeon E5-2630 v4, 10 cores / 20 threads and 64 GiB per socket, one node per socket, 10/21. */
export const broadwell2s: Preset = {
  name: 'broadwell-2s',
  description: '2 x Xeon E5-2630 v4 (10C/20T each), 2 nodes of 64 GiB, distances 10/21, ConnectX-4 Lx + 8 VFs, P100, NVMe',
  provenance: [
    'Sockets, cores, threads and memory: the ESXi NUMA source document (2 x Intel Xeon E5-2630 v4, 10 cores / 20 threads',
    'each, 4 x 16 GB DDR4 per socket = 64 GB per node, two NUMA nodes).',
    'Distances 10/21: the usual two-socket Intel SLIT, as in the real output numactl/docs/argonne-aurora-SPR-Max-flat-HBM.txt',
    "and the real dual Cascade Lake capture in hwloc's test suite (memorysidecaches); assumed for this host.",
    'L3 25 MiB per socket: Intel specification of the E5-2630 v4. CPU numbering as Linux shows it (node0 = 0-9,20-29).',
    `Devices illustrative: ConnectX-4 Lx (15b3:${CONNECTX['ConnectX-4 Lx'].pf.toString(16)}) with 8 VFs on node 0,`,
    'Tesla P100 PCIe (10de:15f8) on node 1, Intel DC P3700 NVMe (8086:0953) on node 0.',
    'Huge pages: pre-sized pools (1/4 of each node in 2M pages, 1/8 in 1G pages), all free.',
  ].join(' '),
  build: () =>
    buildMachine({
      name: 'broadwell-2s',
      packages: 2,
      nodesPerPackage: 1,
      coresPerNode: 10,
      threadsPerCore: 2,
      numbering: 'linux',
      model: 'Intel(R) Xeon(R) CPU E5-2630 v4 @ 2.20GHz',
      memoryPerNode: 64 * SIZE.GiB,
      coresPerL3: 10,
      l3Size: 25 * SIZE.MiB,
      distance: (i, j) => (i === j ? 10 : 21),
      devices: [
        ...connectX({ address: '0000:03:00.0', node: 0, family: 'ConnectX-4 Lx', rdmaIndex: 0, netdev: 'ens2f0np0' }),
        nvme('0000:04:00.0', 0, VENDOR.intel, 0x0953, 'Intel DC P3700 NVMe SSD'),
        nvidiaGpu('0000:82:00.0', 1, 0x15f8, 'NVIDIA Tesla P100 PCIe 16GB'),
      ],
    }),
};
