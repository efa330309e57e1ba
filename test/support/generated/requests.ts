/**
 * Random VM requests over every option of the request grammar (the compact `--vm` form, so the
 * grammar's own parser is exercised too), weighted toward the rare options, for a given host:
 * pages 4K/2M/1G/auto, cpu=shared, every smt mode, emulator pCPUs, every numa mode, maxnodes,
 * layouts, memory tiers, every device kind (rdma, rdma-vf, nic, vf, gpu, pci:ADDR) with counts and
 * localities, the escape hatches cpus= and nodes=, the I/O part (iothreads=, disks=, nets=, queues=,
 * vhost=, iocpus=) and --device-nodes. Sizes follow the host (a
 * fraction of a node up to more than one node) so that most requests fit and some do not.
 */
import type { Topology } from '../../../src/core/topology/model.js';

/** One generated request. */
export interface GeneratedRequest {
  spec: string;
  /** Place with --device-nodes. */
  deviceNodes: boolean;
}

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** Picks by weight: `pick(rand, [[w, value], ...])`. */
export function pick<T>(rand: () => number, choices: readonly (readonly [number, T])[]): T {
  const total = choices.reduce((s, [w]) => s + w, 0);
  let r = rand() * total;
  for (const [w, v] of choices) {
    r -= w;
    if (r < 0) return v;
  }
  return (choices[choices.length - 1] as readonly [number, T])[1];
}

/** Generates one request for `host`; `i` makes the name unique. */
export function generateRequest(rand: () => number, host: Topology, i: number): GeneratedRequest {
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const chance = (p: number): boolean => rand() < p;
  const cpuNodes = host.nodes.filter((n) => n.cpus.length > 0);
  const pusPerNode = Math.max(1, Math.min(...cpuNodes.map((n) => n.cpus.length)));
  const coresPerNode = Math.max(1, Math.min(...cpuNodes.map((n) => host.cores.filter((c) => c.node === n.id).length)));
  const nodeMem = Math.max(256 * MIB, Math.min(...cpuNodes.map((n) => n.memory.total)));
  const parts: string[] = [`name=g${i}`];

  const vcpus = pick(rand, [
    [35, int(1, Math.min(4, pusPerNode))],
    [30, int(1, coresPerNode)],
    [20, int(coresPerNode, Math.max(coresPerNode, Math.floor(coresPerNode * 2.5)))],
    [10, int(1, Math.max(1, pusPerNode * 2))],
    [5, pick(rand, [[1, 7], [1, 11], [1, 13], [1, 145]])],
  ]);
  parts.push(`vcpus=${vcpus}`);

  const pages = pick(rand, [[50, '4K'], [18, '2M'], [12, '1G'], [20, 'auto']] as const);
  const unit = pages === '1G' ? GIB : pages === '2M' ? 2 * MIB : pages === 'auto' ? pick(rand, [[1, MIB], [1, 2 * MIB], [1, GIB]]) : MIB;
  const fraction = pick(rand, [[40, 0.05 + rand() * 0.3], [35, 0.3 + rand() * 0.6], [20, 0.9 + rand() * 0.9], [5, 2 + rand() * 2]]);
  const memory = Math.max(unit, Math.round((nodeMem * fraction) / unit) * unit, 64 * MIB);
  parts.push(`memory=${memory % GIB === 0 ? `${memory / GIB}G` : `${memory / MIB}M`}`);
  if (pages !== '4K' || chance(0.2)) parts.push(`pages=${pages}`);

  const shared = chance(0.15);
  if (shared) parts.push('cpu=shared');
  else if (chance(0.1)) parts.push('cpu=dedicated');
  const smt = pick(rand, [[55, 'auto'], [15, 'prefer'], [15, 'isolate'], [15, 'require']] as const);
  if (smt !== 'auto' || chance(0.1)) parts.push(`smt=${smt}`);
  const emulator = pick(rand, [[80, 'share'], [15, '1'], [5, '2']] as const);
  if (emulator !== 'share' || chance(0.1)) parts.push(`emulator=${emulator}`);

  const tiers = [...new Set(host.nodes.filter((n) => n.cpus.length === 0).map((n) => n.tier))].filter((t) => t !== 'dram');
  let tier: string | null = null;
  if (tiers.length > 0 && chance(0.3)) tier = tiers[int(0, tiers.length - 1)] as string;
  else if (chance(0.03)) tier = pick(rand, [[1, 'hbm'], [1, 'cxl'], [1, 'gpu']]);

  const numa = pick(rand, [[40, 'auto'], [15, 'strict'], [22, 'preferred'], [23, 'interleave']] as const);
  let layout: string | null = null;
  if (vcpus >= 2 && tier === null && numa !== 'interleave' && numa !== 'strict' && chance(0.12)) {
    const k = Math.min(vcpus, int(2, Math.min(3, Math.max(2, cpuNodes.length))));
    const v = Array.from({ length: k }, () => 0);
    for (let c = 0; c < vcpus; c++) v[c % k] = (v[c % k] as number) + 1;
    const units = memory / unit;
    if (units >= k) {
      const m = Array.from({ length: k }, (_, j) => Math.floor(units / k) + (j < units % k ? 1 : 0));
      layout = v.map((x, j) => `${x}:${((m[j] as number) * unit) / MIB}M`).join('/');
    }
  }
  if (layout) parts.push(`layout=${layout}`);
  if (numa !== 'auto' || chance(0.1)) parts.push(`numa=${numa}`);
  if (tier) parts.push(`tier=${tier}`);
  if (numa !== 'strict' && !layout && chance(0.15)) parts.push(`maxnodes=${int(1, Math.max(1, cpuNodes.length))}`);

  if (host.pciDevices.length > 0 && chance(0.35)) {
    const kinds = new Set<string>();
    for (const d of host.pciDevices) {
      if (d.class === 'rdma') kinds.add('rdma').add('nic');
      if (d.class === 'nic') kinds.add('nic');
      if (d.class === 'gpu') kinds.add('gpu');
      if (d.sriov && d.sriov.vfs.length > 0) kinds.add('vf').add(d.class === 'rdma' ? 'rdma-vf' : 'vf');
    }
    const list = [...kinds];
    const wishes: string[] = [];
    for (let k = int(1, 2); k > 0; k--) {
      const locality = pick(rand, [[3, 'required'], [4, 'preferred'], [2, 'none']] as const);
      if (chance(0.2)) {
        const d = host.pciDevices[int(0, host.pciDevices.length - 1)];
        if (d) wishes.push(`pci:${d.address}:1:${locality}`);
      } else if (list.length > 0) {
        wishes.push(`${list[int(0, list.length - 1)]}:${pick(rand, [[6, 1], [3, 2], [1, 3]])}:${locality}`);
      }
    }
    if (wishes.length > 0) parts.push(`devices=${[...new Set(wishes)].join('+')}`);
  }

  // The I/O part: I/O threads, virtio disks and NICs, their queues, vhost, where the I/O threads run.
  if (chance(0.3)) {
    const iothreads = pick(rand, [[4, 0], [4, 1], [3, 2], [1, 4]]);
    const disks = pick(rand, [[3, 0], [5, 1], [3, 2], [1, 3]]);
    const nets = pick(rand, [[4, 0], [5, 1], [1, 2]]);
    if (iothreads > 0 || chance(0.1)) parts.push(`iothreads=${iothreads}`);
    if (disks > 0 || chance(0.1)) parts.push(`disks=${disks}`);
    if (nets > 0 || chance(0.1)) parts.push(`nets=${nets}`);
    if (disks + nets > 0 && chance(0.6)) parts.push(`queues=${pick(rand, [[4, 2], [4, 4], [2, 1], [1, 8], [1, vcpus + 1]])}`);
    if (nets > 0 || chance(0.1)) parts.push(`vhost=${pick(rand, [[1, 'on'], [1, 'off']])}`);
    if (disks + nets + iothreads > 0 && chance(0.5)) parts.push(`iocpus=${pick(rand, [[2, 'share'], [3, '1'], [2, '2'], [2, 'siblings']])}`);
  }

  // Escape hatches.
  if (!layout && numa !== 'interleave' && chance(0.07)) {
    const pus = host.pus.filter((u) => u.online && u.allowed && u.node !== null).map((u) => u.os);
    if (pus.length >= vcpus) {
      const chosen: number[] = [];
      const pool = [...pus];
      while (chosen.length < vcpus) chosen.push(pool.splice(int(0, pool.length - 1), 1)[0] as number);
      parts.push(`cpus=${chosen.join(',')}`);
    }
  } else if (chance(0.08)) {
    const ids = cpuNodes.map((n) => n.id);
    const want = layout ? layout.split('/').length : int(1, Math.min(2, ids.length));
    if (ids.length >= want) {
      const pool = [...ids];
      const chosen: number[] = [];
      while (chosen.length < want) chosen.push(pool.splice(int(0, pool.length - 1), 1)[0] as number);
      parts.push(`nodes=${chosen.sort((a, b) => a - b).join(',')}`);
    }
  }
  return { spec: parts.join(','), deviceNodes: chance(0.15) };
}
