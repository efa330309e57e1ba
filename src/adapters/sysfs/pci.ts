/**
 * PCI functions from sys/bus/pci/devices, with the RDMA and network interfaces that sit on them
 * (sys/class/infiniband/X/device and sys/class/net/X/device links) and their SR-IOV relations
 * (sriov_totalvfs, sriov_numvfs, virtfnN and physfn links).
 *
 * PCI-to-PCI bridges (class 0x0604 with a type-1 configuration header) carry the buses below them,
 * read from their configuration space (`config`: secondary bus at 0x19, subordinate at 0x1a), as
 * hwloc reads them; the tree (each function's parent bridge, the host bridges) is then derived from
 * those ranges (core/topology/pci-tree.ts), so it is hwloc's tree. A bridge whose `config` cannot be
 * read is a plain function (hwloc too sees no bridge then).
 */
import type { PciDeviceInput } from '../../core/topology/build.js';
import type { DeviceClass } from '../../core/topology/model.js';
import type { RootFs } from './root-fs.js';

const PCI_DIR = 'sys/bus/pci/devices';
const ADDRESS = /^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i;
const NVIDIA = 0x10de;
const AMD_GPU = [0x1002, 0x1022];
const INTEL = 0x8086;

/**
 * What a PCI function is, from its 24-bit class code, its vendor and whether an RDMA device sits
 * on it: 0x02 network is a NIC (RDMA when it carries an infiniband device, as does 0x0c06
 * InfiniBand), 0x03 display and 0x12 processing accelerators from NVIDIA or AMD are GPUs (and Intel
 * 3D/other display controllers; a plain VGA controller such as a server's BMC is "other"), 0x0108
 * NVMe, other 0x01 storage, 0x06 bridges, 0x0b processors and other 0x12 accelerators.
 */
export function classifyPci(classCode: number, vendorId: number, hasRdma: boolean): DeviceClass {
  const base = (classCode >> 16) & 0xff;
  const sub = (classCode >> 8) & 0xff;
  if (base === 0x02) return hasRdma ? 'rdma' : 'nic';
  if (base === 0x0c && sub === 0x06) return 'rdma';
  const gpuVendor = vendorId === NVIDIA || AMD_GPU.includes(vendorId);
  if (base === 0x03) return gpuVendor || (vendorId === INTEL && sub !== 0x00) ? 'gpu' : 'other';
  if (base === 0x12) return gpuVendor ? 'gpu' : 'accelerator';
  if (base === 0x01) return sub === 0x08 ? 'nvme' : 'storage';
  if (base === 0x06) return 'bridge';
  if (base === 0x0b) return 'accelerator';
  if (hasRdma) return 'rdma';
  return 'other';
}

/** Reads all PCI functions. */
export function readPci(fs: RootFs): PciDeviceInput[] {
  const addresses = fs.list(PCI_DIR).filter((a) => ADDRESS.test(a));
  if (addresses.length === 0) return [];
  const rdma = classLinks(fs, 'sys/class/infiniband');
  const net = classLinks(fs, 'sys/class/net');
  const devices: PciDeviceInput[] = [];
  for (const address of addresses) {
    const dir = `${PCI_DIR}/${address}`;
    const classCode = fs.readInt(`${dir}/class`);
    if (classCode === null) {
      fs.warn(dir, 'missing class file; device ignored');
      continue;
    }
    // As hwloc does: a function without vendor or device files is kept, with id 0000:0000.
    const vendorId = fs.readInt(`${dir}/vendor`) ?? 0;
    const deviceId = fs.readInt(`${dir}/device`) ?? 0;
    const numa = fs.readInt(`${dir}/numa_node`);
    // local_cpus first, as hwloc reads it (the kernel prints both from one mask; a capture may disagree).
    const localCpus = fs.readMask(`${dir}/local_cpus`) ?? fs.readList(`${dir}/local_cpulist`);
    const files = fs.list(dir);
    const vfs = files
      .filter((f) => /^virtfn\d+$/.test(f))
      .sort((a, b) => Number(a.slice(6)) - Number(b.slice(6)))
      .map((f) => linkAddress(fs.readlink(`${dir}/${f}`)))
      .filter((a): a is string => a !== null);
    const totalVfs = files.includes('sriov_totalvfs') ? fs.readInt(`${dir}/sriov_totalvfs`) : null;
    const numVfs = files.includes('sriov_numvfs') ? fs.readInt(`${dir}/sriov_numvfs`) : null;
    const physfn = files.includes('physfn') ? linkAddress(fs.readlink(`${dir}/physfn`)) : null;
    const key = address.toLowerCase();
    const rdmaDevices = rdma.get(key) ?? [];
    const bridge = (classCode >> 8) === PCI_CLASS_BRIDGE_PCI ? bridgeBuses(fs, `${dir}/config`) : null;
    devices.push({
      address: key,
      class: classifyPci(classCode, vendorId, rdmaDevices.length > 0),
      classCode,
      vendorId,
      deviceId,
      name: null,
      node: numa !== null && numa >= 0 ? numa : null,
      localCpus,
      sriov: totalVfs !== null && totalVfs > 0 ? { totalVfs, numVfs: numVfs ?? vfs.length, vfs } : null,
      physfn,
      rdmaDevices,
      netDevices: net.get(key) ?? [],
      bridge,
    });
  }
  return devices;
}

/** PCI class of a PCI-to-PCI bridge, and the configuration-space offsets hwloc reads for it. */
const PCI_CLASS_BRIDGE_PCI = 0x0604;
const PCI_HEADER_TYPE = 0x0e;
const PCI_SECONDARY_BUS = 0x19;
const PCI_SUBORDINATE_BUS = 0x1a;

/**
 * The buses below a PCI-to-PCI bridge, from its configuration space: null when the header is not a
 * bridge's (type 1) or cannot be read. Ranges that cannot be below the bridge are left to
 * makeTopology, which warns and keeps the function as a plain one.
 */
function bridgeBuses(fs: RootFs, path: string): { secondary: number; subordinate: number } | null {
  const config = fs.readBytes(path);
  if (config === null || config.length <= PCI_SUBORDINATE_BUS) return null;
  if (((config[PCI_HEADER_TYPE] as number) & 0x7f) !== 1) return null;
  return { secondary: config[PCI_SECONDARY_BUS] as number, subordinate: config[PCI_SUBORDINATE_BUS] as number };
}

/** The PCI address a sysfs link ends in ("../0000:3b:00.1" -> "0000:3b:00.1"). */
function linkAddress(link: string | null): string | null {
  if (link === null) return null;
  const last = link.replace(/\/+$/, '').split('/').pop() ?? '';
  return ADDRESS.test(last) ? last.toLowerCase() : null;
}

/** The last PCI address among a sysfs path's components (".../0000:00:03.0/virtio2/net/eth0" -> "0000:00:03.0"). */
function lastAddressIn(path: string | null): string | null {
  if (path === null) return null;
  const parts = path.split('/').filter((p) => ADDRESS.test(p));
  return parts.length > 0 ? (parts[parts.length - 1] as string).toLowerCase() : null;
}

/**
 * Map PCI address -> names of the class devices (e.g. mlx5_0, eth0) that sit on it: the function
 * their `device` link points to, or, when that is a bus device between (a virtio NIC's `device` is
 * its virtioN, whose parent is the PCI function), the nearest PCI function above the class device
 * in its own sysfs path, as hwloc finds the PCI parent of an OS device.
 */
function classLinks(fs: RootFs, dir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const name of fs.list(dir)) {
    const address = linkAddress(fs.readlink(`${dir}/${name}/device`)) ?? lastAddressIn(fs.readlink(`${dir}/${name}`));
    if (address === null) continue;
    const list = out.get(address);
    if (list) list.push(name);
    else out.set(address, [name]);
  }
  return out;
}
