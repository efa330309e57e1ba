/**
 * `sys/devices/system/node`: the node state lists and, per node, `cpulist`, `cpumap`, `distance`,
 * `meminfo`, `hugepages/hugepages-<size>kB/{nr,free,surplus}_hugepages` and `cpuN` links.
 * Exactly the pools the topology lists are written (a real kernel lists every supported size,
 * with zeros; writing zeros here would invent pools the model does not have).
 */
import type { NumaNode, Topology } from '../../core/topology/model.js';
import type { FileTree } from './file-tree.js';
import { hugepagesDirName, kernelList, kernelMask, nodeMeminfoCountLine, nodeMeminfoLine, toKb } from './kernel-format.js';

/** Where the node attributes live, relative to the tree root. */
export const NODE_DIR = 'sys/devices/system/node';

/** The page size the kernel's per-node and global meminfo HugePages_* lines count (x86: 2 MiB). */
export function defaultHugePageSize(topo: Topology): number {
  const sizes = [...new Set(topo.nodes.flatMap((n) => n.hugePages.map((p) => p.pageSize)))].sort((a, b) => a - b);
  const twoMiB = 2 * 1024 * 1024;
  return sizes.includes(twoMiB) || sizes.length === 0 ? twoMiB : (sizes[0] as number);
}

/** Plans the node files of `topo`; `nbits` is nr_cpu_ids (width of `cpumap`). */
export function addNodeFiles(tree: FileTree, topo: Topology, nbits: number): void {
  const ids = topo.nodes.map((n) => n.id);
  const possible = Array.from({ length: Math.max(-1, ...ids) + 1 }, (_, i) => i);
  tree.attr(`${NODE_DIR}/possible`, kernelList(possible));
  tree.attr(`${NODE_DIR}/online`, kernelList(ids));
  tree.attr(`${NODE_DIR}/has_cpu`, kernelList(topo.nodes.filter((n) => n.cpus.length > 0).map((n) => n.id)));
  const withMemory = kernelList(topo.nodes.filter((n) => n.memory.total > 0).map((n) => n.id));
  tree.attr(`${NODE_DIR}/has_memory`, withMemory);
  tree.attr(`${NODE_DIR}/has_normal_memory`, withMemory);
  const hugeSize = defaultHugePageSize(topo);
  topo.nodes.forEach((node, row) => {
    const dir = `${NODE_DIR}/node${node.id}`;
    tree.attr(`${dir}/cpulist`, kernelList(node.cpus));
    tree.attr(`${dir}/cpumap`, kernelMask(node.cpus, nbits));
    tree.attr(`${dir}/distance`, (topo.distances[row] ?? []).join(' '));
    tree.file(`${dir}/meminfo`, nodeMeminfo(node, hugeSize));
    for (const cpu of node.cpus) tree.link(`${dir}/cpu${cpu}`, `../../cpu/cpu${cpu}`);
    for (const pool of node.hugePages) {
      const h = `${dir}/hugepages/${hugepagesDirName(pool.pageSize)}`;
      tree.attr(`${h}/nr_hugepages`, pool.total);
      tree.attr(`${h}/free_hugepages`, pool.free);
      tree.attr(`${h}/surplus_hugepages`, 0);
    }
  });
}

/** The per-node meminfo text (the lines numaplan knows; the kernel prints more). */
function nodeMeminfo(node: NumaNode, hugeSize: number): string {
  const total = toKb(node.memory.total);
  const free = toKb(node.memory.free);
  const pool = node.hugePages.find((p) => p.pageSize === hugeSize);
  return [
    nodeMeminfoLine(node.id, 'MemTotal', total),
    nodeMeminfoLine(node.id, 'MemFree', free),
    nodeMeminfoLine(node.id, 'MemUsed', total - free),
    nodeMeminfoCountLine(node.id, 'HugePages_Total', pool?.total ?? 0),
    nodeMeminfoCountLine(node.id, 'HugePages_Free', pool?.free ?? 0),
    nodeMeminfoCountLine(node.id, 'HugePages_Surp', 0),
    '',
  ].join('\n');
}
