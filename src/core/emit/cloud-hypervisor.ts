/**
 * Cloud Hypervisor argv (without the binary) for a placement (docs/cpu.md, docs/memory.md, and the
 * parser and validator in vmm/src/config.rs):
 *   --cpus boot=V,topology=T:C:D:P,affinity=[0@[1],1@[2],...]
 *   --memory size=0
 *   --memory-zone id=mem0,size=8G,host_numa_node=0[,hugepages=on,hugepage_size=1G] id=mem1,...
 *   --numa guest_numa_id=0,cpus=[0-1],distances=[1@12,2@32],memory_zones=[mem0][,pci_segments=[1]] ...
 *          guest_numa_id=2,distances=[...],device_id=hostdev0,pci_segments=[2]   (a device's own node)
 *   --platform num_pci_segments=N                    (when a device sits near a guest node other than 0)
 *   --device path=/sys/bus/pci/devices/ADDR/,id=hostdevK[,pci_segment=S] ...
 * PCI segment 0 belongs to guest node 0; each other guest node with devices gets a segment of its
 * own. A guest node holding only devices is a generic initiator (`device_id=`, which excludes cpus
 * and memory_zones). Sizes use K, M or G (the only suffixes its parser knows). x86 topologies take
 * at most 2 threads per core: vCPUs stacked on the 4 threads of an SMT-4 core are shown as cores.
 * Memory zones are bound to their host node (mbind MPOL_BIND): preferred and interleaved memory
 * cannot be expressed and are refused (`cloudHypervisorLimit`). Multi-valued options take several
 * values after one flag, as the documentation shows.
 *
 * The I/O part (io-threads.ts; `DiskConfig` and `NetConfig` of vmm/src/config.rs):
 *   --disk path=DIR/NAME-diskK.img,[num_queues=Q,]queue_affinity=[0@[CPUS],1@[CPUS]...],id=diskK[,pci_segment=S]
 *   --net [num_queues=2Q,]id=netK[,pci_segment=S]
 * Cloud Hypervisor has no I/O threads: each disk queue runs in a thread of its own, and
 * `queue_affinity` pins each queue's thread to the CPUs of the I/O thread serving the disk (the I/O
 * CPUs without I/O threads), which is its way of placing disk I/O. A NIC's `num_queues` counts
 * receive and transmit queues, two per queue pair. The virtio devices sit on the PCI segment of the
 * I/O node's guest node. Refused (`cloudHypervisorIoLimit`): vhost=on (it has no vhost-net: its
 * virtio-net queues run in its own threads), more disk queues than vCPUs and more queue pairs than
 * vCPUs (its validator's TooManyQueues). Where its own threads run (the emulator thread and the NIC
 * workers) is not on its command line.
 */
import { formatCpuList, parseCpuList } from '../topology/cpulist.js';
import type { Topology } from '../topology/model.js';
import { EmitError } from './errors.js';
import { type Guest, deviceGuestNodes, guestOf, type PlacementLike } from './guest.js';
import { type EmitOptions, diskImage } from './options.js';

/** Cloud Hypervisor's x86_64 limit on threads per core (config.rs, CpuTopologyThreadsPerCore). */
export const CH_MAX_THREADS_PER_CORE = 2;

/** A byte size as Cloud Hypervisor's ByteSized reads it: the largest of G, M, K that divides it, else bytes. */
export function chSize(bytes: number): string {
  for (const [suffix, f] of [['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) if (bytes % f === 0) return `${bytes / f}${suffix}`;
  return String(bytes);
}

/** The guest topology as Cloud Hypervisor takes it: threads per core at most 2 (SMT-4 shown as cores). */
export function chTopology(g: Guest): { threads: number; cores: number; dies: number; packages: number } {
  const t = g.topology;
  const threads = t.threads <= CH_MAX_THREADS_PER_CORE ? t.threads : 1;
  return { threads, cores: (t.cores * t.threads) / threads, dies: t.dies, packages: t.sockets };
}

/** Why Cloud Hypervisor cannot express a guest, or null. */
export function cloudHypervisorLimit(g: Guest, options: EmitOptions = {}): string | null {
  const t = chTopology(g);
  const big = Object.entries(t).filter(([, v]) => v > 255);
  if (big.length > 0) return `Cloud Hypervisor reads each part of --cpus topology as an 8-bit number; ${big.map(([k, v]) => `${k} would be ${v}`).join(', ')}`;
  if (options.hostBinding !== false && g.memoryPolicy !== 'bind') {
    return `Cloud Hypervisor binds each memory zone to its host_numa_node (MPOL_BIND); it has no ${g.memoryPolicy} memory policy`;
  }
  return null;
}

/** Why Cloud Hypervisor cannot express the I/O part of a guest, or null. */
export function cloudHypervisorIoLimit(g: Guest): string | null {
  const io = g.io;
  if (!io) return null;
  if (io.devices.some((d) => d.kind === 'net' && d.vhost)) {
    return 'Cloud Hypervisor has no vhost-net backend: its virtio-net queues run in its own threads: use vhost=off';
  }
  const q = Math.max(0, ...io.devices.map((d) => d.queues ?? 1));
  if (q > g.vcpus) return `Cloud Hypervisor gives a disk at most one queue and a NIC at most one queue pair per vCPU (TooManyQueues); ${q} queues for ${g.vcpus} vCPUs`;
  return null;
}

/** Cloud Hypervisor argv of a placement. Throws EmitError (ERR_TARGET) for what it cannot express. */
export function emitCloudHypervisor(placement: PlacementLike, topology: Topology, options: EmitOptions = {}): string[] {
  const g = guestOf(placement, topology);
  const why = cloudHypervisorLimit(g, options) ?? cloudHypervisorIoLimit(g);
  if (why) throw new EmitError('placement', why, 'ERR_TARGET');
  const bind = options.hostBinding !== false;
  const t = chTopology(g);
  const cpus = [`boot=${g.vcpus}`, `topology=${t.threads}:${t.cores}:${t.dies}:${t.packages}`];
  if (bind) cpus.push(`affinity=[${g.pinSets.map((c, v) => `${v}@[${formatCpuList(c)}]`).join(',')}]`);
  const argv = ['--cpus', cpus.join(','), '--memory', 'size=0'];
  const zones = g.numa
    ? g.cells.filter((c) => c.memory > 0).map((c) => ({ id: `mem${c.id}`, size: c.memory, node: c.hostNode }))
    : g.memoryNodes.map((n, k) => ({ id: `mem${k}`, size: Number(placement.memoryByNode[String(n)] ?? 0), node: n }));
  argv.push(
    '--memory-zone',
    ...zones.map((z) => {
      const parts = [`id=${z.id}`, `size=${chSize(z.size)}`];
      if (bind) parts.push(`host_numa_node=${z.node}`);
      if (g.pageSize > 4096) parts.push('hugepages=on', `hugepage_size=${chSize(g.pageSize)}`);
      return parts.join(',');
    }),
  );
  const segmentOf = new Map<number, number>();
  for (const node of deviceGuestNodes(g)) if (node !== 0) segmentOf.set(node, segmentOf.size + 1);
  const deviceId = (k: number): string => `hostdev${k}`;
  if (g.numa) {
    argv.push(
      '--numa',
      ...g.cells.map((c) => {
        const parts = [`guest_numa_id=${c.id}`];
        if (c.vcpus.length > 0) parts.push(`cpus=[${formatCpuList(c.vcpus)}]`);
        const others = g.cells.filter((o) => o.id !== c.id);
        if (others.length > 0) parts.push(`distances=[${others.map((o) => `${o.id}@${g.distances[c.id]?.[o.id] ?? 10}`).join(',')}]`);
        if (c.memory > 0) parts.push(`memory_zones=[mem${c.id}]`);
        if (c.vcpus.length === 0 && c.memory === 0) {
          const k = g.devices.findIndex((d) => d.guestNode === c.id);
          if (k < 0) throw new EmitError(`placement.vnuma.nodes[${c.id}]`, 'a guest node with no vCPUs, no memory and no device');
          parts.push(`device_id=${deviceId(k)}`);
        }
        const seg = segmentOf.get(c.id);
        if (seg !== undefined) parts.push(`pci_segments=[${seg}]`);
        return parts.join(',');
      }),
    );
  }
  if (segmentOf.size > 0) argv.push('--platform', `num_pci_segments=${segmentOf.size + 1}`);
  const io = g.io;
  const ioSegment = io && io.guestNode !== null ? segmentOf.get(io.guestNode) : undefined;
  const segment = ioSegment !== undefined ? `,pci_segment=${ioSegment}` : '';
  const disks = io?.devices.filter((d) => d.kind === 'disk') ?? [];
  const nets = io?.devices.filter((d) => d.kind === 'net') ?? [];
  if (io && disks.length > 0) {
    argv.push(
      '--disk',
      ...disks.map((d) => {
        const cpus = io.iothreads.find((t) => t.id === d.iothread)?.cpus ?? io.cpus;
        const affinity = Array.from({ length: d.queues ?? 1 }, (_, q) => `${q}@[${formatCpuList(cpus)}]`).join(',');
        return `path=${diskImage(options, 'cloud-hypervisor', g.name, d.index)}${d.queues !== null ? `,num_queues=${d.queues}` : ''},queue_affinity=[${affinity}],id=disk${d.index}${segment}`;
      }),
    );
  }
  if (nets.length > 0) argv.push('--net', ...nets.map((d) => `${d.queues !== null ? `num_queues=${2 * d.queues},` : ''}id=net${d.index}${segment}`));
  if (g.devices.length > 0) {
    argv.push(
      '--device',
      ...g.devices.map((d, k) => {
        const seg = d.guestNode === null ? undefined : segmentOf.get(d.guestNode);
        return `path=/sys/bus/pci/devices/${d.address}/,id=${deviceId(k)}${seg !== undefined ? `,pci_segment=${seg}` : ''}`;
      }),
    );
  }
  return argv;
}

/** A parsed option value: key -> raw value (brackets kept). */
export type ChOptionValue = Record<string, string>;

/**
 * Parses Cloud Hypervisor argv: `--flag value [value...]` (several values per flag, or the flag
 * repeated) into flag -> list of key=value maps. Values are split on commas outside brackets.
 * Throws EmitError (ERR_CH_ARGV) naming the argument.
 */
export function parseCloudHypervisorArgv(argv: readonly string[]): Record<string, ChOptionValue[]> {
  const out: Record<string, ChOptionValue[]> = {};
  let flag: string | null = null;
  argv.forEach((arg, k) => {
    if (arg.startsWith('--')) {
      flag = arg.slice(2);
      out[flag] ??= [];
      return;
    }
    if (flag === null) throw new EmitError(`argv[${k}]`, `value ${JSON.stringify(arg)} before any --option`, 'ERR_CH_ARGV');
    (out[flag] as ChOptionValue[]).push(splitKeyValues(arg, `argv[${k}]`));
  });
  return out;
}

function splitKeyValues(text: string, path: string): ChOptionValue {
  const out: ChOptionValue = {};
  let depth = 0;
  let start = 0;
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '[') depth++;
    else if (c === ']') {
      depth--;
      if (depth < 0) throw new EmitError(path, `unbalanced "]" in ${JSON.stringify(text)}`, 'ERR_CH_ARGV');
    } else if (c === ',' && depth === 0) {
      pieces.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) throw new EmitError(path, `unbalanced "[" in ${JSON.stringify(text)}`, 'ERR_CH_ARGV');
  pieces.push(text.slice(start));
  for (const p of pieces) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new EmitError(path, `expected key=value, got ${JSON.stringify(p)}`, 'ERR_CH_ARGV');
    const key = p.slice(0, eq);
    if (key in out) throw new EmitError(path, `${key} given twice`, 'ERR_CH_ARGV');
    out[key] = p.slice(eq + 1);
  }
  return out;
}

/** Reads a bracketed CPU list "[0-3,7]" (or a bare "0-3"). */
export function parseChList(value: string): number[] {
  const inner = value.startsWith('[') && value.endsWith(']') ? value.slice(1, -1) : value;
  return inner === '' ? [] : parseCpuList(inner);
}

/** Reads "[0@[1],1@[4-5]]" (affinity) or "[1@12,2@32]" (distances) into pairs. */
export function parseChPairs(value: string): [number, string][] {
  if (!value.startsWith('[') || !value.endsWith(']')) throw new EmitError(value, 'expected a bracketed list', 'ERR_CH_ARGV');
  const inner = value.slice(1, -1);
  const out: [number, string][] = [];
  let depth = 0;
  let start = 0;
  const items: string[] = [];
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] === '[') depth++;
    else if (inner[i] === ']') depth--;
    else if (inner[i] === ',' && depth === 0) {
      items.push(inner.slice(start, i));
      start = i + 1;
    }
  }
  if (inner !== '') items.push(inner.slice(start));
  for (const it of items) {
    const m = /^(\d+)@(.+)$/.exec(it);
    if (!m) throw new EmitError(value, `expected N@VALUE, got ${JSON.stringify(it)}`, 'ERR_CH_ARGV');
    out.push([Number(m[1]), m[2] as string]);
  }
  return out;
}
