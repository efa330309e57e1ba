/**
 * `sys/devices/system/cpu`: the global online/possible/present lists and, for every online PU,
 * its `topology/` and `cache/indexM/` attributes. Offline PUs get only `online` ("0"), as on a
 * real host, where the kernel removes an offline CPU's topology and cache directories.
 */
import type { Cache, Core, Group, Package, Topology } from '../../core/topology/model.js';
import type { FileTree } from './file-tree.js';
import { kernelList, kernelMask } from './kernel-format.js';

/** Where the CPU attributes live, relative to the tree root. */
export const CPU_DIR = 'sys/devices/system/cpu';

const CACHE_TYPE = { data: 'Data', instruction: 'Instruction', unified: 'Unified' } as const;
const TYPE_ORDER = { data: 0, instruction: 1, unified: 2 } as const;

/** Plans the CPU files of `topo`; `nbits` is nr_cpu_ids (width of every CPU mask). */
export function addCpuFiles(tree: FileTree, topo: Topology, nbits: number): void {
  const all = topo.pus.map((p) => p.os);
  const online = topo.pus.filter((p) => p.online).map((p) => p.os);
  const onlineSet = new Set(online);
  const possible = Array.from({ length: nbits }, (_, i) => i);
  tree.attr(`${CPU_DIR}/online`, kernelList(online));
  tree.attr(`${CPU_DIR}/possible`, kernelList(possible));
  tree.attr(`${CPU_DIR}/present`, kernelList(all));
  tree.attr(`${CPU_DIR}/offline`, kernelList(possible.filter((i) => !onlineSet.has(i))));
  tree.attr(`${CPU_DIR}/kernel_max`, Math.max(8191, nbits - 1));

  const packages = new Map<number, Package>(topo.packages.map((p) => [p.id, p]));
  const dies = groupIndex(topo.groups, 'die');
  const clusters = groupIndex(topo.groups, 'cluster');
  const cachesOf = cacheIndex(topo.caches);
  const list = (cpus: readonly number[]): string => kernelList(cpus);
  const mask = (cpus: readonly number[]): string => kernelMask(cpus, nbits);

  for (const pu of topo.pus) {
    const dir = `${CPU_DIR}/cpu${pu.os}`;
    tree.attr(`${dir}/online`, pu.online ? 1 : 0);
    if (!pu.online) continue;
    if (pu.node !== null) tree.link(`${dir}/node${pu.node}`, `../../node/node${pu.node}`);
    const core = topo.cores[pu.core] as Core;
    const pkg = packages.get(pu.package);
    const pkgCpus = pkg ? pkg.pus : core.pus;
    const die = dies.get(pu.os);
    const cluster = clusters.get(pu.os);
    const t = `${dir}/topology`;
    tree.attr(`${t}/physical_package_id`, pu.package);
    tree.attr(`${t}/die_id`, die?.id ?? 0);
    tree.attr(`${t}/core_id`, core.coreId);
    for (const [name, cpus] of [
      ['core_cpus', core.pus],
      ['thread_siblings', core.pus],
      ['core_siblings', pkgCpus],
      ['package_cpus', pkgCpus],
      ['die_cpus', die?.cpus ?? pkgCpus],
    ] as const) {
      tree.attr(`${t}/${name}`, mask(cpus));
      tree.attr(`${t}/${name}_list`, list(cpus));
    }
    if (cluster) {
      tree.attr(`${t}/cluster_id`, cluster.id);
      tree.attr(`${t}/cluster_cpus`, mask(cluster.cpus));
      tree.attr(`${t}/cluster_cpus_list`, list(cluster.cpus));
    }
    (cachesOf.get(pu.os) ?? []).forEach((cache, index) => {
      const c = `${dir}/cache/index${index}`;
      tree.attr(`${c}/level`, cache.level);
      tree.attr(`${c}/type`, CACHE_TYPE[cache.type]);
      tree.attr(`${c}/size`, `${Math.floor(cache.size / 1024)}K`);
      tree.attr(`${c}/shared_cpu_list`, list(cache.cpus));
      tree.attr(`${c}/shared_cpu_map`, mask(cache.cpus));
      if (cache.lineSize !== null) tree.attr(`${c}/coherency_line_size`, cache.lineSize);
      if (cache.ways !== null) tree.attr(`${c}/ways_of_associativity`, cache.ways);
      if (cache.lineSize !== null && cache.ways !== null && cache.lineSize > 0 && cache.ways > 0) {
        tree.attr(`${c}/number_of_sets`, Math.floor(cache.size / (cache.lineSize * cache.ways)));
      }
      tree.attr(`${c}/physical_line_partition`, 1);
    });
  }
}

/** PU OS index -> the group of that kind containing it. */
function groupIndex(groups: readonly Group[], kind: Group['kind']): Map<number, Group> {
  const out = new Map<number, Group>();
  for (const g of groups) if (g.kind === kind) for (const c of g.cpus) out.set(c, g);
  return out;
}

/** PU OS index -> its caches in the kernel's index order (L1d, L1i, L2, L3...). */
function cacheIndex(caches: readonly Cache[]): Map<number, Cache[]> {
  const out = new Map<number, Cache[]>();
  for (const cache of caches) {
    for (const c of cache.cpus) {
      const l = out.get(c);
      if (l) l.push(cache);
      else out.set(c, [cache]);
    }
  }
  for (const l of out.values()) l.sort((a, b) => a.level - b.level || TYPE_ORDER[a.type] - TYPE_ORDER[b.type]);
  return out;
}
