/**
 * The host drawn as its topology, as one SVG string: packages containing their NUMA nodes, each node
 * with its memory bar, huge-page pools, cores (one box per core, one cell per PU) and the PCI devices
 * attached to it (SR-IOV VFs as chips under their physical function). Memory-only nodes (HBM, CXL,
 * GPU memory) get a row of their own; empty nodes are counted, not drawn.
 *
 * Each PU cell is coloured by the VM holding it (`vmColors`), hatched grey for the host reserve,
 * white when free, light grey when offline or outside the cpuset. Cells and device chips carry
 * `data-cpu` / `data-device` and `data-vm` attributes and a `<title>` tooltip; the page uses them for
 * clicks. Pure: same host and options, same string.
 */
import type { NumaNode, PciDevice, Topology } from '../../core/topology/model.js';
import { esc } from './escape.js';
import { formatBytes, pageLabel } from './format.js';
import { type CpuUse, type HostView, type Occupancy, occupancy } from './host-view.js';

/** Drawing options. */
export interface HostSvgOptions {
  /** VM colours (from `vmColors`). */
  colors: ReadonlyMap<string, string>;
  /** VM to highlight (its PUs, memory and devices get a dark outline). */
  selected?: string | null;
  /** Widest the drawing may get, in px (default 1180). */
  maxWidth?: number;
}

/** PU cell size by host size: bigger cells for small hosts, so a 2-socket box is readable. */
function puSize(pus: number): number {
  return pus <= 64 ? 22 : pus <= 160 ? 18 : 16;
}
const PU_GAP = 2;
const CORE_PAD = 2;
const CORE_GAP = 3;
const NODE_PAD = 8;
const NODE_MIN_INNER = 340;
const NODE_MAX_INNER = 520;
const NODE_GAP = 10;
const PKG_PAD = 8;
const PKG_HEAD = 20;
const GAP = 14;
const LINE = 16;
const FREE_FILL = '#ffffff';
const OFF_FILL = '#e5e7eb';
const CLASS_LABEL: Record<PciDevice['class'], string> = {
  nic: 'NIC', rdma: 'RDMA', gpu: 'GPU', nvme: 'NVMe', accelerator: 'ACC', storage: 'DISK', bridge: 'BRIDGE', other: 'PCI',
};

interface Box {
  w: number;
  h: number;
  /** Renders at (x, y). */
  draw(x: number, y: number): string;
}

function flow(items: Box[], maxInner: number, gap: number): { w: number; h: number; place: { item: Box; x: number; y: number }[] } {
  const place: { item: Box; x: number; y: number }[] = [];
  let x = 0;
  let y = 0;
  let rowH = 0;
  let w = 0;
  for (const item of items) {
    if (x > 0 && x + item.w > maxInner) {
      y += rowH + gap;
      x = 0;
      rowH = 0;
    }
    place.push({ item, x, y });
    x += item.w + gap;
    rowH = Math.max(rowH, item.h);
    w = Math.max(w, x - gap);
  }
  return { w, h: items.length ? y + rowH : 0, place };
}

function truncate(text: string, chars: number): string {
  return text.length <= chars ? text : `${text.slice(0, Math.max(1, chars - 1))}…`;
}

class Drawer {
  private readonly occ: Occupancy;
  private readonly t: Topology;
  private readonly selected: string | null;
  private readonly deviceByAddress: Map<string, PciDevice>;
  private readonly pu: number;

  constructor(
    private readonly host: HostView,
    private readonly colors: ReadonlyMap<string, string>,
    selected: string | null,
  ) {
    this.t = host.topology;
    this.occ = occupancy(host);
    this.selected = selected;
    this.deviceByAddress = new Map(this.t.pciDevices.map((d) => [d.address, d]));
    this.pu = puSize(this.t.pus.length);
  }

  color(vm: string): string {
    return this.colors.get(vm) ?? '#64748b';
  }

  puCell(use: CpuUse | undefined, cpu: number, x: number, y: number, where: string): string {
    let fill = FREE_FILL;
    let text = '#334155';
    let opacity = 1;
    let vm: string | null = null;
    let what = 'free';
    let cls = 'pu';
    if (!use || !use.usable) {
      fill = OFF_FILL;
      text = '#94a3b8';
      what = use ? 'offline or outside the cpuset' : 'unknown';
      cls += ' off';
    } else if (use.holders.length > 0) {
      const h = use.holders[0] as CpuUse['holders'][number];
      vm = h.vm;
      fill = this.color(h.vm);
      text = '#ffffff';
      opacity = h.role === 'held' ? 0.4 : h.role === 'emulator' ? 0.7 : 1;
      what = use.holders
        .map((x) => `${x.vm}: ${x.role === 'vcpu' ? `vCPU ${x.vcpus.join(',')}` : x.role === 'held' ? 'held idle' : 'emulator'}${x.exclusive ? '' : ' (shared)'}${x.status === 'claimed' ? ' (claimed)' : ''}`)
        .join('; ');
      cls += ' vm';
      if (this.selected !== null && use.holders.some((x) => x.vm === this.selected)) cls += ' sel';
    } else if (use.reserved) {
      fill = 'url(#np-reserved)';
      what = 'host reserve';
      cls += ' reserved';
    }
    const sel = cls.includes(' sel');
    const PU = this.pu;
    const font = PU >= 22 ? (cpu > 99 ? 9 : 10) : cpu > 99 ? 7 : 8;
    const stroke = sel ? '#0f172a' : '#94a3b8';
    const attrs = `class="${cls}" data-cpu="${cpu}"${vm === null ? '' : ` data-vm="${esc(vm)}"`}`;
    return (
      `<g ${attrs}><title>${esc(`CPU ${cpu} (${where}): ${what}`)}</title>` +
      `<rect x="${x}" y="${y}" width="${PU}" height="${PU}" rx="2" fill="${fill}" fill-opacity="${opacity}" stroke="${stroke}" stroke-width="${sel ? 2 : 1}"/>` +
      `<text x="${x + PU / 2}" y="${y + PU / 2 + font / 2 - 1}" text-anchor="middle" font-size="${font}" fill="${opacity < 1 ? '#0f172a' : text}">${cpu}</text></g>`
    );
  }

  coreBox(pus: number[], label: string): Box {
    const PU = this.pu;
    const w = CORE_PAD * 2 + pus.length * (PU + PU_GAP) - PU_GAP;
    const h = PU + CORE_PAD * 2;
    return {
      w,
      h,
      draw: (x, y) =>
        `<rect class="core" x="${x}" y="${y}" width="${w}" height="${h}" rx="3" fill="#f1f5f9" stroke="#cbd5e1"/>` +
        pus.map((cpu, i) => this.puCell(this.occ.cpus.get(cpu), cpu, x + CORE_PAD + i * (PU + PU_GAP), y + CORE_PAD, label)).join(''),
    };
  }

  /** Memory bar and page-pool line of a node, `inner` px wide. */
  memory(node: NumaNode, x: number, y: number, inner: number): string {
    const use = this.occ.nodes.get(node.id);
    if (!use || use.total <= 0) {
      return `<text x="${x}" y="${y + 10}" class="muted" font-size="11">no memory</text>`;
    }
    const parts: string[] = [];
    let cx = x;
    const seg = (bytes: number, fill: string, title: string, cls: string): void => {
      const w = Math.max(bytes > 0 ? 1 : 0, (bytes / use.total) * inner);
      if (w <= 0) return;
      parts.push(`<rect class="${cls}" x="${cx.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="8" fill="${fill}"><title>${esc(title)}</title></rect>`);
      cx += w;
    };
    seg(use.reserved, 'url(#np-reserved)', `host reserve: ${formatBytes(use.reserved)}`, 'mem reserved');
    let used = use.reserved;
    for (const [vm, bytes] of [...use.byVm].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      seg(bytes, this.color(vm), `${vm}: ${formatBytes(bytes)}`, `mem vm${vm === this.selected ? ' sel' : ''}`);
      used += bytes;
    }
    const free = Math.max(0, use.total - used);
    const pools = use.pages
      .filter((p) => p.total > 0)
      .map((p) => `${pageLabel(p.pageSize)} pages ${p.total - p.used}/${p.total} free`)
      .join(' · ');
    return (
      `<rect x="${x}" y="${y}" width="${inner}" height="8" fill="#e2e8f0" rx="1"/>` +
      parts.join('') +
      `<rect x="${x}" y="${y}" width="${inner}" height="8" fill="none" stroke="#94a3b8" rx="1"/>` +
      `<text x="${x}" y="${y + 21}" font-size="11" fill="#334155">${esc(`${formatBytes(use.total)} memory · ${formatBytes(free)} free`)}</text>` +
      (pools ? `<text x="${x}" y="${y + 35}" font-size="11" fill="#64748b">${esc(pools)}</text>` : '')
    );
  }

  /** Device lines of a node (PFs; VFs as chips). */
  devices(list: PciDevice[], x: number, y: number, inner: number): { svg: string; h: number } {
    let svg = '';
    let cy = y;
    for (const d of list) {
      const holder = this.occ.devices.get(d.address) ?? null;
      const label = CLASS_LABEL[d.class];
      const badgeFill = holder ? this.color(holder) : '#e2e8f0';
      const sel = holder !== null && holder === this.selected;
      const ifaces = [...d.rdmaDevices, ...d.netDevices].join(' ');
      const text = `${d.address} ${d.name ?? ''}${ifaces ? ` (${ifaces})` : ''}`;
      svg +=
        `<g class="device" data-device="${esc(d.address)}"${holder ? ` data-vm="${esc(holder)}"` : ''}>` +
        `<title>${esc(`${label} ${d.address}${d.name ? ` ${d.name}` : ''}: ${holder ? `held by ${holder}` : 'free'}`)}</title>` +
        `<rect x="${x}" y="${cy}" width="44" height="13" rx="2" fill="${badgeFill}" stroke="${sel ? '#0f172a' : '#94a3b8'}" stroke-width="${sel ? 2 : 1}"/>` +
        `<text x="${x + 22}" y="${cy + 10}" text-anchor="middle" font-size="9" font-weight="600" fill="${holder ? '#fff' : '#334155'}">${label}</text>` +
        `<text x="${x + 50}" y="${cy + 10}" font-size="10.5" fill="#334155">${esc(truncate(text, Math.floor((inner - 50) / 5.6)))}</text></g>`;
      cy += LINE;
      const vfs = this.vfsOf(d);
      if (vfs.length > 0) {
        svg += `<text x="${x + 6}" y="${cy + 9}" font-size="10" fill="#64748b">VFs</text>`;
        const perRow = Math.max(1, Math.floor((inner - 30) / 13));
        vfs.forEach((vf, i) => {
          const vx = x + 30 + (i % perRow) * 13;
          const vy = cy + Math.floor(i / perRow) * 13;
          const h = this.occ.devices.get(vf) ?? null;
          const s = h !== null && h === this.selected;
          svg +=
            `<g class="device vf" data-device="${esc(vf)}"${h ? ` data-vm="${esc(h)}"` : ''}><title>${esc(`VF ${vf}: ${h ? `held by ${h}` : 'free'}`)}</title>` +
            `<rect x="${vx}" y="${vy}" width="10" height="10" rx="2" fill="${h ? this.color(h) : FREE_FILL}" stroke="${s ? '#0f172a' : '#94a3b8'}" stroke-width="${s ? 2 : 1}"/></g>`;
        });
        cy += Math.ceil(vfs.length / perRow) * 13 + 3;
      }
    }
    return { svg, h: cy - y };
  }

  vfsOf(pf: PciDevice): string[] {
    const listed = this.t.pciDevices.filter((d) => d.physfn === pf.address).map((d) => d.address);
    const announced = pf.sriov?.vfs ?? [];
    return [...new Set([...listed, ...announced])].sort();
  }

  /** Node a device belongs to: reported, else inferred, else its PF's. */
  deviceNode(d: PciDevice): number | null {
    const own = d.node ?? d.inferredNode;
    if (own !== null) return own;
    const pf = d.physfn ? this.deviceByAddress.get(d.physfn) : undefined;
    return pf ? (pf.node ?? pf.inferredNode) : null;
  }

  /** Physical functions (and VFs whose PF is not listed) to draw under `node`. */
  devicesOn(node: number | null): PciDevice[] {
    return this.t.pciDevices.filter(
      (d) => d.class !== 'bridge' && (d.physfn === null || !this.deviceByAddress.has(d.physfn)) && this.deviceNode(d) === node,
    );
  }

  nodeBox(node: NumaNode | null, cores: { pus: number[]; label: string }[], pkg: number | null): Box {
    const boxes = cores.map((c) => this.coreBox(c.pus, c.label));
    const coreW = boxes.reduce((m, b) => Math.max(m, b.w), 0);
    const want = Math.ceil(Math.sqrt(Math.max(1, boxes.length) * 2)) * (coreW + CORE_GAP);
    const inner = Math.min(NODE_MAX_INNER, Math.max(NODE_MIN_INNER, want));
    const grid = flow(boxes, inner, CORE_GAP);
    const devs = node || pkg === null ? this.devicesOn(node ? node.id : null) : [];
    // Devices measured at a dummy origin for their height; drawn for real below.
    const devH = devs.length ? this.devices(devs, 0, 0, inner).h + 4 : 0;
    const pools = node ? node.hugePages.some((h) => h.total > 0) : false;
    const head = node ? (pools ? 68 : 54) : 22;
    const w = inner + NODE_PAD * 2;
    const h = NODE_PAD + head + grid.h + (grid.h ? 6 : 0) + devH + NODE_PAD - 4;
    const title = node
      ? `Node ${node.id}${node.tier !== 'dram' ? ` (${node.tier.toUpperCase()})` : ''} · ${node.cpus.length} PUs`
      : cores.length === 0
        ? 'Devices without a NUMA node'
        : `CPUs without a NUMA node${pkg === null ? '' : ` (package ${pkg})`}`;
    return {
      w,
      h,
      draw: (x, y) => {
        const ix = x + NODE_PAD;
        let s = `<g class="node" data-node="${node ? node.id : ''}"><rect x="${x}" y="${y}" width="${w}" height="${h}" rx="6" fill="#ffffff" stroke="#64748b"/>`;
        s += `<text x="${ix}" y="${y + NODE_PAD + 11}" font-size="13" font-weight="600" fill="#0f172a">${esc(title)}</text>`;
        if (node) s += this.memory(node, ix, y + NODE_PAD + 20, inner);
        const gy = y + NODE_PAD + head;
        for (const p of grid.place) s += p.item.draw(ix + p.x, gy + p.y);
        if (devs.length) s += this.devices(devs, ix, gy + grid.h + (grid.h ? 6 : 0), inner).svg;
        return `${s}</g>`;
      },
    };
  }

  packageBox(pkg: { id: number; model: string | null }, nodes: Box[], maxInner: number): Box {
    const inner = flow(nodes, maxInner, NODE_GAP);
    const title = `Package ${pkg.id}${pkg.model ? ` · ${pkg.model}` : ''}`;
    const w = Math.max(inner.w, 200) + PKG_PAD * 2;
    const h = PKG_HEAD + inner.h + PKG_PAD * 2;
    return {
      w,
      h,
      draw: (x, y) => {
        let s = `<g class="package" data-package="${pkg.id}"><rect x="${x}" y="${y}" width="${w}" height="${h}" rx="8" fill="#f8fafc" stroke="#334155" stroke-width="1.5"/>`;
        s += `<text x="${x + PKG_PAD}" y="${y + PKG_PAD + 12}" font-size="13" font-weight="700" fill="#0f172a">${esc(truncate(title, Math.floor((w - 16) / 7.6)))}</text>`;
        for (const p of inner.place) s += p.item.draw(x + PKG_PAD + p.x, y + PKG_PAD + PKG_HEAD + p.y);
        return `${s}</g>`;
      },
    };
  }

  draw(maxWidth: number): string {
    const t = this.t;
    const nodeById = new Map(t.nodes.map((n) => [n.id, n]));
    const boxes: Box[] = [];
    const pkgInner = maxWidth - PKG_PAD * 2;
    for (const pkg of t.packages) {
      const byNode = new Map<number | null, { pus: number[]; label: string }[]>();
      for (const c of t.cores) {
        if (c.package !== pkg.id) continue;
        const list = byNode.get(c.node) ?? [];
        list.push({ pus: c.pus, label: `core ${c.coreId}, package ${pkg.id}${c.node === null ? '' : `, node ${c.node}`}` });
        byNode.set(c.node, list);
      }
      const keys = [...byNode.keys()].sort((a, b) => (a ?? Infinity) - (b ?? Infinity));
      const nodes = keys.map((k) => this.nodeBox(k === null ? null : (nodeById.get(k) ?? null), byNode.get(k) ?? [], pkg.id));
      boxes.push(this.packageBox(pkg, nodes, pkgInner));
    }
    const cpuNodes = new Set(t.cores.map((c) => c.node));
    const hasDevices = (id: number): boolean => this.devicesOn(id).length > 0;
    const memOnly = t.nodes.filter((n) => !cpuNodes.has(n.id) && (n.memory.total > 0 || hasDevices(n.id)));
    const empty = t.nodes.filter((n) => !cpuNodes.has(n.id) && n.memory.total <= 0 && !hasDevices(n.id)).length;
    if (memOnly.length > 0) {
      const nodes = memOnly.map((n) => this.nodeBox(n, [], null));
      const inner = flow(nodes, pkgInner, NODE_GAP);
      const w = Math.max(inner.w, 200) + PKG_PAD * 2;
      const h = PKG_HEAD + inner.h + PKG_PAD * 2;
      boxes.push({
        w,
        h,
        draw: (x, y) => {
          let s = `<g class="memory-only"><rect x="${x}" y="${y}" width="${w}" height="${h}" rx="8" fill="#fdf8f0" stroke="#92400e" stroke-dasharray="4 3"/>`;
          s += `<text x="${x + PKG_PAD}" y="${y + PKG_PAD + 12}" font-size="13" font-weight="700" fill="#0f172a">Nodes without CPUs</text>`;
          for (const p of inner.place) s += p.item.draw(x + PKG_PAD + p.x, y + PKG_PAD + PKG_HEAD + p.y);
          return `${s}</g>`;
        },
      });
    }
    const loose = this.devicesOn(null);
    if (loose.length > 0) boxes.push(this.nodeBox(null, [], null));
    const all = flow(boxes, maxWidth, GAP);
    const footH = empty > 0 ? 18 : 0;
    const W = Math.max(all.w, 320);
    const H = all.h + footH + 2;
    const usable = t.pus.filter((p) => p.online && p.allowed).length;
    let vmPus = 0;
    let reserved = 0;
    for (const u of this.occ.cpus.values()) {
      if (u.holders.length) vmPus += 1;
      else if (u.reserved && u.usable) reserved += 1;
    }
    const desc = `${t.packages.length} packages, ${t.nodes.length} NUMA nodes, ${t.cores.length} cores, ${t.pus.length} PUs (${usable} usable); ${this.host.allocations.length} VMs hold ${vmPus} PUs; ${reserved} PUs reserved for the host; ${t.pciDevices.length} PCI devices`;
    let s = `<svg xmlns="http://www.w3.org/2000/svg" class="host-svg" role="img" aria-labelledby="np-host-title np-host-desc" width="${W + 2}" height="${H}" viewBox="-1 -1 ${W + 2} ${H}" font-family="system-ui, sans-serif">`;
    s += `<title id="np-host-title">${esc(`Topology of ${this.host.name}`)}</title><desc id="np-host-desc">${esc(desc)}</desc>`;
    s += `<defs><pattern id="np-reserved" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="4" height="4" fill="#cbd5e1"/><rect width="2" height="4" fill="#94a3b8"/></pattern></defs>`;
    for (const p of all.place) s += p.item.draw(p.x, p.y);
    if (empty > 0) s += `<text x="0" y="${all.h + 14}" font-size="11" fill="#64748b">${empty} empty NUMA node${empty === 1 ? '' : 's'} (no CPUs, no memory) not drawn</text>`;
    return `${s}</svg>`;
  }
}

/** Draws a host's topology and occupancy as an SVG string. */
export function drawHost(host: HostView, options: HostSvgOptions): string {
  return new Drawer(host, options.colors, options.selected ?? null).draw(options.maxWidth ?? 1180);
}
