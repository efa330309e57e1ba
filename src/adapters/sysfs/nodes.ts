/**
 * NUMA nodes from sys/devices/system/node, following hwloc's Linux backend:
 *
 * - the nodes are those in node/online, else the nodeN directories; without a node directory the
 *   machine is one node holding all CPUs and the memory of /proc/meminfo;
 * - a node's CPUs come from nodeN/cpumap (nodeN/cpulist as a fallback); a node whose CPUs overlap
 *   an earlier node's is dropped, with a warning, as hwloc drops it;
 * - memory from nodeN/meminfo (MemTotal, MemFree), huge pages from nodeN/hugepages/hugepages-*kB;
 * - the distance matrix from each nodeN/distance (the first N values, in node order); a missing
 *   or short row drops the matrix with a warning, and makeTopology then assumes 10/20;
 * - NVIDIA GPU memory nodes (/proc/driver/nvidia/gpus/.../numa_status) are dropped by default on
 *   POWER and kept elsewhere, as hwloc does (HWLOC_KEEP_NVIDIA_GPU_NUMA_NODES overrides it there,
 *   the `gpuMemoryNodes` option here);
 * - memory tier: GPU memory; KNL MCDRAM (CPU-less nodes on Xeon Phi) is HBM; DAX kmem nodes are
 *   NVM (NVDIMM region), CXL (CXL region) or HBM/unknown for soft-reserved memory, HBM when its
 *   access bandwidth beats the DRAM nodes'; other CPU-less nodes in a slower memory tier than the
 *   CPU nodes (virtual/memory_tiering) stay unknown; everything else is DRAM.
 */
import type { NodeInput } from '../../core/topology/build.js';
import type { PagePool } from '../../core/topology/model.js';
import type { RootFs } from './root-fs.js';

const NODE_DIR = 'sys/devices/system/node';

/** Nodes and their distance matrix (rows/columns in the order of `nodes`). */
export interface NodeTopology {
  nodes: NodeInput[];
  distances: number[][] | null;
  /** True when the tree has no node directory (one node synthesised from /proc/meminfo). */
  synthesized: boolean;
}

/** Options of the node reader. */
export interface NodeReadOptions {
  /** Keep NVIDIA GPU memory nodes: true/false, or null for hwloc's default (dropped on POWER). */
  gpuMemoryNodes: boolean | null;
  arch: string | null;
  isKnl: boolean;
  /** Keep nodes whose CPUs overlap an earlier node's, minus the shared CPUs (default: drop them, as hwloc). */
  overlappingNodes: boolean;
}

/** Reads the nodes. `allCpus` are the PUs for the synthesised single node; `allowedMems` null = all. */
export function readNodes(fs: RootFs, allCpus: number[], allowedMems: Set<number> | null, options: NodeReadOptions): NodeTopology {
  const entries = fs.list(NODE_DIR);
  if (entries.length === 0) return machineNode(fs, allCpus, allowedMems);

  let ids = fs.readList(`${NODE_DIR}/online`);
  if (ids === null || ids.length === 0) {
    ids = entries
      .map((n) => /^node(\d+)$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }
  if (ids.length === 0) {
    fs.warn(NODE_DIR, 'no nodeN directory; the machine is treated as one node');
    return machineNode(fs, allCpus, allowedMems);
  }

  const taken = new Set<number>();
  const kept: { index: number; node: NodeInput }[] = [];
  const hasMemory = fs.readList(`${NODE_DIR}/has_memory`);
  ids.forEach((id, index) => {
    const dir = `${NODE_DIR}/node${id}`;
    let cpus = fs.readMask(`${dir}/cpumap`) ?? fs.readList(`${dir}/cpulist`);
    if (cpus === null) {
      fs.warn(`${dir}/cpumap`, `node ${id} has no readable cpumap or cpulist; node ignored`);
      return;
    }
    if (cpus.some((c) => taken.has(c))) {
      if (!options.overlappingNodes) {
        fs.warn(`${dir}/cpumap`, `CPUs of node ${id} overlap an earlier node's; node ignored (as hwloc does)`);
        return;
      }
      fs.warn(`${dir}/cpumap`, `CPUs of node ${id} overlap an earlier node's; node kept without the shared CPUs`);
      cpus = cpus.filter((c) => !taken.has(c));
    }
    for (const c of cpus) taken.add(c);
    const meminfo = fs.read(`${dir}/meminfo`);
    const total = meminfoKb(meminfo, 'MemTotal');
    const free = meminfoKb(meminfo, 'MemFree');
    if (total === null) fs.warn(`${dir}/meminfo`, `no MemTotal for node ${id}; memory taken as 0`);
    if (hasMemory && total !== null && total > 0 !== hasMemory.includes(id)) {
      fs.warn(`${NODE_DIR}/has_memory`, `node ${id} ${total > 0 ? 'has memory but is not' : 'has no memory but is'} listed in has_memory; meminfo kept`);
    }
    cpus = [...cpus];
    const hugePages = hugePools(fs, `${dir}/hugepages`);
    kept.push({
      index,
      node: {
        id,
        cpus,
        memory: nodeMemory(fs, `${dir}/meminfo`, total, free, hugePages),
        hugePages,
        allowed: allowedMems ? allowedMems.has(id) : true,
      },
    });
  });

  // NVIDIA GPU memory nodes
  const gpuNodes = nvidiaGpuNodes(fs);
  const keepGpu = options.gpuMemoryNodes ?? options.arch !== 'power';
  const final = kept.filter(({ node }) => {
    if (!gpuNodes.has(node.id)) return true;
    if (!keepGpu) return false;
    node.cpus = [];
    node.tier = 'gpu';
    return true;
  });

  // distances over all listed nodes, then restricted to the kept ones
  let distances: number[][] | null = null;
  if (ids.length > 1 && final.length > 1) {
    const full: number[][] = [];
    for (const id of ids) {
      const rel = `${NODE_DIR}/node${id}/distance`;
      const text = fs.readTrim(rel);
      const row = text === null ? [] : text.split(/\s+/).filter((s) => s !== '').map(Number);
      if (row.length < ids.length || row.slice(0, ids.length).some((v) => !Number.isInteger(v) || v < 0)) {
        fs.warn(rel, text === null ? 'missing; no distance matrix' : `expected ${ids.length} distances, found "${text.slice(0, 60)}"; no distance matrix`);
        full.length = 0;
        break;
      }
      const k = ids.indexOf(id);
      const local = row[k] as number;
      const bad = row.slice(0, ids.length).findIndex((v, j) => v === 0 || (j !== k && v < local));
      if (bad >= 0) {
        fs.warn(rel, `distance ${row[bad]} to node ${ids[bad]} is ${row[bad] === 0 ? '0' : `below the local distance ${local}`}, which no kernel reports; no distance matrix`);
        full.length = 0;
        break;
      }
      full.push(row.slice(0, ids.length));
    }
    if (full.length === ids.length) {
      distances = final.map((a) => final.map((b) => (full[a.index] as number[])[b.index] as number));
    }
  }

  const nodes = final.map((k) => k.node);
  assignTiers(fs, nodes, options);
  return { nodes, distances, synthesized: false };
}

function machineNode(fs: RootFs, allCpus: number[], allowedMems: Set<number> | null): NodeTopology {
  const meminfo = fs.read('proc/meminfo');
  const total = meminfoKb(meminfo, 'MemTotal');
  const free = meminfoKb(meminfo, 'MemFree');
  if (total === null) fs.warn('proc/meminfo', 'no MemTotal; memory taken as 0');
  const hugePages = hugePools(fs, 'sys/kernel/mm/hugepages');
  return {
    nodes: [
      {
        id: 0,
        cpus: allCpus,
        memory: nodeMemory(fs, 'proc/meminfo', total, free, hugePages),
        hugePages,
        allowed: allowedMems ? allowedMems.has(0) : true,
      },
    ],
    distances: null,
    synthesized: true,
  };
}

/**
 * A node's memory in bytes from its meminfo (kB values, null when missing). The kernel counts huge
 * pages in MemTotal and never reports more free than total; a tree that says otherwise (a damaged
 * or hand-edited capture) is read with the smallest memory consistent with its pools, and a warning.
 */
function nodeMemory(fs: RootFs, file: string, totalKb: number | null, freeKb: number | null, pools: readonly PagePool[]): { total: number; free: number } {
  let total = (totalKb ?? 0) * 1024;
  const poolBytes = pools.reduce((s, p) => s + p.pageSize * p.total, 0);
  if (poolBytes > total) {
    fs.warn(file, `MemTotal ${total} bytes is less than the node's huge-page pools (${poolBytes} bytes); memory taken as the pools`);
    total = poolBytes;
  }
  let free = (freeKb ?? totalKb ?? 0) * 1024;
  if (free > total) {
    if (freeKb !== null) fs.warn(file, `MemFree ${free} bytes exceeds the memory (${total} bytes); free taken as total`);
    free = total;
  }
  return { total, free };
}

/** A "Key: N kB" value of a meminfo file (node files prefix lines with "Node N "). */
export function meminfoKb(text: string | null, key: string): number | null {
  if (text === null) return null;
  const m = new RegExp(`(?:^|\\n)(?:Node \\d+ )?${key}:\\s*(\\d+)`).exec(text);
  return m ? Number(m[1]) : null;
}

function hugePools(fs: RootFs, dir: string): PagePool[] {
  const pools: PagePool[] = [];
  for (const name of fs.list(dir)) {
    const m = /^hugepages-(\d+)kB$/.exec(name);
    if (!m) continue;
    const pageSize = Number(m[1]) * 1024;
    if (!Number.isSafeInteger(pageSize) || pageSize < 4096 || (pageSize & (pageSize - 1)) !== 0) {
      fs.warn(`${dir}/${name}`, `page size ${pageSize} bytes is not a power-of-two multiple of 4 KiB; pool ignored`);
      continue;
    }
    const total = fs.readInt(`${dir}/${name}/nr_hugepages`);
    if (total === null) continue;
    if (!Number.isSafeInteger(total * pageSize)) {
      fs.warn(`${dir}/${name}/nr_hugepages`, `${total} pages of ${pageSize} bytes is more memory than any machine has; pool ignored`);
      continue;
    }
    const free = fs.readInt(`${dir}/${name}/free_hugepages`);
    pools.push({ pageSize, total: Math.max(0, total), free: Math.max(0, Math.min(free ?? total, total)) });
  }
  return pools.sort((a, b) => a.pageSize - b.pageSize);
}

function nvidiaGpuNodes(fs: RootFs): Set<number> {
  const out = new Set<number>();
  const dir = 'proc/driver/nvidia/gpus';
  for (const gpu of fs.list(dir)) {
    const text = fs.read(`${dir}/${gpu}/numa_status`);
    const m = text === null ? null : /Node:\s*(-?\d+)/.exec(text);
    if (m && Number(m[1]) >= 0) out.add(Number(m[1]));
  }
  return out;
}

function assignTiers(fs: RootFs, nodes: NodeInput[], options: NodeReadOptions): void {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  // DAX kmem nodes
  const daxDir = 'sys/bus/dax/devices';
  const kmem = new Set(fs.list('sys/bus/dax/drivers/kmem'));
  const spm: NodeInput[] = [];
  for (const dax of fs.list(daxDir)) {
    if (!kmem.has(dax)) continue;
    const target = fs.readInt(`${daxDir}/${dax}/target_node`);
    const node = target === null ? undefined : byId.get(target);
    if (!node || node.tier !== undefined) continue;
    const link = fs.readlink(`${daxDir}/${dax}`) ?? '';
    if (link.includes('ndbus')) node.tier = 'nvm';
    else if (/ACPI0017|\/cxl|decoder\d/.test(link)) node.tier = 'cxl';
    else spm.push(node);
  }
  // Soft-reserved memory: HBM when its local read bandwidth beats every CPU node's, else unknown.
  if (spm.length > 0) {
    const bandwidth = (id: number): number | null => {
      const base = `${NODE_DIR}/node${id}`;
      return fs.readInt(`${base}/access1/read_bandwidth`) ?? fs.readInt(`${base}/access0/read_bandwidth`);
    };
    const dram = nodes.filter((n) => n.cpus.length > 0).map((n) => bandwidth(n.id)).filter((b): b is number => b !== null && b > 0);
    for (const node of spm) {
      const bw = bandwidth(node.id);
      node.tier = bw !== null && dram.length > 0 && bw > Math.max(...dram) ? 'hbm' : 'unknown';
    }
  }
  for (const node of nodes) {
    if (node.tier !== undefined) continue;
    if (node.cpus.length === 0 && node.memory.total > 0) {
      const relation = options.isKnl ? 'faster' : tierRelation(fs, node.id, nodes);
      node.tier = relation === 'faster' ? 'hbm' : relation === 'same' ? 'dram' : 'unknown';
    } else node.tier = 'dram';
  }
}

/**
 * Where the kernel's memory tiering (virtual/memory_tiering/memory_tierN/nodelist; a higher N is
 * slower) puts a node relative to the tier(s) holding CPU nodes; null when it does not say.
 */
function tierRelation(fs: RootFs, id: number, nodes: NodeInput[]): 'faster' | 'same' | 'slower' | null {
  const dir = 'sys/devices/virtual/memory_tiering';
  const tiers = fs
    .list(dir)
    .map((n) => /^memory_tier(\d+)$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ rank: Number(m[1]), nodes: fs.readList(`${dir}/${m[0]}/nodelist`) ?? [] }));
  if (tiers.length === 0) return null;
  const tierOf = (n: number): number | undefined => tiers.find((t) => t.nodes.includes(n))?.rank;
  const mine = tierOf(id);
  const cpuTiers = nodes.filter((n) => n.cpus.length > 0).map((n) => tierOf(n.id)).filter((t): t is number => t !== undefined);
  if (mine === undefined || cpuTiers.length === 0) return null;
  if (mine > Math.max(...cpuTiers)) return 'slower';
  if (mine < Math.min(...cpuTiers)) return 'faster';
  return 'same';
}
