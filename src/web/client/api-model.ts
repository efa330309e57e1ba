/**
 * How the page reads the service's answers (see src/server/openapi.ts) and writes its requests.
 * Pure functions, no DOM: tested in test/web-client-model.test.ts.
 *
 * - `toHostView`: GET /api/v1/hosts/{host} -> the drawing's HostView (allocations from each VM record).
 * - `toFleetRow`: a row of GET /api/v1/hosts (nested `cpus: {total, free}`, or flat `totalCpus`).
 * - `vmSpec`: the form's fields -> the compact request string the service parses like the CLI's --vm
 *   (`specProblem` first: a value with a comma or "=" cannot be carried by it).
 * - `toPlaceAnswer`: POST /api/v1/vms status and body -> placed / refused / error.
 * - `inputForField`: the field an error names ("vm.memory", "pageSize", "devices[1].count") -> form input.
 */
import type { Allocation, HostReserve } from '../../core/placement/state.js';
import type { Explanation, Placement, RefusalReason } from '../../core/placement/types.js';
import type { Topology } from '../../core/topology/model.js';
import type { PlaceAnswer } from '../draw/answer.js';
import type { FleetRow } from '../draw/fleet-table.js';
import type { HostView } from '../draw/host-view.js';

/** A VM record as GET /api/v1/hosts/{host} lists it. */
export interface VmRecordView {
  name: string;
  host: string;
  status: Allocation['status'];
  allocation: Allocation;
  placement: { explanation?: Explanation } | null;
}

/** A host and its VM records. */
export interface HostDetailView {
  view: HostView;
  vms: VmRecordView[];
  generation: number | null;
}

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const num = (v: unknown, fallback = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : fallback);

/** Reads one host's detail. Throws when the body has no topology (not a host). */
export function toHostView(body: unknown): HostDetailView {
  const b = obj(body);
  const topology = b.topology as Topology | undefined;
  if (!topology || !Array.isArray(topology.pus) || !Array.isArray(topology.nodes)) throw new Error('the service answered without a topology');
  const reserve = obj(b.reserve);
  const vms: VmRecordView[] = (Array.isArray(b.vms) ? b.vms : []).map((v) => {
    const r = obj(v);
    const allocation = obj(r.allocation) as unknown as Allocation;
    const status = (str(r.status) || allocation.status || 'committed') as Allocation['status'];
    return {
      name: str(r.name, allocation.name),
      host: str(r.host, str(b.name)),
      status,
      allocation: { ...allocation, name: str(r.name, allocation.name), status },
      placement: r.placement === null || r.placement === undefined ? null : (r.placement as VmRecordView['placement']),
    };
  });
  const name = str(b.name, topology.hostname ?? 'host');
  const view: HostView = {
    id: name,
    name,
    topology,
    reserve: { cpus: Array.isArray(reserve.cpus) ? (reserve.cpus as number[]) : [], memory: Array.isArray(reserve.memory) ? (reserve.memory as HostReserve['memory']) : [] },
    allocations: vms.map((v) => v.allocation).sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0)),
  };
  return { view, vms, generation: typeof b.generation === 'number' ? b.generation : null };
}

/** Reads one row of the host list. */
export function toFleetRow(row: unknown): FleetRow {
  const r = obj(row);
  const cpus = obj(r.cpus);
  const memory = obj(r.memory);
  return {
    name: str(r.name),
    source: str(r.source),
    nodes: num(r.nodes),
    cpus: { total: num(cpus.total, num(r.totalCpus)), free: num(cpus.free, num(r.freeCpus)) },
    memory: { total: num(memory.total, num(r.totalMemory)), free: num(memory.free, num(r.freeMemory)) },
    vms: num(r.vms),
  };
}

/** The place form's fields (strings as typed). */
export interface PlaceFields {
  name: string;
  vcpus: string;
  memory: string;
  pages: string;
  numa: string;
  devices: string;
}

/**
 * A field the compact form cannot carry: a comma or "=" would be read as the start of another field,
 * so the page refuses such a value itself, naming the field. Null when every field can be sent.
 */
export function specProblem(f: PlaceFields): { field: keyof PlaceFields; message: string } | null {
  for (const key of ['name', 'vcpus', 'memory', 'pages', 'numa', 'devices'] as const) {
    if (/[,=]/.test(f[key])) return { field: key, message: 'commas and "=" are not allowed here' };
  }
  return null;
}

/** The compact request (`name=web,vcpus=4,memory=8G,...`), defaults and empty fields left out. */
export function vmSpec(f: PlaceFields): string {
  const clean = (s: string): string => s.replace(/\s+/g, '');
  const parts = [`name=${clean(f.name)}`, `vcpus=${clean(f.vcpus)}`, `memory=${clean(f.memory)}`];
  const pages = clean(f.pages);
  if (pages !== '' && pages.toUpperCase() !== '4K') parts.push(`pages=${pages}`);
  const numa = clean(f.numa);
  if (numa !== '' && numa !== 'auto') parts.push(`numa=${numa}`);
  const devices = clean(f.devices);
  if (devices !== '') parts.push(`devices=${devices}`);
  return parts.join(',');
}

/** The body of POST /api/v1/vms. */
export function placeBody(f: PlaceFields, host: string): { vm: string; host?: string } {
  return host === '' ? { vm: vmSpec(f) } : { vm: vmSpec(f), host };
}

/** Reads the answer of POST /api/v1/vms. */
export function toPlaceAnswer(status: number, body: unknown): PlaceAnswer {
  const b = obj(body);
  if (status >= 400 || b.error !== undefined) {
    const e = obj(b.error);
    return {
      kind: 'error',
      status,
      code: str(e.code, `HTTP ${status}`),
      field: typeof e.field === 'string' ? e.field : null,
      message: str(e.message, typeof body === 'string' ? body : 'the service refused the request'),
    };
  }
  if (b.ok === true && b.placement) {
    return { kind: 'placed', host: str(b.host), status: str(b.status, 'committed'), placement: b.placement as Placement };
  }
  if (b.ok === false) {
    const out: PlaceAnswer = {
      kind: 'refused',
      reasons: Array.isArray(b.reasons) ? (b.reasons as RefusalReason[]) : [],
      hints: Array.isArray(b.hints) ? (b.hints as unknown[]).map((h) => String(h)) : [],
    };
    if (typeof b.hostsConsidered === 'number') out.hostsConsidered = b.hostsConsidered;
    return out;
  }
  return { kind: 'error', status, code: 'ERR_UNEXPECTED', field: null, message: 'the service answered in an unexpected shape' };
}

const FIELD_INPUTS: Record<string, keyof PlaceFields> = {
  name: 'name',
  vcpus: 'vcpus',
  memory: 'memory',
  mem: 'memory',
  pagesize: 'pages',
  pages: 'pages',
  numa: 'numa',
  devices: 'devices',
};

/** The form field an error's `field` points at, or null (e.g. "vm.devices[0].kind" -> "devices"). */
export function inputForField(field: string | null): keyof PlaceFields | null {
  if (!field) return null;
  const parts = field.split(/[.[\]]/).filter((p) => p !== '' && p !== 'vm' && !/^\d+$/.test(p));
  for (const p of parts) {
    const hit = FIELD_INPUTS[p.toLowerCase()];
    if (hit) return hit;
  }
  return null;
}

/** "vm-1" -> "vm-2"; "db" -> "db-2". */
export function nextName(name: string): string {
  const m = /^(.*?)(\d+)$/.exec(name);
  return m ? `${m[1]}${Number(m[2]) + 1}` : `${name}-2`;
}
