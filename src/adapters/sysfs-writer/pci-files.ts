/**
 * PCI functions: `sys/devices/pci<domain>:<bus>/<address>/` with `class`, `vendor`, `device`,
 * `numa_node`, `local_cpulist`, `local_cpus`, a 64-byte `config` header, SR-IOV attributes and
 * `virtfnN` / `physfn` links; `sys/bus/pci/devices/<address>` links; `net/<ifname>` and
 * `infiniband/<dev>` folders under the function (each with its `device` link back to the function)
 * and their `sys/class/{net,infiniband}` links.
 *
 * Each function's folder sits below its parent bridge's, as the kernel nests them
 * (`sys/devices/pci0000:00/0000:00:03.0/0000:01:00.0`), and a PCI-to-PCI bridge's `config` is a
 * type-1 header with its primary, secondary and subordinate bus numbers (where hwloc and numaplan
 * read the tree from). A device whose local CPUs are unknown gets no `local_cpus`/`local_cpulist` files.
 */
import { posix } from 'node:path';
import type { PciDevice, Topology } from '../../core/topology/model.js';
import type { FileTree } from './file-tree.js';
import { kernelList, kernelMask } from './kernel-format.js';

/** The sysfs folder of each PCI function, relative to the tree root: below its root bus and its bridges. */
export function pciDevicePaths(topo: Topology): Map<string, string> {
  const parentOf = new Map(topo.pciDevices.map((d) => [d.address, d.parent]));
  const paths = new Map<string, string>();
  const pathOf = (address: string, seen: Set<string>): string => {
    const known = paths.get(address);
    if (known) return known;
    const parent = parentOf.get(address) ?? null;
    let dir: string;
    if (parent === null || seen.has(parent)) {
      const [domain, bus] = address.split(':') as [string, string];
      dir = `sys/devices/pci${domain}:${bus}/${address}`;
    } else dir = `${pathOf(parent, new Set([...seen, address]))}/${address}`;
    paths.set(address, dir);
    return dir;
  };
  for (const d of topo.pciDevices) pathOf(d.address, new Set([d.address]));
  return paths;
}

/** Plans the PCI files of `topo`; `nbits` is nr_cpu_ids (width of `local_cpus`). */
export function addPciFiles(tree: FileTree, topo: Topology, nbits: number): void {
  const paths = pciDevicePaths(topo);
  const pciDevicePath = (address: string): string => {
    const known = paths.get(address);
    if (known) return known;
    const [domain, bus] = address.split(':') as [string, string];
    return `sys/devices/pci${domain}:${bus}/${address}`;
  };
  for (const dev of topo.pciDevices) {
    const dir = pciDevicePath(dev.address);
    linkTo(tree, `sys/bus/pci/devices/${dev.address}`, dir);
    tree.attr(`${dir}/class`, hex(dev.classCode, 6));
    tree.attr(`${dir}/vendor`, hex(dev.vendorId, 4));
    tree.attr(`${dir}/device`, hex(dev.deviceId, 4));
    tree.attr(`${dir}/numa_node`, dev.node ?? -1);
    if (dev.localCpus !== null) {
      tree.attr(`${dir}/local_cpulist`, kernelList(dev.localCpus));
      tree.attr(`${dir}/local_cpus`, kernelMask(dev.localCpus, nbits));
    }
    tree.file(`${dir}/config`, configHeader(dev));
    if (dev.sriov) {
      tree.attr(`${dir}/sriov_totalvfs`, dev.sriov.totalVfs);
      tree.attr(`${dir}/sriov_numvfs`, dev.sriov.numVfs);
      dev.sriov.vfs.forEach((vf, i) => linkTo(tree, `${dir}/virtfn${i}`, pciDevicePath(vf)));
    }
    if (dev.physfn !== null) linkTo(tree, `${dir}/physfn`, pciDevicePath(dev.physfn));
    for (const name of dev.netDevices) {
      tree.link(`${dir}/net/${name}/device`, `../../../${dev.address}`);
      linkTo(tree, `sys/class/net/${name}`, `${dir}/net/${name}`);
    }
    for (const name of dev.rdmaDevices) {
      tree.link(`${dir}/infiniband/${name}/device`, `../../../${dev.address}`);
      linkTo(tree, `sys/class/infiniband/${name}`, `${dir}/infiniband/${name}`);
    }
  }
  // ifindex values, numbered as the kernel would on boot: in interface order, from 2 (1 is lo).
  const names = topo.pciDevices.flatMap((d) => d.netDevices.map((n) => ({ n, dir: pciDevicePath(d.address) })));
  names.forEach(({ n, dir }, i) => tree.attr(`${dir}/net/${n}/ifindex`, i + 2));
}

/** A relative symbolic link from `path` to `target` (both relative to the tree root). */
function linkTo(tree: FileTree, path: string, target: string): void {
  tree.link(path, posix.relative(posix.dirname(path), target));
}

function hex(value: number, digits: number): string {
  return `0x${value.toString(16).padStart(digits, '0')}`;
}

/**
 * The first 64 bytes of a configuration header: IDs and class code; for a PCI-to-PCI bridge a type-1
 * header with its primary, secondary and subordinate buses; the rest zero.
 */
function configHeader(dev: PciDevice): Uint8Array {
  const b = new Uint8Array(64);
  const v = new DataView(b.buffer);
  v.setUint16(0x00, dev.vendorId, true);
  v.setUint16(0x02, dev.deviceId, true);
  v.setUint8(0x09, dev.classCode & 0xff);
  v.setUint8(0x0a, (dev.classCode >> 8) & 0xff);
  v.setUint8(0x0b, (dev.classCode >> 16) & 0xff);
  if (dev.bridge) {
    v.setUint8(0x0e, 1);
    v.setUint8(0x18, Number.parseInt(dev.address.split(':')[1] as string, 16));
    v.setUint8(0x19, dev.bridge.secondary);
    v.setUint8(0x1a, dev.bridge.subordinate);
  }
  return b;
}
