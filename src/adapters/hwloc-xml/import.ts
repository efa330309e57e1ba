/**
 * hwloc XML import (topology versions 2.x and 3.x as lstopo writes them; version 1.x on a
 * best-effort basis). The object tree is walked once:
 *
 * - PU objects are the online PUs; each takes its Package and Core ancestors (a PU without a Core
 *   ancestor is its own core, as hwloc counts it). PUs in the root's complete_cpuset but not in its
 *   cpuset are offline: they are added with `online: false` under the innermost Package/Core whose
 *   complete_cpuset lists them. PUs outside the root's allowed_cpuset are `allowed: false`.
 * - NUMANode objects give the nodes (os_index, local_memory, page_type pools above 4 KiB as huge
 *   pages, subtype as memory tier, allowed_nodeset). hwloc records neither free memory nor free huge
 *   pages, so both are taken as equal to the totals; hwloc 3 files carry no page_type at all. hwloc gives every node the cpuset of the object
 *   it is attached to; the model's `cpus` are the PUs whose local memory the node is (the sysfs
 *   cpulist), so when several nodes share one locality, the CPUs go to one of them: the first that
 *   has no special subtype (HBM, MCDRAM, GPUMemory, NVM, SPM, CXL), the others are CPU-less.
 *   A PU belongs to the owner of the smallest locality containing it.
 * - The NUMA distance matrix is the NUMANode `distances2` matrix named NUMALatency, else the only
 *   NUMANode matrix (os or gp indexing); pairs it does not cover are assumed 10/20 with a warning.
 *   Heterogeneous matrices (`distances2hetero`, e.g. NVLink bandwidth) and memattrs are not read.
 * - Caches (L1-L5, data/instruction/unified), Die and Group objects become caches and groups.
 * - PCIDev objects and PCI-to-PCI Bridges (those with a pci_busid: root ports, switch ports) become
 *   PCI functions, a bridge with the buses below it (bridge_pci "dddd:[ss-ee]"), each with the
 *   bridge above it as its parent; a Bridge without pci_busid is a host bridge (pciHostBridges, with
 *   its bus range). Their locality is the cpuset of the nearest non-I/O ancestor; their node is the
 *   one node whose CPUs meet that cpuset. OSDev children give RDMA (OpenFabrics) and network names.
 *   hwloc XML has no SR-IOV markers, so `sriov`/`physfn` are null unless numaplan's own
 *   `NumaplanSRIOV*` info attributes (written by the exporter) are present.
 *
 * Malformed XML and missing required attributes throw TopologyError (code ERR_HWLOC_XML) naming the
 * file and the element; anything that can be worked around becomes a warning.
 */
import { type NodeInput, type PciDeviceInput, type PuInput, makeTopology } from '../../core/topology/build.js';
import { TopologyError } from '../../core/topology/errors.js';
import type { Cache, Group, MemoryTier, PagePool, PciBusRange, PciHostBridge, Topology, TopologyWarning } from '../../core/topology/model.js';
import { MAX_CPU_ID, MAX_NODE_ID } from '../../core/topology/limits.js';
import { type HwlocBitmap, parseHwlocBitmap } from './bitmap.js';
import { deviceClassOf, osDevKind, parsePciType } from './pci.js';
import { type XmlElement, parseXmlDocument } from './xml-tree.js';

const ERR = 'ERR_HWLOC_XML';

/** NUMANode subtypes that mark memory which is not the CPUs' own DRAM, and the tier each means. */
const SUBTYPE_TIERS: readonly [RegExp, MemoryTier][] = [
  [/^(MCDRAM|HBM)/i, 'hbm'],
  [/^GPU/i, 'gpu'],
  [/^(NVM|SPM)/i, 'nvm'],
  [/^CXL/i, 'cxl'],
  [/^DRAM$/i, 'dram'],
];

function tierOf(subtype: string | undefined): MemoryTier | undefined {
  if (subtype === undefined || subtype === '') return undefined;
  for (const [re, tier] of SUBTYPE_TIERS) if (re.test(subtype)) return tier;
  return undefined;
}

interface RawNode {
  id: number;
  gp: string | undefined;
  locality: number[];
  memory: number;
  hugePages: PagePool[];
  tier: MemoryTier | undefined;
  special: boolean;
  order: number;
}

interface RawDevice {
  input: Omit<PciDeviceInput, 'node' | 'class'> & { classCode: number };
  locality: number[] | null;
  rdma: string[];
  net: string[];
  path: string;
}

interface Ctx {
  pkg: number | null;
  coreKey: string | null;
  coreId: number | undefined;
  /** cpuset of the nearest non-I/O ancestor (device locality). */
  locality: number[] | null;
  /** pci_busid of the nearest PCI-to-PCI Bridge ancestor; null below a host bridge or outside I/O. */
  pciParent: string | null;
  path: string;
}

class Importer {
  readonly warnings: TopologyWarning[] = [];
  readonly pus: PuInput[] = [];
  readonly offline = new Map<number, { pkg: number | null; coreKey: string | null; coreId: number | undefined }>();
  readonly nodes: RawNode[] = [];
  readonly caches: Cache[] = [];
  readonly groups: Group[] = [];
  readonly packages = new Map<number, string | null>();
  readonly devices: RawDevice[] = [];
  readonly hostBridges: PciHostBridge[] = [];
  hostname: string | null = null;
  private counter = 0;
  private readonly groupCounters = new Map<string, number>();
  private readonly usedPackageIds: Set<number>;
  private nextAutoPackage = 0;

  constructor(
    readonly origin: string,
    readonly version: number,
    root: XmlElement,
  ) {
    this.usedPackageIds = new Set(
      collect(root, (e) => e.name === 'object' && isPackage(e.attrs.type) && e.attrs.os_index !== undefined).map((e) =>
        Number(e.attrs.os_index),
      ),
    );
  }

  fail(path: string, message: string): never {
    throw new TopologyError(this.origin, `${path}: ${message}`, ERR);
  }

  bitmap(el: XmlElement, attr: string, path: string): HwlocBitmap | null {
    const text = el.attrs[attr];
    if (text === undefined) return null;
    const bm = parseHwlocBitmap(text);
    if (!bm) this.fail(path, `attribute ${attr}="${text.length > 60 ? `${text.slice(0, 57)}...` : text}" is not an hwloc bitmap (or reaches beyond CPU ${MAX_CPU_ID})`);
    return bm;
  }

  int(el: XmlElement, attr: string, path: string): number | undefined {
    const text = el.attrs[attr];
    if (text === undefined) return undefined;
    const v = Number(text.trim());
    if (!Number.isFinite(v)) this.fail(path, `attribute ${attr}="${text}" is not a number`);
    return v;
  }

  required(el: XmlElement, attr: string, path: string): number {
    const v = this.int(el, attr, path);
    if (v === undefined) this.fail(path, `missing required attribute ${attr}`);
    if (!Number.isInteger(v) || v < 0) this.fail(path, `attribute ${attr}="${el.attrs[attr]}" must be a non-negative integer`);
    return v;
  }

  walk(el: XmlElement, ctx: Ctx): void {
    const type = el.attrs.type;
    const osText = el.attrs.os_index;
    const label = `object[type=${type ?? '?'}${osText !== undefined ? ` os_index=${osText}` : ''}]`;
    const path = `${ctx.path}/${label}`;
    if (type === undefined) this.fail(`${ctx.path}/object`, 'missing required attribute type');
    const next: Ctx = { ...ctx, path };
    const cpuset = this.bitmap(el, 'cpuset', path);
    const complete = this.bitmap(el, 'complete_cpuset', path);
    const isIo = type === 'Bridge' || type === 'PCIDev' || type === 'OSDev';
    if (!isIo && type !== 'Misc' && cpuset) next.locality = cpuset.bits;

    const recordOffline = (): void => {
      if (!cpuset || !complete) return;
      const online = new Set(cpuset.bits);
      for (const b of complete.bits) if (!online.has(b)) this.offline.set(b, { pkg: next.pkg, coreKey: next.coreKey, coreId: next.coreId });
    };

    switch (type) {
      case 'Package':
      case 'Socket': {
        let id = this.int(el, 'os_index', path);
        if (id === undefined || !Number.isInteger(id) || id < 0) {
          while (this.usedPackageIds.has(this.nextAutoPackage)) this.nextAutoPackage++;
          id = this.nextAutoPackage;
          this.usedPackageIds.add(id);
          this.warnings.push({ path: `${this.origin}: ${path}`, message: `package without os_index; numbered ${id}` });
        }
        next.pkg = id;
        this.packages.set(id, infoValue(el, 'CPUModel') ?? this.packages.get(id) ?? null);
        recordOffline();
        break;
      }
      case 'Core': {
        next.coreKey = `core${this.counter++}`;
        const os = this.int(el, 'os_index', path);
        next.coreId = os !== undefined && Number.isInteger(os) && os >= 0 ? os : undefined;
        recordOffline();
        break;
      }
      case 'PU': {
        const os = this.required(el, 'os_index', path);
        this.pus.push({
          os,
          package: ctx.pkg ?? this.orphanPackage(path),
          core: ctx.coreKey ?? `pu${os}`,
          coreId: ctx.coreKey ? ctx.coreId : undefined,
          online: true,
        });
        break;
      }
      case 'NUMANode':
        this.numaNode(el, path, cpuset, complete);
        break;
      case 'Die':
      case 'Group':
        if (cpuset) {
          const kind: Group['kind'] = type === 'Die' ? 'die' : /cluster/i.test(el.attrs.subtype ?? '') ? 'cluster' : 'group';
          const n = this.groupCounters.get(kind) ?? 0;
          this.groupCounters.set(kind, n + 1);
          const os = this.int(el, 'os_index', path);
          const id = os !== undefined && Number.isInteger(os) && os >= 0 ? os : n;
          this.groups.push({ kind, id, package: ctx.pkg, cpus: cpuset.bits });
        }
        break;
      case 'PCIDev':
        this.pciDevice(el, path, ctx.locality, ctx.pciParent, null);
        break;
      case 'Bridge': {
        const range = parseBridgePci(el.attrs.bridge_pci);
        if (el.attrs.pci_busid !== undefined) {
          if (!range) this.warnings.push({ path: `${this.origin}: ${path}`, message: `bridge without a bridge_pci bus range ("${el.attrs.bridge_pci ?? ''}"); kept as a plain function` });
          this.pciDevice(el, path, ctx.locality, ctx.pciParent, range?.buses ?? null);
          next.pciParent = el.attrs.pci_busid.trim().toLowerCase();
        } else {
          if (range) this.hostBridges.push(range);
          else this.warnings.push({ path: `${this.origin}: ${path}`, message: `host bridge without a bridge_pci bus range ("${el.attrs.bridge_pci ?? ''}"); its functions get a host bridge derived from their buses` });
          next.pciParent = null;
        }
        break;
      }
      case 'Machine':
      case 'System':
        this.hostname = infoValue(el, 'HostName') ?? this.hostname;
        break;
      default: {
        const level = cacheLevel(type, el);
        if (level !== null && cpuset) this.cache(el, level, type, path, cpuset.bits);
      }
    }
    for (const child of el.children) {
      if (child.name === 'object') this.walk(child, next);
    }
  }

  private orphanPackage(path: string): number {
    if (!this.packages.has(-1)) {
      this.warnings.push({ path: `${this.origin}: ${path}`, message: 'PU without a Package ancestor; counted in package 0' });
      this.packages.set(-1, null);
    }
    return 0;
  }

  private numaNode(el: XmlElement, path: string, cpuset: HwlocBitmap | null, complete: HwlocBitmap | null): void {
    const id = this.required(el, 'os_index', path);
    const memory = this.int(el, 'local_memory', path) ?? 0;
    const hugePages: PagePool[] = [];
    for (const pt of el.children.filter((c) => c.name === 'page_type')) {
      const size = this.required(pt, 'size', `${path}/page_type`);
      const count = this.required(pt, 'count', `${path}/page_type[size=${size}]`);
      if (size > 4096) hugePages.push({ pageSize: size, total: count, free: count });
    }
    const subtype = el.attrs.subtype;
    const tier = tierOf(subtype);
    this.nodes.push({
      id,
      gp: el.attrs.gp_index,
      locality: (complete ?? cpuset)?.bits ?? [],
      memory,
      hugePages,
      tier,
      special: tier !== undefined && tier !== 'dram',
      order: this.nodes.length,
    });
  }

  private cache(el: XmlElement, level: number, type: string, path: string, cpus: number[]): void {
    if (level < 1 || level > 5) return;
    const ct = this.int(el, 'cache_type', path) ?? (/i/.test(type.replace(/Cache$/, '')) ? 2 : 0);
    const lineSize = this.int(el, 'cache_linesize', path) ?? 0;
    const ways = this.int(el, 'cache_associativity', path) ?? 0;
    this.caches.push({
      level,
      type: ct === 1 ? 'data' : ct === 2 ? 'instruction' : 'unified',
      size: Math.max(0, this.int(el, 'cache_size', path) ?? 0),
      lineSize: lineSize > 0 ? lineSize : null,
      ways: ways > 0 ? ways : null,
      cpus,
    });
  }

  private pciDevice(el: XmlElement, path: string, locality: number[] | null, parent: string | null, bridge: PciBusRange | null): void {
    const busid = el.attrs.pci_busid;
    if (busid === undefined) this.fail(path, 'missing required attribute pci_busid');
    const address = busid.trim().toLowerCase();
    if (!/^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(address)) this.fail(path, `attribute pci_busid="${busid}" is not a PCI address`);
    const typeText = el.attrs.pci_type;
    if (typeText === undefined) this.fail(path, 'missing required attribute pci_type');
    const pt = parsePciType(typeText);
    if (!pt) this.fail(path, `attribute pci_type="${typeText}" is not "class [vendor:device] [subvendor:subdevice] revision"`);
    const rdma: string[] = [];
    const net: string[] = [];
    for (const child of el.children) {
      if (child.name !== 'object' || child.attrs.type !== 'OSDev') continue;
      const name = child.attrs.name;
      if (!name) continue;
      const kind = osDevKind(child.attrs.osdev_type ?? '', this.version);
      if (kind === 'openfabrics') rdma.push(name);
      else if (kind === 'network') net.push(name);
    }
    const vendor = infoValue(el, 'PCIVendor');
    const device = infoValue(el, 'PCIDevice');
    const physfn = infoValue(el, 'NumaplanSRIOVPhysFn');
    const totalVfs = infoValue(el, 'NumaplanSRIOVTotalVFs');
    const vfs = infoValue(el, 'NumaplanSRIOVVFs');
    this.devices.push({
      input: {
        address,
        classCode: pt.classCode,
        vendorId: pt.vendorId,
        deviceId: pt.deviceId,
        name: device ? (vendor ? `${vendor} ${device}` : device) : null,
        localCpus: locality,
        sriov:
          totalVfs !== undefined
            ? {
                totalVfs: Number(totalVfs) || 0,
                numVfs: vfs ? vfs.split(/\s+/).filter(Boolean).length : 0,
                vfs: vfs ? vfs.split(/\s+/).filter(Boolean) : [],
              }
            : null,
        physfn: physfn ?? null,
        parent,
        bridge,
      },
      locality,
      rdma,
      net,
      path,
    });
  }
}

/** bridge_pci "dddd:[ss-ee]": the domain and the buses below a bridge; null when it is not one. */
function parseBridgePci(text: string | undefined): PciHostBridge | null {
  const m = /^\s*([0-9a-f]{4,8}):\[([0-9a-f]{2})-([0-9a-f]{2})\]\s*$/i.exec(text ?? '');
  if (!m) return null;
  return { domain: (m[1] as string).toLowerCase(), buses: { secondary: Number.parseInt(m[2] as string, 16), subordinate: Number.parseInt(m[3] as string, 16) } };
}

function isPackage(type: string | undefined): boolean {
  return type === 'Package' || type === 'Socket';
}

function cacheLevel(type: string, el: XmlElement): number | null {
  const m = /^L([1-5])[di]?Cache$/.exec(type);
  if (m) return Number(m[1]);
  if (type === 'Cache') {
    const d = Number(el.attrs.depth);
    return Number.isInteger(d) ? d : null;
  }
  return null;
}

function infoValue(el: XmlElement, name: string): string | undefined {
  return el.children.find((c) => c.name === 'info' && c.attrs.name === name)?.attrs.value;
}

function collect(el: XmlElement, pred: (e: XmlElement) => boolean, out: XmlElement[] = []): XmlElement[] {
  if (pred(el)) out.push(el);
  for (const c of el.children) collect(c, pred, out);
  return out;
}

/** Imports an hwloc XML document (`lstopo --of xml`); `origin` names it in errors and warnings. */
export function topologyFromHwlocXml(text: string, origin: string): Topology {
  const top = parseXmlDocument(text, origin);
  const topology = top.find((e) => e.name === 'topology');
  if (!topology) {
    const found = top[0]?.name;
    throw new TopologyError(origin, `not an hwloc XML topology: root element is <${found ?? 'nothing'}>, expected <topology>`, ERR);
  }
  const versionText = topology.attrs.version ?? '';
  const version = versionText === '' ? 1 : Number.parseInt(versionText, 10);
  if (!Number.isInteger(version) || version < 1) {
    throw new TopologyError(origin, `topology: attribute version="${versionText}" is not an hwloc XML version`, ERR);
  }
  const root = topology.children.find((e) => e.name === 'object');
  if (!root) throw new TopologyError(origin, 'topology: no <object> element (expected the Machine object)', ERR);

  const imp = new Importer(origin, version, root);
  if (version > 3) imp.warnings.push({ path: origin, message: `hwloc XML version ${versionText} is newer than numaplan knows (2.x, 3.x)` });
  imp.walk(root, { pkg: null, coreKey: null, coreId: undefined, locality: null, pciParent: null, path: 'topology' });
  if (imp.hostname === null) {
    imp.hostname = topology.children.find((c) => c.name === 'info' && c.attrs.name === 'HostName')?.attrs.value ?? null;
  }

  const rootPath = `topology/object[type=${root.attrs.type ?? '?'}]`;
  const allowedCpus = imp.bitmap(root, 'allowed_cpuset', rootPath);
  const allowedNodes = imp.bitmap(root, 'allowed_nodeset', rootPath);
  const has = (bm: HwlocBitmap | null, i: number): boolean =>
    bm === null || bm.bits.includes(i) || (bm.infinite && i > (bm.bits[bm.bits.length - 1] ?? -1));

  // --- PUs: online ones from PU objects, offline ones from complete_cpusets ---
  const seen = new Set(imp.pus.map((p) => p.os));
  for (const [os, where] of [...imp.offline].sort((a, b) => a[0] - b[0])) {
    if (seen.has(os)) continue;
    seen.add(os);
    imp.pus.push({ os, package: where.pkg ?? 0, core: where.coreKey ?? `pu${os}`, coreId: where.coreKey ? where.coreId : undefined, online: false });
  }
  for (const p of imp.pus) p.allowed = has(allowedCpus, p.os);

  // --- nodes: one owner per locality gets its CPUs ---
  const dup = new Set<number>();
  for (const n of imp.nodes) {
    if (dup.has(n.id)) throw new TopologyError(origin, `object[type=NUMANode os_index=${n.id}]: os_index is used twice`, ERR);
    dup.add(n.id);
  }
  const nodeCpus = assignCpus(imp.nodes, [...seen]);
  const nodes: NodeInput[] = imp.nodes.map((n) => ({
    id: n.id,
    cpus: nodeCpus.get(n.id) ?? [],
    memory: { total: n.memory },
    hugePages: n.hugePages,
    tier: n.tier,
    allowed: has(allowedNodes, n.id),
  }));

  const distances = numaDistances(topology, root, imp, origin);

  // --- devices ---
  const byAddress = new Set<string>();
  const pciDevices: PciDeviceInput[] = [];
  for (const d of imp.devices) {
    if (byAddress.has(d.input.address)) {
      imp.warnings.push({ path: `${origin}: ${d.path}`, message: `PCI device ${d.input.address} appears twice; the first is kept` });
      continue;
    }
    byAddress.add(d.input.address);
    const local = new Set(d.locality ?? []);
    const near = d.locality === null ? [] : imp.nodes.filter((n) => (nodeCpus.get(n.id) ?? []).some((c) => local.has(c)));
    pciDevices.push({
      ...d.input,
      class: deviceClassOf(d.input.classCode, d.rdma.length > 0),
      node: near.length === 1 ? (near[0] as RawNode).id : null,
      rdmaDevices: d.rdma,
      netDevices: d.net,
    });
  }

  const packages = [...imp.packages].filter(([id]) => id >= 0).map(([id, model]) => ({ id, model }));
  return makeTopology({
    source: `hwloc:${origin}`,
    hostname: imp.hostname,
    nodes,
    distances,
    pus: imp.pus,
    packages,
    caches: imp.caches,
    groups: imp.groups,
    pciDevices,
    pciHostBridges: imp.hostBridges,
    warnings: imp.warnings,
  });
}

/** Gives each PU to the owner node of the smallest locality containing it (see the module comment). */
function assignCpus(nodes: readonly RawNode[], pus: readonly number[]): Map<number, number[]> {
  const localities = new Map<string, RawNode[]>();
  for (const n of nodes) {
    if (n.locality.length === 0) continue;
    const key = n.locality.join(',');
    const list = localities.get(key);
    if (list) list.push(n);
    else localities.set(key, [n]);
  }
  const owners = [...localities.values()].map((list) => {
    const owner = list.find((n) => !n.special) ?? (list[0] as RawNode);
    return { owner: owner.id, cpus: new Set(owner.locality) };
  });
  owners.sort((a, b) => a.cpus.size - b.cpus.size);
  const out = new Map<number, number[]>();
  for (const pu of pus) {
    const o = owners.find((x) => x.cpus.has(pu));
    if (!o) continue;
    const list = out.get(o.owner);
    if (list) list.push(pu);
    else out.set(o.owner, [pu]);
  }
  return out;
}

/** The NUMA distance matrix in the order of `imp.nodes`, or null when the file has none. */
function numaDistances(topology: XmlElement, root: XmlElement, imp: Importer, origin: string): number[][] | null {
  const n = imp.nodes.length;
  if (n > MAX_NODE_ID + 1) imp.fail(`${origin}: topology`, `${n} NUMA nodes; a kernel numbers at most ${MAX_NODE_ID + 1}`);
  const candidates = topology.children.filter((c) => c.name === 'distances2' && c.attrs.type === 'NUMANode');
  const chosen = candidates.find((c) => c.attrs.name === 'NUMALatency') ?? (candidates.length === 1 ? candidates[0] : undefined);
  if (!chosen) {
    if (candidates.length > 1) {
      imp.warnings.push({ path: origin, message: `${candidates.length} unnamed NUMANode distance matrices and none named NUMALatency; none used` });
    }
    return imp.version < 2 ? v1Distances(topology, root, imp, origin) : null;
  }
  const path = `topology/distances2[type=NUMANode${chosen.attrs.name ? ` name=${chosen.attrs.name}` : ''}]`;
  const nb = imp.required(chosen, 'nbobjs', path);
  const indexing = chosen.attrs.indexing ?? 'os';
  const indexes = numbers(chosen.children.filter((c) => c.name === 'indexes'), `${path}/indexes`, imp);
  const values = numbers(chosen.children.filter((c) => c.name === 'u64values'), `${path}/u64values`, imp);
  if (indexes.length !== nb) imp.fail(`${path}/indexes`, `lists ${indexes.length} indexes, nbobjs says ${nb}`);
  if (values.length !== nb * nb) imp.fail(`${path}/u64values`, `holds ${values.length} values, expected nbobjs² = ${nb * nb}`);
  const position = new Map<number, number>();
  imp.nodes.forEach((node, i) => {
    if (indexing === 'gp') {
      if (node.gp !== undefined) position.set(Number(node.gp), i);
    } else position.set(node.id, i);
  });
  const slots = indexes.map((x) => {
    const p = position.get(x);
    if (p === undefined) imp.fail(`${path}/indexes`, `index ${x} (${indexing} indexing) is not a NUMANode of this topology`);
    return p;
  });
  const matrix: (number | undefined)[][] = Array.from({ length: n }, () => new Array<number | undefined>(n).fill(undefined));
  slots.forEach((si, a) =>
    slots.forEach((sj, b) => {
      (matrix[si] as (number | undefined)[])[sj] = values[a * nb + b];
    }),
  );
  let missing = 0;
  const full = matrix.map((row, i) =>
    row.map((v, j) => {
      if (v !== undefined) return v;
      missing++;
      return i === j ? 10 : 20;
    }),
  );
  if (missing > 0) {
    imp.warnings.push({ path: `${origin}: ${path}`, message: `matrix covers ${nb} of ${n} NUMA nodes; ${missing} missing entries assumed 10 local / 20 remote` });
  }
  full.forEach((row, i) =>
    row.forEach((v, j) => {
      if (v === 0 || (i !== j && v < (row[i] as number))) {
        imp.fail(`${path}/u64values`, `distance ${v} from NUMA node ${imp.nodes[i]?.id} to ${imp.nodes[j]?.id} is ${v === 0 ? '0' : `below the local distance ${row[i]}`}: no machine has that`);
      }
    }),
  );
  return full;
}

/** hwloc 1.x `<distances relative_depth latency_base><latency value/>` matrices between NUMA nodes in logical order. */
function v1Distances(topology: XmlElement, root: XmlElement, imp: Importer, origin: string): number[][] | null {
  const n = imp.nodes.length;
  const all = [...topology.children, ...root.children].filter((c) => c.name === 'distances');
  const d = all.find((c) => Number(c.attrs.nbobjs) === n);
  if (!d || n === 0) return null;
  const base = Number(d.attrs.latency_base ?? '1') || 1;
  const lat = d.children.filter((c) => c.name === 'latency').map((c) => Math.round(Number(c.attrs.value) * base));
  if (lat.length !== n * n || lat.some((v) => !Number.isFinite(v))) {
    imp.warnings.push({ path: origin, message: 'hwloc 1.x distances element does not hold nbobjs² latencies; ignored' });
    return null;
  }
  return Array.from({ length: n }, (_, i) => lat.slice(i * n, i * n + n));
}

function numbers(elements: XmlElement[], path: string, imp: Importer): number[] {
  const words = elements.flatMap((e) => e.text.split(/\s+/).filter(Boolean));
  return words.map((w) => {
    const v = Number(w);
    if (!Number.isInteger(v) || v < 0) imp.fail(path, `"${w}" is not a non-negative integer`);
    return v;
  });
}
