/**
 * PCI functions: `sys/devices/pci<domain>:<bus>/<address>/` with `class`, `vendor`, `device`,
 * `numa_node`, `local_cpulist`, `local_cpus`, a 64-byte `config` header, SR-IOV attributes and
 * `virtfnN` / `physfn` links; `sys/bus/pci/devices/<address>` links; `net/<ifname>` and
 * `infiniband/<dev>` folders under the function (each with its `device` link back to the function)
 * and their `sys/class/{net,infiniband}` links.
 *
 * Every function hangs directly below the root bus of its own bus number (no bridges are
 * modelled). A device whose local CPUs are unknown gets no `local_cpus`/`local_cpulist` files.
 */
import { posix } from 'node:path';
import type { PciDevice, Topology } from '../../core/topology/model.js';
import type { FileTree } from './file-tree.js';
import { kernelList, kernelMask } from './kernel-format.js';

/** The sysfs folder of a PCI function, relative to the tree root. */
export function pciDevicePath(address: string): string {
  const [domain, bus] = address.split(':') as [string, string];
  return `sys/devices/pci${domain}:${bus}/${address}`;
}

/** Plans the PCI files of `topo`; `nbits` is nr_cpu_ids (width of `local_cpus`). */
export function addPciFiles(tree: FileTree, topo: Topology, nbits: number): void {
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

/** The first 64 bytes of a type-0 configuration header: IDs and class code, the rest zero. */
function configHeader(dev: PciDevice): Uint8Array {
  const b = new Uint8Array(64);
  const v = new DataView(b.buffer);
  v.setUint16(0x00, dev.vendorId, true);
  v.setUint16(0x02, dev.deviceId, true);
  v.setUint8(0x09, dev.classCode & 0xff);
  v.setUint8(0x0a, (dev.classCode >> 8) & 0xff);
  v.setUint8(0x0b, (dev.classCode >> 16) & 0xff);
  return b;
}
