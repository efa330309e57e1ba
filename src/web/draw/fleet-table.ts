/**
 * The fleet: one row per host with its free and used capacity (PUs, whole cores, memory, huge pages,
 * devices, VMs), each as "free / total" with a small usage bar. The host name is a button
 * (`data-host`) that opens the host. Columns the service did not report show "—".
 */
import type { HostCapacitySummary } from './capacity.js';
import { esc } from './escape.js';
import { formatBytes, pageLabel, percent } from './format.js';

/** One host as the fleet table shows it; `detail` is filled when the page has the host's topology. */
export interface FleetRow {
  name: string;
  source: string;
  nodes: number;
  cpus: { total: number; free: number };
  memory: { total: number; free: number };
  vms: number;
  detail?: HostCapacitySummary;
}

function meter(free: number, total: number, text: string, label: string): string {
  const used = percent(total - free, total);
  return (
    `<div class="cap" title="${esc(`${label}: ${text}`)}"><span class="cap-text">${esc(text)}</span>` +
    `<span class="bar" role="img" aria-label="${esc(`${label} ${Math.round(used)}% used`)}"><span style="width:${used.toFixed(1)}%"></span></span></div>`
  );
}

/** Draws the fleet table. `selected` is the host shown below it. */
export function drawFleet(rows: readonly FleetRow[], selected: string | null): string {
  if (rows.length === 0) return '<p class="muted">No hosts registered yet.</p>';
  const body = rows
    .map((r) => {
      const d = r.detail;
      const cores = d ? meter(d.cores.free, d.cores.total, `${d.cores.free} / ${d.cores.total}`, 'whole cores free') : '—';
      const pages = d
        ? d.hugePages
            .filter((p) => p.total > 0 || p.over > 0)
            .map((p) => meter(p.free, p.total, `${pageLabel(p.pageSize)} ${p.free} / ${p.total}${p.over > 0 ? ` (over by ${p.over})` : ''}`, `${pageLabel(p.pageSize)} pages free`))
            .join('') || '<span class="muted">none</span>'
        : '—';
      const devices = d ? meter(d.devices.free, d.devices.total, `${d.devices.free} / ${d.devices.total}`, 'devices free') : '—';
      const sel = r.name === selected;
      return (
        `<tr data-host="${esc(r.name)}"${sel ? ' class="selected"' : ''}>` +
        `<th scope="row"><button type="button" class="host-link" data-host="${esc(r.name)}" aria-pressed="${sel}">${esc(r.name)}</button>` +
        `<div class="muted small">${esc(r.source)}</div></th>` +
        `<td class="num">${r.nodes}</td>` +
        `<td>${meter(r.cpus.free, r.cpus.total, `${r.cpus.free} / ${r.cpus.total}`, 'PUs free')}</td>` +
        `<td>${cores}</td>` +
        `<td>${meter(r.memory.free, r.memory.total, `${formatBytes(r.memory.free)} / ${formatBytes(r.memory.total)}`, 'memory free')}</td>` +
        `<td>${pages}</td><td>${devices}</td><td class="num">${r.vms}</td></tr>`
      );
    })
    .join('');
  return (
    `<table class="fleet"><caption>Hosts: free / total capacity (select a host to draw it)</caption>` +
    `<thead><tr><th scope="col">Host</th><th scope="col">Nodes</th><th scope="col">PUs</th><th scope="col">Whole cores</th>` +
    `<th scope="col">Memory</th><th scope="col">Huge pages</th><th scope="col">Devices</th><th scope="col">VMs</th></tr></thead><tbody>${body}</tbody></table>`
  );
}
