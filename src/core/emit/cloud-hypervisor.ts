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
 */
import { formatCpuList, parseCpuList } from '../topology/cpulist.js';
import type { Topology } from '../topology/model.js';
import { EmitError } from './errors.js';
import { type Guest, guestOf, type PlacementLike } from './guest.js';
import type { EmitOptions } from './options.js';

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

/** Cloud Hypervisor argv of a placement. Throws EmitError (ERR_TARGET) for what it cannot express. */
export function emitCloudHypervisor(placement: PlacementLike, topology: Topology, options: EmitOptions = {}): string[] {
  const g = guestOf(placement, topology);
  const why = cloudHypervisorLimit(g, options);
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
  for (const d of g.devices) {
    if (d.guestNode !== null && d.guestNode !== 0 && !segmentOf.has(d.guestNode)) segmentOf.set(d.guestNode, segmentOf.size + 1);
  }
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
