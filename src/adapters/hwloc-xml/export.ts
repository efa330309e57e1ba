/**
 * hwloc v2 XML export: a document `lstopo --input FILE.xml` loads without a warning, with the same
 * packages, NUMA nodes, cores, PUs and NUMALatency matrix as the model.
 *
 * How the model maps onto hwloc's tree:
 * - Packages, dies and groups, caches, cores and PUs are nested by CPU-set inclusion under one
 *   Machine (larger sets outside; on equal sets Package > Die > Group > L5..L1 > Core > PU). An object
 *   that overlaps another without nesting (which hwloc cannot represent) is left out.
 * - A NUMA node with online CPUs is a memory child of the outermost object whose CPU set equals its
 *   CPUs; a Group is added for it when none exists. A node without CPUs (HBM, CXL, GPU memory) is a
 *   memory child of the smallest object holding its nearest CPU nodes (by distance): beside its one
 *   nearest CPU node, as hwloc attaches it, and of the Machine when the distances were not reported. Tiers are written as subtypes (HBM, GPUMemory, NVM, CXL-DRAM; DRAM when
 *   the host has other tiers), huge-page pools as page_type elements (the 4 KiB count is the rest of
 *   the node's memory).
 * - Offline PUs appear only in complete_cpuset; disallowed PUs and nodes are left out of the root's
 *   allowed_cpuset / allowed_nodeset, exactly as hwloc writes them.
 * - PCI: the model's tree as hwloc writes it: each host bridge (a Bridge without pci_busid, its bus
 *   range in bridge_pci), below it the functions of its root bus, PCI-to-PCI bridges as Bridge
 *   objects with their bus range and their functions below them, the rest as PCIDev objects, in
 *   bus-id order. A host bridge sits below the locality of its first function, as hwloc attaches it:
 *   the object holding the function's node (reported or inferred), else the smallest object holding
 *   its local CPUs, else the Machine. Network and RDMA names become OSDev children; SR-IOV relations,
 *   which hwloc does not describe, are kept in `NumaplanSRIOV*` info attributes for numaplan's own
 *   round trip.
 * - The distance matrix is one `distances2` element named NUMALatency with OS indexing, written only
 *   when the source reported one (an assumed 10/20 matrix is not passed off as the OS's).
 */
import type { Cache, NumaNode, PciBusRange, PciDevice, PciHostBridge, Topology } from '../../core/topology/model.js';
import { parsePciAddress, pciChildren, pciDomainOf } from '../../core/topology/pci-tree.js';
import { distancesAssumed } from '../../core/topology/build.js';
import { formatHwlocBitmap } from './bitmap.js';
import { OSDEV_NETWORK_V2, OSDEV_OPENFABRICS_V2, formatPciType } from './pci.js';

interface XObj {
  type: string;
  attrs: [string, string | number][];
  infos: [string, string][];
  /** Online PUs. */
  cpus: number[];
  /** All PUs, including offline ones. */
  complete: number[];
  rank: number;
  children: XObj[];
  memory: NumaNode[];
  io: XIo[];
  parent: XObj | null;
}

interface XIo {
  host: PciHostBridge;
  /** The functions of its root bus, in bus-id order. */
  devices: PciDevice[];
}

const RANK = { Package: 0, Die: 1, Group: 2, NodeGroup: 3, Cache: 4, Core: 20, PU: 21 } as const;

const TIER_SUBTYPE: Partial<Record<NumaNode['tier'], string>> = {
  hbm: 'HBM',
  gpu: 'GPUMemory',
  nvm: 'NVM',
  cxl: 'CXL-DRAM',
};

function cacheRank(c: Cache): number {
  // L5 outermost; on one level the data/unified cache holds the instruction cache, as hwloc nests them.
  return RANK.Cache + (5 - c.level) * 2 + (c.type === 'instruction' ? 1 : 0);
}

function esc(v: string | number): string {
  return String(v).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function isSubset(inner: readonly number[], outer: Set<number>): boolean {
  return inner.every((c) => outer.has(c));
}

/** Exports a topology as hwloc v2 XML that lstopo loads (see the module comment for the mapping). */
export function topologyToHwlocXml(topo: Topology): string {
  const online = topo.pus.filter((p) => p.online);
  const onlineSet = new Set(online.map((p) => p.os));
  const onlyOnline = (cpus: readonly number[]): number[] => cpus.filter((c) => onlineSet.has(c));
  const obj = (type: string, rank: number, complete: readonly number[], attrs: [string, string | number][] = [], infos: [string, string][] = []): XObj => ({
    type,
    attrs,
    infos,
    cpus: onlyOnline(complete),
    complete: [...complete].sort((a, b) => a - b),
    rank,
    children: [],
    memory: [],
    io: [],
    parent: null,
  });

  const machine = obj('Machine', -1, topo.pus.map((p) => p.os), [['os_index', 0]], topo.hostname ? [['HostName', topo.hostname]] : []);

  // --- candidate objects, nested by CPU-set inclusion ---
  const candidates: XObj[] = [];
  for (const p of topo.packages) candidates.push(obj('Package', RANK.Package, p.pus, [['os_index', p.id]], p.model ? [['CPUModel', p.model]] : []));
  for (const g of topo.groups) {
    if (g.kind === 'die') candidates.push(obj('Die', RANK.Die, g.cpus, [['os_index', g.id]]));
    else candidates.push(obj('Group', RANK.Group, g.cpus, g.kind === 'cluster' ? [['subtype', 'Cluster']] : []));
  }
  const seenCache = new Set<string>();
  for (const c of topo.caches) {
    if (c.type === 'instruction' && c.level > 3) continue;
    const key = `${c.level}/${c.type}/${c.cpus.join(',')}`;
    if (seenCache.has(key)) continue;
    seenCache.add(key);
    const type = `L${c.level}${c.type === 'instruction' ? 'i' : ''}Cache`;
    candidates.push(
      obj(type, cacheRank(c), c.cpus, [
        ['cache_size', c.size],
        ['depth', c.level],
        ['cache_linesize', c.lineSize ?? 0],
        ['cache_associativity', c.ways ?? 0],
        ['cache_type', c.type === 'unified' ? 0 : c.type === 'data' ? 1 : 2],
      ]),
    );
  }
  for (const c of topo.cores) candidates.push(obj('Core', RANK.Core, c.pus, [['os_index', c.coreId]]));
  for (const p of online) candidates.push(obj('PU', RANK.PU, [p.os], [['os_index', p.os]]));
  const cpuNodes = topo.nodes.filter((n) => onlyOnline(n.cpus).length > 0);
  for (const n of cpuNodes) {
    const key = onlyOnline(n.cpus).join(',');
    if (!candidates.some((c) => c.cpus.join(',') === key)) candidates.push(obj('Group', RANK.NodeGroup, n.cpus));
  }

  const placed = candidates
    .filter((c) => c.cpus.length > 0)
    .sort((a, b) => b.cpus.length - a.cpus.length || a.rank - b.rank || (a.cpus[0] as number) - (b.cpus[0] as number));
  for (const c of placed) insert(machine, c);

  // --- NUMA nodes ---
  const nodeHome = new Map<number, XObj>();
  for (const n of cpuNodes) {
    const cpus = onlyOnline(n.cpus);
    const home = outermostEqual(machine, cpus.join(',')) ?? smallestContaining(machine, new Set(cpus));
    home.memory.push(n);
    nodeHome.set(n.id, home);
  }
  const index = new Map(topo.nodes.map((n, i) => [n.id, i]));
  for (const n of topo.nodes) {
    if (nodeHome.has(n.id)) continue;
    let home = machine;
    if (cpuNodes.length > 0) {
      const row = topo.distances[index.get(n.id) as number] as number[];
      const d = (m: NumaNode): number => row[index.get(m.id) as number] as number;
      const best = Math.min(...cpuNodes.map(d));
      // As hwloc attaches a CPU-less node: beside its nearest CPU node (with that node's CPU set),
      // or, when several are equally near, under the smallest object holding all of them.
      const nearest = new Set(cpuNodes.filter((m) => d(m) === best).flatMap((m) => onlyOnline(m.cpus)));
      if (!distancesAssumed(topo) || cpuNodes.length === 1) home = smallestContaining(machine, nearest);
    }
    home.memory.push(n);
    nodeHome.set(n.id, home);
  }

  // --- PCI: host bridges, each below the locality of its first function ---
  const byBusId = (a: PciDevice, b: PciDevice): number => {
    const x = parsePciAddress(a.address);
    const y = parsePciAddress(b.address);
    return x.domain - y.domain || x.bus - y.bus || x.dev - y.dev || x.func - y.func;
  };
  // A PCI-to-PCI bridge without valid buses is not written: hwloc drops such a bridge too.
  const written = (d: PciDevice): boolean => d.bridge !== null || d.classCode >> 8 !== 0x0604;
  const childrenOf = new Map<string, PciDevice[]>();
  for (const d of [...topo.pciDevices].sort(byBusId).filter(written)) {
    if (d.parent !== null) childrenOf.set(d.parent, [...(childrenOf.get(d.parent) ?? []), d]);
  }
  for (const host of topo.pciHostBridges) {
    const devices = pciChildren(topo, host).sort(byBusId).filter(written);
    const first = devices[0];
    let home: XObj = machine;
    if (first) {
      const local = first.localCpus ? onlyOnline(first.localCpus) : [];
      const nodeId = first.node ?? first.inferredNode;
      if (local.length > 0) home = ioParent(machine, local, obj);
      else home = (nodeId !== null ? nodeHome.get(nodeId) : undefined) ?? machine;
    }
    home.io.push({ host, devices });
  }

  // --- write ---
  const tiers = new Set(topo.nodes.map((n) => n.tier));
  const markDram = [...tiers].some((t) => t !== 'dram' && t !== 'unknown');
  const allowedCpus = topo.pus.filter((p) => p.online && p.allowed).map((p) => p.os);
  const allowedNodes = topo.nodes.filter((n) => n.allowed).map((n) => n.id);
  let gp = 1;
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE topology SYSTEM "hwloc2.dtd">',
    '<topology version="2.0">',
  ];
  const line = (depth: number, text: string): void => {
    out.push(`${'  '.repeat(depth)}${text}`);
  };
  const attrText = (attrs: [string, string | number][]): string => attrs.map(([k, v]) => ` ${k}="${esc(v)}"`).join('');

  const writeObj = (o: XObj, depth: number, inherited: number[]): void => {
    const below = nodesBelow(o);
    const nodeset = [...new Set([...below, ...inherited])];
    const own = o.memory.map((n) => n.id);
    const attrs: [string, string | number][] = [['type', o.type], ...o.attrs.filter(([k]) => k === 'os_index' || k === 'subtype')];
    attrs.push(['cpuset', formatHwlocBitmap(o.cpus)], ['complete_cpuset', formatHwlocBitmap(o.complete)]);
    if (o === machine) attrs.push(['allowed_cpuset', formatHwlocBitmap(allowedCpus)]);
    attrs.push(['nodeset', formatHwlocBitmap(nodeset)], ['complete_nodeset', formatHwlocBitmap(nodeset)]);
    if (o === machine) attrs.push(['allowed_nodeset', formatHwlocBitmap(allowedNodes)]);
    attrs.push(['gp_index', gp++], ...o.attrs.filter(([k]) => k !== 'os_index' && k !== 'subtype'));
    const empty = o.infos.length === 0 && o.children.length === 0 && o.memory.length === 0 && o.io.length === 0;
    if (empty) {
      line(depth, `<object${attrText(attrs)}/>`);
      return;
    }
    line(depth, `<object${attrText(attrs)}>`);
    for (const [k, v] of o.infos) line(depth + 1, `<info name="${esc(k)}" value="${esc(v)}"/>`);
    const childInherited = [...new Set([...inherited, ...own])];
    for (const n of [...o.memory].sort((a, b) => Number(b.cpus.length > 0) - Number(a.cpus.length > 0) || a.id - b.id)) {
      writeNode(n, o, depth + 1, markDram);
    }
    for (const c of o.children) writeObj(c, depth + 1, childInherited);
    for (const b of o.io) writeBridge(b, depth + 1);
    line(depth, '</object>');
  };

  const writeNode = (n: NumaNode, home: XObj, depth: number, dramSubtype: boolean): void => {
    const subtype = TIER_SUBTYPE[n.tier] ?? (dramSubtype && n.tier === 'dram' ? 'DRAM' : undefined);
    const attrs: [string, string | number][] = [
      ['type', 'NUMANode'],
      ['os_index', n.id],
      ['cpuset', formatHwlocBitmap(home.cpus)],
      ['complete_cpuset', formatHwlocBitmap(home.complete)],
      ['nodeset', formatHwlocBitmap([n.id])],
      ['complete_nodeset', formatHwlocBitmap([n.id])],
      ['gp_index', gp++],
    ];
    if (subtype) attrs.push(['subtype', subtype]);
    attrs.push(['local_memory', n.memory.total]);
    const huge = n.hugePages.filter((p) => p.pageSize > 4096);
    const hugeBytes = huge.reduce((s, p) => s + p.pageSize * p.total, 0);
    line(depth, `<object${attrText(attrs)}>`);
    line(depth + 1, `<page_type size="4096" count="${Math.max(0, Math.floor((n.memory.total - hugeBytes) / 4096))}"/>`);
    for (const p of huge) line(depth + 1, `<page_type size="${p.pageSize}" count="${p.total}"/>`);
    line(depth, '</object>');
  };

  const hex2 = (v: number): string => v.toString(16).padStart(2, '0');
  const busRange = (domain: string, r: PciBusRange): string => `${domain}:[${hex2(r.secondary)}-${hex2(r.subordinate)}]`;

  const writeBridge = (b: XIo, depth: number): void => {
    const attrs = `type="Bridge" gp_index="${gp++}" bridge_type="0-1" depth="0" bridge_pci="${busRange(b.host.domain, b.host.buses)}"`;
    if (b.devices.length === 0) {
      line(depth, `<object ${attrs}/>`);
      return;
    }
    line(depth, `<object ${attrs}>`);
    for (const d of b.devices) writeDevice(d, depth + 1, 1);
    line(depth, '</object>');
  };

  /** A function: a PCI-to-PCI bridge (with the functions below it) or a PCIDev; `level` counts the bridges above it, the host bridge included. */
  const writeDevice = (d: PciDevice, depth: number, level: number): void => {
    const infos: [string, string][] = [];
    if (d.name) infos.push(['PCIDevice', d.name]);
    if (d.physfn) infos.push(['NumaplanSRIOVPhysFn', d.physfn]);
    if (d.sriov) {
      infos.push(['NumaplanSRIOVTotalVFs', String(d.sriov.totalVfs)]);
      if (d.sriov.vfs.length > 0) infos.push(['NumaplanSRIOVVFs', d.sriov.vfs.join(' ')]);
    }
    const osdevs: [string, number][] = [
      ...d.netDevices.map((n): [string, number] => [n, OSDEV_NETWORK_V2]),
      ...d.rdmaDevices.map((n): [string, number] => [n, OSDEV_OPENFABRICS_V2]),
    ];
    const below = d.bridge ? (childrenOf.get(d.address) ?? []) : [];
    const kind = d.bridge ? `type="Bridge" gp_index="${gp++}" bridge_type="1-1" depth="${level}" bridge_pci="${busRange(pciDomainOf(d.address), d.bridge)}"` : `type="PCIDev" gp_index="${gp++}"`;
    const head = `<object ${kind} pci_busid="${esc(d.address)}" pci_type="${formatPciType(d.classCode, d.vendorId, d.deviceId)}" pci_link_speed="0.000000"`;
    if (infos.length === 0 && osdevs.length === 0 && below.length === 0) {
      line(depth, `${head}/>`);
      return;
    }
    line(depth, `${head}>`);
    for (const [k, v] of infos) line(depth + 1, `<info name="${esc(k)}" value="${esc(v)}"/>`);
    for (const [name, t] of osdevs) line(depth + 1, `<object type="OSDev" gp_index="${gp++}" name="${esc(name)}" osdev_type="${t}"/>`);
    for (const c of below) writeDevice(c, depth + 1, level + 1);
    line(depth, '</object>');
  };

  writeObj(machine, 1, []);

  // A matrix the source did not report is not written: hwloc writes none either (lstopo then shows no distances).
  if (topo.nodes.length > 1 && !distancesAssumed(topo)) {
    const ids = topo.nodes.map((n) => n.id);
    const indexes = `${ids.join(' ')} `;
    line(1, `<distances2 type="NUMANode" nbobjs="${ids.length}" kind="5" name="NUMALatency" indexing="os">`);
    line(2, `<indexes length="${indexes.length}">${indexes}</indexes>`);
    const values = topo.distances.flat();
    for (let i = 0; i < values.length; i += 10) {
      const chunk = `${values.slice(i, i + 10).join(' ')} `;
      line(2, `<u64values length="${chunk.length}">${chunk}</u64values>`);
    }
    line(1, '</distances2>');
  }
  out.push('</topology>', '');
  return out.join('\n');
}

/** Puts `c` under the deepest object containing its CPUs; drops it when it straddles siblings. */
function insert(root: XObj, c: XObj): void {
  const set = new Set(c.cpus);
  let at = root;
  for (;;) {
    const next = at.children.find((k) => isSubset(c.cpus, new Set(k.cpus)));
    if (!next) break;
    at = next;
  }
  if (at.children.some((k) => k.cpus.some((x) => set.has(x)))) return; // partial overlap: not representable
  c.parent = at;
  at.children.push(c);
  // hwloc orders siblings by their complete CPU sets (offline PUs included); ordering by online
  // CPUs alone makes it report an out-of-order XML load when offline PUs interleave packages.
  at.children.sort((a, b) => (a.complete[0] as number) - (b.complete[0] as number) || (a.cpus[0] as number) - (b.cpus[0] as number));
}

/**
 * Where hwloc attaches I/O local to `cpus` (hwloc__pci_find_insert_io_parent_by_cpuset): the
 * smallest object covering them when its CPU set is exactly theirs, raised through parents that have
 * no other child; otherwise a Group of exactly those CPUs inserted below the smallest covering object
 * (unless it would cut through one of its children: then that covering object).
 */
function ioParent(root: XObj, cpus: readonly number[], make: (type: string, rank: number, complete: readonly number[]) => XObj): XObj {
  const set = new Set(cpus);
  let at = root;
  for (;;) {
    const next = at.children.find((k) => isSubset(cpus, new Set(k.cpus)));
    if (!next) break;
    at = next;
  }
  if (at.cpus.length === set.size) {
    while (at.parent && at.parent.children.length === 1) at = at.parent;
    return at;
  }
  const inside = at.children.filter((k) => isSubset(k.cpus, set));
  if (at.children.some((k) => !inside.includes(k) && k.cpus.some((c) => set.has(c)))) return at;
  if (inside.flatMap((k) => k.cpus).length !== set.size) return at;
  const g = make('Group', RANK.Group, inside.flatMap((k) => k.complete));
  g.parent = at;
  g.children = inside;
  for (const k of inside) k.parent = g;
  at.children = [...at.children.filter((k) => !inside.includes(k)), g];
  at.children.sort((a, b) => (a.complete[0] as number) - (b.complete[0] as number) || (a.cpus[0] as number) - (b.cpus[0] as number));
  g.children.sort((a, b) => (a.complete[0] as number) - (b.complete[0] as number) || (a.cpus[0] as number) - (b.cpus[0] as number));
  return g;
}

function outermostEqual(root: XObj, key: string): XObj | null {
  const queue: XObj[] = [root];
  while (queue.length > 0) {
    const o = queue.shift() as XObj;
    if (o !== root && o.cpus.join(',') === key) return o;
    queue.push(...o.children);
  }
  return root.cpus.join(',') === key ? root : null;
}

function smallestContaining(root: XObj, cpus: Set<number>): XObj {
  let at = root;
  for (;;) {
    const next = at.children.find((k) => k.type !== 'PU' && [...cpus].every((c) => k.cpus.includes(c)));
    if (!next) return at;
    at = next;
  }
}

function findObj(root: XObj, pred: (o: XObj) => boolean): XObj | null {
  if (pred(root)) return root;
  for (const c of root.children) {
    const f = findObj(c, pred);
    if (f) return f;
  }
  return null;
}

function nodesBelow(o: XObj): number[] {
  return [...o.memory.map((n) => n.id), ...o.children.flatMap(nodesBelow)];
}
