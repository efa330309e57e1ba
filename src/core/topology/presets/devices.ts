/**
 * PCI devices for presets: RDMA NICs with SR-IOV virtual functions, GPUs and NVMe drives.
 *
 * Vendor, device and class codes are those of the PCI ID Repository (pci.ids) and the PCI class code
 * specification: 0x020000 Ethernet controller, 0x030200 3D controller, 0x010802 NVMe. Addresses,
 * interface names and the node each card sits on are illustrative choices for each preset.
 */
import type { PciDeviceInput } from '../build.js';
import { TopologyError } from '../errors.js';

/** Mellanox/NVIDIA networking, NVIDIA, Intel, Samsung vendor ids. */
export const VENDOR = { mellanox: 0x15b3, nvidia: 0x10de, intel: 0x8086, samsung: 0x144d } as const;

/** ConnectX generations: physical-function and virtual-function device ids (pci.ids). */
export const CONNECTX = {
  'ConnectX-4 Lx': { pf: 0x1015, vf: 0x1016 },
  'ConnectX-5': { pf: 0x1017, vf: 0x1018 },
  'ConnectX-6 Dx': { pf: 0x101d, vf: 0x101e },
  'ConnectX-7': { pf: 0x1021, vf: 0x101e },
} as const;

/** A ConnectX card's first port and its enabled virtual functions. */
export interface ConnectXSpec {
  /** PF address, e.g. "0000:41:00.0". */
  address: string;
  node: number;
  family: keyof typeof CONNECTX;
  /** RDMA device index of the PF (mlx5_N); VFs take the next `vfs` indexes. */
  rdmaIndex: number;
  /** Interface name of the PF, e.g. "ens1f0np0"; VFs are named `${stem}v${k}`. */
  netdev: string;
  /** Enabled VFs (default 8). */
  vfs?: number;
  /** VFs the card supports (default 16). */
  totalVfs?: number;
}

/**
 * The PF and its VFs. VFs follow the PF's routing id with offset 2 and stride 1 (as mlx5 cards
 * expose them), sit on the PF's node and name it as `physfn`; each VF has its own RDMA device.
 */
export function connectX(spec: ConnectXSpec): PciDeviceInput[] {
  const ids = CONNECTX[spec.family];
  const numVfs = spec.vfs ?? 8;
  const m = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/.exec(spec.address);
  if (!m) throw new TopologyError('preset', `device address "${spec.address}" is not dddd:bb:dd.f`, 'ERR_PRESET');
  const domain = m[1] as string;
  const bus = m[2] as string;
  const rid = Number.parseInt(m[3] as string, 16) * 8 + Number(m[4]);
  const vfAddress = (k: number): string => {
    const r = rid + 2 + k;
    return `${domain}:${bus}:${Math.floor(r / 8).toString(16).padStart(2, '0')}.${r % 8}`;
  };
  const stem = spec.netdev.replace(/np\d+$/, '');
  const vfs = Array.from({ length: numVfs }, (_, k) => vfAddress(k));
  const pf: PciDeviceInput = {
    address: spec.address,
    class: 'rdma',
    classCode: 0x020000,
    vendorId: VENDOR.mellanox,
    deviceId: ids.pf,
    name: `Mellanox ${spec.family}`,
    node: spec.node,
    sriov: { totalVfs: spec.totalVfs ?? 16, numVfs, vfs },
    rdmaDevices: [`mlx5_${spec.rdmaIndex}`],
    netDevices: [spec.netdev],
  };
  return [
    pf,
    ...vfs.map(
      (address, k): PciDeviceInput => ({
        address,
        class: 'rdma',
        classCode: 0x020000,
        vendorId: VENDOR.mellanox,
        deviceId: ids.vf,
        name: `Mellanox ${spec.family} Virtual Function`,
        node: spec.node,
        physfn: spec.address,
        rdmaDevices: [`mlx5_${spec.rdmaIndex + 1 + k}`],
        netDevices: [`${stem}v${k}`],
      }),
    ),
  ];
}

/** An NVIDIA GPU (3D controller). */
export function nvidiaGpu(address: string, node: number, deviceId: number, name: string): PciDeviceInput {
  return { address, class: 'gpu', classCode: 0x030200, vendorId: VENDOR.nvidia, deviceId, name, node };
}

/** An NVMe drive. */
export function nvme(address: string, node: number, vendorId: number, deviceId: number, name: string): PciDeviceInput {
  return { address, class: 'nvme', classCode: 0x010802, vendorId, deviceId, name, node };
}
