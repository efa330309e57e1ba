/**
 * The key under the host heading: one swatch per VM (a button selecting it) and the fixed states
 * (reserved, free, offline); and the host's capacity line (PUs, whole cores, memory, huge pages,
 * devices, free of total).
 */
import type { HostCapacitySummary } from './capacity.js';
import { esc } from './escape.js';
import { formatBytes, pageLabel } from './format.js';

/** Draws the legend for a host's drawing. */
export function drawLegend(colors: ReadonlyMap<string, string>): string {
  const vms = [...colors]
    .map(([vm, c]) => `<button type="button" class="key vm-link" data-vm="${esc(vm)}"><span class="swatch" style="background:${c}" aria-hidden="true"></span>${esc(vm)}</button>`)
    .join('');
  return (
    `<span class="key"><span class="box" style="background:#fff" aria-hidden="true"></span>free</span>` +
    `<span class="key"><span class="box reserved" aria-hidden="true"></span>host reserve</span>` +
    `<span class="key"><span class="box off" aria-hidden="true"></span>offline / not allowed</span>` +
    `<span class="key muted">pale: held idle or emulator</span>${vms}`
  );
}

/** Draws a host's capacity line. */
export function drawCapacity(c: HostCapacitySummary): string {
  const item = (label: string, value: string): string => `<span>${esc(label)} <b>${esc(value)}</b></span>`;
  return [
    item('PUs free', `${c.pus.free} / ${c.pus.total}`),
    item('whole cores free', `${c.cores.free} / ${c.cores.total}`),
    item('memory free', `${formatBytes(c.memory.free)} / ${formatBytes(c.memory.total)}`),
    ...c.hugePages.filter((p) => p.total > 0 || p.over > 0).map((p) => item(`${pageLabel(p.pageSize)} pages free`, `${p.free} / ${p.total}${p.over > 0 ? ` (over by ${p.over}: displaced VMs)` : ''}`)),
    item('devices free', `${c.devices.free} / ${c.devices.total}`),
  ].join('');
}
