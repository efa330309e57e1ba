/** Two-socket Xeon Max (Sapphire Rapids with HBM) in flat mode: HBM as CPU-less nodes. */
import { VENDOR, connectX, nvidiaGpu, nvme } from './devices.js';
import type { Preset } from './index.js';
import { SIZE, buildMachine } from './machine.js';

/** Node distances of the real Aurora output: DDR nodes 0-1, HBM nodes 2 (socket 0) and 3 (socket 1). */
const TABLE = [
  [10, 21, 13, 23],
  [21, 10, 23, 13],
  [13, 23, 10, 23],
  [23, 13, 23, 10],
];

/** 2 x Xeon Max 9470 (52C/104T), 512 GiB DDR + 64 GiB HBM per socket, HBM flat: distances 10/13/21/23. */
export const sapphireRapidsMaxHbmFlat: Preset = {
  name: 'sapphire-rapids-max-hbm-flat',
  description: '2 x Xeon Max 9470 (52C/104T) HBM flat mode: 2 DDR nodes of 512 GiB + 2 CPU-less HBM nodes of 64 GiB, 10/13/21/23',
  provenance: [
    'Node layout, CPU numbering (node0 = 0-51,104-155), HBM node sizes (65536 MB = 64 GiB) and the whole distance table from the',
    'real ALCF Aurora compute-node output numactl/docs/argonne-aurora-SPR-Max-flat-HBM.txt. DDR per node 512 GiB: the',
    'documented 512 GB per socket (the output shows 515524 MB usable). L3 105 MB per socket: Intel specification of the Xeon Max',
    "9470. Devices illustrative (not Aurora's, which uses other NICs and GPUs): ConnectX-7 (15b3:1021) with 8 VFs on each",
    'DDR node, H100 PCIe (10de:2331) on node 1, Intel D7-P5510 NVMe (8086:0b60) on node 0.',
    'Huge pages: pre-sized pools on DDR nodes only (1/4 in 2M pages, 1/8 in 1G), all free; none on HBM.',
  ].join(' '),
  build: () =>
    buildMachine({
      name: 'sapphire-rapids-max-hbm-flat',
      packages: 2,
      nodesPerPackage: 1,
      coresPerNode: 52,
      threadsPerCore: 2,
      numbering: 'linux',
      model: 'Intel(R) Xeon(R) CPU Max 9470',
      memoryPerNode: 512 * SIZE.GiB,
      coresPerL3: 52,
      l3Size: 105 * SIZE.MiB,
      memoryNodes: [
        { memory: 64 * SIZE.GiB, tier: 'hbm' },
        { memory: 64 * SIZE.GiB, tier: 'hbm' },
      ],
      distance: (i, j) => (TABLE[i] as number[])[j] as number,
      devices: [
        ...connectX({ address: '0000:29:00.0', node: 0, family: 'ConnectX-7', rdmaIndex: 0, netdev: 'ens2f0np0' }),
        ...connectX({ address: '0000:a9:00.0', node: 1, family: 'ConnectX-7', rdmaIndex: 9, netdev: 'ens6f0np0' }),
        nvme('0000:31:00.0', 0, VENDOR.intel, 0x0b60, 'Intel D7-P5510 NVMe SSD'),
        nvidiaGpu('0000:ca:00.0', 1, 0x2331, 'NVIDIA H100 PCIe'),
      ],
    }),
};
