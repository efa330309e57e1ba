/**
 * `makeTopology`: the one constructor every source (sysfs, hwloc XML, numactl text, presets, JSON,
 * synthetic generators) goes through. Sources describe what they saw; this module derives the rest
 * (cores from sibling keys, topology order and logical indexes, each PU's node, node kinds, device
 * locality inferred from local CPUs), checks invariants, and returns a deeply frozen value.
 *
 * Topology order (logical indexes): packages by their lowest PU OS index; within a package, cores by
 * their lowest PU OS index; within a core, PUs by OS index. This matches hwloc's order on every
 * machine whose cores do not interleave across NUMA nodes inside a package.
 */
import { TopologyError } from './errors.js';
import { MAX_CPU_ID, MAX_NODE_ID } from './limits.js';
import { derivePciTree, hostBridgeForBus, parsePciAddress, pciDomainOf, sortHostBridges } from './pci-tree.js';
import { TOPOLOGY_SCHEMA_ID } from './schema-id.js';
import { checkCalibration } from './calibration.js';
import type {
  Cache,
  Calibration,
  Core,
  DeviceClass,
  Group,
  MemoryTier,
  NodeKind,
  NumaNode,
  Package,
  PagePool,
  PciBusRange,
  PciDevice,
  PciHostBridge,
  Pu,
  Topology,
  TopologyWarning,
} from './model.js';

/** A node as a source reports it. */
export interface NodeInput {
  id: number;
  cpus: readonly number[];
  memory: { total: number; free?: number | undefined };
  hugePages?: readonly PagePool[] | undefined;
  tier?: MemoryTier | undefined;
  allowed?: boolean | undefined;
}

/** A PU as a source reports it. `core` is any key unique per physical core host-wide. */
export interface PuInput {
  os: number;
  package: number;
  core: number | string;
  coreId?: number | undefined;
  online?: boolean | undefined;
  allowed?: boolean | undefined;
}

/** A PCI device as a source reports it; `inferredNode` is derived. */
export interface PciDeviceInput {
  address: string;
  class: DeviceClass;
  classCode: number;
  vendorId: number;
  deviceId: number;
  name?: string | null | undefined;
  node: number | null;
  localCpus?: readonly number[] | null | undefined;
  sriov?: { totalVfs: number; numVfs: number; vfs: readonly string[] } | null | undefined;
  physfn?: string | null | undefined;
  rdmaDevices?: readonly string[] | undefined;
  netDevices?: readonly string[] | undefined;
  /** The bridge above it (null: on a root bus); undefined: derived from the bridges' bus ranges, as hwloc does (pci-tree.ts). */
  parent?: string | null | undefined;
  /** For a PCI-to-PCI bridge, the buses below it. */
  bridge?: PciBusRange | null | undefined;
}

/** Everything a source knows; optional parts get documented defaults. */
export interface TopologyInput {
  source: string;
  hostname?: string | null | undefined;
  nodes: readonly NodeInput[];
  /** Rows and columns in the order of `nodes` as given. Missing: 10 local / 20 remote, with a warning. */
  distances?: readonly (readonly number[])[] | null | undefined;
  pus: readonly PuInput[];
  packages?: readonly { id: number; model?: string | null | undefined }[] | undefined;
  caches?: readonly Cache[] | undefined;
  groups?: readonly Group[] | undefined;
  pciDevices?: readonly PciDeviceInput[] | undefined;
  /** PCI host bridges; those missing (a function on a root bus no host bridge covers) are derived as hwloc does. */
  pciHostBridges?: readonly PciHostBridge[] | undefined;
  /** CPUs known to exist but offline, whose package and core are unknown. */
  offlineCpus?: readonly number[] | undefined;
  warnings?: readonly TopologyWarning[] | undefined;
  /** A probe's measured matrix over these nodes (checked against them; see calibration.ts). */
  calibration?: Calibration | null | undefined;
}

const byNumber = (a: number, b: number): number => a - b;

/** Builds, checks and freezes a topology. Throws `TopologyError` for input that cannot be a host. */
export function makeTopology(input: TopologyInput): Topology {
  const warnings: TopologyWarning[] = [...(input.warnings ?? [])];

  // --- nodes, sorted by id, and the distance matrix permuted to match ---
  const order = input.nodes.map((n, i) => ({ n, i })).sort((a, b) => a.n.id - b.n.id);
  for (let k = 1; k < order.length; k++) {
    if (order[k]?.n.id === order[k - 1]?.n.id) {
      throw new TopologyError(`nodes`, `node ${order[k]?.n.id} is listed twice`);
    }
  }
  for (const { n } of order) checkNodeInput(n);
  const puOwner = new Map<number, number>();
  const nodes: NumaNode[] = order.map(({ n }) => {
    const cpus = [...new Set(n.cpus)].sort(byNumber);
    for (const c of cpus) {
      const prev = puOwner.get(c);
      if (prev !== undefined) {
        warnings.push({ path: `nodes[${n.id}].cpus`, message: `cpu ${c} is also listed by node ${prev}; kept on node ${prev}` });
      } else puOwner.set(c, n.id);
    }
    const total = n.memory.total;
    const free = n.memory.free ?? total;
    const kind: NodeKind =
      cpus.length > 0 ? (total > 0 ? 'cpu-memory' : 'memory-less') : total > 0 ? 'cpu-less' : 'empty';
    const hugePages = [...(n.hugePages ?? [])]
      .map((p) => ({ pageSize: p.pageSize, total: p.total, free: p.free }))
      .sort((a, b) => a.pageSize - b.pageSize);
    const tier: MemoryTier = n.tier ?? (kind === 'cpu-less' ? 'unknown' : 'dram');
    return { id: n.id, cpus, memory: { total, free }, hugePages, kind, tier, allowed: n.allowed ?? true };
  });
  const distances = buildDistances(input, order.map((o) => o.i), warnings);

  // --- PUs, cores, packages ---
  const seenPu = new Set<number>();
  for (const p of input.pus) {
    if (!Number.isInteger(p.os) || p.os < 0 || p.os > MAX_CPU_ID) throw new TopologyError('pus', `cpu ${p.os} is beyond the largest a kernel numbers (${MAX_CPU_ID})`);
    if (seenPu.has(p.os)) throw new TopologyError(`pus`, `cpu ${p.os} is listed twice`);
    seenPu.add(p.os);
  }
  for (const [cpu, node] of puOwner) {
    if (!seenPu.has(cpu)) {
      warnings.push({ path: `nodes[${node}].cpus`, message: `cpu ${cpu} is listed by node ${node} but no such PU exists; ignored` });
      puOwner.delete(cpu);
    }
  }
  for (const n of nodes) n.cpus = n.cpus.filter((c) => seenPu.has(c));

  const coreMembers = new Map<string, PuInput[]>();
  for (const p of input.pus) {
    const key = `${p.package}/${p.core}`;
    const list = coreMembers.get(key);
    if (list) list.push(p);
    else coreMembers.set(key, [p]);
  }
  const pkgMin = new Map<number, number>();
  for (const p of input.pus) pkgMin.set(p.package, Math.min(pkgMin.get(p.package) ?? Number.POSITIVE_INFINITY, p.os));
  const coreList = [...coreMembers.values()].map((members) => {
    const pus = members.map((m) => m.os).sort(byNumber);
    return { members, pus, min: pus[0] as number, pkg: (members[0] as PuInput).package };
  });
  coreList.sort((a, b) => (pkgMin.get(a.pkg) as number) - (pkgMin.get(b.pkg) as number) || a.min - b.min);

  const perPackageCount = new Map<number, number>();
  const cores: Core[] = [];
  const pus: Pu[] = [];
  coreList.forEach((c, logical) => {
    const first = c.members[0] as PuInput;
    const within = perPackageCount.get(c.pkg) ?? 0;
    perPackageCount.set(c.pkg, within + 1);
    const nodeIds = new Set(c.pus.map((os) => puOwner.get(os) ?? null));
    const node = nodeIds.size === 1 ? ([...nodeIds][0] as number | null) : null;
    cores.push({ logical, coreId: first.coreId ?? within, package: c.pkg, pus: c.pus, node });
    for (const m of [...c.members].sort((a, b) => a.os - b.os)) {
      pus.push({
        os: m.os,
        logical: pus.length,
        core: logical,
        package: m.package,
        node: puOwner.get(m.os) ?? null,
        online: m.online ?? true,
        allowed: m.allowed ?? true,
      });
    }
  });

  const models = new Map((input.packages ?? []).map((p) => [p.id, p.model ?? null]));
  const pkgPus = new Map<number, number[]>();
  for (const p of pus) {
    const list = pkgPus.get(p.package);
    if (list) list.push(p.os);
    else pkgPus.set(p.package, [p.os]);
  }
  const packages: Package[] = [...pkgMin.entries()]
    .sort((a, b) => a[1] - b[1])
    .map(([id]) => ({
      id,
      pus: (pkgPus.get(id) ?? []).sort(byNumber),
      model: models.get(id) ?? null,
    }));

  // --- devices ---
  const nodesOfCpu = cpuNodes(nodes);
  const pciDevices: PciDevice[] = [...(input.pciDevices ?? [])]
    .map((d) => normaliseDevice(d, nodes, nodesOfCpu, warnings))
    .sort((a, b) => a.address.localeCompare(b.address));
  const addresses = new Set<string>();
  for (const d of pciDevices) {
    if (addresses.has(d.address)) throw new TopologyError('pciDevices', `device ${d.address} is listed twice`);
    addresses.add(d.address);
  }
  const pciHostBridges = linkPciTree(pciDevices, input.pciDevices ?? [], input.pciHostBridges, warnings);

  const topology: Topology = {
    schema: TOPOLOGY_SCHEMA_ID,
    source: input.source,
    hostname: input.hostname ?? null,
    nodes,
    distances,
    packages,
    cores,
    pus,
    caches: (input.caches ?? []).map((c) => ({ ...c, cpus: [...c.cpus].sort(byNumber) })),
    groups: (input.groups ?? []).map((g) => ({ ...g, cpus: [...g.cpus].sort(byNumber) })),
    pciDevices,
    pciHostBridges,
    offlineCpus: [...new Set(input.offlineCpus ?? [])].filter((c) => !seenPu.has(c)).sort(byNumber),
    warnings,
  };
  if (input.calibration) topology.calibration = checkCalibration(nodes.map((n) => n.id), input.calibration);
  return deepFreeze(topology);
}

/** The warning a topology carries when its source reported no distances (the matrix is assumed). */
export const ASSUMED_DISTANCES = 'no distance matrix reported; assumed 10 local / 20 remote';

/** True when the topology's distance matrix was assumed, not reported by its source. */
export function distancesAssumed(topo: { warnings: readonly { path: string; message: string }[] }): boolean {
  return topo.warnings.some((w) => w.path === 'distances' && w.message === ASSUMED_DISTANCES);
}

function buildDistances(input: TopologyInput, perm: number[], warnings: TopologyWarning[]): number[][] {
  const n = input.nodes.length;
  const given = input.distances;
  if (given === undefined || given === null || given.length === 0) {
    if (n > 1) {
      warnings.push({ path: 'distances', message: ASSUMED_DISTANCES });
    }
    return perm.map((_, i) => perm.map((__, j) => (i === j ? 10 : 20)));
  }
  if (given.length !== n || given.some((row) => row.length !== n)) {
    throw new TopologyError('distances', `matrix must be ${n}x${n} (one row and column per node), got ${given.length} rows`);
  }
  const out = perm.map((i) =>
    perm.map((j) => {
      const v = (given[i] as readonly number[])[j] as number;
      if (!Number.isInteger(v) || v < 0) throw new TopologyError(`distances[${i}][${j}]`, `bad distance ${v}`);
      return v;
    }),
  );
  checkDistances(out, warnings);
  return out;
}

/**
 * Distances as a kernel can report them (rows and columns in node id order). Impossible: a distance
 * of 0, or a remote node nearer than the local one (ACPI's SLIT and the device tree forbid both, and
 * Linux rejects such tables). Odd, kept with a warning: a local distance other than 10 (Linux always
 * reports 10), a remote node as near as the local one.
 */
function checkDistances(d: number[][], warnings: TopologyWarning[]): void {
  for (let i = 0; i < d.length; i++) {
    const row = d[i] as number[];
    const local = row[i] as number;
    for (let j = 0; j < row.length; j++) {
      const v = row[j] as number;
      if (v === 0) throw new TopologyError(`distances[${i}][${j}]`, `distance 0 ${i === j ? 'from a node to itself' : `between nodes ${i} and ${j} (in node order)`}: no machine has it (the local distance is 10)`);
      if (i !== j && v < local) throw new TopologyError(`distances[${i}][${j}]`, `remote distance ${v} is below the local distance ${local} of row ${i}: a remote node cannot be nearer than the local one`);
    }
    if (local !== 10) warnings.push({ path: `distances[${i}][${i}]`, message: `local distance ${local}; Linux always reports 10` });
    for (let j = 0; j < row.length; j++) {
      if (i !== j && row[j] === local) warnings.push({ path: `distances[${i}][${j}]`, message: `remote distance ${local} equals the local one` });
    }
  }
}

/** Node numbers no machine can have: ids beyond MAX_NODE_ID, pools bigger than the memory, odd page sizes, free above total. */
function checkNodeInput(n: NodeInput): void {
  const at = `nodes[${n.id}]`;
  if (!Number.isInteger(n.id) || n.id < 0 || n.id > MAX_NODE_ID) throw new TopologyError('nodes', `node ${n.id} is beyond the largest a kernel numbers (${MAX_NODE_ID})`);
  const total = n.memory.total;
  if (n.memory.free !== undefined && n.memory.free > total) {
    throw new TopologyError(`${at}.memory.free`, `${n.memory.free} bytes free of ${total}: free cannot exceed total`);
  }
  const sizes = new Set<number>();
  let pools = 0;
  (n.hugePages ?? []).forEach((p, k) => {
    const pat = `${at}.hugePages[${k}]`;
    if (!Number.isSafeInteger(p.pageSize) || p.pageSize < 4096 || (p.pageSize & (p.pageSize - 1)) !== 0 || p.pageSize > 2 ** 40) {
      throw new TopologyError(`${pat}.pageSize`, `page size ${p.pageSize} bytes is not a power-of-two multiple of 4 KiB`);
    }
    if (sizes.has(p.pageSize)) throw new TopologyError(`${pat}.pageSize`, `a second pool of ${p.pageSize}-byte pages`);
    sizes.add(p.pageSize);
    if (p.free > p.total) throw new TopologyError(`${pat}.free`, `${p.free} pages free of ${p.total}: free cannot exceed total`);
    pools += p.pageSize * p.total;
    if (!Number.isSafeInteger(pools)) throw new TopologyError(`${pat}.total`, `${p.total} pages of ${p.pageSize} bytes is more memory than any machine has`);
  });
  if (pools > total) {
    throw new TopologyError(`${at}.hugePages`, `huge-page pools hold ${pools} bytes, more than the node's memory (${total} bytes): the pools are carved out of the node's memory`);
  }
}

function normaliseDevice(d: PciDeviceInput, nodes: NumaNode[], nodesOfCpu: Map<number, NodeCpus[]>, warnings: TopologyWarning[]): PciDevice {
  const address = d.address.toLowerCase();
  if (!/^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(address)) throw new TopologyError(`pciDevices[${d.address}]`, 'not a PCI address (domain:bus:device.function)');
  let node = d.node;
  if (node !== null && !nodes.some((n) => n.id === node)) {
    warnings.push({ path: `pciDevices[${address}].node`, message: `device reports node ${node}, which does not exist; treated as unknown` });
    node = null;
  }
  const localCpus = d.localCpus ? [...d.localCpus].sort(byNumber) : null;
  return {
    address,
    class: d.class,
    classCode: d.classCode,
    vendorId: d.vendorId,
    deviceId: d.deviceId,
    name: d.name ?? null,
    node,
    localCpus,
    inferredNode: node === null && localCpus ? inferNodeIndexed(localCpus, nodesOfCpu) : null,
    sriov: d.sriov ? { totalVfs: d.sriov.totalVfs, numVfs: d.sriov.numVfs, vfs: [...d.sriov.vfs].sort() } : null,
    physfn: d.physfn ?? null,
    rdmaDevices: [...(d.rdmaDevices ?? [])].sort(),
    netDevices: [...(d.netDevices ?? [])].sort(),
    parent: null,
    bridge: validBridge(address, d.bridge ?? null, warnings),
  };
}

/** A bridge's bus range when it can be one (hwloc's check: below the bridge's own bus nothing). */
function validBridge(address: string, range: PciBusRange | null, warnings: TopologyWarning[]): PciBusRange | null {
  if (range === null) return null;
  const { bus } = parsePciAddress(address);
  const ok = [range.secondary, range.subordinate].every((b) => Number.isInteger(b) && b >= 0 && b <= 255) && range.secondary > bus && range.subordinate >= range.secondary;
  if (ok) return { secondary: range.secondary, subordinate: range.subordinate };
  warnings.push({ path: `pciDevices[${address}].bridge`, message: `bridge buses [${range.secondary}-${range.subordinate}] cannot lie below bus ${bus}; not used as a bridge` });
  return null;
}

/**
 * Sets each function's parent bridge (given, or derived from the bus ranges as hwloc does when the
 * source gave none) and returns the host bridges (given, plus one derived for any function on a
 * root bus that none covers). A given parent must be a bridge of the same domain whose bus range
 * holds the function's bus (so the tree has no cycle); otherwise the parent is derived, with a warning.
 */
function linkPciTree(devices: PciDevice[], input: readonly PciDeviceInput[], hostInput: readonly PciHostBridge[] | undefined, warnings: TopologyWarning[]): PciHostBridge[] {
  const given = new Map(input.map((d) => [d.address.toLowerCase(), d.parent]));
  const derived = derivePciTree(devices);
  const byAddress = new Map(devices.map((d) => [d.address, d]));
  for (const d of devices) {
    const want = given.get(d.address);
    if (want === undefined) {
      d.parent = derived.parents.get(d.address) ?? null;
      continue;
    }
    if (want === null) continue;
    const p = byAddress.get(want.toLowerCase());
    const { bus } = parsePciAddress(d.address);
    if (p && p.bridge && pciDomainOf(p.address) === pciDomainOf(d.address) && bus >= p.bridge.secondary && bus <= p.bridge.subordinate) {
      d.parent = p.address;
    } else {
      d.parent = derived.parents.get(d.address) ?? null;
      warnings.push({ path: `pciDevices[${d.address}].parent`, message: `parent ${want} is not a bridge whose buses hold ${d.address}; the parent is taken from the bus ranges (${d.parent ?? 'a root bus'})` });
    }
  }
  const hosts: PciHostBridge[] = [];
  for (const h of hostInput ?? []) {
    const domain = h.domain.toLowerCase();
    if (!/^[0-9a-f]{4,8}$/.test(domain) || !(h.buses.secondary >= 0 && h.buses.subordinate <= 255 && h.buses.secondary <= h.buses.subordinate)) {
      warnings.push({ path: 'pciHostBridges', message: `host bridge ${h.domain}:[${h.buses.secondary}-${h.buses.subordinate}] is not a domain and bus range; ignored` });
      continue;
    }
    hosts.push({ domain, buses: { secondary: h.buses.secondary, subordinate: h.buses.subordinate } });
  }
  const uncovered = devices.filter((d) => d.parent === null && hostBridgeForBus(hosts, pciDomainOf(d.address), parsePciAddress(d.address).bus) === null);
  if (uncovered.length > 0) hosts.push(...derivePciTree(uncovered).hostBridges);
  return sortHostBridges(hosts);
}

/**
 * The node a device is local to, judged from its local CPUs as hwloc does: the one node with CPUs
 * whose CPU set contains all of them. Local CPUs spanning several nodes (or all CPUs, which is how
 * a kernel says "don't know") infer nothing.
 */
export function inferNode(localCpus: readonly number[], nodes: readonly NumaNode[]): number | null {
  return inferNodeIndexed(localCpus, cpuNodes(nodes));
}

/** The nodes listing each CPU (a CPU two nodes claim is listed under both). */
function cpuNodes(nodes: readonly NumaNode[]): Map<number, NodeCpus[]> {
  const out = new Map<number, NodeCpus[]>();
  for (const n of nodes) {
    const entry = { id: n.id, cpus: new Set(n.cpus) };
    for (const c of n.cpus) {
      const list = out.get(c);
      if (list) list.push(entry);
      else out.set(c, [entry]);
    }
  }
  return out;
}

interface NodeCpus {
  id: number;
  cpus: Set<number>;
}

/**
 * `inferNode` over the CPU -> nodes index: only the nodes listing the first local CPU can contain
 * them all, so the work is linear in the local CPUs (a device listing every CPU of a large host,
 * many times over, costs no more than reading its list).
 */
function inferNodeIndexed(localCpus: readonly number[], nodesOfCpu: Map<number, NodeCpus[]>): number | null {
  if (localCpus.length === 0) return null;
  const first = nodesOfCpu.get(localCpus[0] as number) ?? [];
  const candidates = first.filter((n) => localCpus.every((c) => n.cpus.has(c)));
  return candidates.length === 1 ? (candidates[0] as NodeCpus).id : null;
}

/** Freezes a value and everything it holds. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
