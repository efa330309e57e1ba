/**
 * `writeSysfsTree`: writes a topology out as a Linux sysfs/procfs tree (the shape of a captured
 * host: `DIR/sys/...`, `DIR/proc/...`), in the kernel's exact text formats, so that any reader of
 * real hosts (numaplan's `readSysfs({ root: DIR })`, hwloc's `lstopo --input DIR`) can read it.
 *
 * What is written: node lists, per-node CPUs/distances/memory/huge pages; per-PU topology and
 * caches; proc/meminfo and proc/cpuinfo; PCI functions with locality, SR-IOV links and their
 * net/infiniband devices; a cgroup v2 cpuset holding the allowed PUs and nodes.
 * What cannot be expressed in sysfs and is therefore not written: memory tiers, hwloc-only groups,
 * device names. Offline PUs get only `cpuN/online` = 0, as the kernel does.
 */
import type { Topology } from '../../core/topology/model.js';
import { addCpuFiles } from './cpu-files.js';
import { FileTree } from './file-tree.js';
import { addNodeFiles } from './node-files.js';
import { addPciFiles } from './pci-files.js';
import { addProcFiles } from './proc-files.js';

/** What `writeSysfsTree` wrote. */
export interface SysfsTreeSummary {
  /** The directory holding `sys/` and `proc/` (the `root` to give a reader). */
  root: string;
  files: number;
  links: number;
  /** nr_cpu_ids: width in bits of every CPU mask written. */
  cpuMaskBits: number;
}

/** Plans the tree of `topo` in memory. */
function planSysfsTree(topo: Topology): { tree: FileTree; cpuMaskBits: number } {
  const indexes = [
    ...topo.pus.map((p) => p.os),
    ...topo.nodes.flatMap((n) => n.cpus),
    ...topo.pciDevices.flatMap((d) => d.localCpus ?? []),
  ];
  const cpuMaskBits = indexes.reduce((m, i) => Math.max(m, i + 1), 1);
  const tree = new FileTree();
  addNodeFiles(tree, topo, cpuMaskBits);
  addCpuFiles(tree, topo, cpuMaskBits);
  addPciFiles(tree, topo, cpuMaskBits);
  addProcFiles(tree, topo);
  return { tree, cpuMaskBits };
}

/**
 * Writes the sysfs/procfs tree of `topo` under `dir` (created if missing; it should be empty).
 * Synchronous, like the readers it feeds.
 */
export function writeSysfsTree(topo: Topology, dir: string): SysfsTreeSummary {
  const { tree, cpuMaskBits } = planSysfsTree(topo);
  tree.writeTo(dir);
  return { root: dir, ...tree.counts, cpuMaskBits };
}
