/**
 * An 8-GPU, 8-NIC training host: NVIDIA DGX H100's layout, where each H100 GPU sits with one
 * ConnectX-7 NIC behind a PCIe switch (the one built into the ConnectX-7), four such pairs per socket.
 */
import type { PciDeviceInput } from '../build.js';
import type { Preset } from './index.js';
import { CONNECTX, VENDOR, connectX, nvidiaGpu, nvme } from './devices.js';
import { SIZE, buildMachine } from './machine.js';

/**
 * The compute NICs as DGX H100's user guide lists them (Network Modules table: port, ConnectX device,
 * CPU, the GPU it serves, the InfiniBand interface and RDMA device): the interface name gives each
 * NIC's PCI bus (ibp24s0: bus 0x18).
 */
const PAIRS: readonly { gpu: number; socket: number; bus: number; rdma: string; netdev: string }[] = [
  { gpu: 0, socket: 0, bus: 0x18, rdma: 'mlx5_0', netdev: 'ibp24s0' },
  { gpu: 1, socket: 0, bus: 0x40, rdma: 'mlx5_3', netdev: 'ibp64s0' },
  { gpu: 2, socket: 0, bus: 0x4f, rdma: 'mlx5_4', netdev: 'ibp79s0' },
  { gpu: 3, socket: 0, bus: 0x5e, rdma: 'mlx5_5', netdev: 'ibp94s0' },
  { gpu: 4, socket: 1, bus: 0x9a, rdma: 'mlx5_6', netdev: 'ibp154s0' },
  { gpu: 5, socket: 1, bus: 0xc0, rdma: 'mlx5_9', netdev: 'ibp192s0' },
  { gpu: 6, socket: 1, bus: 0xce, rdma: 'mlx5_10', netdev: 'ibp206s0' },
  { gpu: 7, socket: 1, bus: 0xdc, rdma: 'mlx5_11', netdev: 'ibp220s0' },
];

const hex = (n: number): string => n.toString(16).padStart(2, '0');
const bridge = (address: string, node: number, vendorId: number, deviceId: number, name: string, secondary: number, subordinate: number): PciDeviceInput => ({
  address,
  class: 'bridge',
  classCode: 0x060400,
  vendorId,
  deviceId,
  name,
  node,
  bridge: { secondary, subordinate },
});

/**
 * One pair: its own root bus R (an I/O stack of the CPU, as Linux shows each stack of a Sapphire
 * Rapids socket), a root port R:01.0, the ConnectX-7's switch (upstream port on R+1, downstream
 * ports on R+2), the NIC on R+3 and the GPU on R+4.
 */
function pair(p: (typeof PAIRS)[number]): PciDeviceInput[] {
  const r = p.bus - 3;
  const node = p.socket;
  const at = (bus: number, dev = 0): string => `0000:${hex(bus)}:${hex(dev)}.0`;
  return [
    bridge(at(r, 1), node, VENDOR.intel, 0x352a, 'Intel Sapphire Rapids PCIe root port', r + 1, r + 4),
    bridge(at(r + 1), node, VENDOR.mellanox, 0x197d, 'ConnectX-7 PCIe switch upstream port', r + 2, r + 4),
    bridge(at(r + 2, 0), node, VENDOR.mellanox, 0x197d, 'ConnectX-7 PCIe switch downstream port', r + 3, r + 3),
    bridge(at(r + 2, 1), node, VENDOR.mellanox, 0x197d, 'ConnectX-7 PCIe switch downstream port', r + 4, r + 4),
    {
      address: at(r + 3),
      class: 'rdma',
      classCode: 0x020700,
      vendorId: VENDOR.mellanox,
      deviceId: CONNECTX['ConnectX-7'].pf,
      name: 'Mellanox ConnectX-7 (InfiniBand NDR 400 Gb/s)',
      node,
      rdmaDevices: [p.rdma],
      netDevices: [p.netdev],
    },
    nvidiaGpu(at(r + 4), node, 0x2330, `NVIDIA H100 SXM5 80GB (GPU ${p.gpu})`),
  ];
}

/** 2 x Xeon Platinum 8480C (56C/112T), 2 nodes of 1 TiB, 8 H100 SXM5 each paired with a ConnectX-7 behind its switch. */
export const dgxH100: Preset = {
  name: 'dgx-h100',
  description: 'DGX H100: 2 x Xeon Platinum 8480C (56C/112T each), 2 nodes of 1 TiB, 8 H100 SXM5 GPUs, each with a ConnectX-7 NIC behind one PCIe switch',
  provenance: [
    "Layout: NVIDIA's public DGX H100 material. The DGX BasePOD reference architecture lists two Xeon Platinum 8480C",
    '(112 cores in all, PCIe 5.0), 2 TB of DDR5 and eight single-port ConnectX-7 NICs for the compute fabric; the DGX H100 block',
    "diagram shown with GTC 2022 talks puts each H100 behind a ConnectX-7 (whose datasheet lists an integrated PCIe switch),",
    'so that each GPU and its NIC share one PCIe switch, four pairs per CPU; the DGX H100 user guide (Network Modules table)',
    "gives which NIC serves which GPU and CPU, the NICs' interface names (ibp24s0 ...: their PCI buses) and RDMA devices",
    '(mlx5_0, 3, 4, 5 on CPU 0; mlx5_6, 9, 10, 11 on CPU 1), and two dual-port ConnectX-7 for storage and in-band',
    'traffic (here one per socket, Ethernet, with 8 SR-IOV VFs as every preset NIC). One NUMA node per socket, 1 TiB each; distance 21 assumed',
    '(the usual two-socket Intel SLIT, as for broadwell-2s); L3 105 MiB per socket (Intel specification of the 8480C).',
    'Illustrative: the bridges (each pair on a root bus of its own, as Linux shows a Sapphire Rapids I/O stack; root port',
    '8086:352a, switch ports 15b3:197d), the GPU bus numbers (the NIC bus + 1), the storage NICs\' addresses, names and RDMA',
    'indexes, the two NVMe drives (Samsung PM1733, 144d:a824) and their nodes; the NVSwitches are left out. Huge pages: pre-sized pools (1/4 of each node in 2M pages,',
    '1/8 in 1G pages), all free.',
  ].join(' '),
  build: () =>
    buildMachine({
      name: 'dgx-h100',
      packages: 2,
      nodesPerPackage: 1,
      coresPerNode: 56,
      threadsPerCore: 2,
      numbering: 'linux',
      model: 'Intel(R) Xeon(R) Platinum 8480C',
      memoryPerNode: SIZE.TiB,
      coresPerL3: 56,
      l3Size: 105 * SIZE.MiB,
      distance: (i, j) => (i === j ? 10 : 21),
      devices: [
        ...PAIRS.flatMap(pair),
        // The storage and in-band NICs: one dual-port ConnectX-7 per socket (Ethernet, 8 VFs each).
        ...connectX({ address: '0000:2a:00.0', node: 0, family: 'ConnectX-7', rdmaIndex: 12, netdev: 'enp42s0f0np0' }),
        ...connectX({ address: '0000:aa:00.0', node: 1, family: 'ConnectX-7', rdmaIndex: 21, netdev: 'enp170s0f0np0' }),
        nvme('0000:66:00.0', 0, VENDOR.samsung, 0xa824, 'Samsung PM1733 NVMe SSD'),
        nvme('0000:e4:00.0', 1, VENDOR.samsung, 0xa824, 'Samsung PM1733 NVMe SSD'),
      ],
    }),
};
