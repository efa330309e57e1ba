/**
 * CPU topology from sys/devices/system/cpu, following hwloc's Linux backend:
 *
 * - the CPUs are the cpuN directories; a CPU is online per cpu/online (or cpuN/online when that
 *   list is missing), and only online CPUs with a topology/ directory are placed in the hierarchy;
 * - cores, packages, dies and clusters are identified by their CPU masks (core_cpus or the older
 *   thread_siblings, package_cpus or core_siblings, die_cpus, cluster_cpus; the *_list files when a
 *   mask is missing), restricted to those CPUs; the first CPU of a set creates the object and its
 *   core_id / physical_package_id / die_id / cluster_id become the OS index;
 * - on AMD families 0x15/0x16 (compute units), siblings with different core_id are separate cores;
 * - caches come from cpuN/cache/indexM, identified by their shared_cpu_map (an empty map on ia64
 *   means the core);
 * - where the kernel exports no topology files at all (old kernels), /proc/cpuinfo "physical id"
 *   and "core id" stand in, with a warning.
 */
import type { Cache, Group } from '../../core/topology/model.js';
import type { PuInput } from '../../core/topology/build.js';
import type { Cpuinfo } from './cpuinfo.js';
import { parseSysfsSize, type RootFs } from './root-fs.js';

const CPU_DIR = 'sys/devices/system/cpu';

/** What the CPU part of sysfs describes. */
export interface CpuTopology {
  pus: PuInput[];
  packages: { id: number; model: string | null }[];
  caches: Cache[];
  groups: Group[];
  /** Every CPU the kernel lists (cpuN directories), online or not. */
  allCpus: number[];
}

/** Options that change what is read. */
export interface CpuReadOptions {
  /** Read caches (default true). */
  caches: boolean;
}

const byNumber = (a: number, b: number): number => a - b;

/** Reads the CPU topology. `allowedCpus` null means all allowed. */
export function readCpus(fs: RootFs, cpuinfo: Cpuinfo | null, allowedCpus: Set<number> | null, options: CpuReadOptions): CpuTopology {
  const entries = fs.list(CPU_DIR);
  const allCpus: number[] = [];
  for (const name of entries) {
    const m = /^cpu(\d+)$/.exec(name);
    if (m) allCpus.push(Number(m[1]));
  }
  allCpus.sort(byNumber);

  const onlineList = fs.readList(`${CPU_DIR}/online`);
  const onlineSet = onlineList ? new Set(onlineList) : null;
  const isOnline = (cpu: number): boolean => {
    if (onlineSet) return onlineSet.has(cpu);
    // Old kernels and cpu0 often have no per-CPU online file: a missing file reads as null (the
    // reader looks before it opens, so a missing file costs no exception).
    const flag = fs.readTrim(`${CPU_DIR}/cpu${cpu}/online`);
    return flag === null || flag === '' || Number(flag) !== 0;
  };

  // CPUs placed in the hierarchy: online, with a non-empty topology directory. The kernel exports
  // the same topology attributes for every CPU, so the first placed CPU's listing stands for the
  // others (a file it lists but another CPU lacks simply reads as missing there); a CPU is known to
  // have a non-empty directory when it holds that listing's first file, and only a CPU that does
  // not is listed itself. This replaces one directory listing per CPU by one existence check.
  const placed: number[] = [];
  const offline: number[] = [];
  const ownFiles = new Map<number, Set<string>>();
  let template: Set<string> | null = null;
  let probe: string | null = null;
  for (const cpu of allCpus) {
    if (!isOnline(cpu)) {
      offline.push(cpu);
      continue;
    }
    const dir = `${CPU_DIR}/cpu${cpu}/topology`;
    if (probe !== null && fs.exists(`${dir}/${probe}`)) {
      placed.push(cpu);
      continue;
    }
    const files = fs.list(dir);
    if (files.length === 0) continue;
    placed.push(cpu);
    if (template === null) {
      template = new Set(files);
      probe = files[0] as string;
    } else ownFiles.set(cpu, new Set(files));
  }
  const placedSet = new Set(placed);
  const noFiles = new Set<string>();
  const filesOf = (cpu: number): Set<string> => ownFiles.get(cpu) ?? (placedSet.has(cpu) ? (template ?? noFiles) : noFiles);

  if (placed.length === 0) return fallbackFromCpuinfo(fs, cpuinfo, allCpus, offline, allowedCpus);

  const readSet = (cpu: number, files: Set<string>, maskName: string, listName: string): number[] | null => {
    const dir = `${CPU_DIR}/cpu${cpu}/topology`;
    let set: number[] | null = null;
    if (files.has(maskName)) set = fs.readMask(`${dir}/${maskName}`);
    if (set === null && files.has(listName)) set = fs.readList(`${dir}/${listName}`);
    return set === null ? null : set.filter((c) => placedSet.has(c));
  };
  const readId = (cpu: number, files: Set<string>, name: string): number | null =>
    files.has(name) ? fs.readInt(`${CPU_DIR}/cpu${cpu}/topology/${name}`) : null;

  const amdComputeUnits = cpuinfo?.vendor === 'AuthenticAMD' && (cpuinfo.family === 21 || cpuinfo.family === 22);

  // Per-CPU package and core identity (first CPU of the set, as hwloc keys objects by cpuset).
  const pkgOfCpu = new Map<number, number>(); // cpu -> first cpu of its package set
  const pkgInfo = new Map<number, { osId: number | null; cpus: number[] }>(); // first cpu -> info
  const coreKeyOfCpu = new Map<number, string>();
  const coreIdOfCpu = new Map<number, number | undefined>();
  let missingPackageFiles = 0;
  let missingCoreFiles = 0;
  let amdThreadsAsCores: boolean | null = null;
  const rawGroups: { kind: 'die' | 'cluster'; id: number; pkgFirst: number; cpus: number[] }[] = [];

  // A CPU inside a package (core) set already read takes that set without reading its own mask:
  // the kernel writes the same mask for every member (hwloc reads them all; this is the fast path).
  const knownPkg = new Map<number, number[]>();
  const knownCore = new Map<number, number[]>();
  const knownDie = new Map<number, number[]>();
  const knownCluster = new Map<number, number[]>();
  // Cores (package and core key) already given their core_id: makeTopology takes a core's id from
  // its first PU, so later PUs of the core do not read theirs.
  const coreKeysSeen = new Set<string>();
  for (const cpu of placed) {
    const files = filesOf(cpu);
    // package
    const pkgSet =
      knownPkg.get(cpu) ??
      readSet(cpu, files, 'package_cpus', 'package_cpus_list') ??
      readSet(cpu, files, 'core_siblings', 'core_siblings_list');
    if (pkgSet?.includes(cpu)) for (const c of pkgSet) knownPkg.set(c, pkgSet);
    let pkgFirst: number;
    if (pkgSet && pkgSet.includes(cpu)) {
      pkgFirst = pkgSet[0] as number;
      if (!pkgInfo.has(pkgFirst)) pkgInfo.set(pkgFirst, { osId: readId(cpu, files, 'physical_package_id'), cpus: pkgSet });
    } else {
      if (pkgSet) {
        fs.warn(`${CPU_DIR}/cpu${cpu}/topology`, `package CPU mask does not contain cpu${cpu} itself; package taken from physical_package_id`);
      } else missingPackageFiles++;
      // No package mask: group by physical_package_id, else cpuinfo "physical id", else one package.
      const id = readId(cpu, files, 'physical_package_id') ?? cpuinfo?.procs.get(cpu)?.physicalId ?? 0;
      pkgFirst = -1 - Math.max(0, id);
      const info = pkgInfo.get(pkgFirst);
      if (info) info.cpus.push(cpu);
      else pkgInfo.set(pkgFirst, { osId: Math.max(0, id), cpus: [cpu] });
    }
    pkgOfCpu.set(cpu, pkgFirst);

    // core
    const coreSet =
      knownCore.get(cpu) ??
      readSet(cpu, files, 'core_cpus', 'core_cpus_list') ??
      readSet(cpu, files, 'thread_siblings', 'thread_siblings_list');
    if (coreSet?.includes(cpu)) for (const c of coreSet) knownCore.set(c, coreSet);
    let coreId: number | undefined;
    let coreIdRead = false;
    const ownCoreId = (): number | undefined => {
      if (!coreIdRead) {
        coreId = readId(cpu, files, 'core_id') ?? undefined;
        coreIdRead = true;
      }
      return coreId;
    };
    let coreKey: string;
    if (coreSet && coreSet.includes(cpu)) {
      let first = coreSet[0] as number;
      if (amdComputeUnits && coreSet.length > 1) {
        if (amdThreadsAsCores === null) {
          const sibling = coreSet.find((c) => c !== cpu) as number;
          const siblingId = readId(sibling, filesOf(sibling), 'core_id');
          amdThreadsAsCores = siblingId !== (ownCoreId() ?? null);
        }
        if (amdThreadsAsCores) first = cpu;
      }
      coreKey = `c${first}`;
    } else {
      if (coreSet) fs.warn(`${CPU_DIR}/cpu${cpu}/topology`, `core CPU mask does not contain cpu${cpu} itself; core taken from core_id`);
      else missingCoreFiles++;
      const fallback = ownCoreId() ?? cpuinfo?.procs.get(cpu)?.coreId ?? null;
      coreKey = fallback !== null && fallback >= 0 ? `i${pkgFirst}/${fallback}` : `p${cpu}`;
    }
    coreKeyOfCpu.set(cpu, coreKey);
    const seenKey = `${pkgFirst}/${coreKey}`;
    if (!coreKeysSeen.has(seenKey)) {
      coreKeysSeen.add(seenKey);
      coreIdOfCpu.set(cpu, ownCoreId());
    }

    // die and cluster groups (first CPU of the set; single-PU sets and sets equal to the package are not groups)
    // (a CPU inside a set already read takes that set, as for packages and cores: it cannot be first)
    const dieSet = knownDie.get(cpu) ?? readSet(cpu, files, 'die_cpus', 'die_cpus_list');
    if (dieSet?.includes(cpu)) for (const c of dieSet) knownDie.set(c, dieSet);
    const pkgCpus = pkgInfo.get(pkgFirst)?.cpus ?? [];
    if (dieSet && dieSet.length > 1 && dieSet[0] === cpu && !sameSet(dieSet, pkgCpus)) {
      rawGroups.push({ kind: 'die', id: Math.max(0, readId(cpu, files, 'die_id') ?? 0), pkgFirst, cpus: dieSet });
    }
    const clusterSet = knownCluster.get(cpu) ?? readSet(cpu, files, 'cluster_cpus', 'cluster_cpus_list');
    if (clusterSet?.includes(cpu)) for (const c of clusterSet) knownCluster.set(c, clusterSet);
    if (
      clusterSet &&
      clusterSet.length > 1 &&
      clusterSet[0] === cpu &&
      !sameSet(clusterSet, pkgCpus) &&
      !(dieSet && sameSet(clusterSet, dieSet)) &&
      !(coreSet && sameSet(clusterSet, coreSet))
    ) {
      rawGroups.push({ kind: 'cluster', id: Math.max(0, readId(cpu, files, 'cluster_id') ?? 0), pkgFirst, cpus: clusterSet });
    }
  }
  if (missingPackageFiles > 0) {
    fs.warn(`${CPU_DIR}/cpu${placed[0]}/topology`, `no package CPU mask for ${missingPackageFiles} CPU(s); packages taken from physical_package_id or /proc/cpuinfo`);
  }
  if (missingCoreFiles > 0) {
    fs.warn(`${CPU_DIR}/cpu${placed[0]}/topology`, `no core CPU mask for ${missingCoreFiles} CPU(s); each such PU is its own core`);
  }

  // Package OS ids must be unique in the model: duplicates (or missing ids) get the lowest free id.
  const used = new Set<number>();
  const pkgIdOf = new Map<number, number>();
  const pending: number[] = [];
  for (const [first, info] of [...pkgInfo.entries()].sort((a, b) => (a[1].cpus[0] ?? 0) - (b[1].cpus[0] ?? 0))) {
    if (info.osId !== null && info.osId >= 0 && !used.has(info.osId)) {
      used.add(info.osId);
      pkgIdOf.set(first, info.osId);
    } else pending.push(first);
  }
  for (const first of pending) {
    let id = 0;
    while (used.has(id)) id++;
    used.add(id);
    pkgIdOf.set(first, id);
    const osId = pkgInfo.get(first)?.osId;
    if (osId !== null && osId !== undefined && osId >= 0) {
      fs.warn(`${CPU_DIR}/cpu${first >= 0 ? first : placed[0]}/topology/physical_package_id`, `package id ${osId} is used by another package; renumbered ${id}`);
    }
  }

  const pus: PuInput[] = placed.map((cpu) => {
    const pkg = pkgIdOf.get(pkgOfCpu.get(cpu) as number) as number;
    const coreId = coreIdOfCpu.get(cpu);
    return {
      os: cpu,
      package: pkg,
      core: coreKeyOfCpu.get(cpu) as string,
      ...(coreId !== undefined && coreId >= 0 ? { coreId } : {}),
      online: true,
      allowed: allowedCpus ? allowedCpus.has(cpu) : true,
    };
  });
  const groups: Group[] = rawGroups.map((g) => ({ kind: g.kind, id: g.id, package: pkgIdOf.get(g.pkgFirst) ?? null, cpus: g.cpus }));

  const packages = [...pkgIdOf.entries()].map(([first, id]) => {
    const firstCpu = first >= 0 ? first : ((pkgInfo.get(first)?.cpus[0] ?? 0) as number);
    return { id, model: cpuinfo?.procs.get(firstCpu)?.model ?? cpuinfo?.globalModel ?? null };
  });

  const caches = options.caches ? readCaches(fs, placed, placedSet, filesOf) : [];
  return { pus, packages, caches, groups, allCpus };
}

function sameSet(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function readCaches(fs: RootFs, placed: number[], placedSet: Set<number>, filesOf: (cpu: number) => Set<string>): Cache[] {
  const caches: Cache[] = [];
  // CPUs already covered by a cache found through indexN of an earlier CPU: shared maps are
  // symmetric, so their indexN describes the same cache and is not read again.
  const covered = new Map<string, Set<number>>();
  // The kernel numbers a CPU's caches index0..indexN-1. Once a CPU shows that layout, later CPUs
  // are taken to have the same indexes (one that is missing simply reads as missing) unless they
  // also hold index<N>, in which case they are listed: an existence check instead of a listing.
  let layout: string[] | null = null;
  for (const cpu of placed) {
    const dir = `${CPU_DIR}/cpu${cpu}/cache`;
    let indexes: string[];
    if (layout !== null && !fs.exists(`${dir}/index${layout.length}`)) indexes = layout;
    else {
      indexes = fs.list(dir).filter((n) => /^index\d+$/.test(n));
      if (layout === null && indexes.length > 0 && indexes.every((n) => Number(n.slice(5)) < indexes.length && n === `index${Number(n.slice(5))}`)) layout = indexes;
    }
    for (const index of indexes) {
      let seen = covered.get(index);
      if (!seen) covered.set(index, (seen = new Set()));
      if (seen.has(cpu)) continue;
      const base = `${dir}/${index}`;
      let shared = fs.readMask(`${base}/shared_cpu_map`) ?? fs.readList(`${base}/shared_cpu_list`);
      if (shared === null) continue;
      if (shared.length === 0) {
        // ia64 reports some caches with an empty map: hwloc uses the core's CPUs instead.
        const files = filesOf(cpu);
        const core = files?.has('core_cpus')
          ? fs.readMask(`${CPU_DIR}/cpu${cpu}/topology/core_cpus`)
          : files?.has('thread_siblings')
            ? fs.readMask(`${CPU_DIR}/cpu${cpu}/topology/thread_siblings`)
            : null;
        if (core) shared = core;
      }
      const cpus = shared.filter((c) => placedSet.has(c));
      if (cpus[0] !== cpu) continue;
      for (const c of cpus) seen.add(c);
      const level = fs.readInt(`${base}/level`);
      if (level === null || level < 1 || level > 5) continue;
      const typeText = (fs.readTrim(`${base}/type`) ?? 'Unified').toLowerCase();
      const type = typeText.startsWith('data') ? 'data' : typeText.startsWith('instruction') ? 'instruction' : 'unified';
      const sizeText = fs.readTrim(`${base}/size`);
      const size = sizeText === null ? 0 : (parseSysfsSize(sizeText) ?? 0);
      const line = fs.readInt(`${base}/coherency_line_size`);
      const ways = fs.readInt(`${base}/ways_of_associativity`);
      caches.push({
        level,
        type,
        size,
        lineSize: line !== null && line > 0 ? line : null,
        ways: ways !== null && ways > 0 ? ways : null,
        cpus,
      });
    }
  }
  caches.sort((a, b) => a.level - b.level || (a.cpus[0] ?? 0) - (b.cpus[0] ?? 0) || a.type.localeCompare(b.type));
  return caches;
}

/** No cpu topology in sysfs: PUs from the cpuN directories or /proc/cpuinfo, structure from cpuinfo. */
function fallbackFromCpuinfo(
  fs: RootFs,
  cpuinfo: Cpuinfo | null,
  allCpus: number[],
  offline: number[],
  allowedCpus: Set<number> | null,
): CpuTopology {
  const offlineSet = new Set(offline);
  let cpus = allCpus.filter((c) => !offlineSet.has(c));
  if (cpus.length === 0 && cpuinfo) cpus = [...cpuinfo.procs.keys()].sort(byNumber);
  if (cpus.length === 0) cpus = [0];
  fs.warn(CPU_DIR, `no CPU topology files; ${cpus.length} PU(s) placed with /proc/cpuinfo "physical id"/"core id" where given`);
  const pkgIds = new Set<number>();
  const pus: PuInput[] = cpus.map((cpu) => {
    const proc = cpuinfo?.procs.get(cpu);
    const pkg = proc?.physicalId ?? 0;
    pkgIds.add(pkg);
    const core = proc?.coreId;
    return {
      os: cpu,
      package: pkg,
      core: core !== null && core !== undefined ? `i${pkg}/${core}` : `p${cpu}`,
      ...(core !== null && core !== undefined ? { coreId: core } : {}),
      online: true,
      allowed: allowedCpus ? allowedCpus.has(cpu) : true,
    };
  });
  const packages = [...pkgIds].map((id) => {
    const first = pus.find((p) => p.package === id)?.os ?? 0;
    return { id, model: cpuinfo?.procs.get(first)?.model ?? cpuinfo?.globalModel ?? null };
  });
  return { pus, packages, caches: [], groups: [], allCpus };
}
