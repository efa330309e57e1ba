/**
 * Merge mode: take an existing libvirt domain XML and replace only its NUMA-related parts with a
 * placement's, keeping everything else as it was (order, comments, namespaces, unknown elements,
 * whitespace).
 *
 * Replaced: `<memory>`/`<currentMemory>` (the cells plus any memory devices), `<vcpu>` (count; its
 * `cpuset` attribute is dropped, `current` kept while the placement has that many vCPUs), `<cputune>`'s `vcpupin`/`emulatorpin` (other tuning
 * stays), `<numatune>` (whole), `<memoryBacking>`'s `<hugepages>` (other backing options stay),
 * `<cpu>`'s `<topology>` and `<numa>` (mode, model, features stay), PCI `<hostdev>`s naming one of
 * the placement's devices (replaced, not duplicated) and the device controllers numaplan adds.
 * Other hostdevs, disks, interfaces, graphics, metadata... are left alone.
 * With an I/O plan (io-threads.ts): the placement's I/O threads are the domain's I/O threads 1..N:
 * `<iothreads>` becomes at least N (with `<iothreadids>`, the missing ids 1..N are added), their
 * `<iothreadpin>`s are the placement's (the domain's disks on them then run on the I/O node; pins of
 * higher ids stay), and the placement's virtio disks (on target names the domain does not use) and
 * NICs are added like its host devices.
 *
 * Refused with EmitError (ERR_DOMAIN_XML), naming the element: text that is not well-formed XML, a
 * root that is not `<domain>`, an element that must be unique appearing twice, a machine type that
 * cannot hold devices near guest nodes, memory DIMMs targeting a guest node the placement lacks,
 * a `<maxMemory>` below the new memory, a `<vcpus>` list of another length.
 * Memory hotplug (`<maxMemory>` or memory devices) needs guest NUMA cells: a VM without vNUMA then
 * keeps one cell holding every vCPU and all its memory.
 */
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import type { Topology } from '../topology/model.js';
import { EmitError } from './errors.js';
import type { PlacementLike } from './guest.js';
import { libvirtGuest, libvirtParts } from './libvirt.js';
import type { EmitOptions } from './options.js';
import { type FxpNode, type XNode, el, toFxp } from './xml-node.js';

const FXP = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  commentPropName: '#comment',
  cdataPropName: '#cdata',
  trimValues: false,
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: true,
  ignoreDeclaration: false,
  ignorePiTags: false,
} as const;

const UNIQUE = ['memory', 'currentMemory', 'vcpu', 'cputune', 'numatune', 'memoryBacking', 'cpu', 'devices', 'os'];

function fail(path: string, message: string): never {
  throw new EmitError(path, message, 'ERR_DOMAIN_XML');
}

function nameOf(n: FxpNode): string | null {
  for (const k of Object.keys(n)) if (k !== ':@' && k !== '#text' && k !== '#comment' && k !== '#cdata' && !k.startsWith('?')) return k;
  return null;
}
function kids(n: FxpNode): FxpNode[] {
  const name = nameOf(n);
  return name ? (n[name] as FxpNode[]) : [];
}
function attr(n: FxpNode, a: string): string | undefined {
  return (n[':@'] as Record<string, string> | undefined)?.[`@_${a}`];
}
function setAttr(n: FxpNode, a: string, v: string | undefined): void {
  const attrs = { ...((n[':@'] as Record<string, string> | undefined) ?? {}) };
  if (v === undefined) delete attrs[`@_${a}`];
  else attrs[`@_${a}`] = v;
  if (Object.keys(attrs).length === 0) delete n[':@'];
  else n[':@'] = attrs;
}
function isWs(n: FxpNode | undefined): boolean {
  return n !== undefined && typeof n['#text'] === 'string' && (n['#text'] as string).trim() === '' && nameOf(n) === null;
}
/** Indentation of the children of `parent`, from the whitespace before its first element. */
function childIndent(parent: FxpNode, parentIndent: string): string {
  const list = kids(parent);
  for (let i = 0; i < list.length; i++) {
    const n = list[i] as FxpNode;
    if (nameOf(n) !== null || n['#comment'] !== undefined) {
      const ws = list[i - 1];
      if (ws && isWs(ws)) {
        const text = ws['#text'] as string;
        return text.slice(text.lastIndexOf('\n') + 1);
      }
      break;
    }
  }
  return `${parentIndent}  `;
}
/** Removes every child element named `name` (and the whitespace before it); returns the index it had. */
function removeAll(parent: FxpNode, pred: (n: FxpNode) => boolean): number {
  const list = kids(parent);
  let first = -1;
  for (let i = 0; i < list.length; i++) {
    if (nameOf(list[i] as FxpNode) !== null && pred(list[i] as FxpNode)) {
      const start = i > 0 && isWs(list[i - 1]) ? i - 1 : i;
      if (first < 0) first = start;
      list.splice(start, i - start + 1);
      i = start - 1;
    }
  }
  return first;
}
/** Inserts `node` at position `at` (or before the closing whitespace when at < 0). */
function insert(parent: FxpNode, node: XNode, indent: string, at = -1): void {
  const list = kids(parent);
  let pos = at;
  if (pos < 0) pos = list.length > 0 && isWs(list[list.length - 1]) ? list.length - 1 : list.length;
  const closing = list.length === 0;
  list.splice(pos, 0, { '#text': `\n${indent}` }, toFxp(node, indent));
  if (closing) list.push({ '#text': `\n${indent.slice(2)}` });
}
function children(parent: FxpNode, name: string): FxpNode[] {
  return kids(parent).filter((n) => nameOf(n) === name);
}
function indexOf(parent: FxpNode, name: string): number {
  return kids(parent).findIndex((n) => nameOf(n) === name);
}
function textOf(n: FxpNode): string {
  return kids(n)
    .map((k) => (typeof k['#text'] === 'string' ? k['#text'] : ''))
    .join('')
    .trim();
}
function setText(n: FxpNode, text: string): void {
  const name = nameOf(n) as string;
  n[name] = [{ '#text': text }];
}

/** Replaces the NUMA-related parts of `existingXml` with the placement's. */
export function mergeLibvirtDomain(existingXml: string, placement: PlacementLike, topology: Topology, options: EmitOptions = {}): string {
  const valid = XMLValidator.validate(existingXml);
  if (valid !== true) fail(`domain XML line ${valid.err.line}, column ${valid.err.col}`, `not well-formed: ${valid.err.msg}`);
  const tree = new XMLParser(FXP).parse(existingXml) as FxpNode[];
  const roots = tree.filter((n) => nameOf(n) !== null);
  const domain = roots[0];
  if (!domain || roots.length !== 1 || nameOf(domain) !== 'domain') {
    fail('domain XML', `the root element must be <domain>, found ${roots.map((r) => `<${nameOf(r)}>`).join(', ') || 'none'}`);
  }
  for (const u of UNIQUE) if (children(domain, u).length > 1) fail(`domain/${u}`, `<${u}> appears ${children(domain, u).length} times; a domain has at most one`);

  const g = libvirtGuest(placement, topology);
  const devicesEl = children(domain, 'devices')[0];
  const usedIndexes = (devicesEl ? children(devicesEl, 'controller') : [])
    .filter((c) => attr(c, 'type') === 'pci')
    .map((c) => Number(attr(c, 'index') ?? '0'))
    .filter((n) => Number.isInteger(n));
  // Memory hotplug (<maxMemory>, memory devices) needs guest NUMA cells: a guest without vNUMA keeps one.
  const memoryDevices = devicesEl ? children(devicesEl, 'memory') : [];
  const maxMemory = children(domain, 'maxMemory')[0];
  const hotplug = maxMemory !== undefined || memoryDevices.length > 0;
  const usedTargets = new Set(
    (devicesEl ? children(devicesEl, 'disk') : []).flatMap((d) => children(d, 'target').map((t) => attr(t, 'dev') ?? '')),
  );
  const parts = libvirtParts(g, options, Math.max(0, ...usedIndexes) + 1, hotplug, usedTargets);
  // libvirt's <memory> is the initial memory (the cells) plus every memory device.
  const deviceKiB = memoryDevices.reduce((sum, m, k) => sum + memoryDeviceKiB(m, k), 0);
  const totalKiB = g.memory / 1024 + deviceKiB;
  if (deviceKiB > 0) {
    parts.memory = el('memory', { unit: 'KiB' }, [String(totalKiB)]);
    parts.currentMemory = el('currentMemory', { unit: 'KiB' }, [String(totalKiB)]);
  }
  if (maxMemory) {
    const max = toKiB(textOf(maxMemory), attr(maxMemory, 'unit'), 'domain/maxMemory');
    if (max < totalKiB) fail('domain/maxMemory', `${max} KiB is less than the placement's memory plus the memory devices (${totalKiB} KiB); raise it`);
  }
  const vcpusList = children(domain, 'vcpus')[0];
  if (vcpusList && children(vcpusList, 'vcpu').length !== g.vcpus) {
    fail('domain/vcpus', `lists ${children(vcpusList, 'vcpu').length} vCPUs, the placement has ${g.vcpus}; remove <vcpus> or make it list ${g.vcpus}`);
  }
  const ind = childIndent(domain, '');

  // Machine type must hold PCI Express expander buses for devices near guest nodes.
  const osType = children(domain, 'os')[0] ? children(children(domain, 'os')[0] as FxpNode, 'type')[0] : undefined;
  const machine = osType ? attr(osType, 'machine') : undefined;
  if (parts.needsMachine && machine !== undefined && !machine.includes(parts.needsMachine)) {
    fail('domain/os/type/@machine', `machine "${machine}" cannot hold devices near guest NUMA nodes (pcie-expander-bus needs ${parts.needsMachine})`);
  }
  // Memory DIMMs naming a guest node must name one that exists after the merge.
  if (devicesEl) {
    for (const m of children(devicesEl, 'memory')) {
      const target = children(m, 'target')[0];
      const node = target ? children(target, 'node')[0] : undefined;
      if (node && Number(textOf(node)) >= g.cells.length) {
        fail('domain/devices/memory/target/node', `a memory device targets guest node ${textOf(node)}, the placement has ${g.cells.length} guest node(s)`);
      }
    }
  }

  // <memory>, <currentMemory>
  const replaceSimple = (name: string, node: XNode, after: string[]): void => {
    const existing = children(domain, name)[0];
    if (existing) {
      setText(existing, node.children[0] as string);
      for (const [k, v] of node.attrs) setAttr(existing, k, v);
      return;
    }
    let at = -1;
    for (const a of after) {
      const i = indexOf(domain, a);
      if (i >= 0) at = i + 1;
    }
    insert(domain, node, ind, at);
  };
  replaceSimple('memory', parts.memory, ['name', 'uuid', 'title', 'description', 'metadata', 'maxMemory']);
  if (children(domain, 'currentMemory')[0]) replaceSimple('currentMemory', parts.currentMemory, []);
  const vcpu = children(domain, 'vcpu')[0];
  if (vcpu) {
    setText(vcpu, String(g.vcpus));
    setAttr(vcpu, 'cpuset', undefined);
    // current= (vCPUs online at boot) stays when the placement still has that many.
    const current = attr(vcpu, 'current');
    if (current !== undefined && !(/^\d+$/.test(current) && Number(current) >= 1 && Number(current) <= g.vcpus)) setAttr(vcpu, 'current', String(g.vcpus));
    setAttr(vcpu, 'placement', 'static');
  } else {
    replaceSimple('vcpu', parts.vcpu, ['memory', 'currentMemory', 'memoryBacking']);
  }

  // <memoryBacking><hugepages>
  let backing = children(domain, 'memoryBacking')[0];
  if (backing) {
    removeAll(backing, (n) => nameOf(n) === 'hugepages');
    if (parts.hugepages) insert(backing, parts.hugepages, childIndent(backing, ind), 0);
    else if (kids(backing).every((k) => nameOf(k) === null && k['#comment'] === undefined)) removeAll(domain, (n) => n === backing);
  } else if (parts.hugepages) {
    insert(domain, el('memoryBacking', {}, [parts.hugepages]), ind, indexOf(domain, 'vcpu'));
    backing = children(domain, 'memoryBacking')[0];
  }

  // <iothreads> (and <iothreadids>): at least the placement's I/O threads.
  const ioThreads = g.io?.iothreads.length ?? 0;
  if (ioThreads > 0) {
    const ids = children(domain, 'iothreadids')[0];
    if (ids) {
      const have = new Set(children(ids, 'iothread').map((t) => attr(t, 'id')));
      const ii = childIndent(ids, ind);
      for (let k = 1; k <= ioThreads; k++) if (!have.has(String(k))) insert(ids, el('iothread', { id: k }), ii);
    }
    const count = ids ? children(ids, 'iothread').length : ioThreads;
    const existing = children(domain, 'iothreads')[0];
    if (existing) {
      const n = Number(textOf(existing));
      setText(existing, String(Number.isInteger(n) && n > count ? n : count));
    } else {
      insert(domain, el('iothreads', {}, [String(count)]), ind, indexOf(domain, 'vcpu') + 1);
    }
  }

  // <cputune>
  const cputune = children(domain, 'cputune')[0];
  if (cputune) {
    removeAll(cputune, (n) => nameOf(n) === 'vcpupin' || nameOf(n) === 'emulatorpin' || (nameOf(n) === 'iothreadpin' && Number(attr(n, 'iothread')) <= ioThreads));
    const ci = childIndent(cputune, ind);
    for (const p of parts.cputune) insert(cputune, p, ci);
    if (kids(cputune).every((k) => nameOf(k) === null && k['#comment'] === undefined)) removeAll(domain, (n) => n === cputune);
  } else if (parts.cputune.length > 0) {
    insert(domain, el('cputune', {}, parts.cputune), ind, indexOf(domain, 'vcpu') + 1);
  }

  // <numatune>
  const oldTune = indexOf(domain, 'numatune');
  removeAll(domain, (n) => nameOf(n) === 'numatune');
  if (parts.numatune) {
    const after = Math.max(indexOf(domain, 'cputune'), indexOf(domain, 'vcpu'));
    insert(domain, parts.numatune, ind, oldTune >= 0 ? oldTune : after + 1);
  }

  // <cpu><topology>, <numa>
  let cpu = children(domain, 'cpu')[0];
  if (!cpu) {
    const at = indexOf(domain, 'features') >= 0 ? indexOf(domain, 'features') + 1 : indexOf(domain, 'os') + 1;
    insert(domain, el('cpu', {}, [parts.topology, parts.numa]), ind, at > 0 ? at : -1);
    cpu = children(domain, 'cpu')[0] as FxpNode;
  } else {
    removeAll(cpu, (n) => nameOf(n) === 'topology' || nameOf(n) === 'numa');
    const ci = childIndent(cpu, ind);
    let at = 0;
    for (const name of ['model', 'vendor']) {
      const i = indexOf(cpu, name);
      if (i >= 0) at = i + 1;
    }
    insert(cpu, parts.topology, ci, at);
    if (parts.numa) insert(cpu, parts.numa, ci);
  }

  // x2APIC: QEMU's split irqchip in <features>, an IOMMU with extended interrupt mode in <devices>
  // (kept when the domain already has that; refused when it has another).
  let iommu: XNode | null = null;
  if (parts.x2apic) {
    let features = children(domain, 'features')[0];
    if (!features) {
      insert(domain, el('features'), ind, indexOf(domain, 'os') + 1);
      features = children(domain, 'features')[0] as FxpNode;
    }
    const ioapic = children(features, 'ioapic')[0];
    if (!ioapic) insert(features, parts.x2apic.ioapic, childIndent(features, ind));
    else if (attr(ioapic, 'driver') !== 'qemu') fail('domain/features/ioapic', `driver "${attr(ioapic, 'driver')}": a guest with APIC IDs above 254 needs driver='qemu' (interrupt remapping)`);
    const old = devicesEl ? children(devicesEl, 'iommu')[0] : undefined;
    if (!old) iommu = parts.x2apic.iommu;
    else {
      const driver = children(old, 'driver')[0];
      if (attr(old, 'model') !== 'intel' || !driver || attr(driver, 'intremap') !== 'on' || attr(driver, 'eim') !== 'on') {
        fail('domain/devices/iommu', "a guest with more than 255 vCPUs needs <iommu model='intel'><driver intremap='on' eim='on'/></iommu>");
      }
    }
  }

  // devices
  const wanted = new Set(g.devices.map((d) => d.address.toLowerCase()));
  if (parts.controllers.length + parts.hostdevs.length + parts.disks.length + parts.interfaces.length > 0 || devicesEl || iommu) {
    let devices = devicesEl;
    if (!devices) {
      insert(domain, el('devices'), ind);
      devices = children(domain, 'devices')[0] as FxpNode;
    }
    removeAll(devices, (n) => nameOf(n) === 'hostdev' && wanted.has(hostdevAddress(n) ?? ''));
    const di = childIndent(devices, ind);
    for (const c of [...parts.disks, ...parts.controllers, ...parts.interfaces, ...parts.hostdevs, ...(iommu ? [iommu] : [])]) insert(devices, c, di);
  }
  return new XMLBuilder({ ...FXP, format: false, suppressEmptyNode: true }).build(tree) as string;
}

const UNIT_BYTES: Record<string, number> = {
  b: 1, bytes: 1,
  kb: 1e3, k: 1024, kib: 1024,
  mb: 1e6, m: 1024 ** 2, mib: 1024 ** 2,
  gb: 1e9, g: 1024 ** 3, gib: 1024 ** 3,
  tb: 1e12, t: 1024 ** 4, tib: 1024 ** 4,
};

/** A libvirt scaled integer (formatdomain "memory allocation" units; default KiB) in KiB. */
function toKiB(text: string, unit: string | undefined, path: string): number {
  const factor = UNIT_BYTES[(unit ?? 'KiB').toLowerCase()];
  if (!/^\d+$/.test(text) || factor === undefined) fail(path, `expected a size, got "${text}"${unit ? ` ${unit}` : ''}`);
  return Math.ceil((Number(text) * (factor as number)) / 1024);
}

/** Size of a memory device (`<memory model='dimm'><target><size>`) in KiB. */
function memoryDeviceKiB(m: FxpNode, k: number): number {
  const target = children(m, 'target')[0];
  const size = target ? children(target, 'size')[0] : undefined;
  if (!size) fail(`domain/devices/memory[${k}]/target/size`, 'a memory device without a size');
  return toKiB(textOf(size as FxpNode), attr(size as FxpNode, 'unit'), `domain/devices/memory[${k}]/target/size`);
}

/** "0000:c1:00.2" of a PCI hostdev's source address, lower case; null for other hostdevs. */
function hostdevAddress(n: FxpNode): string | null {
  if (attr(n, 'type') !== 'pci') return null;
  const src = children(n, 'source')[0];
  const a = src ? children(src, 'address')[0] : undefined;
  if (!a) return null;
  const h = (v: string | undefined, w: number): string => Number(v ?? '0').toString(16).padStart(w, '0');
  return `${h(attr(a, 'domain'), 4)}:${h(attr(a, 'bus'), 2)}:${h(attr(a, 'slot'), 2)}.${h(attr(a, 'function'), 1)}`;
}
