/**
 * libvirt domain XML for a placement (libvirt's formatdomain documentation):
 * - `<memory>`/`<currentMemory>` in KiB; `<vcpu placement='static'>`;
 * - `<cputune>`: one `<vcpupin vcpu cpuset>` per vCPU (a set for shared vCPUs) and `<emulatorpin>`;
 * - `<numatune>`: `<memory mode nodeset>` and one `<memnode cellid mode nodeset>` per cell holding
 *   memory; the mode is the placement's memory policy (strict, preferred, interleave). libvirt
 *   applies a top-level `preferred` to one node only, so it names the first cell's host node;
 *   interleaved guests have no cells and interleave over every memory node;
 * - `<memoryBacking><hugepages><page size unit='KiB' [nodeset]>` when huge pages back the guest;
 * - `<cpu>`: `<topology sockets dies cores threads>` and `<numa>` with one `<cell id cpus memory
 *   unit>` per guest node (no `cpus` on CPU-less cells) and `<distances><sibling id value>`;
 * - devices: `<hostdev mode='subsystem' type='pci' managed='yes'>` with `<driver name='vfio'/>` per device; a device near a guest
 *   node sits behind a `pcie-expander-bus` controller whose `<target><node>` is that cell, and a
 *   `pcie-root-port` on it (libvirt's way of telling the guest a device's NUMA node).
 * - the I/O part (io-threads.ts): `<iothreads>N</iothreads>`, one `<iothreadpin iothread cpuset>` per
 *   I/O thread and `<emulatorpin>` on the I/O node's CPUs in `<cputune>`; each virtio disk a
 *   `<disk type='file' device='disk'>` with `<driver name='qemu' type='raw' [queues] [iothread]>`, a raw
 *   image `DIR/NAME-diskK.img` and target `vdX`; each virtio NIC an `<interface type='network'>` on
 *   libvirt's `default` network with `<model type='virtio'/>` and `<driver name='vhost'|'qemu'
 *   [queues]>` (libvirt puts the vhost-net workers with the emulator threads, under `<emulatorpin>`);
 *   with a vNUMA they sit on root ports of the I/O node's guest node's expander bus.
 * Three modes: `complete` (a minimal domain that defines as is), `fragment` (only the NUMA-related
 * elements, to paste), `merge` (see libvirt-merge.ts).
 */
import { formatCpuList } from '../topology/cpulist.js';
import type { Topology } from '../topology/model.js';
import { type Guest, diskLetters, guestOf, needsX2apic, type PlacementLike } from './guest.js';
import { qemuLimit } from './qemu.js';
import { type EmitOptions, diskImage } from './options.js';
import { EmitError } from './errors.js';
import { type XNode, el, escapeXml, printXml } from './xml-node.js';

/** libvirt's numatune mode of each memory policy. */
const LIBVIRT_MODE = { bind: 'strict', preferred: 'preferred', interleave: 'interleave' } as const;

/**
 * Why libvirt cannot express a guest, or null. libvirt gives every `<cell>` a memory backend of the
 * cell's size, and QEMU refuses a backend of size 0: a cell without memory (the vCPU node of a
 * memory-tier VM, a device's own node) cannot be written.
 */
export function libvirtLimit(g: Guest): string | null {
  const empty = g.numa ? g.cells.filter((c) => c.memory === 0) : [];
  if (empty.length > 0) {
    return `libvirt gives every guest NUMA cell a memory backend and QEMU refuses one of size 0; guest node(s) ${empty.map((c) => c.id).join(',')} hold no memory (${empty.some((c) => c.vcpus.length === 0) ? 'a device\'s own node' : 'the vCPU node of a memory-tier VM'}): emit qemu or cloud-hypervisor instead`;
  }
  if (g.memory % MIB !== 0) return `libvirt aligns guest NUMA cells to whole MiB; ${g.memory} bytes is not a whole number of MiB`;
  return qemuLimit(g);
}

const MIB = 1024 * 1024;

/** The NUMA-related elements of a domain, ready to print or merge. */
export interface LibvirtParts {
  memory: XNode;
  currentMemory: XNode;
  vcpu: XNode;
  /** vcpupin and emulatorpin elements (empty without host binding). */
  cputune: XNode[];
  /** null without host binding. */
  numatune: XNode | null;
  /** The `<hugepages>` element, or null for regular pages. */
  hugepages: XNode | null;
  topology: XNode;
  /** `<numa>`, or null for a guest without vNUMA. */
  numa: XNode | null;
  /** Controllers for devices near guest nodes, numbered from `firstControllerIndex`. */
  controllers: XNode[];
  hostdevs: XNode[];
  /** `<iothreads>`, or null without I/O threads. */
  iothreads: XNode | null;
  /** The virtio disks and NICs of the I/O plan. */
  disks: XNode[];
  interfaces: XNode[];
  /** Machine type the devices need ("q35") or null. */
  needsMachine: string | null;
  /**
   * For a guest that needs x2APIC (more than 255 vCPUs, or APIC IDs above 254): `<ioapic
   * driver='qemu'/>` (QEMU's split irqchip) for `<features>` and an intel `<iommu>` with interrupt
   * remapping in extended mode for `<devices>`; null otherwise.
   */
  x2apic: { ioapic: XNode; iommu: XNode } | null;
}

/**
 * Builds the NUMA-related parts. `firstControllerIndex` is the first free PCI controller index.
 * `singleCell`: give a guest without vNUMA one `<cell>` all the same (memory hotplug needs cells).
 */
export function libvirtParts(g: Guest, options: EmitOptions = {}, firstControllerIndex = 1, singleCell = false, usedDiskTargets: ReadonlySet<string> = new Set()): LibvirtParts {
  const cells = g.numa || singleCell;
  const bind = options.hostBinding !== false;
  const kib = String(g.memory / 1024);
  const cputune: XNode[] = [];
  let numatune: XNode | null = null;
  if (bind) {
    g.pinSets.forEach((cpus, vcpu) => cputune.push(el('vcpupin', { vcpu, cpuset: formatCpuList(cpus) })));
    cputune.push(el('emulatorpin', { cpuset: formatCpuList(g.emulatorCpus) }));
    for (const t of g.io?.iothreads ?? []) cputune.push(el('iothreadpin', { iothread: t.id, cpuset: formatCpuList(t.cpus) }));
    const mode = LIBVIRT_MODE[g.memoryPolicy];
    const top = g.memoryPolicy === 'preferred' ? [g.cells.find((c) => c.memory > 0)?.hostNode ?? (g.memoryNodes[0] as number)] : g.memoryNodes;
    numatune = el('numatune', {}, [
      el('memory', { mode, nodeset: formatCpuList(top) }),
      ...(cells ? g.cells.filter((c) => c.memory > 0).map((c) => el('memnode', { cellid: c.id, mode, nodeset: g.numa ? String(c.hostNode) : formatCpuList(g.memoryNodes) })) : []),
    ]);
  }
  const hugepages =
    g.pageSize > 4096
      ? el('hugepages', {}, [el('page', { size: g.pageSize / 1024, unit: 'KiB', nodeset: cells ? formatCpuList(g.cells.map((c) => c.id)) : undefined })])
      : null;
  const t = g.topology;
  const topology = el('topology', { sockets: t.sockets, dies: t.dies, cores: t.cores, threads: t.threads });
  const numa = cells
    ? el(
        'numa',
        {},
        g.cells.map((c) =>
          el('cell', { id: c.id, cpus: c.vcpus.length > 0 ? formatCpuList(c.vcpus) : undefined, memory: c.memory / 1024, unit: 'KiB' }, [
            el(
              'distances',
              {},
              g.cells.map((o) => el('sibling', { id: o.id, value: g.distances[c.id]?.[o.id] ?? 10 })),
            ),
          ]),
        ),
      )
    : null;
  const controllers: XNode[] = [];
  const hostdevs: XNode[] = [];
  const busOfNode = new Map<number, number>();
  let index = firstControllerIndex;
  const ioNode = g.io && g.io.devices.length > 0 ? g.io.guestNode : null;
  for (const d of [...g.devices, ...(ioNode !== null ? [{ guestNode: ioNode }] : [])]) {
    if (d.guestNode === null || busOfNode.has(d.guestNode)) continue;
    busOfNode.set(d.guestNode, index);
    controllers.push(
      el('controller', { type: 'pci', index, model: 'pcie-expander-bus' }, [
        el('target', { busNr: 0x80 + 0x10 * busOfNode.size - 0x10 }, [el('node', {}, [String(d.guestNode)])]),
      ]),
    );
    index += 1;
  }
  for (const d of g.devices) {
    const [domain, bus, slotFn] = d.address.split(':') as [string, string, string];
    const [slot, fn] = slotFn.split('.') as [string, string];
    const source = el('source', {}, [el('address', { domain: `0x${domain}`, bus: `0x${bus}`, slot: `0x${slot}`, function: `0x${fn}` })]);
    // VFIO named explicitly: the only PCI assignment backend of current kernels and QEMU.
    const driver = el('driver', { name: 'vfio' });
    if (d.guestNode === null) {
      hostdevs.push(el('hostdev', { mode: 'subsystem', type: 'pci', managed: 'yes' }, [driver, source]));
      continue;
    }
    const pxb = busOfNode.get(d.guestNode) as number;
    const port = index++;
    controllers.push(
      el('controller', { type: 'pci', index: port, model: 'pcie-root-port' }, [
        el('address', { type: 'pci', domain: '0x0000', bus: hex(pxb), slot: '0x00', function: '0x0' }),
      ]),
    );
    hostdevs.push(
      el('hostdev', { mode: 'subsystem', type: 'pci', managed: 'yes' }, [
        driver,
        source,
        el('address', { type: 'pci', domain: '0x0000', bus: hex(port), slot: '0x00', function: '0x0' }),
      ]),
    );
  }
  // The virtio devices of the I/O plan, behind root ports of the I/O node's expander bus.
  const disks: XNode[] = [];
  const interfaces: XNode[] = [];
  const targets = diskTargets(g.io?.devices.filter((d) => d.kind === 'disk').length ?? 0, usedDiskTargets);
  for (const d of g.io?.devices ?? []) {
    let address: XNode | null = null;
    if (ioNode !== null) {
      const port = index++;
      controllers.push(
        el('controller', { type: 'pci', index: port, model: 'pcie-root-port' }, [
          el('address', { type: 'pci', domain: '0x0000', bus: hex(busOfNode.get(ioNode) as number), slot: '0x00', function: '0x0' }),
        ]),
      );
      address = el('address', { type: 'pci', domain: '0x0000', bus: hex(port), slot: '0x00', function: '0x0' });
    }
    const queues = d.queues ?? undefined;
    if (d.kind === 'disk') {
      disks.push(
        el('disk', { type: 'file', device: 'disk' }, [
          el('driver', { name: 'qemu', type: 'raw', queues, iothread: d.iothread ?? undefined }),
          el('source', { file: diskImage(options, 'libvirt', g.name, d.index) }),
          el('target', { dev: targets[d.index] as string, bus: 'virtio' }),
          address,
        ]),
      );
    } else {
      interfaces.push(
        el('interface', { type: 'network' }, [
          el('source', { network: 'default' }),
          el('model', { type: 'virtio' }),
          el('driver', { name: d.vhost ? 'vhost' : 'qemu', queues }),
          address,
        ]),
      );
    }
  }
  // Root ports sit in slot 0 of their expander bus; several ports on one bus need distinct slots.
  const slotsUsed = new Map<string, number>();
  for (const c of controllers) {
    const addr = c.children.find((x): x is XNode => typeof x !== 'string' && x.name === 'address');
    if (!addr) continue;
    const bus = addr.attrs.find(([k]) => k === 'bus')?.[1] as string;
    const n = slotsUsed.get(bus) ?? 0;
    slotsUsed.set(bus, n + 1);
    addr.attrs = addr.attrs.map(([k, v]) => (k === 'slot' ? [k, hex(n)] : [k, v]));
  }
  return {
    memory: el('memory', { unit: 'KiB' }, [kib]),
    currentMemory: el('currentMemory', { unit: 'KiB' }, [kib]),
    vcpu: el('vcpu', { placement: 'static' }, [String(g.vcpus)]),
    cputune,
    numatune,
    hugepages,
    topology,
    numa,
    controllers,
    hostdevs,
    iothreads: g.io && g.io.iothreads.length > 0 ? el('iothreads', {}, [String(g.io.iothreads.length)]) : null,
    disks,
    interfaces,
    needsMachine: controllers.length > 0 || needsX2apic(g) ? 'q35' : null,
    x2apic: needsX2apic(g) ? { ioapic: el('ioapic', { driver: 'qemu' }), iommu: el('iommu', { model: 'intel' }, [el('driver', { intremap: 'on', eim: 'on' })]) } : null,
  };
}

/** virtio disk target names (vda, vdb, ..., vdz, vdaa, ...), skipping those in use. */
function diskTargets(count: number, used: ReadonlySet<string>): string[] {
  const name = (i: number): string => `vd${diskLetters(i)}`;
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) if (!used.has(name(i))) out.push(name(i));
  return out;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, '0')}`;
}

/** A complete minimal domain: defines with `virsh define` as it is. */
export function emitLibvirtDomain(placement: PlacementLike, topology: Topology, options: EmitOptions = {}): string {
  const g = libvirtGuest(placement, topology);
  const p = libvirtParts(g, options);
  const cpu = el('cpu', { mode: 'host-passthrough', check: 'none' }, [p.topology, p.numa]);
  const domain = el('domain', { type: options.domainType ?? 'kvm' }, [
    el('name', {}, [g.name]),
    p.memory,
    p.currentMemory,
    p.hugepages ? el('memoryBacking', {}, [p.hugepages]) : null,
    p.vcpu,
    p.iothreads,
    p.cputune.length > 0 ? el('cputune', {}, p.cputune) : null,
    p.numatune,
    el('os', {}, [el('type', { arch: 'x86_64', machine: 'q35' }, ['hvm'])]),
    el('features', {}, [el('acpi'), el('apic'), p.x2apic?.ioapic ?? null]),
    cpu,
    el('on_poweroff', {}, ['destroy']),
    el('on_reboot', {}, ['restart']),
    el('on_crash', {}, ['destroy']),
    el('devices', {}, [el('emulator', {}, [options.emulator ?? '/usr/bin/qemu-system-x86_64']), ...p.disks, ...p.controllers, ...p.interfaces, ...p.hostdevs, p.x2apic?.iommu ?? null]),
  ]);
  return printXml(domain);
}

/**
 * Only the NUMA-related elements, for pasting into a domain: one well-formed document whose
 * `<domain>` root holds just those elements, at the paths they have in a domain.
 */
export function emitLibvirtFragment(placement: PlacementLike, topology: Topology, options: EmitOptions = {}): string {
  const g = libvirtGuest(placement, topology);
  const p = libvirtParts(g, options);
  const parts: XNode[] = [p.memory, p.currentMemory];
  if (p.hugepages) parts.push(el('memoryBacking', {}, [p.hugepages]));
  parts.push(p.vcpu);
  if (p.iothreads) parts.push(p.iothreads);
  if (p.cputune.length > 0) parts.push(el('cputune', {}, p.cputune));
  if (p.numatune) parts.push(p.numatune);
  if (p.x2apic) parts.push(el('features', {}, [p.x2apic.ioapic]));
  parts.push(el('cpu', {}, [p.topology, p.numa]));
  if (p.controllers.length + p.hostdevs.length + p.disks.length + p.interfaces.length > 0 || p.x2apic) {
    parts.push(el('devices', {}, [...p.disks, ...p.controllers, ...p.interfaces, ...p.hostdevs, p.x2apic?.iommu ?? null]));
  }
  return `<!-- numaplan: the NUMA-related elements of domain "${escapeXml(g.name).replace(/--/g, '- -')}"; paste them into its domain, or merge them with the domain option of numaplan emit -->\n${printXml(el('domain', {}, parts))}`;
}

/** The guest of a placement, refused (EmitError ERR_TARGET) when libvirt cannot express it. */
export function libvirtGuest(placement: PlacementLike, topology: Topology): Guest {
  const g = guestOf(placement, topology);
  const why = libvirtLimit(g);
  if (why) throw new EmitError('placement', why, 'ERR_TARGET');
  return g;
}
