/**
 * The VM request: what a VM needs, validated. Two forms, one schema:
 * - JSON (sizes in bytes or size strings such as "64G"), parsed by `parseVmRequest`;
 * - the compact CLI form parsed by `parseVmSpec`, e.g.
 *   `name=db,vcpus=16,memory=64G,pages=1G,devices=rdma:1:required+gpu:2:preferred,numa=strict,
 *    maxnodes=2,smt=isolate,cpu=dedicated,emulator=1,tier=hbm,cpus=4-7,nodes=1,layout=8:32G/8:32G`,
 *   gang placement `devices=gpu:4+rdma:4,pairing=switch` (pairing.ts),
 *   and the I/O part: `iothreads=2,disks=2,nets=1,queues=4,vhost=on,iocpus=share` (see io-threads.ts).
 *
 * Every error is a `RequestError` (code ERR_REQUEST) naming the field and the value at fault.
 */
import { z } from 'zod';
import { parseCpuList, parseCpuListInOrder } from '../topology/cpulist.js';
import { MAX_CPU_ID, MAX_NODE_ID } from '../topology/limits.js';
import type { Topology } from '../topology/model.js';
import { parseSize } from '../topology/sizes.js';
import { PAIRING_LEVELS, pairingProblem } from './pairing.js';

/** Error for a request that cannot be understood; the CLI exits 2 with it. */
export class RequestError extends Error {
  readonly code = 'ERR_REQUEST';
  /** The field at fault, e.g. "vcpus" or "devices[1].count". */
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = 'RequestError';
    this.path = path;
  }
}

/** Device kinds a request can ask for. */
export const DEVICE_KINDS = ['rdma', 'rdma-vf', 'nic', 'vf', 'gpu', 'pci'] as const;
/** What kind of device: an RDMA NIC, an SR-IOV VF of one, any NIC, any VF, a GPU, or one PCI address. */
export type DeviceKind = (typeof DEVICE_KINDS)[number];

/** How strongly a device must sit on the VM's nodes. */
export type Locality = 'required' | 'preferred' | 'none';

const size = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  try {
    return parseSize(v);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** Most vCPUs a VM may have (QEMU's and libvirt's largest guests are below it). */
export const MAX_VCPUS = 8192;
/** Most device wishes in one request, and most devices they may add up to. */
export const MAX_DEVICE_REQUESTS = 64;
export const MAX_DEVICES = 256;

/**
 * The largest CPU and node ids a request may name: a host's own (`requestBounds(topology)`) when the
 * request is about one host, else the largest any host can have (MAX_CPU_ID, MAX_NODE_ID).
 */
export interface RequestBounds {
  maxCpu: number;
  maxNode: number;
}

/** Bounds for requests that may go to any host. */
export const ANY_HOST: RequestBounds = { maxCpu: MAX_CPU_ID, maxNode: MAX_NODE_ID };

/** The bounds of one host: its largest CPU and node ids. */
export function requestBounds(topology: Topology): RequestBounds {
  let maxCpu = -1;
  for (const p of topology.pus) if (p.os > maxCpu) maxCpu = p.os;
  let maxNode = -1;
  for (const n of topology.nodes) if (n.id > maxNode) maxNode = n.id;
  return { maxCpu, maxNode };
}

const PCI_ADDRESS = /^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

/** One device wish. */
export const DeviceRequestSchema = z
  .object({
    kind: z.enum(DEVICE_KINDS),
    address: z.string().regex(PCI_ADDRESS, 'expected a PCI address like 0000:3b:00.0').optional(),
    count: z.number().int().positive().max(64).default(1),
    locality: z.enum(['required', 'preferred', 'none']).default('preferred'),
  })
  .strict()
  .refine((d) => (d.kind === 'pci') === (d.address !== undefined), {
    message: 'kind "pci" needs an address, and only kind "pci" takes one',
  });
/** One device wish, validated. */
export type DeviceRequest = z.infer<typeof DeviceRequestSchema>;

/** Most I/O threads, virtio disks, virtio NICs and queues per device a request may ask for. */
export const MAX_IOTHREADS = 64;
export const MAX_VIRTIO_DEVICES = 32;
/** Queues per virtio disk, queue pairs per virtio NIC (Linux's tap takes at most 256 queues). */
export const MAX_QUEUES = 64;

/** One guest node of an explicit layout. */
export const GuestNodeRequestSchema = z
  .object({ vcpus: z.number().int().nonnegative(), memory: size })
  .strict();

/** One guest node of an explicit layout, validated. */
export type GuestLayout = z.infer<typeof GuestNodeRequestSchema>;

const PAGE_SIZES = [4096, 2 * 1024 ** 2, 1024 ** 3] as const;

/** A VM's name. */
const VM_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The request schema (JSON form). Defaults are the product's defaults. */
export const VmRequestSchema = z
  .object({
    name: z.string().regex(VM_NAME, 'letters, digits, "_", "." and "-", at most 64'),
    vcpus: z.number().int().positive().max(MAX_VCPUS),
    memory: size.refine((m) => m > 0, 'memory must be positive'),
    /** Page size in bytes, or "auto": the largest size whose pools can hold the VM, falling back. */
    pageSize: z
      .union([z.literal('auto'), size])
      .default(4096)
      .refine((p) => p === 'auto' || (PAGE_SIZES as readonly number[]).includes(p), 'page size must be 4K, 2M, 1G or auto'),
    cpuPolicy: z.enum(['dedicated', 'shared']).default('dedicated'),
    smt: z.enum(['auto', 'prefer', 'isolate', 'require']).default('auto'),
    /** Emulator/IO threads: share the vCPUs' pCPUs, or reserve this many pCPUs of their own. */
    emulator: z.union([z.literal('share'), z.number().int().positive().max(64)]).default('share'),
    numa: z.enum(['auto', 'strict', 'preferred', 'interleave']).default('auto'),
    maxNodes: z.number().int().positive().optional(),
    layout: z.array(GuestNodeRequestSchema).min(1).optional(),
    tier: z.enum(['dram', 'hbm', 'cxl', 'gpu']).default('dram'),
    devices: z.array(DeviceRequestSchema).max(MAX_DEVICE_REQUESTS).default([]),
    /**
     * Gang placement (pairing.ts): each GPU with a NIC of its own no farther than this on the PCI
     * tree: behind one PCIe switch, below one root port, on one host bridge, or on one node.
     */
    pairing: z.enum(PAIRING_LEVELS).optional(),
    // The I/O part (io-threads.ts; `ioOf` gives the defaults: none, vhost on, iocpus share).
    /** QEMU I/O threads serving the virtio disks (io-threads.ts places them). */
    iothreads: z.number().int().nonnegative().max(MAX_IOTHREADS).optional(),
    /** virtio-blk disks. */
    disks: z.number().int().nonnegative().max(MAX_VIRTIO_DEVICES).optional(),
    /** virtio-net NICs. */
    nets: z.number().int().nonnegative().max(MAX_VIRTIO_DEVICES).optional(),
    /** Queues of each virtio disk and queue pairs of each virtio NIC; absent: the hypervisor's default. */
    queues: z.number().int().positive().max(MAX_QUEUES).optional(),
    /** virtio NICs served by the kernel's vhost-net workers (on) or by the hypervisor's own threads (off). */
    vhost: z.enum(['on', 'off']).optional(),
    /**
     * Where I/O threads (iothreads, vhost workers, the emulator thread) run on the node of the devices
     * they serve: `share` the VM's own vCPU pCPUs there, N pCPUs of their own (never SMT siblings of
     * the VM's vCPUs), or `siblings` the free sibling threads of the VM's vCPU cores.
     */
    iocpus: z.union([z.literal('share'), z.literal('siblings'), z.number().int().positive().max(64)]).optional(),
    /** Escape hatch: host CPU per vCPU, honoured exactly (length = vcpus). */
    cpus: z.array(z.number().int().nonnegative().max(MAX_CPU_ID)).max(MAX_VCPUS).optional(),
    /** Escape hatch: exactly these host nodes. */
    nodes: z.array(z.number().int().nonnegative().max(MAX_NODE_ID)).min(1).max(MAX_NODE_ID + 1).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.pageSize !== 'auto' && r.memory % r.pageSize !== 0) {
      ctx.addIssue({ code: 'custom', path: ['memory'], message: `${r.memory} bytes is not a whole number of ${r.pageSize}-byte pages` });
    }
    if (r.cpus && r.cpus.length !== r.vcpus) {
      ctx.addIssue({ code: 'custom', path: ['cpus'], message: `lists ${r.cpus.length} host CPUs for ${r.vcpus} vCPUs (one per vCPU)` });
    }
    if (r.cpus && new Set(r.cpus).size !== r.cpus.length && r.cpuPolicy === 'dedicated') {
      ctx.addIssue({ code: 'custom', path: ['cpus'], message: 'a dedicated VM cannot list a host CPU twice' });
    }
    if (r.nodes && new Set(r.nodes).size !== r.nodes.length) {
      ctx.addIssue({ code: 'custom', path: ['nodes'], message: 'lists a node twice' });
    }
    if (r.layout) {
      const v = r.layout.reduce((s, g) => s + g.vcpus, 0);
      const m = r.layout.reduce((s, g) => s + g.memory, 0);
      if (v !== r.vcpus) ctx.addIssue({ code: 'custom', path: ['layout'], message: `guest nodes hold ${v} vCPUs, the VM has ${r.vcpus}` });
      if (m !== r.memory) ctx.addIssue({ code: 'custom', path: ['layout'], message: `guest nodes hold ${m} bytes, the VM has ${r.memory}` });
      const pageSize = r.pageSize;
      if (pageSize !== 'auto') {
        const odd = r.layout.findIndex((g) => g.memory % pageSize !== 0);
        if (odd >= 0) {
          ctx.addIssue({ code: 'custom', path: ['layout', odd], message: `guest node ${odd} holds ${r.layout[odd]?.memory} bytes, not a whole number of ${pageSize}-byte pages` });
        }
      }
      if (r.nodes && r.nodes.length !== r.layout.length) {
        ctx.addIssue({ code: 'custom', path: ['nodes'], message: `${r.nodes.length} host nodes for ${r.layout.length} guest nodes` });
      }
      if (r.numa === 'interleave') {
        ctx.addIssue({ code: 'custom', path: ['numa'], message: 'interleave gives the guest one node with memory spread over the host nodes; a layout gives it NUMA nodes: choose one' });
      }
      if (r.numa === 'strict' && r.layout.length > 1) {
        ctx.addIssue({ code: 'custom', path: ['numa'], message: 'strict (one node) contradicts a layout of several guest nodes' });
      }
    }
    const devices = r.devices.reduce((n, d) => n + d.count, 0);
    if (devices > MAX_DEVICES) {
      ctx.addIssue({ code: 'custom', path: ['devices'], message: `asks for ${devices} devices; at most ${MAX_DEVICES} per VM` });
    }
    if (r.pairing !== undefined) {
      const problem = pairingProblem(r);
      if (problem) ctx.addIssue({ code: 'custom', path: ['pairing'], message: problem });
    }
    const io = ioOf(r);
    const virtio = io.disks + io.nets;
    if (r.queues !== undefined && virtio === 0) {
      ctx.addIssue({ code: 'custom', path: ['queues'], message: 'sets the queues of the virtio disks and NICs, and the request has none (disks=N, nets=N)' });
    }
    if (io.iocpus !== 'share' && virtio + io.iothreads === 0) {
      ctx.addIssue({ code: 'custom', path: ['iocpus'], message: 'places I/O threads, and the request has none (iothreads=N, disks=N, nets=N)' });
    }
    if (r.maxNodes !== undefined && r.numa === 'strict' && r.maxNodes !== 1) {
      ctx.addIssue({ code: 'custom', path: ['maxNodes'], message: 'strict means one node' });
    }
  });

/** The I/O part of a request with its defaults filled in. */
export interface RequestIo {
  iothreads: number;
  disks: number;
  nets: number;
  queues: number | undefined;
  vhost: 'on' | 'off';
  iocpus: 'share' | 'siblings' | number;
  emulator: number | 'share';
}

/** The I/O part of a request, defaults filled in (no I/O threads, no virtio devices, vhost on, iocpus share). */
export function ioOf(r: Pick<VmRequest, 'iothreads' | 'disks' | 'nets' | 'queues' | 'vhost' | 'iocpus' | 'emulator'>): RequestIo {
  return { iothreads: r.iothreads ?? 0, disks: r.disks ?? 0, nets: r.nets ?? 0, queues: r.queues, vhost: r.vhost ?? 'on', iocpus: r.iocpus ?? 'share', emulator: r.emulator };
}

/** A validated VM request (sizes in bytes, defaults filled in). */
export type VmRequest = z.infer<typeof VmRequestSchema>;
/** What a caller may pass (sizes as strings allowed, defaults optional). */
export type VmRequestInput = z.input<typeof VmRequestSchema>;

/**
 * Validates a request given as a value (e.g. parsed JSON). Throws RequestError naming the field.
 * `bounds`: the host's largest CPU and node ids, when the request is about one host.
 */
export function parseVmRequest(input: unknown, bounds: RequestBounds = ANY_HOST): VmRequest {
  const parsed = VmRequestSchema.safeParse(input);
  if (parsed.success) return checkBounds(parsed.data, bounds);
  const issue = parsed.error.issues[0];
  const path = issue ? issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('') : '';
  let value: unknown = input;
  for (const p of issue?.path ?? []) value = (value as Record<PropertyKey, unknown> | undefined)?.[p as PropertyKey];
  const shown = value === undefined || typeof value === 'object' ? '' : ` (got ${JSON.stringify(value)})`;
  throw new RequestError(path || '(request)', `${issue?.message ?? 'invalid'}${shown}`);
}

/** Refuses CPU and node ids beyond the host's largest. */
function checkBounds(r: VmRequest, bounds: RequestBounds): VmRequest {
  const cpu = r.cpus?.findIndex((c) => c > bounds.maxCpu) ?? -1;
  if (cpu >= 0) throw new RequestError(`cpus[${cpu}]`, `CPU ${r.cpus?.[cpu]} is beyond the host's largest (${bounds.maxCpu})`);
  const node = r.nodes?.findIndex((n) => n > bounds.maxNode) ?? -1;
  if (node >= 0) throw new RequestError(`nodes[${node}]`, `node ${r.nodes?.[node]} is beyond the host's largest (${bounds.maxNode})`);
  return r;
}

const KEY_ALIASES: Record<string, string> = {
  name: 'name',
  vcpus: 'vcpus',
  memory: 'memory',
  mem: 'memory',
  pages: 'pageSize',
  pagesize: 'pageSize',
  cpu: 'cpuPolicy',
  smt: 'smt',
  emulator: 'emulator',
  numa: 'numa',
  maxnodes: 'maxNodes',
  layout: 'layout',
  tier: 'tier',
  devices: 'devices',
  pairing: 'pairing',
  cpus: 'cpus',
  nodes: 'nodes',
  iothreads: 'iothreads',
  disks: 'disks',
  nets: 'nets',
  queues: 'queues',
  vhost: 'vhost',
  iocpus: 'iocpus',
};
const LIST_KEYS = new Set(['cpus', 'nodes']);

/**
 * Parses the compact CLI form `key=value,key=value`. The values of `cpus` and `nodes` are cpulists
 * and may contain commas ("cpus=0-3,8-11"): a part without "=" continues the previous list. `cpus`
 * keeps the order written (one host CPU per vCPU, in vCPU order: "cpus=350,183,74" pins vCPU 0 to
 * 350). Lists are parsed against `bounds` (the host's largest ids when known) and against the
 * request itself (no more CPUs than vCPUs), before they are expanded.
 */
export function parseVmSpec(spec: string, bounds: RequestBounds = ANY_HOST): VmRequest {
  const raw = rawFields(spec);
  // Requests of one shape differ in their names only: the fields but the name are converted and
  // validated once per shape (and bounds), and a request of a shape seen before is that result with
  // its own name, once the name itself passes. Nothing else depends on the name (no check of the
  // schema reads it), so the result is the same value the whole parse gives; anything else (a new
  // shape, a bad name, an error) takes the whole parse.
  const name = raw.name;
  if (name === undefined || !VM_NAME.test(name)) return parseFields(raw, bounds);
  let key = `${bounds.maxCpu},${bounds.maxNode}`;
  // Values JSON-quoted: the key cannot be read two ways.
  for (const field in raw) if (field !== 'name') key += `,${field}=${JSON.stringify(raw[field])}`;
  const shape = SHAPES.get(key);
  if (shape) return withName(shape, name);
  const r = parseFields(raw, bounds);
  if (SHAPES.size >= MAX_SHAPES) SHAPES.clear();
  SHAPES.set(key, r);
  return withName(r, name);
}

/** Validated requests by shape (every field but the name, and the bounds): see parseVmSpec. */
const SHAPES = new Map<string, VmRequest>();
const MAX_SHAPES = 1024;

/** A copy of a request of one shape with another name (the name first, as the schema puts it; nothing shared). */
function withName(r: VmRequest, name: string): VmRequest {
  const out: Record<string, unknown> = {};
  for (const k in r) out[k] = k === 'name' ? name : copyValue((r as Record<string, unknown>)[k]);
  return out as VmRequest;
}

function copyValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copyValue);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k in v) out[k] = copyValue((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** `parseVmSpec` without the memo of shapes: the whole parse, every time. */
export function parseVmSpecWhole(spec: string, bounds: RequestBounds = ANY_HOST): VmRequest {
  return parseFields(rawFields(spec), bounds);
}

/** The `key=value` parts of a compact request, by field (aliases resolved, lists joined). */
function rawFields(spec: string): Record<string, string> {
  const raw: Record<string, string> = {};
  let last: string | null = null;
  for (const part of spec.split(',')) {
    const t = part.trim();
    if (t === '') continue;
    const eq = t.indexOf('=');
    if (eq < 0) {
      if (last !== null && LIST_KEYS.has(last)) {
        raw[last] = `${raw[last]},${t}`;
        continue;
      }
      throw new RequestError(t, `expected key=value in "${spec}"`);
    }
    const key = t.slice(0, eq).trim().toLowerCase();
    const field = KEY_ALIASES[key];
    if (!field) throw new RequestError(key, `unknown field (known: ${Object.keys(KEY_ALIASES).join(', ')})`);
    if (field in raw) throw new RequestError(field, 'given twice');
    raw[field] = t.slice(eq + 1).trim();
    last = field;
  }
  return raw;
}

/** Converts and validates the fields of a compact request. */
function parseFields(raw: Record<string, string>, bounds: RequestBounds): VmRequest {
  const out: Record<string, unknown> = {};
  // vCPUs first: they bound the cpus list.
  if (raw.vcpus !== undefined) out.vcpus = convert('vcpus', raw.vcpus, bounds, MAX_VCPUS);
  const vcpus = typeof out.vcpus === 'number' && out.vcpus > 0 ? Math.min(out.vcpus, MAX_VCPUS) : MAX_VCPUS;
  for (const [field, value] of Object.entries(raw)) if (field !== 'vcpus') out[field] = convert(field, value, bounds, vcpus);
  return parseVmRequest(out, bounds);
}

function int(field: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new RequestError(field, `expected a whole number, got "${value}"`);
  return Number(value);
}

function sizeOf(field: string, value: string): number {
  try {
    return parseSize(value);
  } catch (err) {
    throw new RequestError(field, (err as Error).message);
  }
}

function list(field: string, value: string, bounds: RequestBounds, vcpus: number): number[] {
  try {
    return field === 'cpus'
      ? parseCpuListInOrder(value, { maxId: bounds.maxCpu, maxCount: vcpus, what: 'CPU' })
      : parseCpuList(value, { maxId: bounds.maxNode, maxCount: bounds.maxNode + 1, what: 'node' });
  } catch (err) {
    throw new RequestError(field, (err as Error).message);
  }
}

function convert(field: string, value: string, bounds: RequestBounds, vcpus: number): unknown {
  switch (field) {
    case 'vcpus':
    case 'maxNodes':
    case 'iothreads':
    case 'disks':
    case 'nets':
    case 'queues':
      return int(field, value);
    case 'iocpus':
      return value === 'share' || value === 'siblings' ? value : int(field, value);
    case 'memory':
      return sizeOf(field, value);
    case 'pageSize':
      return value.toLowerCase() === 'auto' ? 'auto' : sizeOf(field, value);
    case 'emulator':
      return value === 'share' ? 'share' : int(field, value);
    case 'cpus':
    case 'nodes':
      return list(field, value, bounds, vcpus);
    case 'layout':
      return value.split('/').map((g, i) => {
        const m = /^(\d+):(.+)$/.exec(g.trim());
        if (!m) throw new RequestError(`layout[${i}]`, `expected VCPUS:MEMORY like 8:32G, got "${g}"`);
        return { vcpus: Number(m[1]), memory: sizeOf(`layout[${i}].memory`, m[2] as string) };
      });
    case 'devices': {
      const parts = value.split('+');
      if (parts.length > MAX_DEVICE_REQUESTS) throw new RequestError('devices', `${parts.length} device wishes; at most ${MAX_DEVICE_REQUESTS}`);
      return parts.map((d, i) => parseDevice(d.trim(), i));
    }
    default:
      return value;
  }
}

/** `kind[:count][:locality]`, or `pci:ADDRESS[:count][:locality]` (a short address gets domain 0000). */
function parseDevice(text: string, i: number): Record<string, unknown> {
  const path = `devices[${i}]`;
  let rest = text;
  let kind: string;
  let address: string | undefined;
  if (rest.startsWith('pci:')) {
    const m = /^pci:((?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7])(.*)$/.exec(rest);
    if (!m) throw new RequestError(path, `expected pci:DOMAIN:BUS:DEV.FN, got "${text}"`);
    kind = 'pci';
    address = (m[1] as string).toLowerCase();
    if (address.split(':').length === 2) address = `0000:${address}`;
    rest = m[2] as string;
  } else {
    const colon = rest.indexOf(':');
    kind = colon < 0 ? rest : rest.slice(0, colon);
    rest = colon < 0 ? '' : rest.slice(colon);
  }
  const out: Record<string, unknown> = { kind };
  if (address !== undefined) out.address = address;
  for (const p of rest.split(':').filter((s) => s !== '')) {
    if (/^\d+$/.test(p)) out.count = Number(p);
    else if (p === 'required' || p === 'preferred' || p === 'none') out.locality = p;
    else throw new RequestError(path, `expected a count or required/preferred/none, got "${p}" in "${text}"`);
  }
  return out;
}

/** The compact form of a request (only non-default fields), the inverse of `parseVmSpec`. */
export function formatVmSpec(r: VmRequest): string {
  const parts = [`name=${r.name}`, `vcpus=${r.vcpus}`, `memory=${r.memory}`];
  if (r.pageSize !== 4096) parts.push(`pages=${r.pageSize}`);
  if (r.cpuPolicy !== 'dedicated') parts.push(`cpu=${r.cpuPolicy}`);
  if (r.smt !== 'auto') parts.push(`smt=${r.smt}`);
  if (r.emulator !== 'share') parts.push(`emulator=${r.emulator}`);
  if (r.numa !== 'auto') parts.push(`numa=${r.numa}`);
  if (r.maxNodes !== undefined) parts.push(`maxnodes=${r.maxNodes}`);
  if (r.tier !== 'dram') parts.push(`tier=${r.tier}`);
  if (r.layout) parts.push(`layout=${r.layout.map((g) => `${g.vcpus}:${g.memory}`).join('/')}`);
  if (r.devices.length > 0) {
    parts.push(`devices=${r.devices.map((d) => `${d.kind === 'pci' ? `pci:${d.address}` : d.kind}:${d.count}:${d.locality}`).join('+')}`);
  }
  if (r.pairing !== undefined) parts.push(`pairing=${r.pairing}`);
  if (r.iothreads !== undefined) parts.push(`iothreads=${r.iothreads}`);
  if (r.disks !== undefined) parts.push(`disks=${r.disks}`);
  if (r.nets !== undefined) parts.push(`nets=${r.nets}`);
  if (r.queues !== undefined) parts.push(`queues=${r.queues}`);
  if (r.vhost !== undefined) parts.push(`vhost=${r.vhost}`);
  if (r.iocpus !== undefined) parts.push(`iocpus=${r.iocpus}`);
  if (r.cpus) parts.push(`cpus=${r.cpus.join(',')}`);
  if (r.nodes) parts.push(`nodes=${r.nodes.join(',')}`);
  return parts.join(',');
}
