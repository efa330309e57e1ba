/**
 * A plan the service keeps (`/api/v1/plans/{id}`): its status, the steps applied with their holds,
 * the next step with the host commands that carry it out, and the buttons that apply it, report a
 * step done, or cancel the plan. Pure: a string of HTML, every value escaped.
 */
import { esc } from './escape.js';

/** The fields of a stored plan the page reads (see the OpenAPI document's StoredPlan). */
export interface StoredPlanView {
  id: string;
  host: string;
  status: string;
  steps: number;
  nextStep: number | null;
  next: { step: number; kind: string; reason: string; vms: string[]; commands: { vm: string; commands: string[]; notes: string[] }[] } | null;
  progress: {
    steps: { step: number; appliedAt: number; hold: { name: string; expiresAt: number } | null; doneAt: number | null }[];
    refused: { step: number; code: string; reasons: string[] } | null;
  };
}

const STATUS: Record<string, string> = {
  proposed: 'proposed: nothing applied yet',
  applying: 'being applied',
  applied: 'applied: every step',
  cancelled: 'cancelled',
  stale: 'stale: the host changed since it was made; plan again',
};

/** The panel of a stored plan. */
export function drawStoredPlan(p: StoredPlanView): string {
  const applied = p.progress.steps
    .map((s) => {
      const hold = s.hold
        ? s.doneAt === null
          ? ` · holding what it frees as <code>${esc(s.hold.name)}</code> <button type="button" class="plan-done" data-plan="${esc(p.id)}" data-step="${s.step}">Step ${s.step} done on the host</button>`
          : ` · done on the host`
        : s.doneAt === null
          ? ''
          : ' · done on the host';
      return `<li>step ${s.step} applied${hold}</li>`;
    })
    .join('');
  const refused = p.progress.refused
    ? `<p class="notice" role="alert">Step ${p.progress.refused.step} no longer applies (${esc(p.progress.refused.code)}): ${esc(p.progress.refused.reasons.join('; '))}</p>`
    : '';
  const next = p.next
    ? `<h4>Next: step ${p.next.step} of ${p.steps} (${esc(p.next.kind)}) — ${esc(p.next.vms.join(', '))}</h4><p class="small">${esc(p.next.reason)}</p>` +
      `<pre class="plan-commands">${esc(p.next.commands.flatMap((c) => c.commands).join('\n'))}</pre>` +
      `<p><button type="button" id="plan-apply" data-plan="${esc(p.id)}" data-step="${p.next.step}">Apply step ${p.next.step}</button> ` +
      `<button type="button" id="plan-cancel" class="ghost" data-plan="${esc(p.id)}">Cancel plan</button></p>`
    : '';
  return (
    `<div class="stored-plan" data-plan="${esc(p.id)}" data-status="${esc(p.status)}"><h4>Plan <code>${esc(p.id)}</code> on ${esc(p.host)}: <span class="plan-status">${esc(STATUS[p.status] ?? p.status)}</span></h4>` +
    (applied ? `<ul class="plan-applied">${applied}</ul>` : '') +
    refused +
    next +
    '</div>'
  );
}
