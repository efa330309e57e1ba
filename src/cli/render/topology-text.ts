/**
 * The operator's at-a-glance view of a host: per node its CPUs, memory, huge pages and devices; the
 * distance matrix; a summary line; then any warnings.
 */
import { formatCpuList } from '../../core/topology/cpulist.js';
import type { PciDevice, Topology } from '../../core/topology/model.js';
import { formatSize, pageSizeLabel } from '../../core/topology/sizes.js';
import { summarize } from '../../core/topology/view.js';
import { table } from './table.js';

/** Renders the full text view. */
export function renderTopologyText(topo: Topology): string {
  const out: string[] = [];
  const s = summarize(topo);
  out.push(`Host ${topo.hostname ?? '(unnamed)'}  source ${topo.source}`);
  out.push('');
  const devicesByNode = new Map<number | null, PciDevice[]>();
  for (const d of topo.pciDevices) {
    if (d.physfn !== null) continue; // VFs are shown under their PF
    const key = d.node ?? d.inferredNode;
    const list = devicesByNode.get(key) ?? [];
    list.push(d);
    devicesByNode.set(key, list);
  }
  const rows: string[][] = topo.nodes.map((n) => {
    const usable = topo.pus.filter((p) => p.node === n.id && p.online && p.allowed).map((p) => p.os);
    const coresOnNode = topo.cores.filter((c) => c.node === n.id).length;
    const pages = n.hugePages
      .filter((p) => p.total > 0)
      .map((p) => `${pageSizeLabel(p.pageSize)}:${p.free}/${p.total}`)
      .join(' ');
    const devs = deviceSummary(devicesByNode.get(n.id) ?? []);
    const flags = [n.kind === 'cpu-memory' ? '' : n.kind, n.tier === 'dram' ? '' : n.tier, n.allowed ? '' : 'disallowed']
      .filter(Boolean)
      .join(',');
    return [
      `${n.id}`,
      usable.length === 0 ? '-' : formatCpuList(usable),
      `${coresOnNode}/${usable.length}`,
      `${formatSize(n.memory.free)} / ${formatSize(n.memory.total)}`,
      pages || '-',
      devs || '-',
      flags || '-',
    ];
  });
  out.push(table(['node', 'cpus', 'cores/pus', 'memory free/total', 'huge pages free/total', 'devices', 'notes'], rows));
  const unplaced = devicesByNode.get(null) ?? [];
  if (unplaced.length > 0) out.push(`devices with unknown node: ${deviceSummary(unplaced)}`);
  if (topo.nodes.length > 1) {
    out.push('');
    out.push('distances');
    const header = ['', ...topo.nodes.map((n) => `${n.id}`)];
    out.push(table(header, topo.nodes.map((n, i) => [`${n.id}`, ...(topo.distances[i] ?? []).map(String)]), { align: 'right' }));
  }
  out.push('');
  const pools = s.hugePages
    .filter((p) => p.total > 0)
    .map((p) => `${pageSizeLabel(p.pageSize)} ${p.free}/${p.total} free`)
    .join(', ');
  const extra = [
    s.offlinePus ? `${s.offlinePus} offline PUs` : '',
    s.disallowedPus ? `${s.disallowedPus} disallowed PUs` : '',
    s.disallowedNodes ? `${s.disallowedNodes} disallowed nodes` : '',
    s.cpuLessNodes ? `${s.cpuLessNodes} CPU-less nodes` : '',
    s.memoryLessNodes ? `${s.memoryLessNodes} memory-less nodes` : '',
  ].filter(Boolean);
  out.push(
    `${plural(s.packages, 'package')}, ${plural(s.nodes, 'NUMA node')}, ${plural(s.cores, 'core')}, ` +
      `${plural(s.pus, 'PU')} (SMT ${s.smt}), ${formatSize(s.memoryBytes)} memory, ${plural(s.pciDevices, 'PCI device')}` +
      (pools ? `; huge pages ${pools}` : '') +
      (extra.length ? `; ${extra.join(', ')}` : ''),
  );
  const warnings = topo.warnings.filter((w) => w.level !== 'note');
  const notes = topo.warnings.filter((w) => w.level === 'note');
  if (warnings.length > 0) {
    out.push('');
    out.push(`${warnings.length} warning(s):`);
    for (const w of warnings) out.push(`  ${w.path}: ${w.message}`);
  }
  if (notes.length > 0) {
    out.push('');
    out.push(`${notes.length} note(s) on what the source cannot say:`);
    for (const w of notes) out.push(`  ${w.path}: ${w.message}`);
  }
  return `${out.join('\n')}\n`;
}

/** Classes worth naming one by one in the at-a-glance view; the rest are counted. */
const NAMED_CLASSES = new Set(['nic', 'rdma', 'gpu', 'nvme', 'accelerator']);

function deviceSummary(devices: readonly PciDevice[]): string {
  const named = devices.filter((d) => NAMED_CLASSES.has(d.class));
  const others = devices.length - named.length;
  const parts = named.map(deviceLabel);
  if (others > 0) parts.push(`${others} other`);
  return parts.join(', ');
}

/** "1 package", "2 packages". */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function deviceLabel(d: PciDevice): string {
  const names = [...d.rdmaDevices, ...d.netDevices];
  const vfs = d.sriov && d.sriov.numVfs > 0 ? ` ${d.sriov.numVfs} VFs` : d.sriov ? ` 0/${d.sriov.totalVfs} VFs` : '';
  return `${d.class} ${d.address}${names.length ? ` (${names.join(',')})` : ''}${vfs}`;
}
