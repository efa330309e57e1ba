/**
 * Who sits where: one row per VM on a host with its colour, status, nodes, host CPUs (as a cpulist,
 * with held and emulator CPUs), memory per node and page size, and devices. The VM name is a button
 * (`data-vm`) so a keyboard or a click selects it and the page shows its explanation.
 */
import { esc } from './escape.js';
import { cpuList, formatBytes, pageLabel } from './format.js';
import { type HostView, memoryByNode } from './host-view.js';

/** Draws the VM table of a host. */
export function drawVmTable(host: HostView, colors: ReadonlyMap<string, string>, selected: string | null = null): string {
  if (host.allocations.length === 0) return '<p class="muted">No VMs on this host yet. Place one with the form.</p>';
  const rows = host.allocations
    .map((a) => {
      const color = colors.get(a.name) ?? '#64748b';
      const mem = [...memoryByNode(a)]
        .map(([node, m]) => `node ${node}: ${formatBytes(m.bytes)} (${m.pageSizes.map(pageLabel).join('+')})`)
        .join('<br>');
      const extra: string[] = [];
      if (a.heldCpus.length) extra.push(`held ${cpuList(a.heldCpus)}`);
      if (a.emulatorCpus.length) extra.push(`emulator ${cpuList(a.emulatorCpus)}`);
      const cpus = `${esc(cpuList(a.cpus))}${a.exclusive ? '' : ' <span class="tag">shared</span>'}${extra.length ? `<br><span class="muted">${esc(extra.join(' · '))}</span>` : ''}`;
      let status = a.status === 'claimed' ? '<span class="tag claim">claimed</span>' : '<span class="tag ok">committed</span>';
      if (a.displaced) {
        // A host update left it without something it holds; it keeps the rest until released.
        const why = a.displaced.reasons.map((r) => r.detail).join('; ');
        status += ` <span class="tag displaced" title="${esc(why)}">displaced</span><div class="muted small">${esc(why)}</div>`;
      }
      return (
        `<tr data-vm="${esc(a.name)}"${a.name === selected ? ' class="selected" aria-selected="true"' : ''}>` +
        `<th scope="row"><button type="button" class="vm-link" data-vm="${esc(a.name)}" aria-pressed="${a.name === selected}">` +
        `<span class="swatch" style="background:${color}" aria-hidden="true"></span>${esc(a.name)}</button></th>` +
        `<td>${status}</td><td>${esc(a.request.vcpus)}</td><td>${esc(a.nodes.join(', '))}</td><td class="mono">${cpus}</td>` +
        `<td>${mem || '—'}</td><td class="mono">${a.devices.length ? a.devices.map(esc).join('<br>') : '—'}</td></tr>`
      );
    })
    .join('');
  return (
    `<table class="vms"><caption>VMs on ${esc(host.name)} (select a name for the explanation)</caption>` +
    `<thead><tr><th scope="col">VM</th><th scope="col">Status</th><th scope="col">vCPUs</th><th scope="col">Nodes</th>` +
    `<th scope="col">Host CPUs</th><th scope="col">Memory per node</th><th scope="col">Devices</th></tr></thead><tbody>${rows}</tbody></table>`
  );
}
