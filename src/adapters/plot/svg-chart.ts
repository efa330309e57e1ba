/**
 * Minimal SVG charts (line chart, bar chart, grouped bars) that any browser or image viewer opens
 * without other tools. Deterministic output: same data, same bytes.
 */

const W = 760;
const H = 420;
const M = { left: 70, right: 180, top: 40, bottom: 60 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** A named series of (x, y) points. */
export interface LineSeries {
  name: string;
  points: readonly (readonly [number, number])[];
  dashed?: boolean;
}

/** Line chart options. */
export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly LineSeries[];
  yMin?: number;
  yMax?: number;
}

/** Bar chart: one bar per label (optional error bar), or groups of bars with `groups`. */
export interface BarChartSpec {
  title: string;
  yLabel: string;
  /** Category labels along x. */
  categories: readonly string[];
  /** One entry per legend item; `values[i]` belongs to `categories[i]`. */
  groups: readonly { name: string; values: readonly number[]; errors?: readonly number[] }[];
}

/** Renders a line chart. */
export function lineChart(spec: LineChartSpec): string {
  const xs = spec.series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = spec.series.flatMap((s) => s.points.map((p) => p[1]));
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : 1;
  const y0 = spec.yMin ?? (ys.length ? Math.min(...ys) : 0);
  const y1 = spec.yMax ?? (ys.length ? Math.max(...ys) : 1);
  const sx = scale(x0, x1 === x0 ? x0 + 1 : x1, M.left, W - M.right);
  const sy = scale(y0, y1 === y0 ? y0 + 1 : y1, H - M.bottom, M.top);
  const parts = [header(spec.title), axes(spec.xLabel, spec.yLabel, x0, x1, y0, y1, sx, sy)];
  spec.series.forEach((s, i) => {
    const d = s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${fmt(sx(p[0]))},${fmt(sy(p[1]))}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${colour(i)}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
  });
  parts.push(legend(spec.series.map((s) => s.name)));
  return `${parts.join('\n')}\n</svg>\n`;
}

/** Renders a (grouped) bar chart with optional error bars. */
export function barChart(spec: BarChartSpec): string {
  const tops = spec.groups.flatMap((g) => g.values.map((v, i) => v + (g.errors?.[i] ?? 0)));
  const y1 = Math.max(1e-9, ...tops);
  const sy = scale(0, y1 * 1.05, H - M.bottom, M.top);
  const plotW = W - M.left - M.right;
  const slot = plotW / Math.max(1, spec.categories.length);
  const barW = (slot * 0.8) / Math.max(1, spec.groups.length);
  const parts = [header(spec.title)];
  parts.push(`<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="#333"/>`);
  for (const t of ticks(0, y1 * 1.05)) {
    parts.push(`<text x="${M.left - 6}" y="${fmt(sy(t) + 4)}" text-anchor="end" font-size="11">${esc(label(t))}</text>`);
    parts.push(`<line x1="${M.left}" y1="${fmt(sy(t))}" x2="${W - M.right}" y2="${fmt(sy(t))}" stroke="#eee"/>`);
  }
  parts.push(`<text x="16" y="${(M.top + H - M.bottom) / 2}" transform="rotate(-90 16 ${(M.top + H - M.bottom) / 2})" text-anchor="middle" font-size="12">${esc(spec.yLabel)}</text>`);
  // Label every step-th category so that labels (about 6.5 px per character at 11 px) never overlap.
  const widest = Math.max(1, ...spec.categories.map((c) => c.length)) * 6.5 + 6;
  const step = Math.max(1, Math.ceil(widest / slot));
  spec.categories.forEach((cat, i) => {
    const cx = M.left + slot * i + slot * 0.1;
    if (i % step === 0) {
      parts.push(`<text x="${fmt(M.left + slot * (i + 0.5))}" y="${H - M.bottom + 16}" text-anchor="middle" font-size="11">${esc(cat)}</text>`);
    }
    spec.groups.forEach((g, k) => {
      const v = g.values[i] ?? 0;
      const x = cx + k * barW;
      parts.push(`<rect x="${fmt(x)}" y="${fmt(sy(v))}" width="${fmt(barW * 0.92)}" height="${fmt(sy(0) - sy(v))}" fill="${colour(k)}"><title>${esc(`${g.name} ${cat}: ${label(v)}`)}</title></rect>`);
      const e = g.errors?.[i];
      if (e !== undefined && e > 0) {
        const mx = x + barW * 0.46;
        parts.push(`<path d="M${fmt(mx)},${fmt(sy(v - e))} L${fmt(mx)},${fmt(sy(v + e))} M${fmt(mx - 4)},${fmt(sy(v + e))} L${fmt(mx + 4)},${fmt(sy(v + e))} M${fmt(mx - 4)},${fmt(sy(v - e))} L${fmt(mx + 4)},${fmt(sy(v - e))}" stroke="#000"/>`);
      }
    });
  });
  parts.push(legend(spec.groups.map((g) => g.name)));
  return `${parts.join('\n')}\n</svg>\n`;
}

function header(title: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${M.left}" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ].join('\n');
}

function axes(xLabel: string, yLabel: string, x0: number, x1: number, y0: number, y1: number, sx: (v: number) => number, sy: (v: number) => number): string {
  const out = [
    `<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="#333"/>`,
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="#333"/>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 16}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`,
    `<text x="16" y="${(M.top + H - M.bottom) / 2}" transform="rotate(-90 16 ${(M.top + H - M.bottom) / 2})" text-anchor="middle" font-size="12">${esc(yLabel)}</text>`,
  ];
  for (const t of ticks(x0, x1)) out.push(`<text x="${fmt(sx(t))}" y="${H - M.bottom + 16}" text-anchor="middle" font-size="11">${esc(label(t))}</text>`);
  for (const t of ticks(y0, y1)) {
    out.push(`<text x="${M.left - 6}" y="${fmt(sy(t) + 4)}" text-anchor="end" font-size="11">${esc(label(t))}</text>`);
    out.push(`<line x1="${M.left}" y1="${fmt(sy(t))}" x2="${W - M.right}" y2="${fmt(sy(t))}" stroke="#eee"/>`);
  }
  return out.join('\n');
}

function legend(names: readonly string[]): string {
  return names
    .map((n, i) => {
      const y = M.top + 10 + i * 18;
      return `<rect x="${W - M.right + 14}" y="${y - 9}" width="12" height="12" fill="${colour(i)}"/><text x="${W - M.right + 32}" y="${y + 1}" font-size="12">${esc(n)}</text>`;
    })
    .join('\n');
}

function scale(d0: number, d1: number, r0: number, r1: number): (v: number) => number {
  return (v) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0);
}

function ticks(lo: number, hi: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.round(t / step) * step);
  return out;
}

function label(v: number): string {
  if (Math.abs(v) >= 1e6) return `${+(v / 1e6).toFixed(2)}M`;
  if (Math.abs(v) >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(3)}`;
}

function colour(i: number): string {
  return COLOURS[i % COLOURS.length] as string;
}

function fmt(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
