/**
 * The sysfs reader: a Linux sysfs/procfs tree (the live host at "/", or a captured tree) read the
 * way hwloc's Linux backend reads it with HWLOC_FSROOT, into the host model via makeTopology.
 *
 * Sources, all relative to the root: sys/devices/system/cpu (PUs, cores, packages, dies, clusters,
 * caches, online state), sys/devices/system/node (nodes, memory, huge pages, distances), proc/cpuinfo
 * (model names, old-kernel fallback), proc/meminfo and sys/kernel/mm/hugepages (machines without
 * nodes), the cgroup cpuset (allowed PUs and nodes), sys/bus/pci/devices with sys/class/infiniband
 * and sys/class/net (devices). Missing or contradictory files become warnings naming the file and
 * the fallback taken; only a root without sys/ is an error.
 */
import { statSync } from 'node:fs';
import { makeTopology } from '../../core/topology/build.js';
import { TopologyError } from '../../core/topology/errors.js';
import type { Topology } from '../../core/topology/model.js';
import { readAllowedSets } from './cgroup.js';
import { archFromMachine, type Cpuinfo, parseCpuinfo } from './cpuinfo.js';
import { readCpus } from './cpus.js';
import { readNodes } from './nodes.js';
import { readPci } from './pci.js';
import { RootFs } from './root-fs.js';

/** Options of the sysfs reader. */
export interface SysfsOptions {
  /** Directory holding sys/ and proc/ (default "/": the live host). */
  root?: string;
  /**
   * NVIDIA GPU memory nodes: keep (true) or drop (false). Default: hwloc's choice, dropped on
   * POWER and kept elsewhere (hwloc's HWLOC_KEEP_NVIDIA_GPU_NUMA_NODES).
   */
  gpuMemoryNodes?: boolean;
  /** Ignore the cgroup cpuset: every PU and node is allowed (default false). */
  ignoreCgroup?: boolean;
  /** Read CPU caches (default true). */
  caches?: boolean;
  /** Read PCI devices (default true). */
  pci?: boolean;
  /**
   * Keep NUMA nodes whose CPUs overlap an earlier node's, without the shared CPUs (default false:
   * dropped with a warning, as hwloc does unless HWLOC_DEBUG_ALLOW_OVERLAPPING_NODE_CPUSETS is set).
   */
  overlappingNodes?: boolean;
}

/** Reads a topology from a sysfs/procfs tree. Throws TopologyError when `root` holds no sys/. */
export function readSysfs(options: SysfsOptions = {}): Topology {
  const root = options.root ?? '/';
  let isDir = false;
  try {
    isDir = statSync(root).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new TopologyError(root, 'not a directory (expected a sysfs root holding sys/ and proc/)', 'ERR_SYSFS_ROOT');
  const fs = new RootFs(root);
  if (!fs.isDir('sys')) {
    throw new TopologyError(root, 'has no sys/ directory: not a sysfs tree (expected sys/ and proc/ as in a capture of /)', 'ERR_SYSFS_ROOT');
  }
  if (!fs.isDir('sys/devices/system/cpu')) fs.warn('sys/devices/system/cpu', 'missing; PUs taken from /proc/cpuinfo');

  const cpuinfoText = fs.read('proc/cpuinfo');
  const cpuinfo: Cpuinfo | null = cpuinfoText === null ? null : parseCpuinfo(cpuinfoText);
  const nofile = parseNofileInfo(fs.read('proc/hwloc-nofile-info'));
  const arch = (nofile.machine ? archFromMachine(nofile.machine) : null) ?? cpuinfo?.arch ?? null;
  const isKnl = cpuinfo?.vendor === 'GenuineIntel' && cpuinfo.family === 6 && (cpuinfo.modelNumber === 87 || cpuinfo.modelNumber === 133);

  const allowed = options.ignoreCgroup ? { cpus: null, mems: null } : readAllowedSets(fs);
  const cpus = readCpus(fs, cpuinfo, allowed.cpus, { caches: options.caches ?? true });
  const placed = cpus.pus.map((p) => p.os);
  const nodes = readNodes(fs, placed, allowed.mems, {
    gpuMemoryNodes: options.gpuMemoryNodes ?? null,
    arch,
    isKnl,
    overlappingNodes: options.overlappingNodes ?? false,
  });

  // Node CPU lists name offline CPUs too; only PUs the model holds are kept there, and the offline
  // ones are reported in `offlineCpus`.
  const known = new Set(placed);
  const all = new Set(cpus.allCpus);
  for (const node of nodes.nodes) {
    const unknown = node.cpus.filter((c) => !known.has(c) && !all.has(c));
    if (unknown.length > 0) {
      fs.warn(`sys/devices/system/node/node${node.id}/cpumap`, `lists CPU(s) ${unknown.join(',')} that do not exist; ignored`);
    }
    node.cpus = node.cpus.filter((c) => known.has(c));
  }

  const hostname = (fs.readTrim('proc/sys/kernel/hostname') || nofile.hostname) ?? null;
  return makeTopology({
    source: root === '/' ? 'sysfs' : `sysfs:${root}`,
    hostname: hostname === '' ? null : hostname,
    nodes: nodes.nodes,
    distances: nodes.distances,
    pus: cpus.pus,
    packages: cpus.packages,
    caches: cpus.caches,
    groups: cpus.groups,
    pciDevices: options.pci === false ? [] : readPci(fs),
    offlineCpus: cpus.allCpus.filter((c) => !known.has(c)),
    warnings: fs.warnings,
  });
}

function parseNofileInfo(text: string | null): { machine: string | null; hostname: string | null } {
  if (text === null) return { machine: null, hostname: null };
  const get = (key: string): string | null => {
    const m = new RegExp(`^${key}: (.*)$`, 'm').exec(text);
    return m ? (m[1] as string).trim() : null;
  };
  return { machine: get('Architecture'), hostname: get('HostName') };
}
