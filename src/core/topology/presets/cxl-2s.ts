/** Two sockets plus CXL memory expanders, each a CPU-less node near one socket. */
import type { PciDeviceInput } from '../build.js';
import { VENDOR, connectX, nvidiaGpu, nvme } from './devices.js';
import type { Preset } from './index.js';
import { SIZE, buildMachine } from './machine.js';

/** Node distances of the published output: sockets 0-1, CXL nodes 2 (near socket 0) and 3 (near socket 1). */
const TABLE = [
  [10, 21, 14, 24],
  [21, 10, 24, 14],
  [14, 24, 10, 26],
  [24, 14, 26, 10],
];

/** A CXL Type 3 memory expander as a PCI function (class 0x050210, CXL memory device). */
function cxlMemory(address: string, node: number): PciDeviceInput {
  return { address, class: 'other', classCode: 0x050210, vendorId: VENDOR.intel, deviceId: 0x0d93, name: 'CXL memory expander', node };
}

/** 2 x 52-core Sapphire Rapids, 256 GiB DDR each, plus 64 GiB and 128 GiB CXL nodes: distances 10/14/21/24/26. */
export const cxl2s: Preset = {
  name: 'cxl-2s',
  description: '2 x 52-core Xeon (256 GiB DDR each) + 2 CPU-less CXL memory nodes (64 and 128 GiB), distances 10/14/21/24/26',
  provenance: [
    'Node layout, CPU numbering (node0 = 0-51,104-155), CXL node sizes (64 GiB near socket 0, 128 GiB near socket 1) and every',
    'distance (CXL 14 from its own socket, 24 from the other, 26 between the two CXL nodes, 21 between sockets) from the',
    'published numactl -H of a two-socket Sapphire Rapids host with two CXL Type 3 expanders in S. Scargall,',
    '"How To Map a CXL Endpoint to a CPU Socket in Linux" (stevescargall.com, 2022). DDR per socket 256 GiB is illustrative',
    "(that host had 64 GB). hwloc's cxlmem+dax test XML (hwloc/xml in the data set) shows how Linux reports the expanders",
    'themselves: PCI functions of class 0x0502 (CXL memory) with 8086:0d93 as QEMU emulates them, used here for the two',
    'expander functions. Other devices illustrative: ConnectX-6 Dx (15b3:101d) with 8 VFs on node 0, L4 (10de:27b8) on node 1,',
    'Intel D7-P5510 NVMe (8086:0b60) on node 1. Huge pages: pre-sized pools on DDR nodes only (1/4 in 2M pages, 1/8 in 1G), all free.',
  ].join(' '),
  build: () =>
    buildMachine({
      name: 'cxl-2s',
      packages: 2,
      nodesPerPackage: 1,
      coresPerNode: 52,
      threadsPerCore: 2,
      numbering: 'linux',
      model: 'Intel(R) Xeon(R) (Sapphire Rapids, 52 cores)',
      memoryPerNode: 256 * SIZE.GiB,
      coresPerL3: 52,
      l3Size: 105 * SIZE.MiB,
      memoryNodes: [
        { memory: 64 * SIZE.GiB, tier: 'cxl' },
        { memory: 128 * SIZE.GiB, tier: 'cxl' },
      ],
      distance: (i, j) => (TABLE[i] as number[])[j] as number,
      devices: [
        ...connectX({ address: '0000:2a:00.0', node: 0, family: 'ConnectX-6 Dx', rdmaIndex: 0, netdev: 'ens3f0np0' }),
        cxlMemory('0000:38:00.0', 0),
        cxlMemory('0000:b8:00.0', 1),
        nvme('0000:9a:00.0', 1, VENDOR.intel, 0x0b60, 'Intel D7-P5510 NVMe SSD'),
        nvidiaGpu('0000:ca:00.0', 1, 0x27b8, 'NVIDIA L4'),
      ],
    }),
};
