/**
 * The service's answers as HTML: a placement (where the VM went and the explanation), a refusal
 * (each short resource on each node, with the hints that would make it fit), or an error (its stable
 * code, the field at fault, the message). Pure string renderers; values are escaped.
 */
import type { Explanation, Placement, RefusalReason } from '../../core/placement/types.js';
import { esc } from './escape.js';
import { cpuList, formatBytes, pageLabel } from './format.js';

/** What POST /api/v1/vms answered, as the page sees it. */
export type PlaceAnswer =
  | { kind: 'placed'; host: string; status: string; placement: Placement }
  | { kind: 'refused'; reasons: RefusalReason[]; hints: string[]; hostsConsidered?: number }
  | { kind: 'error'; status: number; code: string; field: string | null; message: string };

const MEMORY_RESOURCES = /memory|page|bytes/i;

function amount(resource: string, n: number): string {
  return MEMORY_RESOURCES.test(resource) && n >= 1024 ? formatBytes(n) : String(n);
}

/** Renders the explanation of a placement. */
export function drawExplanation(e: Explanation | null | undefined, title = 'Why here'): string {
  if (!e) return '<p class="muted">The service recorded no explanation for this VM.</p>';
  const score = (e.chosen?.score ?? [])
    .map((s) => `<tr><th scope="row">${esc(s.name)}</th><td class="num">${esc(round(s.value))}</td><td class="num">${esc(round(s.weight))}</td><td>${esc(s.note)}</td></tr>`)
    .join('');
  const alts = (e.alternatives ?? [])
    .map((a) => `<li>nodes ${esc(a.nodes.join(', '))}${a.cost === null ? '' : ` (cost ${esc(round(a.cost))})`}: ${esc(a.lostBecause)}</li>`)
    .join('');
  const c = e.cost;
  const cost = c
    ? `<dl class="facts"><dt>Remote accesses</dt><dd>${esc(Math.round(c.remoteAccessFraction * 100))}%</dd>` +
      `<dt>Relative latency</dt><dd>${esc(round(c.relativeLatency))}× local</dd>` +
      `<dt>Expected latency</dt><dd>${esc(Math.round(c.expectedLatencyNs))} ns</dd>` +
      `<dt>TLB reach</dt><dd>${esc(formatBytes(c.tlbReachBytes))}</dd>` +
      `<dt>Translation entries</dt><dd>${esc(c.translationEntries?.chosen ?? '?')}</dd></dl>`
    : '';
  return (
    `<section class="explanation" aria-label="${esc(title)}"><h3>${esc(title)}</h3>` +
    `<p>${esc(e.summary)}</p>` +
    `<dl class="facts"><dt>Policy</dt><dd>${esc(e.policy)}</dd><dt>Nodes</dt><dd>${esc(e.chosen?.nodes.join(', ') ?? '')}` +
    `${e.chosen ? ` (cost ${esc(round(e.chosen.cost))})` : ''}</dd><dt>SMT</dt><dd>${esc(e.smt)}</dd><dt>Pages</dt><dd>${esc(e.pageSize)}</dd></dl>` +
    cost +
    (score ? `<table class="score"><caption>Score terms</caption><thead><tr><th scope="col">Term</th><th scope="col">Value</th><th scope="col">Weight</th><th scope="col">Note</th></tr></thead><tbody>${score}</tbody></table>` : '') +
    (alts ? `<h4>Alternatives considered</h4><ul>${alts}</ul>` : '') +
    ((e.notes ?? []).length ? `<h4>Notes</h4><ul>${e.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '') +
    `</section>`
  );
}

function round(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(3).replace(/0+$/, '');
}

/**
 * Renders one answer of the place form. With `full: false` a placement shows only the explanation's
 * summary (the page shows the whole explanation next to the host drawing).
 */
export function drawAnswer(a: PlaceAnswer, options: { full?: boolean } = {}): string {
  if (a.kind === 'error') {
    return (
      `<div class="answer error" role="alert"><h3>Request not accepted (${esc(a.status)} ${esc(a.code)})</h3>` +
      `<p>${a.field ? `<strong>${esc(a.field)}</strong>: ` : ''}${esc(a.message)}</p></div>`
    );
  }
  if (a.kind === 'refused') {
    const reasons = a.reasons
      .map((r) => {
        const where = r.node === null ? (r.nodes ? ` on nodes ${r.nodes.join(',')}` : '') : ` on node ${r.node}`;
        return (
          `<li><strong>${esc(r.resource)}${esc(where)}</strong>: need ${esc(amount(r.resource, r.need))}, have ${esc(amount(r.resource, r.have))}` +
          `${r.detail ? `<br><span class="muted">${esc(r.detail)}</span>` : ''}</li>`
        );
      })
      .join('');
    return (
      `<div class="answer refused" role="status"><h3>Does not fit${a.hostsConsidered === undefined ? '' : ` (${esc(a.hostsConsidered)} host${a.hostsConsidered === 1 ? '' : 's'} considered)`}</h3>` +
      (reasons ? `<h4>Why not</h4><ul class="reasons">${reasons}</ul>` : '') +
      (a.hints.length ? `<h4>What would make it fit</h4><ul class="hints">${a.hints.map((h) => `<li>${esc(h)}</li>`).join('')}</ul>` : '') +
      `</div>`
    );
  }
  const p = a.placement;
  const mem = Object.entries(p.memoryByNode ?? {})
    .map(([node, bytes]) => `node ${esc(node)}: ${esc(formatBytes(bytes))}`)
    .join(', ');
  const devices = (p.devices ?? []).map((d) => `${esc(d.address)} (${esc(d.kind)}, node ${d.node ?? '?'}${d.local ? ', local' : ''})`).join(', ');
  return (
    `<div class="answer placed" role="status"><h3>Placed <span class="mono">${esc(p.name)}</span> on ${esc(a.host)} (${esc(a.status)})</h3>` +
    `<dl class="facts"><dt>Nodes</dt><dd>${esc(p.nodes.join(', '))}</dd><dt>Host CPUs</dt><dd class="mono">${esc(cpuList(p.cpus))}</dd>` +
    `<dt>Memory</dt><dd>${mem || '—'} in ${esc(pageLabel(p.pageSize))} pages</dd>` +
    (devices ? `<dt>Devices</dt><dd class="mono">${devices}</dd>` : '') +
    (p.vnuma ? `<dt>Guest NUMA</dt><dd>${esc(p.vnuma.nodes.length)} guest nodes</dd>` : '') +
    `</dl>${options.full === false ? `<p>${esc(p.explanation?.summary ?? '')}</p>` : drawExplanation(p.explanation)}</div>`
  );
}
