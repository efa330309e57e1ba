/**
 * A rebalancing plan (`numaplan.plan/v1`, from `POST /api/v1/hosts/{host}/rebalance`) drawn as
 * arrows between the host's NUMA nodes, with the steps listed beside it.
 *
 * The nodes sit on a circle (node order clockwise from the top). Each memory transfer of a move is
 * an arrow from the node the memory leaves to the node it goes to, in the VM's colour, as thick as
 * its share of the plan's largest transfer, bent to one side so that opposite transfers between two
 * nodes never lie on each other; a numbered dot on it names the step. A VM whose vCPUs change nodes
 * without moving memory gets dashed arrows from each node it leaves to each node it gains; a re-pin
 * within the same nodes is a dashed ring on the node. Every arrow has a <title> (the step, the VM,
 * the nodes and the bytes), and the list below says the same in words, so colour is never the only
 * carrier of meaning. Types only come from core (erased at compile time): this runs in the browser.
 */
import type { Plan } from '../../core/rebalance/plan.js';
import type { Topology } from '../../core/topology/model.js';
import { esc } from './escape.js';
import { formatBytes } from './format.js';

/** Drawing options. */
export interface PlanDrawOptions {
  /** VM name -> colour (the host drawing's, so a VM keeps its colour). */
  colors: ReadonlyMap<string, string>;
  /** Width and height of the drawing in px. Default 420. */
  size?: number;
}

const NODE_W = 64;
const NODE_H = 30;
const FALLBACK = '#475569';
/** Length of an arrowhead (px): the curve stops that far short of the node, the head fills the rest. */
const HEAD = 14;

interface Point {
  x: number;
  y: number;
}

/** Where node i of n sits. */
function nodePoint(i: number, n: number, size: number): Point {
  const c = size / 2;
  if (n === 1) return { x: c, y: c };
  const r = c - NODE_W / 2 - 14;
  const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
  return { x: c + r * Math.cos(a), y: c + r * Math.sin(a) };
}

const fx = (v: number): string => (Math.round(v * 10) / 10).toString();

/** The point where the segment from the box's centre towards `to` leaves the node box. */
function boxEdge(center: Point, to: Point): Point {
  const dx = to.x - center.x;
  const dy = to.y - center.y;
  if (dx === 0 && dy === 0) return center;
  const s = Math.min(Math.abs(dx) > 0 ? NODE_W / 2 / Math.abs(dx) : Infinity, Math.abs(dy) > 0 ? NODE_H / 2 / Math.abs(dy) : Infinity);
  return { x: center.x + dx * s, y: center.y + dy * s };
}

/** One arrow: a quadratic curve from a to b bent to its left by `bend` px; its midpoint for the step label. */
function curve(a: Point, b: Point, bend: number): { d: string; mid: Point } {
  const mx = (a.x + b.x) / 2;
  const my = (a.y + b.y) / 2;
  const len = Math.hypot(b.x - a.x, b.y - a.y) || 1;
  // Left of the direction a -> b (screen coordinates): opposite directions bend to opposite sides.
  const nx = (b.y - a.y) / len;
  const ny = -(b.x - a.x) / len;
  const ctrl = { x: mx + nx * bend, y: my + ny * bend };
  const start = boxEdge(a, ctrl);
  const edge = boxEdge(b, ctrl);
  const back = Math.hypot(edge.x - ctrl.x, edge.y - ctrl.y) || 1;
  const end = { x: edge.x - ((edge.x - ctrl.x) / back) * HEAD, y: edge.y - ((edge.y - ctrl.y) / back) * HEAD };
  const mid = { x: 0.25 * start.x + 0.5 * ctrl.x + 0.25 * end.x, y: 0.25 * start.y + 0.5 * ctrl.y + 0.25 * end.y };
  return { d: `M${fx(start.x)} ${fx(start.y)} Q${fx(ctrl.x)} ${fx(ctrl.y)} ${fx(end.x)} ${fx(end.y)}`, mid };
}

/** An arrow of the drawing, before it is written out. */
interface Arrow {
  step: number;
  vm: string;
  from: number;
  to: number;
  bytes: number;
  kind: 'memory' | 'vcpus';
  title: string;
}

/** The arrows of a plan: memory transfers, and vCPU moves of VMs whose memory stays. */
export function planArrows(plan: Plan): { arrows: Arrow[]; rings: { step: number; vm: string; node: number; title: string }[] } {
  const arrows: Arrow[] = [];
  const rings: { step: number; vm: string; node: number; title: string }[] = [];
  for (const m of plan.moves) {
    for (const v of m.vms) {
      for (const t of v.memory) {
        arrows.push({ step: m.step, vm: v.vm, from: t.from, to: t.to, bytes: t.bytes, kind: 'memory', title: `step ${m.step} (${m.kind}): ${v.vm}, ${formatBytes(t.bytes)} of memory from node ${t.from} to node ${t.to}` });
      }
      if (v.memory.length > 0) continue;
      const left = v.before.nodes.filter((n) => !v.after.nodes.includes(n));
      const gained = v.after.nodes.filter((n) => !v.before.nodes.includes(n));
      if (left.length > 0 && gained.length > 0) {
        for (const from of left) for (const to of gained) arrows.push({ step: m.step, vm: v.vm, from, to, bytes: 0, kind: 'vcpus', title: `step ${m.step} (${m.kind}): ${v.vm}'s vCPUs from node ${from} to node ${to}` });
      } else {
        for (const node of v.after.nodes) rings.push({ step: m.step, vm: v.vm, node, title: `step ${m.step} (${m.kind}): ${v.vm}: ${v.repins.length} vCPU(s) re-pinned within node ${node}` });
      }
    }
  }
  return { arrows, rings };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

/** The plan as an SVG of arrows between nodes and an ordered list of its steps (HTML). */
export function drawPlan(plan: Plan, topology: Topology, options: PlanDrawOptions): string {
  const size = options.size ?? 420;
  const ids = topology.nodes.map((n) => n.id);
  const at = new Map(ids.map((id, i) => [id, nodePoint(i, ids.length, size)]));
  const color = (vm: string): string => options.colors.get(vm) ?? FALLBACK;
  const { arrows, rings } = planArrows(plan);
  const maxBytes = Math.max(1, ...arrows.map((a) => a.bytes));
  const used = [...new Set(arrows.map((a) => color(a.vm)))];
  const markerId = (c: string): string => `plan-head-${used.indexOf(c)}`;
  const defs = used
    .map((c) => `<marker id="${markerId(c)}" viewBox="0 0 10 10" refX="0" refY="5" markerUnits="userSpaceOnUse" markerWidth="${HEAD}" markerHeight="${HEAD}" orient="auto"><path d="M0 0L10 5L0 10z" fill="${esc(c)}"/></marker>`)
    .join('');
  const parts: string[] = [];
  // Arrows between the same two nodes fan out: each further one bends more.
  const seen = new Map<string, number>();
  const labels: string[] = [];
  for (const a of arrows) {
    const p = at.get(a.from);
    const q = at.get(a.to);
    if (!p || !q) continue;
    const key = `${a.from}>${a.to}`;
    const k = seen.get(key) ?? 0;
    seen.set(key, k + 1);
    const { d, mid } = curve(p, q, 28 + 18 * k);
    const width = a.kind === 'memory' ? 2 + (5 * a.bytes) / maxBytes : 2;
    const c = color(a.vm);
    parts.push(
      `<path class="plan-arrow ${a.kind}" d="${d}" fill="none" stroke="${esc(c)}" stroke-width="${fx(width)}"${a.kind === 'vcpus' ? ' stroke-dasharray="6 4"' : ''} ` +
        `marker-end="url(#${markerId(c)})" data-step="${a.step}" data-vm="${esc(a.vm)}" data-from="${a.from}" data-to="${a.to}" data-bytes="${a.bytes}"><title>${esc(a.title)}</title></path>`,
    );
    labels.push(
      `<g class="plan-step-label"><circle cx="${fx(mid.x)}" cy="${fx(mid.y)}" r="9" fill="#ffffff" stroke="${esc(c)}" stroke-width="1.5"/>` +
        `<text x="${fx(mid.x)}" y="${fx(mid.y + 4)}" text-anchor="middle" font-size="11" font-weight="600" fill="#1e293b">${a.step}<title>${esc(a.title)}</title></text></g>`,
    );
  }
  const nodes = ids.map((id) => {
    const p = at.get(id) as Point;
    const ring = rings.filter((r) => r.node === id);
    const ringSvg = ring
      .map((r, i) => `<rect class="plan-ring" x="${fx(p.x - NODE_W / 2 - 4 - 3 * i)}" y="${fx(p.y - NODE_H / 2 - 4 - 3 * i)}" width="${NODE_W + 8 + 6 * i}" height="${NODE_H + 8 + 6 * i}" rx="9" fill="none" stroke="${esc(color(r.vm))}" stroke-width="2" stroke-dasharray="4 3" data-step="${r.step}" data-vm="${esc(r.vm)}"><title>${esc(r.title)}</title></rect>`)
      .join('');
    return (
      `<g class="plan-node" data-node="${id}">${ringSvg}<rect x="${fx(p.x - NODE_W / 2)}" y="${fx(p.y - NODE_H / 2)}" width="${NODE_W}" height="${NODE_H}" rx="6" fill="#f1f5f9" stroke="#64748b"/>` +
      `<text x="${fx(p.x)}" y="${fx(p.y + 4)}" text-anchor="middle" font-size="12" fill="#0f172a">node ${id}</text></g>`
    );
  });
  const t = plan.totals;
  const summary =
    plan.moves.length === 0
      ? 'Nothing pays for itself: no move proposed.'
      : `${t.moves} move${t.moves === 1 ? '' : 's'}, ${formatBytes(t.bytes)} to migrate (~${t.seconds.toFixed(1)} s), ${t.repins} vCPU re-pin${t.repins === 1 ? '' : 's'}; ` +
        `mean predicted latency ×${t.latencyBefore.toFixed(3)} → ×${t.latencyAfter.toFixed(3)}, remote accesses ${pct(t.remoteBefore)} → ${pct(t.remoteAfter)}`;
  const svg =
    `<svg class="plan-svg" xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}" role="img" aria-label="${esc(`rebalancing plan for ${plan.host}: ${summary}`)}">` +
    `<defs>${defs}</defs>${nodes.join('')}${parts.join('')}${labels.join('')}</svg>`;
  const steps = plan.moves
    .map((m) => {
      const vms = m.vms
        .map((v) => `<span class="swatch" style="background:${esc(color(v.vm))}" aria-hidden="true"></span> ${esc(v.vm)}: nodes ${esc(v.before.nodes.join(','))} → ${esc(v.after.nodes.join(','))}, latency ×${v.locality.before.relativeLatency.toFixed(2)} → ×${v.locality.after.relativeLatency.toFixed(2)}`)
        .join('; ');
      return `<li data-step="${m.step}"><strong>${esc(m.kind)}</strong> ${vms} · ${esc(formatBytes(m.cost.bytes))} to migrate, ${m.cost.repins} re-pin${m.cost.repins === 1 ? '' : 's'}<br><span class="muted small">${esc(m.reason)}</span></li>`;
    })
    .join('');
  const skipped = plan.skipped.length > 0 ? `<p class="muted small">Never moved: ${plan.skipped.map((s) => `${esc(s.vm)} (${esc(s.why)})`).join('; ')}</p>` : '';
  return `<p class="plan-summary">${esc(summary)}</p><div class="plan-drawing">${svg}</div>${steps ? `<ol class="plan-steps">${steps}</ol>` : ''}${skipped}`;
}
