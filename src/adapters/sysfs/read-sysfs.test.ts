import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatCpuMask } from '../../core/topology/cpulist.js';
import { TopologyError } from '../../core/topology/errors.js';
import { summarize } from '../../core/topology/view.js';
import { classifyPci } from './pci.js';
import { readSysfs } from './read-sysfs.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A hand-made tree: files by root-relative path, plus symlinks. */
function tree(files: Record<string, string>, links: Record<string, string> = {}): string {
  const root = mkdtempSync(join(tmpdir(), 'numaplan-sysfs-'));
  roots.push(root);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  for (const [rel, target] of Object.entries(links)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    symlinkSync(target, join(root, rel));
  }
  return root;
}

/** CPU files for a machine of `packages` x `cores` x `threads`, numbered package-major, thread-minor. */
function cpus(packages: number, cores: number, threads: number, extra: Record<string, string> = {}): Record<string, string> {
  const files: Record<string, string> = {};
  const n = packages * cores * threads;
  for (let cpu = 0; cpu < n; cpu++) {
    const pkg = Math.floor(cpu / (cores * threads));
    const core = Math.floor(cpu / threads);
    const t = `sys/devices/system/cpu/cpu${cpu}/topology`;
    const pkgCpus = Array.from({ length: cores * threads }, (_, i) => pkg * cores * threads + i);
    const coreCpus = Array.from({ length: threads }, (_, i) => core * threads + i);
    files[`${t}/physical_package_id`] = `${pkg}\n`;
    files[`${t}/core_id`] = `${core % cores}\n`;
    files[`${t}/package_cpus`] = `${formatCpuMask(pkgCpus)}\n`;
    files[`${t}/core_cpus`] = `${formatCpuMask(coreCpus)}\n`;
    files[`sys/devices/system/cpu/cpu${cpu}/cache/index0/level`] = '2\n';
    files[`sys/devices/system/cpu/cpu${cpu}/cache/index0/type`] = 'Unified\n';
    files[`sys/devices/system/cpu/cpu${cpu}/cache/index0/size`] = '1024K\n';
    files[`sys/devices/system/cpu/cpu${cpu}/cache/index0/shared_cpu_list`] = `${coreCpus[0]}-${coreCpus[coreCpus.length - 1]}\n`;
  }
  files['sys/devices/system/cpu/online'] = `0-${n - 1}\n`;
  files['proc/cpuinfo'] = Array.from({ length: n }, (_, i) => `processor\t: ${i}\nmodel name\t: Test CPU ${Math.floor(i / (cores * threads))}\n`).join('\n');
  return { ...files, ...extra };
}

function node(id: number, cpulist: string, totalKb: number, distance: string, extra: Record<string, string> = {}): Record<string, string> {
  const dir = `sys/devices/system/node/node${id}`;
  // Huge pages are carved out of the node's memory: a node of 1 MiB has none.
  const pages = Math.min(8, Math.floor(totalKb / 2048));
  return {
    [`${dir}/cpulist`]: `${cpulist}\n`,
    [`${dir}/meminfo`]: `Node ${id} MemTotal:       ${totalKb} kB\nNode ${id} MemFree:        ${totalKb / 2} kB\n`,
    [`${dir}/distance`]: `${distance}\n`,
    [`${dir}/hugepages/hugepages-2048kB/nr_hugepages`]: `${pages}\n`,
    [`${dir}/hugepages/hugepages-2048kB/free_hugepages`]: `${Math.min(3, pages)}\n`,
    ...extra,
  };
}

describe('readSysfs on hand-made trees', () => {
  it('reads a two-socket SMT machine: packages, cores, PUs, nodes, memory, huge pages, distances, caches', () => {
    const root = tree({
      ...cpus(2, 2, 2),
      'sys/devices/system/node/online': '0-1\n',
      ...node(0, '0-3', 1048576, '10 21'),
      ...node(1, '4-7', 2097152, '21 10'),
    });
    const topo = readSysfs({ root });
    expect(topo.warnings).toEqual([]);
    expect(summarize(topo)).toMatchObject({ packages: 2, nodes: 2, cores: 4, pus: 8, smt: 2 });
    expect(topo.distances).toEqual([
      [10, 21],
      [21, 10],
    ]);
    expect(topo.nodes[1]).toMatchObject({ id: 1, cpus: [4, 5, 6, 7], memory: { total: 2 * 1024 ** 3, free: 1024 ** 3 }, tier: 'dram' });
    expect(topo.nodes[0]?.hugePages).toEqual([{ pageSize: 2 * 1024 ** 2, total: 8, free: 3 }]);
    expect(topo.packages.map((p) => p.model)).toEqual(['Test CPU 0', 'Test CPU 1']);
    expect(topo.caches).toHaveLength(4);
    expect(topo.caches[0]).toMatchObject({ level: 2, type: 'unified', size: 1024 * 1024, cpus: [0, 1] });
    expect(topo.pus.find((p) => p.os === 5)).toMatchObject({ package: 1, node: 1 });
  });

  it('without a node directory, makes one node of all CPUs with /proc/meminfo and global huge pages', () => {
    const root = tree({
      ...cpus(1, 2, 1),
      'proc/meminfo': 'MemTotal:        4194304 kB\nMemFree:         1048576 kB\n',
      'sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages': '2\n',
      'sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages': '2\n',
    });
    const topo = readSysfs({ root });
    expect(topo.nodes).toHaveLength(1);
    expect(topo.nodes[0]).toMatchObject({ id: 0, cpus: [0, 1], memory: { total: 4 * 1024 ** 3, free: 1024 ** 3 } });
    expect(topo.nodes[0]?.hugePages).toEqual([{ pageSize: 1024 ** 3, total: 2, free: 2 }]);
  });

  it('turns a short distance row into a warning naming the file, and falls back to 10/20', () => {
    const root = tree({
      ...cpus(2, 1, 1),
      ...node(0, '0', 1024, '10 20'),
      ...node(1, '1', 1024, '20'),
    });
    const topo = readSysfs({ root });
    expect(topo.warnings.map((w) => w.path)).toContain('sys/devices/system/node/node1/distance');
    expect(topo.distances).toEqual([
      [10, 20],
      [20, 10],
    ]);
  });

  it('drops a node whose CPUs overlap an earlier one, with a warning (as hwloc)', () => {
    const root = tree({ ...cpus(1, 2, 1), ...node(0, '0-1', 1024, '10 20'), ...node(1, '0-1', 1024, '20 10') });
    const topo = readSysfs({ root });
    expect(topo.nodes.map((n) => n.id)).toEqual([0]);
    expect(topo.warnings.some((w) => w.path === 'sys/devices/system/node/node1/cpumap')).toBe(true);
    expect(readSysfs({ root, overlappingNodes: true }).nodes.map((n) => n.id)).toEqual([0, 1]);
  });

  it('marks PUs and nodes outside a cgroup v2 cpuset as not allowed', () => {
    const root = tree({
      ...cpus(2, 2, 1),
      ...node(0, '0-1', 1024, '10 20'),
      ...node(1, '2-3', 1024, '20 10'),
      'proc/mounts': 'cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n',
      'proc/self/cgroup': '0::/job\n',
      'sys/fs/cgroup/cgroup.controllers': 'cpuset cpu memory\n',
      'sys/fs/cgroup/job/cpuset.cpus.effective': '1-2\n',
      'sys/fs/cgroup/job/cpuset.mems.effective': '1\n',
    });
    const topo = readSysfs({ root });
    expect(topo.pus.filter((p) => p.allowed).map((p) => p.os)).toEqual([1, 2]);
    expect(topo.nodes.map((n) => n.allowed)).toEqual([false, true]);
    expect(summarize(topo)).toMatchObject({ nodes: 1, pus: 2, disallowedPus: 2 });
    expect(readSysfs({ root, ignoreCgroup: true }).pus.every((p) => p.allowed)).toBe(true);
  });

  it('reads a cgroup v1 cpuset named by /proc/self/cpuset', () => {
    const root = tree({
      ...cpus(1, 4, 1),
      'proc/mounts': 'cgroup /sys/fs/cgroup/cpuset cgroup rw,cpuset 0 0\n',
      'proc/self/cpuset': '/box\n',
      'sys/fs/cgroup/cpuset/box/cpuset.cpus': '0,3\n',
      'sys/fs/cgroup/cpuset/box/cpuset.mems': '0\n',
    });
    expect(readSysfs({ root }).pus.filter((p) => p.allowed).map((p) => p.os)).toEqual([0, 3]);
  });

  it('leaves offline CPUs (no topology directory) out of the PUs and node lists, without warnings', () => {
    const files = cpus(1, 4, 1);
    for (const k of Object.keys(files)) if (k.startsWith('sys/devices/system/cpu/cpu3/')) delete files[k];
    files['sys/devices/system/cpu/cpu3/online'] = '0\n';
    files['sys/devices/system/cpu/online'] = '0-2\n';
    const root = tree({ ...files, ...node(0, '0-3', 1024, '10') });
    const topo = readSysfs({ root });
    expect(topo.pus.map((p) => p.os)).toEqual([0, 1, 2]);
    expect(topo.nodes[0]?.cpus).toEqual([0, 1, 2]);
    expect(topo.warnings).toEqual([]);
  });

  it('reads files padded with NUL bytes as C readers do', () => {
    const root = tree({ ...cpus(1, 2, 1), 'sys/devices/system/node/online': '0\n\0\0\0', ...node(0, '0-1', 1024, '10') });
    const topo = readSysfs({ root });
    expect(topo.warnings).toEqual([]);
    expect(topo.nodes).toHaveLength(1);
  });

  it('reads PCI devices with their node, local CPUs, SR-IOV VFs and RDMA/net interfaces', () => {
    const pf = 'sys/bus/pci/devices/0000:3b:00.0';
    const vf = 'sys/bus/pci/devices/0000:3b:00.2';
    const root = tree(
      {
        ...cpus(2, 1, 1),
        ...node(0, '0', 1024, '10 20'),
        ...node(1, '1', 1024, '20 10'),
        [`${pf}/class`]: '0x020000\n',
        [`${pf}/vendor`]: '0x15b3\n',
        [`${pf}/device`]: '0x1017\n',
        [`${pf}/numa_node`]: '1\n',
        [`${pf}/local_cpulist`]: '1\n',
        [`${pf}/sriov_totalvfs`]: '8\n',
        [`${pf}/sriov_numvfs`]: '1\n',
        [`${vf}/class`]: '0x020000\n',
        [`${vf}/vendor`]: '0x15b3\n',
        [`${vf}/device`]: '0x1018\n',
        [`${vf}/numa_node`]: '-1\n',
        [`${vf}/local_cpulist`]: '1\n',
        'sys/bus/pci/devices/0000:00:1f.2/class': '0x010802\n',
        'sys/bus/pci/devices/0000:00:1f.2/vendor': '0x144d\n',
        'sys/bus/pci/devices/0000:00:1f.2/device': '0xa808\n',
      },
      {
        [`${pf}/virtfn0`]: '../0000:3b:00.2',
        [`${vf}/physfn`]: '../0000:3b:00.0',
        'sys/class/infiniband/mlx5_0/device': '../../../bus/pci/devices/0000:3b:00.0',
        'sys/class/net/ens1f0np0/device': '../../../bus/pci/devices/0000:3b:00.0',
      },
    );
    const topo = readSysfs({ root });
    const [nvme, pfDev, vfDev] = topo.pciDevices;
    expect(nvme).toMatchObject({ address: '0000:00:1f.2', class: 'nvme', node: null });
    expect(pfDev).toMatchObject({
      class: 'rdma',
      node: 1,
      localCpus: [1],
      sriov: { totalVfs: 8, numVfs: 1, vfs: ['0000:3b:00.2'] },
      rdmaDevices: ['mlx5_0'],
      netDevices: ['ens1f0np0'],
    });
    expect(vfDev).toMatchObject({ class: 'nic', node: null, inferredNode: 1, physfn: '0000:3b:00.0' });
  });

  it("reads PCI-to-PCI bridges' buses from their configuration space and builds hwloc's tree from them", () => {
    /** A configuration header: type 1 with primary/secondary/subordinate buses, or type 0. */
    const config = (bridge?: [number, number, number]): string => {
      const b = new Array<number>(64).fill(0);
      b[0x0e] = bridge ? 1 : 0;
      if (bridge) [b[0x18], b[0x19], b[0x1a]] = bridge;
      return String.fromCharCode(...b);
    };
    const dev = (address: string, cls: string, extra: Record<string, string> = {}): Record<string, string> => ({
      [`sys/bus/pci/devices/${address}/class`]: `${cls}\n`,
      [`sys/bus/pci/devices/${address}/vendor`]: '0x8086\n',
      [`sys/bus/pci/devices/${address}/device`]: '0x2030\n',
      ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [`sys/bus/pci/devices/${address}/${k}`, v])),
    });
    const root = tree({
      ...cpus(2, 1, 1),
      ...node(0, '0-1', 1024, '10'),
      ...dev('0000:00:00.0', '0x060000', { config: config() }), // the host bridge's own function: class 0600
      ...dev('0000:3a:00.0', '0x060400', { config: config([0x3a, 0x3b, 0x3c]) }), // root port
      ...dev('0000:3b:00.0', '0x060400', { config: config([0x3b, 0x3c, 0x3c]) }), // switch port
      ...dev('0000:3c:00.0', '0x020000', { local_cpus: '1\n', local_cpulist: '0-1\n' }),
      ...dev('0000:3a:05.0', '0x060400', { config: config([0x3a, 0, 0]) }), // buses hwloc calls invalid
      ...dev('0000:3a:06.0', '0x060400'), // no config: not readable as a bridge
    });
    const topo = readSysfs({ root });
    const parentOf = Object.fromEntries(topo.pciDevices.map((d) => [d.address, d.parent]));
    expect(parentOf).toEqual({ '0000:00:00.0': null, '0000:3a:00.0': null, '0000:3a:05.0': null, '0000:3a:06.0': null, '0000:3b:00.0': '0000:3a:00.0', '0000:3c:00.0': '0000:3b:00.0' });
    expect(topo.pciDevices.map((d) => d.bridge)).toEqual([null, { secondary: 0x3b, subordinate: 0x3c }, null, null, { secondary: 0x3c, subordinate: 0x3c }, null]);
    expect(topo.pciHostBridges).toEqual([
      { domain: '0000', buses: { secondary: 0, subordinate: 0 } },
      { domain: '0000', buses: { secondary: 0x3a, subordinate: 0x3c } },
    ]);
    expect(topo.warnings.filter((w) => /pciDevices/.test(w.path)).map((w) => w.path)).toEqual(['pciDevices[0000:3a:05.0].bridge']);
    // local_cpus, as hwloc reads it, when it and local_cpulist disagree.
    expect(topo.pciDevices.find((d) => d.address === '0000:3c:00.0')?.localCpus).toEqual([0]);
  });

  it('classifies PCI class codes', () => {
    expect(classifyPci(0x020000, 0x8086, false)).toBe('nic');
    expect(classifyPci(0x020700, 0x15b3, true)).toBe('rdma');
    expect(classifyPci(0x030200, 0x10de, false)).toBe('gpu');
    expect(classifyPci(0x030000, 0x1a03, false)).toBe('other');
    expect(classifyPci(0x120000, 0x1002, false)).toBe('gpu');
    expect(classifyPci(0x120000, 0x1e52, false)).toBe('accelerator');
    expect(classifyPci(0x0b4000, 0x1bcf, false)).toBe('accelerator');
    expect(classifyPci(0x010802, 0x144d, false)).toBe('nvme');
    expect(classifyPci(0x010601, 0x8086, false)).toBe('storage');
    expect(classifyPci(0x060400, 0x8086, false)).toBe('bridge');
    expect(classifyPci(0x0c0330, 0x8086, false)).toBe('other');
  });

  it('falls back to /proc/cpuinfo when the kernel exports no CPU topology, with a warning', () => {
    const root = tree({
      'sys/devices/system/cpu/cpu0/online': '1\n',
      'sys/devices/system/cpu/cpu1/online': '1\n',
      'proc/cpuinfo': 'processor : 0\nphysical id : 0\ncore id : 0\n\nprocessor : 1\nphysical id : 0\ncore id : 1\n',
      'proc/meminfo': 'MemTotal: 1024 kB\n',
    });
    const topo = readSysfs({ root });
    expect(summarize(topo)).toMatchObject({ packages: 1, cores: 2, pus: 2 });
    expect(topo.warnings.map((w) => w.path)).toContain('sys/devices/system/cpu');
  });

  it('rejects a root without sys/ with a TopologyError naming it', () => {
    const root = tree({ 'proc/cpuinfo': 'processor : 0\n' });
    expect(() => readSysfs({ root })).toThrow(TopologyError);
    try {
      readSysfs({ root });
    } catch (err) {
      expect((err as TopologyError).path).toBe(root);
      expect((err as TopologyError).code).toBe('ERR_SYSFS_ROOT');
    }
    expect(() => readSysfs({ root: join(root, 'missing') })).toThrow(/not a directory/);
  });

  it('marks KNL CPU-less nodes as HBM and NVDIMM DAX nodes as NVM', () => {
    const knl = tree({
      ...cpus(1, 2, 1, { 'proc/cpuinfo': 'processor : 0\nvendor_id : GenuineIntel\ncpu family : 6\nmodel : 87\n\nprocessor : 1\n' }),
      ...node(0, '0-1', 1024, '10 31'),
      ...node(1, '', 1024, '31 10'),
    });
    expect(readSysfs({ root: knl }).nodes.map((n) => n.tier)).toEqual(['dram', 'hbm']);
    const dax = 'devices/LNXSYSTM:00/ndbus0/region0/dax0.0/dax0.0';
    const pmem = tree(
      {
        ...cpus(1, 2, 1),
        ...node(0, '0-1', 1024, '10 17'),
        ...node(1, '', 1024, '17 10'),
        [`sys/${dax}/target_node`]: '1\n',
        'sys/bus/dax/drivers/kmem/dax0.0': '',
      },
      { 'sys/bus/dax/devices/dax0.0': `../../../${dax}` },
    );
    expect(readSysfs({ root: pmem }).nodes.map((n) => n.tier)).toEqual(['dram', 'nvm']);
  });
});
