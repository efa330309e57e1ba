/** Human text for placements and refusals: a short table, then the explanation. */
import { formatCpuList } from '../../core/topology/cpulist.js';
import { formatSize, pageSizeLabel } from '../../core/topology/sizes.js';
import type { HostState } from '../../core/placement/state.js';
import type { Placement, RefusalReason } from '../../core/placement/types.js';
import { table } from './table.js';

const bytesOr = (resource: string, n: number): string =>
  resource.includes('memory') || resource.startsWith('hugepages') ? formatSize(n) : `${n}`;

/** The reserve line shown in every view. */
export function renderReserve(state: HostState): string {
  const mem = state.reserve.memory.map((m) => `${formatSize(m.bytes)} on node ${m.node}`).join(', ') || 'no memory';
  return `host reserve: CPUs ${formatCpuList(state.reserve.cpus) || 'none'}, ${mem}`;
}

/** Placements as a table plus each one's explanation. */
export function renderPlacements(placements: readonly Placement[], state: HostState | null): string {
  const rows = placements.map((p) => [
    p.name,
    p.nodes.join(','),
    formatCpuList(p.cpus),
    Object.entries(p.memoryByNode)
      .map(([n, b]) => `${n}:${formatSize(b)}`)
      .join(' '),
    pageSizeLabel(p.pageSize),
    p.devices.map((d) => d.address).join(' ') || '-',
  ]);
  const out = [table(['vm', 'nodes', 'cpus', 'memory', 'pages', 'devices'], rows)];
  for (const p of placements) {
    const e = p.explanation;
    out.push('', `${e.summary}`, `  cpus (vCPU order): ${p.cpus.join(',')}`, `  smt: ${e.smt}`, `  pages: ${e.pageSize}`);
    if (p.vnuma) {
      out.push(
        `  vNUMA: ${p.vnuma.nodes.map((g) => `guest ${g.id} -> host ${g.hostNode} (${g.vcpus.length} vCPUs, ${formatSize(g.memory)})`).join('; ')}`,
      );
    }
    if (e.chosen.score.length > 0) {
      const terms = e.chosen.score.map((t) => `${t.name} ${round(t.value)}${t.weight !== 1 ? ` × ${t.weight}` : ''}`);
      out.push(`  score terms (value × weight): ${terms.join(', ')}`);
    }
    for (const a of e.alternatives) out.push(`  not nodes ${a.nodes.join(',')}: ${a.lostBecause}`);
    const c = e.cost;
    out.push(
      `  predicted: remote accesses ${(c.remoteAccessFraction * 100).toFixed(0)}%, latency x${c.relativeLatency} (~${c.expectedLatencyNs} ns)${c.vnumaAware && (c.vnumaAware.remoteAccessFraction !== c.remoteAccessFraction || c.vnumaAware.relativeLatency !== c.relativeLatency) ? ` for a NUMA-unaware guest; ${(c.vnumaAware.remoteAccessFraction * 100).toFixed(0)}%, x${c.vnumaAware.relativeLatency} (~${c.vnumaAware.expectedLatencyNs} ns) for one using its vNUMA` : ''}, TLB reach ${formatSize(c.tlbReachBytes)}, ${c.translationEntries.chosen} translation entries to pin`,
    );
    if (c.calibration) out.push(`  latency source: ${c.calibration.label} (not SLIT ratios)`);
    for (const n of e.notes) out.push(n.startsWith('I/O: ') ? `  io: ${n.slice(5)}` : `  note: ${n}`);
  }
  if (state) out.push('', renderReserve(state));
  return `${out.join('\n')}\n`;
}

/** A refusal: reasons table and hints. */
export function renderRefusal(name: string, reasons: readonly RefusalReason[], hints: readonly string[]): string {
  // A target that cannot express the placement is not a shortage: say why in words.
  const target = reasons.find((r) => r.resource.startsWith('target:'));
  if (target) {
    const out = [`${name}: fits, but ${target.resource.slice('target:'.length)} cannot express it: ${target.detail}`];
    if (hints.length > 0) out.push(...hints.map((h) => `  - ${h}`));
    return `${out.join('\n')}\n`;
  }
  const rows = reasons.map((r) => [
    r.node === null ? (r.nodes ? r.nodes.join(',') : 'host') : `${r.node}`,
    r.resource,
    bytesOr(r.resource, r.need),
    bytesOr(r.resource, r.have),
    bytesOr(r.resource, Math.max(0, r.need - r.have)),
  ]);
  const out = [`${name}: does not fit`, table(['node', 'resource', 'need', 'have', 'short'], rows)];
  // Pairs say which GPUs lack a partner: worth the words.
  const pairs = [...new Set(reasons.filter((r) => r.resource.startsWith('device-pairs:')).map((r) => r.detail))];
  if (pairs.length > 0) out.push('', ...pairs.map((d) => `${d}`));
  if (hints.length > 0) out.push('', 'would fit with:', ...hints.map((h) => `  - ${h}`));
  return `${out.join('\n')}\n`;
}

/** Four significant digits are plenty for a score shown to a person. */
function round(v: number): string {
  return Number.isInteger(v) ? `${v}` : `${Number(v.toPrecision(4))}`;
}
