/**
 * The SLIT distance matrix as an HTML table heat map: one cell per (from, to) node pair, shaded from
 * light (local, 10) to dark (the farthest pair), the number printed in every cell so the colour is
 * never the only carrier of the value. Rows and columns follow the topology's node order.
 */
import type { Topology } from '../../core/topology/model.js';
import { esc } from './escape.js';

/** Background and text colour of a distance, given the matrix's smallest and largest values. */
export function heatColor(d: number, min: number, max: number): { bg: string; fg: string } {
  const f = max > min ? (d - min) / (max - min) : 0;
  const light = Math.round(96 - f * 58);
  return { bg: `hsl(24 85% ${light}%)`, fg: light < 60 ? '#ffffff' : '#1e293b' };
}

/** Draws the distance matrix of a topology as an accessible HTML table. */
export function drawDistances(t: Topology): string {
  const values = t.distances.flat();
  if (t.nodes.length === 0 || values.length === 0) return '<p class="muted">This host reports no distance matrix.</p>';
  const min = Math.min(...values);
  const max = Math.max(...values);
  const head = t.nodes.map((n) => `<th scope="col">${n.id}</th>`).join('');
  const rows = t.nodes
    .map((n, i) => {
      const cells = t.nodes
        .map((m, j) => {
          const d = t.distances[i]?.[j];
          if (d === undefined) return '<td class="heat">?</td>';
          const c = heatColor(d, min, max);
          return `<td class="heat" style="background:${c.bg};color:${c.fg}" title="${esc(`node ${n.id} to node ${m.id}: ${d}`)}">${d}</td>`;
        })
        .join('');
      return `<tr><th scope="row">${n.id}</th>${cells}</tr>`;
    })
    .join('');
  return (
    `<table class="heatmap"><caption>row node → column node; 10 = local</caption>` +
    `<thead><tr><th scope="col" class="corner">from \\ to</th>${head}</tr></thead><tbody>${rows}</tbody></table>`
  );
}
