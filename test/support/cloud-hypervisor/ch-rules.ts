/**
 * Cloud Hypervisor's argument parser and validator, ported rule by rule for the options numaplan
 * writes (cloud-hypervisor/cloud-hypervisor: option_parser/src/lib.rs, vmm/src/config.rs,
 * vmm/src/vm.rs create_numa_nodes, vmm/src/memory_manager.rs validate_memory_config). No Cloud
 * Hypervisor binary or crate is available here (it is not packaged by Debian 12 and crates cannot be
 * fetched), so this port is the referee; every rule names the function it comes from and returns
 * the error Cloud Hypervisor would give.
 */

/** option_parser split_commas: commas outside brackets and quotes. */
export function splitCommas(s: string): string[] {
  const list: string[] = [];
  let opened = 0;
  let inQuotes = false;
  let current = '';
  for (const c of s.trim()) {
    if (c === '"') inQuotes = !inQuotes;
    else if (!inQuotes) {
      if (c === '[') opened++;
      else if (c === ']') {
        if (opened < 1) throw new Error(`Invalid syntax: ${s}`);
        opened--;
      } else if (c === ',' && opened === 0) {
        list.push(current);
        current = '';
        continue;
      }
    }
    current += c;
  }
  list.push(current);
  if (inQuotes || opened !== 0) throw new Error(`Invalid syntax: ${s}`);
  return list;
}

/** option_parser OptionParser::parse with the registered (value-requiring) options. */
export function parseOptions(input: string, options: readonly string[], ignoreUnknown = false): Map<string, string> {
  const out = new Map<string, string>();
  if (input.trim() === '') return out;
  for (const option of splitCommas(input)) {
    const eq = option.indexOf('=');
    const name = eq < 0 ? option : option.slice(0, eq);
    if (!options.includes(name)) {
      if (!ignoreUnknown) throw new Error(`Unknown option: ${name}`);
      continue;
    }
    if (eq < 0) throw new Error(`Invalid syntax: ${option}`);
    out.set(name, option.slice(eq + 1).trim());
  }
  return out;
}

/** option_parser dequote. */
function dequote(s: string): string {
  return s.replace(/"/g, '');
}

/** Rust's u64/u32/u16/u8 FromStr: digits only (a leading "+" allowed), within range. */
export function parseUint(s: string, bits: 8 | 16 | 32 | 64, what: string): number {
  const t = dequote(s);
  if (!/^\+?\d+$/.test(t)) throw new Error(`Unable to convert ${s} for ${what}`);
  const v = BigInt(t);
  if (v >= 2n ** BigInt(bits)) throw new Error(`Unable to convert ${s} for ${what}`);
  return Number(v);
}

/** option_parser ByteSized: optional K, M or G suffix (binary), else bytes. */
export function parseByteSized(s: string, what: string): number {
  const t = s.trim();
  const shift = t.endsWith('K') ? 10 : t.endsWith('M') ? 20 : t.endsWith('G') ? 30 : 0;
  const digits = t.replace(/[KMG]+$/, '');
  if (!/^\+?\d+$/.test(digits)) throw new Error(`Unable to convert ${s} for ${what}`);
  return Number(BigInt(digits) << BigInt(shift));
}

/** option_parser Toggle. */
export function parseToggle(s: string, what: string): boolean {
  switch (s.toLowerCase()) {
    case '':
    case 'off':
    case 'false':
      return false;
    case 'on':
    case 'true':
      return true;
    default:
      throw new Error(`Unable to convert ${s} for ${what}`);
  }
}

/** option_parser IntegerList: brackets trimmed, comma-separated values or ranges A-B with A < B. */
export function parseIntegerList(s: string, what: string, bits: 8 | 16 | 32 | 64 = 64): number[] {
  const out: number[] = [];
  const body = s.trim().replace(/^\[+|\]+$/g, '');
  for (const range of body.split(',')) {
    const items = range.split('-');
    if (items.length > 2) throw new Error(`Unable to convert ${s} for ${what}`);
    const start = parseUint(items[0] as string, 64, what);
    let end = start;
    if (items.length === 2) {
      end = parseUint(items[1] as string, 64, what);
      if (start >= end) throw new Error(`Unable to convert ${s} for ${what}`);
    }
    for (let v = start; v <= end; v++) {
      if (v >= 2 ** bits) throw new Error(`Unable to convert ${s} for ${what}`);
      out.push(v);
    }
  }
  return out;
}

/** option_parser TupleList: "[k@v,k@v]" with exactly one pair of enclosing brackets. */
export function parseTupleList(s: string, what: string): [string, string][] {
  const t = s.trim();
  if (!t.startsWith('[') || !t.endsWith(']')) throw new Error(`Unable to convert ${s} for ${what}`);
  const body = t.slice(1, -1);
  return splitCommas(body).map((raw) => {
    const tuple = raw.trim();
    const at = tuple.indexOf('@');
    if (at < 0 || tuple.indexOf('@', at + 1) >= 0) throw new Error(`Unable to convert ${s} for ${what}`);
    if (at === 0) throw new Error(`Unable to convert ${s} for ${what}`);
    return [tuple.slice(0, at), tuple.slice(at + 1)];
  });
}

/** option_parser StringList. */
export function parseStringList(s: string): string[] {
  return splitCommas(s.trim().replace(/^\[+|\]+$/g, ''));
}

/** The parts of a VmConfig numaplan writes, as Cloud Hypervisor parses them. */
export interface ChConfig {
  cpus: { boot: number; max: number; topology: { threads: number; cores: number; dies: number; packages: number } | null; affinity: { vcpu: number; hostCpus: number[] }[] | null };
  memory: { size: number; hugepages: boolean; hugepageSize: number | null; zones: { id: string; size: number; hugepages: boolean; hugepageSize: number | null; hostNumaNode: number | null; shared: boolean; file: string | null }[] | null };
  numa: { guestNumaId: number; cpus: number[] | null; distances: { destination: number; distance: number }[] | null; deviceId: string | null; memoryZones: string[] | null; pciSegments: number[] | null }[] | null;
  platform: { numPciSegments: number } | null;
  devices: { path: string | null; id: string | null; pciSegment: number; iommu: boolean }[] | null;
  disks: { path: string | null; numQueues: number; queueSize: number; queueAffinity: { queue: number; hostCpus: number[] }[] | null; vhostUser: boolean; id: string | null; pciSegment: number; iommu: boolean }[] | null;
  nets: { tap: string | null; numQueues: number; queueSize: number; vhostUser: boolean; ip: string | null; mask: string | null; id: string | null; pciSegment: number; iommu: boolean }[] | null;
}

/** config.rs PciDeviceCommonConfig::OPTIONS_IOMMU and ::parse. */
const PCI_COMMON = ['id', 'iommu', 'pci_segment', 'pci_device_id'];
function pciCommon(o: Map<string, string>): { id: string | null; pciSegment: number; iommu: boolean } {
  if (o.get('pci_device_id')) parseUint(o.get('pci_device_id') as string, 8, 'pci_device_id');
  return {
    id: o.get('id') ? dequote(o.get('id') as string) : null,
    pciSegment: o.get('pci_segment') ? parseUint(o.get('pci_segment') as string, 16, 'pci_segment') : 0,
    iommu: o.get('iommu') ? parseToggle(o.get('iommu') as string, 'iommu') : false,
  };
}

const RATE = ['bw_size', 'bw_one_time_burst', 'bw_refill_time', 'ops_size', 'ops_one_time_burst', 'ops_refill_time'];
/** vm_config.rs defaults. */
const DEFAULT_DISK_NUM_QUEUES = 1;
const DEFAULT_DISK_QUEUE_SIZE = 128;
const DEFAULT_NET_NUM_QUEUES = 2;
const DEFAULT_NET_QUEUE_SIZE = 256;
/** virtio-devices block.rs. */
const MINIMUM_BLOCK_QUEUE_SIZE = 2;

/** config.rs DiskConfig::parse (the options it registers; queue_affinity a TupleList<u16, Vec<usize>>). */
function parseDisk(s: string): NonNullable<ChConfig['disks']>[number] {
  const o = parseOptions(s, [
    'path', 'readonly', 'direct', 'queue_size', 'num_queues', 'vhost_user', 'socket', ...RATE, '_disable_io_uring', '_disable_aio', 'serial',
    'rate_limit_group', 'queue_affinity', 'backing_files', 'sparse', 'image_type', 'lock_granularity', ...PCI_COMMON,
  ]);
  for (const k of ['readonly', 'direct', '_disable_io_uring', '_disable_aio', 'backing_files', 'sparse']) if (o.get(k)) parseToggle(o.get(k) as string, k);
  const qa = o.get('queue_affinity');
  return {
    path: o.get('path') ? dequote(o.get('path') as string) : null,
    numQueues: o.get('num_queues') ? parseUint(o.get('num_queues') as string, 64, 'num_queues') : DEFAULT_DISK_NUM_QUEUES,
    queueSize: o.get('queue_size') ? parseUint(o.get('queue_size') as string, 16, 'queue_size') : DEFAULT_DISK_QUEUE_SIZE,
    queueAffinity: qa ? parseTupleList(qa, 'queue_affinity').map(([k, v]) => ({ queue: parseUint(k, 16, 'queue_affinity'), hostCpus: parseIntegerList(v, 'queue_affinity') })) : null,
    vhostUser: o.get('vhost_user') ? parseToggle(o.get('vhost_user') as string, 'vhost_user') : false,
    ...pciCommon(o),
  };
}

/** config.rs NetConfig::parse. */
function parseNet(s: string): NonNullable<ChConfig['nets']>[number] {
  const o = parseOptions(s, [
    'tap', 'ip', 'mask', 'mac', 'host_mac', 'offload_tso', 'offload_ufo', 'offload_csum', 'mtu', 'queue_size', 'num_queues', 'vhost_user', 'socket',
    'vhost_mode', 'fd', ...RATE, ...PCI_COMMON,
  ]);
  for (const k of ['offload_tso', 'offload_ufo', 'offload_csum']) if (o.get(k)) parseToggle(o.get(k) as string, k);
  return {
    tap: o.get('tap') ?? null,
    numQueues: o.get('num_queues') ? parseUint(o.get('num_queues') as string, 64, 'num_queues') : DEFAULT_NET_NUM_QUEUES,
    queueSize: o.get('queue_size') ? parseUint(o.get('queue_size') as string, 16, 'queue_size') : DEFAULT_NET_QUEUE_SIZE,
    vhostUser: o.get('vhost_user') ? parseToggle(o.get('vhost_user') as string, 'vhost_user') : false,
    ip: o.get('ip') ?? null,
    mask: o.get('mask') ?? null,
    ...pciCommon(o),
  };
}

/** The clap layer of cloud-hypervisor's main.rs: which options take one value and which several. */
const MULTI = new Set(['memory-zone', 'numa', 'device', 'disk', 'net', 'fs', 'pmem', 'user-device', 'vdpa']);
const SINGLE = new Set(['cpus', 'memory', 'platform', 'kernel', 'cmdline', 'serial', 'console', 'rng', 'balloon', 'firmware']);

/** Splits argv into option -> values as cloud-hypervisor's clap definitions do. */
export function splitArgv(argv: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let flag: string | null = null;
  for (const a of argv) {
    if (a.startsWith('--')) {
      flag = a.slice(2);
      if (!MULTI.has(flag) && !SINGLE.has(flag)) throw new Error(`error: unexpected argument '${a}' found`);
      if (SINGLE.has(flag) && out.has(flag)) throw new Error(`error: the argument '--${flag}' cannot be used multiple times`);
      if (!out.has(flag)) out.set(flag, []);
      continue;
    }
    if (flag === null) throw new Error(`error: unexpected argument '${a}' found`);
    const values = out.get(flag) as string[];
    if (SINGLE.has(flag) && values.length === 1) throw new Error(`error: unexpected argument '${a}' found`);
    values.push(a);
  }
  return out;
}

/** config.rs CpusConfig::parse. */
function parseCpus(s: string): ChConfig['cpus'] {
  const o = parseOptions(s, ['boot', 'max', 'topology', 'kvm_hyperv', 'max_phys_bits', 'affinity', 'features', 'nested', 'core_scheduling', 'profile']);
  const boot = o.has('boot') && o.get('boot') !== '' ? parseUint(o.get('boot') as string, 32, 'boot') : 1;
  const max = o.has('max') && o.get('max') !== '' ? parseUint(o.get('max') as string, 32, 'max') : boot;
  let topology: ChConfig['cpus']['topology'] = null;
  const t = o.get('topology');
  if (t) {
    const parts = t.split(':');
    if (parts.length !== 4) throw new Error(`Unable to convert ${t} for topology`);
    const [threads, cores, dies, packages] = parts.map((p) => parseUint(p, 8, 'topology')) as [number, number, number, number];
    topology = { threads, cores, dies, packages };
  }
  const a = o.get('affinity');
  const affinity = a ? parseTupleList(a, 'affinity').map(([k, v]) => ({ vcpu: parseUint(k, 32, 'affinity'), hostCpus: parseIntegerList(v, 'affinity') })) : null;
  return { boot, max, topology, affinity };
}

const ZONE_OPTIONS = ['id', 'size', 'file', 'shared', 'hugepages', 'hugepage_size', 'host_numa_node', 'hotplug_size', 'hotplugged_size', 'prefault', 'reserve', 'mergeable'];
const DEFAULT_MEMORY = 512 * 1024 * 1024;

/** config.rs MemoryConfig::parse. */
function parseMemory(s: string, zones: string[] | undefined): ChConfig['memory'] {
  const o = parseOptions(s, ['size', 'file', 'mergeable', 'hotplug_method', 'hotplug_size', 'hotplugged_size', 'shared', 'hugepages', 'hugepage_size', 'prefault', 'reserve', 'thp']);
  const size = o.get('size') ? parseByteSized(o.get('size') as string, 'size') : DEFAULT_MEMORY;
  const hugepages = o.get('hugepages') ? parseToggle(o.get('hugepages') as string, 'hugepages') : false;
  const hugepageSize = o.get('hugepage_size') ? parseByteSized(o.get('hugepage_size') as string, 'hugepage_size') : null;
  return {
    size,
    hugepages,
    hugepageSize,
    zones:
      zones === undefined
        ? null
        : zones.map((z) => {
            const zo = parseOptions(z, ZONE_OPTIONS);
            const id = zo.get('id');
            if (!id) throw new Error('Memory zone identifier is missing');
            return {
              id: dequote(id),
              size: zo.get('size') ? parseByteSized(zo.get('size') as string, 'size') : DEFAULT_MEMORY,
              hugepages: zo.get('hugepages') ? parseToggle(zo.get('hugepages') as string, 'hugepages') : false,
              hugepageSize: zo.get('hugepage_size') ? parseByteSized(zo.get('hugepage_size') as string, 'hugepage_size') : null,
              hostNumaNode: zo.get('host_numa_node') ? parseUint(zo.get('host_numa_node') as string, 32, 'host_numa_node') : null,
              shared: zo.get('shared') ? parseToggle(zo.get('shared') as string, 'shared') : false,
              file: zo.get('file') ? dequote(zo.get('file') as string) : null,
            };
          }),
  };
}

/** config.rs NumaConfig::parse (and its mutual-exclusion check). */
function parseNuma(s: string): NonNullable<ChConfig['numa']>[number] {
  const o = parseOptions(s, ['guest_numa_id', 'cpus', 'distances', 'device_id', 'memory_zones', 'pci_segments']);
  if (!o.get('guest_numa_id')) throw new Error('Invalid value: guest_numa_id is required for all NUMA nodes');
  const guestNumaId = parseUint(o.get('guest_numa_id') as string, 32, 'guest_numa_id');
  const cpus = o.get('cpus') ? parseIntegerList(o.get('cpus') as string, 'cpus') : null;
  const distances = o.get('distances')
    ? parseTupleList(o.get('distances') as string, 'distances').map(([k, v]) => ({ destination: parseUint(k, 64, 'distances'), distance: parseUint(v, 64, 'distances') & 0xff }))
    : null;
  const deviceId = o.get('device_id') ? dequote(o.get('device_id') as string) : null;
  const memoryZones = o.get('memory_zones') ? parseStringList(o.get('memory_zones') as string) : null;
  const pciSegments = o.get('pci_segments') ? parseIntegerList(o.get('pci_segments') as string, 'pci_segments', 16) : null;
  if (deviceId !== null && (cpus !== null || memoryZones !== null)) throw new Error('Invalid value: device_id in numa config cannot be used with cpus or memory zones');
  return { guestNumaId, cpus, distances, deviceId, memoryZones, pciSegments };
}

/** config.rs DeviceConfig::parse with PciDeviceCommonConfig::parse. */
function parseDevice(s: string): NonNullable<ChConfig['devices']>[number] {
  const o = parseOptions(s, ['path', 'fd', 'id', 'iommu', 'pci_segment', 'pci_device_id', 'x_nv_gpudirect_clique', 'x_exclude_mmap_bars']);
  return {
    path: o.get('path') ? dequote(o.get('path') as string) : null,
    id: o.get('id') ? dequote(o.get('id') as string) : null,
    pciSegment: o.get('pci_segment') ? parseUint(o.get('pci_segment') as string, 16, 'pci_segment') : 0,
    iommu: o.get('iommu') ? parseToggle(o.get('iommu') as string, 'iommu') : false,
  };
}

/** Parses argv as cloud-hypervisor would (clap, then each option's parser). Throws its error. */
export function parseChArgv(argv: readonly string[]): ChConfig {
  const a = splitArgv(argv);
  const one = (k: string): string | undefined => a.get(k)?.[0];
  const platform = one('platform');
  let plat: ChConfig['platform'] = null;
  if (platform !== undefined) {
    const o = parseOptions(platform, ['num_pci_segments', 'iommu_segments', 'iommu_address_width', 'serial_number', 'uuid', 'oem_strings', 'iommufd', 'iommufd_fd', 'vfio_p2p_dma']);
    plat = { numPciSegments: o.get('num_pci_segments') ? parseUint(o.get('num_pci_segments') as string, 16, 'num_pci_segments') : 1 };
  }
  return {
    cpus: parseCpus(one('cpus') ?? ''),
    memory: parseMemory(one('memory') ?? '', a.get('memory-zone')),
    numa: a.has('numa') ? (a.get('numa') as string[]).map(parseNuma) : null,
    platform: plat,
    devices: a.has('device') ? (a.get('device') as string[]).map(parseDevice) : null,
    disks: a.has('disk') ? (a.get('disk') as string[]).map(parseDisk) : null,
    nets: a.has('net') ? (a.get('net') as string[]).map(parseNet) : null,
  };
}

const MAX_NUM_PCI_SEGMENTS = 96;

/**
 * config.rs VmConfig::validate (the parts for CPUs, memory, NUMA, platform and devices),
 * memory_manager.rs validate_memory_config, vm.rs create_numa_nodes. Returns the errors.
 */
export function validateCh(c: ChConfig): string[] {
  const errors: string[] = [];
  const ids = new Set<string>();
  const identifier = (id: string | null): void => {
    if (id === null) return;
    if (id.startsWith('__')) errors.push(`InvalidIdentifier(${id})`);
    else if (ids.has(id)) errors.push(`IdentifierNotUnique(${id})`);
    ids.add(id);
  };
  // CpusConfig
  if (c.cpus.boot > c.cpus.max) errors.push('Max is less than boot');
  const t = c.cpus.topology;
  if (t) {
    if (t.threads === 0 || t.cores === 0 || t.dies === 0 || t.packages === 0) errors.push('No part of the CPU topology can be zero');
    if (t.threads > 2) errors.push('CPU topology supports at most 2 threads per core');
    if (t.threads * t.cores * t.dies * t.packages !== c.cpus.max) errors.push('Product of CPU topology parts does not match maximum vCPU');
  }
  // Memory
  if (c.memory.hugepageSize !== null) {
    if (!c.memory.hugepages) errors.push('Huge page size specified but huge pages not enabled');
    if ((c.memory.hugepageSize & (c.memory.hugepageSize - 1)) !== 0) errors.push(`Huge page size is not power of 2: ${c.memory.hugepageSize}`);
  }
  for (const z of c.memory.zones ?? []) {
    if (z.hugepageSize !== null) {
      if (!z.hugepages) errors.push('Huge page size specified but huge pages not enabled');
      if ((z.hugepageSize & (z.hugepageSize - 1)) !== 0) errors.push(`Huge page size is not power of 2: ${z.hugepageSize}`);
    }
  }
  const segments = c.platform?.numPciSegments ?? 1;
  const pow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;
  // Disks (VmConfig::validate, DiskConfig::validate)
  for (const d of c.disks ?? []) {
    if (d.vhostUser) errors.push('VhostUserRequiresSharedMemory or VhostUserMissingSocket');
    if (d.pciSegment >= segments) errors.push(`Invalid PCI segment id: ${d.pciSegment}`);
    if (d.numQueues > c.cpus.boot) errors.push(`Number of queues to virtio_block device (${d.numQueues}) exceeds the number of vCPUs (${c.cpus.boot})`);
    if (!pow2(d.queueSize)) errors.push(`Queue size is not a power of 2: ${d.queueSize}`);
    if (d.queueSize <= MINIMUM_BLOCK_QUEUE_SIZE) errors.push(`Block queue size must be greater than ${MINIMUM_BLOCK_QUEUE_SIZE}: ${d.queueSize}`);
    identifier(d.id);
  }
  // Nets (VmConfig::validate, NetConfig::validate)
  for (const n of c.nets ?? []) {
    if (n.vhostUser) errors.push('VhostUserRequiresSharedMemory or VhostUserMissingSocket');
    if (n.pciSegment >= segments) errors.push(`Invalid PCI segment id: ${n.pciSegment}`);
    if (n.numQueues < 2) errors.push(`Number of queues to virtio_net device (${n.numQueues}) is lower than 2`);
    if (n.numQueues / 2 > c.cpus.boot) errors.push(`Number of queues to virtio_net device (${n.numQueues}) exceeds the number of vCPUs (${c.cpus.boot})`);
    if (!pow2(n.queueSize)) errors.push(`Queue size is not a power of 2: ${n.queueSize}`);
    if ((n.mask !== null) !== (n.ip !== null)) errors.push(n.mask !== null ? 'Mask provided without IP' : 'IP provided without mask');
    identifier(n.id);
  }
  // Devices (DeviceConfig::validate, PciDeviceCommonConfig::validate)
  const paths = new Set<string>();
  for (const d of c.devices ?? []) {
    if (d.path !== null) {
      if (paths.has(d.path)) errors.push(`Duplicate device path: ${d.path}`);
      paths.add(d.path);
    } else errors.push('VFIO device neither path nor fd');
    if (d.pciSegment >= segments) errors.push(`Invalid PCI segment id: ${d.pciSegment}`);
    identifier(d.id);
  }
  // NUMA (VmConfig::validate)
  for (const n of c.numa ?? []) {
    if (n.deviceId !== null && n.cpus === null && n.memoryZones === null) {
      if (n.deviceId === '') errors.push('device_id in numa config cannot be empty');
    } else if (n.deviceId === null && n.cpus !== null) {
      if (n.cpus.length === 0) errors.push('cpus list in numa config cannot be empty');
    } else if (n.deviceId === null && n.memoryZones !== null) {
      if (n.memoryZones.length === 0) errors.push('memory_zones in numa config cannot be empty');
    } else if (n.deviceId !== null) errors.push('device_id in numa config is mutually exclusive with cpus and memory_zones');
    else errors.push(`Invalid NUMA configuration: guest_numa_id=${n.guestNumaId} has neither cpus, memory_zones nor device_id`);
  }
  const zoneUser = new Map<string, number>();
  const segUser = new Map<number, number>();
  for (const n of c.numa ?? []) {
    for (const z of n.memoryZones ?? []) {
      if (zoneUser.has(z)) errors.push(`Memory zone: ${z} belongs to multiple NUMA nodes ${zoneUser.get(z)} and ${n.guestNumaId}`);
      zoneUser.set(z, n.guestNumaId);
    }
    for (const s of n.pciSegments ?? []) {
      if (s >= segments) errors.push(`Invalid PCI segment id: ${s}`);
      if (s === 0 && n.guestNumaId !== 0) errors.push(`Default PCI segment assigned to non-zero NUMA node ${n.guestNumaId}`);
      if (segUser.has(s)) errors.push(`PCI segment: ${s} belongs to multiple NUMA nodes ${segUser.get(s)} and ${n.guestNumaId}`);
      segUser.set(s, n.guestNumaId);
    }
  }
  for (const z of c.memory.zones ?? []) identifier(z.id);
  // PlatformConfig::validate
  if (c.platform && (c.platform.numPciSegments === 0 || c.platform.numPciSegments > MAX_NUM_PCI_SEGMENTS)) {
    errors.push(`Number of PCI segments (${c.platform.numPciSegments}) not in range of 1 to ${MAX_NUM_PCI_SEGMENTS}`);
  }
  // memory_manager.rs validate_memory_config
  if (c.memory.size === 0) {
    if (!c.memory.zones || c.memory.zones.length === 0) errors.push('User defined memory regions must be provided if the memory size is 0');
    for (const z of c.memory.zones ?? []) {
      if (z.shared && z.file !== null && z.hostNumaNode !== null) errors.push('Invalid to set host NUMA policy for a memory zone backed by a regular file and mapped as shared');
    }
  } else if (c.memory.zones) errors.push("User defined memory regions can't be provided if the memory size is not 0");
  // vm.rs create_numa_nodes
  const nodeIds = new Set<number>();
  const zoneIds = new Set((c.memory.zones ?? []).map((z) => z.id));
  for (const n of c.numa ?? []) {
    if (nodeIds.has(n.guestNumaId)) errors.push("Can't define twice the same NUMA node");
    nodeIds.add(n.guestNumaId);
    for (const z of n.memoryZones ?? []) if (!zoneIds.has(z)) errors.push(`Unknown memory zone '${z}'`);
    const dest = new Set<number>();
    for (const d of n.distances ?? []) {
      if (!(c.numa ?? []).some((m) => m.guestNumaId === d.destination)) errors.push(`Unknown destination NUMA node ${d.destination}`);
      if (dest.has(d.destination)) errors.push(`Destination NUMA node ${d.destination} has been already set`);
      dest.add(d.destination);
    }
    // device_manager.rs: a generic initiator's device_id names a device.
    if (n.deviceId !== null && !(c.devices ?? []).some((d) => d.id === n.deviceId)) errors.push(`Generic initiator device '${n.deviceId}' not found`);
  }
  return errors;
}
