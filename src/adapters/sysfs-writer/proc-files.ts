/**
 * procfs and cgroup files: `proc/meminfo`, `proc/cpuinfo` (x86 layout), `proc/sys/kernel/hostname`,
 * and the cgroup v2 cpuset of the reading process (`proc/self/{cgroup,cpuset}`, `proc/mounts`,
 * `sys/fs/cgroup/{cgroup.controllers,cpuset.cpus.effective,cpuset.mems.effective}`): the root
 * cgroup, restricted to the allowed PUs and nodes, which is how they become disallowed.
 */
import type { Core, Topology } from '../../core/topology/model.js';
import type { FileTree } from './file-tree.js';
import { kernelList, meminfoCountLine, meminfoLine, toKb } from './kernel-format.js';
import { defaultHugePageSize } from './node-files.js';

/** Plans the procfs and cgroup files of `topo`. */
export function addProcFiles(tree: FileTree, topo: Topology): void {
  tree.file('proc/meminfo', meminfo(topo));
  tree.file('proc/cpuinfo', cpuinfo(topo));
  if (topo.hostname !== null) tree.attr('proc/sys/kernel/hostname', topo.hostname);
  tree.attr('proc/self/cgroup', '0::/');
  tree.attr('proc/self/cpuset', '/');
  tree.file(
    'proc/mounts',
    [
      'sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0',
      'proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0',
      'cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0',
      '',
    ].join('\n'),
  );
  const cpus = topo.pus.filter((p) => p.online && p.allowed).map((p) => p.os);
  const mems = topo.nodes.filter((n) => n.allowed).map((n) => n.id);
  tree.attr('sys/fs/cgroup/cgroup.controllers', 'cpuset cpu io memory hugetlb pids rdma misc');
  tree.attr('sys/fs/cgroup/cpuset.cpus.effective', kernelList(cpus));
  tree.attr('sys/fs/cgroup/cpuset.mems.effective', kernelList(mems));
}

/** Global meminfo: totals over all nodes, and the default-size huge-page pool. */
function meminfo(topo: Topology): string {
  const total = topo.nodes.reduce((s, n) => s + n.memory.total, 0);
  const free = topo.nodes.reduce((s, n) => s + n.memory.free, 0);
  const size = defaultHugePageSize(topo);
  let pages = 0;
  let freePages = 0;
  for (const n of topo.nodes) {
    for (const p of n.hugePages) {
      if (p.pageSize !== size) continue;
      pages += p.total;
      freePages += p.free;
    }
  }
  const hugetlb = topo.nodes.reduce((s, n) => s + n.hugePages.reduce((t, p) => t + p.total * p.pageSize, 0), 0);
  return [
    meminfoLine('MemTotal', toKb(total)),
    meminfoLine('MemFree', toKb(free)),
    meminfoLine('MemAvailable', toKb(free)),
    meminfoCountLine('HugePages_Total', pages),
    meminfoCountLine('HugePages_Free', freePages),
    meminfoCountLine('HugePages_Rsvd', 0),
    meminfoCountLine('HugePages_Surp', 0),
    meminfoLine('Hugepagesize', toKb(size)),
    meminfoLine('Hugetlb', toKb(hugetlb)),
    '',
  ].join('\n');
}

/** The x86 cpuinfo layout: one stanza per online PU, fields the topology knows. */
function cpuinfo(topo: Topology): string {
  const perPackage = new Map<number, { pus: number; cores: number }>();
  for (const c of topo.cores) {
    const e = perPackage.get(c.package) ?? { pus: 0, cores: 0 };
    e.cores += 1;
    e.pus += c.pus.length;
    perPackage.set(c.package, e);
  }
  const models = new Map(topo.packages.map((p) => [p.id, p.model]));
  const stanzas: string[] = [];
  for (const pu of [...topo.pus].sort((a, b) => a.os - b.os)) {
    if (!pu.online) continue;
    const model = models.get(pu.package) ?? null;
    const counts = perPackage.get(pu.package) ?? { pus: 1, cores: 1 };
    const lines = [`processor\t: ${pu.os}`];
    const vendor = model === null ? null : /intel/i.test(model) ? 'GenuineIntel' : /amd/i.test(model) ? 'AuthenticAMD' : null;
    if (vendor) lines.push(`vendor_id\t: ${vendor}`);
    if (model !== null) lines.push(`model name\t: ${model}`);
    lines.push(
      `physical id\t: ${pu.package}`,
      `siblings\t: ${counts.pus}`,
      `core id\t\t: ${(topo.cores[pu.core] as Core).coreId}`,
      `cpu cores\t: ${counts.cores}`,
    );
    stanzas.push(`${lines.join('\n')}\n`);
  }
  return stanzas.map((s) => `${s}\n`).join('');
}
