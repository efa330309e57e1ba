/**
 * The fleet page's client: loads the fleet and one host from the service's API, draws them with the
 * pure renderers of ../draw, and sends the place form. Event handling is delegated from the document
 * (buttons carry `data-host` / `data-vm`), so redrawing never loses a listener.
 *
 * The bearer token comes from the URL fragment (`/#token=...`, which the browser never sends to the
 * server; the service prints such a URL) or the token field, and is kept in sessionStorage.
 */
import { drawAnswer, drawExplanation } from '../draw/answer.js';
import { summarizeHost } from '../draw/capacity.js';
import { vmColors } from '../draw/colors.js';
import { drawDistances } from '../draw/distance-heatmap.js';
import { esc } from '../draw/escape.js';
import { type FleetRow, drawFleet } from '../draw/fleet-table.js';
import { cpuList, formatBytes } from '../draw/format.js';
import { drawHost } from '../draw/host-svg.js';
import { drawPlan } from '../draw/plan-svg.js';
import { type StoredPlanView, drawStoredPlan } from '../draw/stored-plan.js';
import type { Plan } from '../../core/rebalance/plan.js';
import { drawCapacity, drawLegend } from '../draw/legend.js';
import { drawVmTable } from '../draw/vm-table.js';
import {
  type HostDetailView,
  type PlaceFields,
  inputForField,
  nextName,
  placeBody,
  specProblem,
  toFleetRow,
  toHostView,
  toPlaceAnswer,
} from './api-model.js';
import { type Browser, type El, browser, byId, targetOf } from './dom.js';

const TOKEN_KEY = 'numaplan.token';
/** Up to this many hosts, the page also fetches each host's topology to fill the huge-page and device columns. */
const ENRICH_LIMIT = 24;
const FIELDS = ['name', 'vcpus', 'memory', 'pages', 'numa', 'devices'] as const;

interface Reply {
  status: number;
  body: unknown;
}

class FleetPage {
  private token: string;
  private rows: FleetRow[] = [];
  private selectedHost: string | null = null;
  private detail: HostDetailView | null = null;
  private selectedVm: string | null = null;
  private readonly enriched = new Map<string, FleetRow['detail']>();
  private resizeTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly b: Browser) {
    const hash = /(?:^#|&)token=([^&]+)/.exec(b.location.hash);
    if (hash?.[1]) {
      b.sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(hash[1]));
      b.history.replaceState(null, '', `${b.location.pathname}${b.location.search}`);
    }
    this.token = b.sessionStorage.getItem(TOKEN_KEY) ?? '';
    const q = /(?:^\?|&)host=([^&]+)/.exec(b.location.search);
    if (q?.[1]) this.selectedHost = decodeURIComponent(q[1]);
  }

  el(id: string): El {
    return byId(this.b, id);
  }

  async api(method: string, path: string, body?: unknown): Promise<Reply> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await this.b.fetch(path, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text for the error message
    }
    return { status: res.status, body: parsed };
  }

  notice(html: string | null): void {
    const n = this.el('notice');
    n.hidden = html === null;
    n.innerHTML = html ?? '';
  }

  start(): void {
    const d = this.b.document;
    this.el('token').value = this.token;
    this.el('f-name').value = 'vm-1';
    d.addEventListener('click', (e) => {
      const t = targetOf(e);
      if (!t) return;
      const host = t.closest('[data-host].host-link');
      if (host) return void this.selectHost(host.getAttribute('data-host') ?? '');
      const vm = t.closest('.vm-link[data-vm], .drawing [data-vm]');
      if (vm) return void this.selectVm(vm.getAttribute('data-vm'));
      if (t.closest('#release')) return void this.release();
      if (t.closest('#close-explain')) return void this.selectVm(null);
      if (t.closest('#refresh')) return void this.loadFleet();
      if (t.closest('#plan-keep')) return void this.keepPlan();
      const planButton = t.closest('#plan-apply, #plan-cancel, .plan-done');
      if (planButton) return void this.changePlan(planButton);
    });
    this.el('token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.token = this.el('token').value.trim();
      if (this.token) this.b.sessionStorage.setItem(TOKEN_KEY, this.token);
      else this.b.sessionStorage.removeItem(TOKEN_KEY);
      void this.loadFleet();
    });
    this.el('place-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.place();
    });
    this.el('plan-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.planRebalance();
    });
    this.b.addEventListener('resize', () => {
      if (this.resizeTimer) clearTimeout(this.resizeTimer);
      this.resizeTimer = setTimeout(() => this.drawHostSection(), 150);
    });
    void this.loadFleet();
  }

  async loadFleet(): Promise<void> {
    let reply: Reply;
    try {
      reply = await this.api('GET', '/api/v1/hosts?limit=1000');
    } catch (err) {
      this.notice(`Cannot reach the service: ${esc((err as Error).message)}`);
      return;
    }
    if (reply.status === 401 || reply.status === 403) {
      this.notice(
        reply.status === 401
          ? 'This service needs its token to show the fleet. Paste it into the Token field above (<code>numaplan serve</code> prints it on its first start and keeps it in the <code>token</code> file of its data directory).'
          : 'The token was not accepted. Paste the service\'s token (the <code>token</code> file of its data directory, or its --token-file) into the Token field above.',
      );
      this.el('fleet').innerHTML = '<p class="muted">Waiting for a token.</p>';
      this.el('token').focus();
      return;
    }
    if (reply.status !== 200) {
      this.notice(`The service answered ${reply.status} for the host list.`);
      return;
    }
    this.notice(null);
    const hosts = (reply.body as { hosts?: unknown[] } | null)?.hosts ?? [];
    this.rows = hosts.map(toFleetRow);
    for (const r of this.rows) {
      const d = this.enriched.get(r.name);
      if (d) r.detail = d;
    }
    if (!this.selectedHost || !this.rows.some((r) => r.name === this.selectedHost)) this.selectedHost = this.rows[0]?.name ?? null;
    this.drawFleet();
    this.fillHostSelect();
    if (this.selectedHost) await this.loadHost(this.selectedHost);
    else this.clearHost();
    void this.enrich();
  }

  drawFleet(): void {
    this.el('fleet').innerHTML = drawFleet(this.rows, this.selectedHost);
    const vms = this.rows.reduce((s, r) => s + r.vms, 0);
    const cpus = this.rows.reduce((s, r) => ({ total: s.total + r.cpus.total, free: s.free + r.cpus.free }), { total: 0, free: 0 });
    const mem = this.rows.reduce((s, r) => ({ total: s.total + r.memory.total, free: s.free + r.memory.free }), { total: 0, free: 0 });
    this.el('summary').textContent =
      `${this.rows.length} host${this.rows.length === 1 ? '' : 's'} · ${vms} VM${vms === 1 ? '' : 's'} · ` +
      `${cpus.free} of ${cpus.total} PUs free · ${formatBytes(mem.free)} of ${formatBytes(mem.total)} memory free`;
  }

  fillHostSelect(): void {
    const sel = this.el('f-host');
    const keep = sel.value;
    sel.innerHTML =
      '<option value="">any (the service picks)</option>' + this.rows.map((r) => `<option value="${esc(r.name)}">${esc(r.name)}</option>`).join('');
    if (this.rows.some((r) => r.name === keep)) sel.value = keep;
  }

  /** Fetches the other hosts' topologies (small fleets only) to fill the huge-page and device columns. */
  async enrich(): Promise<void> {
    if (this.rows.length > ENRICH_LIMIT) return;
    for (const r of this.rows) {
      if (r.name === this.selectedHost && this.detail) continue;
      try {
        const reply = await this.api('GET', `/api/v1/hosts/${encodeURIComponent(r.name)}`);
        if (reply.status !== 200) continue;
        r.detail = summarizeHost(toHostView(reply.body).view);
        this.enriched.set(r.name, r.detail);
      } catch {
        // a host that cannot be read keeps "—" in those columns
      }
    }
    this.drawFleet();
  }

  async selectHost(name: string): Promise<void> {
    if (!name) return;
    this.selectedHost = name;
    this.selectedVm = null;
    this.drawFleet();
    await this.loadHost(name);
    this.el('host-h').scrollIntoView({ block: 'start', behavior: 'smooth' });
  }

  async loadHost(name: string): Promise<void> {
    const reply = await this.api('GET', `/api/v1/hosts/${encodeURIComponent(name)}`);
    if (reply.status !== 200) {
      this.notice(`The service answered ${reply.status} for host ${esc(name)}.`);
      return;
    }
    if (this.detail?.view.name !== name) this.el('plan').innerHTML = '';
    this.detail = toHostView(reply.body);
    const summary = summarizeHost(this.detail.view);
    const row = this.rows.find((r) => r.name === name);
    if (row) {
      row.detail = summary;
      this.enriched.set(name, summary);
      this.drawFleet();
    }
    if (this.selectedVm && !this.detail.vms.some((v) => v.name === this.selectedVm)) this.selectedVm = null;
    this.drawHostSection();
  }

  clearHost(): void {
    this.detail = null;
    this.el('host-h').textContent = 'Host';
    for (const id of ['host-cap', 'legend', 'host-drawing', 'distances', 'vms', 'explain', 'plan']) this.el(id).innerHTML = '';
  }

  /** Asks the service for a rebalancing plan of the host shown (a dry run) and draws it as arrows between its nodes. */
  async planRebalance(): Promise<void> {
    const box = this.el('plan');
    if (!this.detail) {
      box.innerHTML = '<p class="muted">Choose a host first.</p>';
      return;
    }
    const { view } = this.detail;
    const button = this.el('plan-button');
    button.disabled = true;
    box.innerHTML = '<p class="muted">Planning…</p>';
    try {
      const reply = await this.api('POST', `/api/v1/hosts/${encodeURIComponent(view.name)}/rebalance`, { horizon: this.el('p-horizon').value, rate: this.el('p-rate').value });
      const plan = (reply.body as { plan?: Plan } | null)?.plan;
      if (reply.status !== 200 || !plan) {
        const a = toPlaceAnswer(reply.status, reply.body);
        box.innerHTML = drawAnswer(a.kind === 'error' ? a : { kind: 'error', status: reply.status, code: 'ERR_INTERNAL', field: null, message: `the service answered ${reply.status}` });
        return;
      }
      const colors = vmColors(view.allocations.map((x) => x.name));
      box.innerHTML =
        drawPlan(plan, view.topology, { colors }) +
        '<p class="muted small">A dry run: nothing was changed. <code>numaplan apply-plan</code> checks a plan against a host and carries it out.' +
        (plan.moves.length > 0 ? ' <button type="button" id="plan-keep">Keep this plan to apply it step by step</button>' : '') +
        '</p><div id="stored-plan" aria-live="polite"></div>';
    } catch (err) {
      box.innerHTML = drawAnswer({ kind: 'error', status: 0, code: 'ERR_NETWORK', field: null, message: (err as Error).message });
    } finally {
      button.disabled = false;
    }
  }

  /** Stores a plan made with the form's settings (the service plans again: the host may have changed) and shows it. */
  async keepPlan(): Promise<void> {
    if (!this.detail) return;
    const name = this.detail.view.name;
    const reply = await this.api('POST', `/api/v1/hosts/${encodeURIComponent(name)}/plans`, { horizon: this.el('p-horizon').value, rate: this.el('p-rate').value });
    this.showStoredPlan(reply, 201);
  }

  /** Applies the next step, reports a step done, or cancels: the button carries the plan and the step. */
  async changePlan(button: El): Promise<void> {
    const id = encodeURIComponent(button.getAttribute('data-plan') ?? '');
    const step = button.getAttribute('data-step') ?? '';
    const which = button.getAttribute('id');
    const path = which === 'plan-apply' ? `/api/v1/plans/${id}/apply` : which === 'plan-cancel' ? `/api/v1/plans/${id}/cancel` : `/api/v1/plans/${id}/steps/${encodeURIComponent(step)}/done`;
    const reply = await this.api('POST', path, which === 'plan-apply' ? { step: Number(step) } : undefined);
    const stale = (reply.body as { plan?: StoredPlanView } | null)?.plan;
    if (reply.status === 409 && stale && typeof stale === 'object' && 'id' in stale) this.showStoredPlan({ status: 200, body: stale }, 200);
    else this.showStoredPlan(reply, 200);
    if (this.detail) await this.loadHost(this.detail.view.name);
  }

  showStoredPlan(reply: Reply, ok: number): void {
    let box = this.b.document.getElementById('stored-plan');
    if (!box) {
      box = this.b.document.createElement('div');
      box.setAttribute('id', 'stored-plan');
      box.setAttribute('aria-live', 'polite');
      this.el('plan').append(box);
    }
    if (reply.status !== ok) {
      const a = toPlaceAnswer(reply.status, reply.body);
      box.innerHTML = drawAnswer(a.kind === 'error' ? a : { kind: 'error', status: reply.status, code: 'ERR_INTERNAL', field: null, message: `the service answered ${reply.status}` });
      return;
    }
    box.innerHTML = drawStoredPlan(reply.body as StoredPlanView);
  }

  drawHostSection(): void {
    if (!this.detail) return;
    const { view } = this.detail;
    const colors = vmColors(view.allocations.map((a) => a.name));
    this.el('host-h').innerHTML = `Host ${esc(view.name)} <span class="muted small">${esc(view.topology.source)}</span>`;
    this.el('host-cap').innerHTML = drawCapacity(summarizeHost(view));
    this.el('legend').innerHTML = drawLegend(colors);
    const drawing = this.el('host-drawing');
    drawing.innerHTML = drawHost(view, { colors, selected: this.selectedVm, maxWidth: Math.max(620, drawing.clientWidth - 20) });
    this.el('distances').innerHTML = drawDistances(view.topology);
    this.el('vms').innerHTML = drawVmTable(view, colors, this.selectedVm);
    this.drawExplain();
  }

  drawExplain(): void {
    const box = this.el('explain');
    const vm = this.detail?.vms.find((v) => v.name === this.selectedVm);
    if (!vm) {
      box.innerHTML = '';
      return;
    }
    const a = vm.allocation;
    box.innerHTML =
      `<div class="explanation"><div class="explain-head"><h3>${esc(vm.name)} on ${esc(vm.host)}</h3>` +
      `<span><button type="button" id="release" class="danger">Release ${esc(vm.name)}</button> ` +
      `<button type="button" id="close-explain" class="ghost">Close</button></span></div>` +
      `<dl class="facts"><dt>Status</dt><dd>${esc(vm.status)}</dd><dt>Host CPUs</dt><dd class="mono">${esc(cpuList(a.cpus ?? []))}</dd>` +
      `<dt>Nodes</dt><dd>${esc((a.nodes ?? []).join(', '))}</dd></dl>` +
      `${drawExplanation(vm.placement?.explanation, 'Why it sits here')}</div>`;
  }

  selectVm(name: string | null): void {
    this.selectedVm = name;
    this.drawHostSection();
    if (name) this.el('explain').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  fields(): PlaceFields {
    const f = {} as PlaceFields;
    for (const k of FIELDS) f[k] = this.el(`f-${k}`).value;
    return f;
  }

  markField(field: keyof PlaceFields | null, message: string | null): void {
    for (const k of FIELDS) this.el(`f-${k}`).removeAttribute('aria-invalid');
    if (!field) return;
    const input = this.el(`f-${field}`);
    input.setAttribute('aria-invalid', 'true');
    if (message) input.setAttribute('title', message);
    input.focus();
  }

  async place(): Promise<void> {
    const fields = this.fields();
    const answerBox = this.el('answer');
    const problem = specProblem(fields);
    if (problem) {
      answerBox.innerHTML = drawAnswer({ kind: 'error', status: 400, code: 'ERR_FIELD', field: problem.field, message: problem.message });
      this.markField(problem.field, problem.message);
      return;
    }
    const button = this.el('place-button');
    button.disabled = true;
    answerBox.innerHTML = '<p class="muted">Placing…</p>';
    try {
      const reply = await this.api('POST', '/api/v1/vms', placeBody(fields, this.el('f-host').value));
      const answer = toPlaceAnswer(reply.status, reply.body);
      answerBox.innerHTML = drawAnswer(answer, { full: false });
      if (answer.kind === 'error') {
        this.markField(inputForField(answer.field), answer.message);
        if (answer.status === 401 || answer.status === 403) this.el('token').focus();
        return;
      }
      this.markField(null, null);
      if (answer.kind === 'placed') {
        this.selectedHost = answer.host || this.selectedHost;
        this.selectedVm = answer.placement.name;
        this.el('f-name').value = nextName(answer.placement.name);
        await this.loadFleet();
      }
    } catch (err) {
      answerBox.innerHTML = drawAnswer({ kind: 'error', status: 0, code: 'ERR_NETWORK', field: null, message: (err as Error).message });
    } finally {
      button.disabled = false;
    }
  }

  async release(): Promise<void> {
    const name = this.selectedVm;
    if (!name) return;
    const reply = await this.api('DELETE', `/api/v1/vms/${encodeURIComponent(name)}`);
    if (reply.status >= 400) {
      const a = toPlaceAnswer(reply.status, reply.body);
      this.notice(a.kind === 'error' ? `${esc(a.code)}: ${esc(a.message)}` : `The service answered ${reply.status}.`);
      return;
    }
    this.selectedVm = null;
    this.el('answer').innerHTML = `<div class="answer placed" role="status"><h3>Released ${esc(name)}</h3></div>`;
    await this.loadFleet();
  }
}

const b = browser();
if (b.document) new FleetPage(b).start();
