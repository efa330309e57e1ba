/**
 * Parses trace text, line by line, so files of any size stream through it. Formats, told apart by the
 * first line:
 *
 * - `vmid,cpu,mem,at,lt` (Huawei lifetime form): cores, GB, arrival s, lifetime s.
 * - `vmid,cpu,memory,time,type` (Huawei event log): type 0 creates, 1 deletes; a delete of a VM
 *   the log never created is ignored (it predates the log). Event order is kept as in the file.
 * - generic CSV: a header naming columns among `id, arrival, lifetime, vcpus, memory, pageSize,
 *   devices, numaPolicy` (`arrival`, `vcpus`, `memory` required). `memory`/`pageSize` are sizes
 *   ("16G", "2M", or bytes); `lifetime` empty = never leaves; `devices` is `class[:required|preferred]`
 *   items separated by `;` (default locality: preferred); `numaPolicy` is auto|local|interleave|spread.
 * - JSONL: one JSON object per line with the same field names (`memory` a size string or bytes).
 * Blank lines and lines starting with `#` are skipped. A bad row throws TraceError naming the line and
 * field, unless `skipBad` is set: then it is counted in `skipped`.
 */
import { SizeError, parseSize } from '../topology/sizes.js';
import {
  CREATE,
  DELETE,
  type Trace,
  type TraceDevice,
  TraceError,
  type TraceFormat,
  type TraceNumaPolicy,
  type TraceRequest,
} from './trace.js';

const GIB = 1024 ** 3;
const GENERIC_COLUMNS = ['id', 'arrival', 'lifetime', 'vcpus', 'memory', 'pageSize', 'devices', 'numaPolicy'] as const;
const NUMA_POLICIES: readonly TraceNumaPolicy[] = ['auto', 'local', 'interleave', 'spread'];

/** Parser options. */
export interface TraceParseOptions {
  /** File name for messages. */
  path: string;
  /** Skip rows that cannot be read (count them) instead of failing. */
  skipBad?: boolean;
}

/** A streaming trace parser: feed lines (or chunks), then `finish()`. */
export class TraceParser {
  private readonly path: string;
  private readonly skipBad: boolean;
  private lineNo = 0;
  private format: TraceFormat | null = null;
  private columns: Map<string, number> = new Map();
  private readonly requests: TraceRequest[] = [];
  private skipped = 0;
  private rest = '';
  // event-log state
  private readonly evKind: number[] = [];
  private readonly evReq: number[] = [];
  private readonly evTime: number[] = [];
  private readonly open = new Map<string, number>();
  private lastArrival = Number.NEGATIVE_INFINITY;
  private sorted = true;

  constructor(options: TraceParseOptions) {
    this.path = options.path;
    this.skipBad = options.skipBad === true;
  }

  /** Feeds a chunk of text (any split; partial lines are kept until the next chunk). */
  push(chunk: string): void {
    const text = this.rest + chunk;
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      this.line(text.slice(start, nl));
      start = nl + 1;
    }
    this.rest = text.slice(start);
  }

  /** Ends the input and returns the trace. */
  finish(): Trace {
    if (this.rest !== '') this.line(this.rest);
    this.rest = '';
    if (this.format === null) throw new TraceError(this.path, 1, 'header', 'empty trace (no header line)', 'ERR_TRACE');
    const trace: Trace = { source: this.path, format: this.format, requests: this.requests, skipped: this.skipped };
    if (this.format === 'huawei-events') {
      trace.events = {
        kind: Uint8Array.from(this.evKind),
        req: Int32Array.from(this.evReq),
        time: Float64Array.from(this.evTime),
      };
    } else if (!this.sorted) {
      // Keep the contract "requests sorted by arrival" (stable: ties keep file order).
      const order = this.requests.map((_, i) => i).sort((a, b) => (this.requests[a]?.arrival ?? 0) - (this.requests[b]?.arrival ?? 0) || a - b);
      trace.requests = order.map((i) => this.requests[i] as TraceRequest);
    }
    return trace;
  }

  private line(raw: string): void {
    this.lineNo++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.startsWith('#')) return;
    if (this.format === null) {
      this.header(line);
      return;
    }
    try {
      this.row(line);
    } catch (err) {
      if (err instanceof TraceError && this.skipBad) {
        this.skipped++;
        return;
      }
      throw err;
    }
  }

  private header(line: string): void {
    if (line.trimStart().startsWith('{')) {
      this.format = 'jsonl';
      this.row(line);
      return;
    }
    const names = line.split(',').map((s) => s.trim());
    const joined = names.join(',');
    if (joined === 'vmid,cpu,mem,at,lt') this.format = 'huawei-lifetime';
    else if (joined === 'vmid,cpu,memory,time,type') this.format = 'huawei-events';
    else {
      names.forEach((name, i) => {
        if (!(GENERIC_COLUMNS as readonly string[]).includes(name)) {
          throw this.error('header', `unknown column "${name}" (expected: ${GENERIC_COLUMNS.join(', ')}, or a Huawei trace header)`);
        }
        this.columns.set(name, i);
      });
      for (const need of ['arrival', 'vcpus', 'memory']) {
        if (!this.columns.has(need)) throw this.error('header', `missing column "${need}"`);
      }
      this.format = 'csv';
    }
  }

  private row(line: string): void {
    switch (this.format) {
      case 'huawei-lifetime': {
        const f = this.fields(line, 5);
        const arrival = this.num(f[3], 'at', 0);
        this.add({
          id: f[0] as string,
          arrival,
          lifetime: this.num(f[4], 'lt', 0),
          vcpus: this.num(f[1], 'cpu', 1e-9),
          memory: Math.round(this.num(f[2], 'mem', 1e-9) * GIB),
          pageSize: null,
          devices: [],
          numaPolicy: 'auto',
        });
        return;
      }
      case 'huawei-events': {
        const f = this.fields(line, 5);
        const id = f[0] as string;
        const time = this.num(f[3], 'time', 0);
        const type = f[4]?.trim();
        if (type !== '0' && type !== '1') throw this.error('type', `"${type}" is not 0 (create) or 1 (delete)`);
        const vcpus = this.num(f[1], 'cpu', 1e-9);
        const memory = Math.round(this.num(f[2], 'memory', 1e-9) * GIB);
        if (type === '0') {
          if (this.open.has(id)) throw this.error('vmid', `VM ${id} created twice without a delete`);
          const index = this.requests.length;
          this.requests.push({ id, arrival: time, lifetime: null, vcpus, memory, pageSize: null, devices: [], numaPolicy: 'auto' });
          this.open.set(id, index);
          this.pushEvent(CREATE, index, time);
        } else {
          const index = this.open.get(id);
          if (index === undefined) return; // created before the log began
          this.open.delete(id);
          const req = this.requests[index] as TraceRequest;
          req.lifetime = Math.max(0, time - req.arrival);
          this.pushEvent(DELETE, index, time);
        }
        return;
      }
      case 'csv': {
        const f = line.split(',');
        const get = (name: string): string | undefined => {
          const i = this.columns.get(name);
          return i === undefined ? undefined : f[i]?.trim();
        };
        if (f.length !== this.columns.size) this.fail('row', `expected ${this.columns.size} fields, found ${f.length}`);
        this.generic(get('id') || String(this.requests.length), get('arrival'), get('lifetime'), get('vcpus'), get('memory'), get('pageSize'), get('devices'), get('numaPolicy'));
        return;
      }
      case 'jsonl': {
        let obj: Record<string, unknown>;
        try {
          obj = JSON.parse(line) as Record<string, unknown>;
        } catch (err) {
          throw this.error('json', (err as Error).message);
        }
        if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw this.error('json', 'not an object');
        const str = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : typeof v === 'object' ? JSON.stringify(v) : String(v));
        const devices = Array.isArray(obj.devices)
          ? obj.devices.map((d) => (typeof d === 'string' ? d : `${String((d as TraceDevice).class)}:${String((d as TraceDevice).locality ?? 'preferred')}`)).join(';')
          : str(obj.devices);
        this.generic(str(obj.id) ?? String(this.requests.length), str(obj.arrival), str(obj.lifetime), str(obj.vcpus), str(obj.memory), str(obj.pageSize), devices, str(obj.numaPolicy));
        return;
      }
      default:
        throw this.error('header', 'unknown format');
    }
  }

  private generic(
    id: string,
    arrival: string | undefined,
    lifetime: string | undefined,
    vcpus: string | undefined,
    memory: string | undefined,
    pageSize: string | undefined,
    devices: string | undefined,
    numaPolicy: string | undefined,
  ): void {
    const policy = (numaPolicy || 'auto') as TraceNumaPolicy;
    if (!NUMA_POLICIES.includes(policy)) this.fail('numaPolicy', `"${numaPolicy}" is not one of ${NUMA_POLICIES.join(', ')}`);
    this.add({
      id,
      arrival: this.num(arrival, 'arrival', 0),
      lifetime: lifetime === undefined || lifetime === '' ? null : this.num(lifetime, 'lifetime', 0),
      vcpus: this.num(vcpus, 'vcpus', 1e-9),
      memory: this.size(memory, 'memory', false) as number,
      pageSize: this.size(pageSize, 'pageSize', true),
      devices: this.devices(devices),
      numaPolicy: policy,
    });
  }

  private add(r: TraceRequest): void {
    if (r.arrival < this.lastArrival) this.sorted = false;
    this.lastArrival = r.arrival;
    this.requests.push(r);
  }

  private pushEvent(kind: number, req: number, time: number): void {
    this.evKind.push(kind);
    this.evReq.push(req);
    this.evTime.push(time);
  }

  private fields(line: string, count: number): string[] {
    const f = line.split(',');
    if (f.length !== count) this.fail('row', `expected ${count} fields, found ${f.length}`);
    return f;
  }

  private num(text: string | undefined, field: string, min: number): number {
    if (text === undefined || text.trim() === '') this.fail(field, 'missing');
    const v = Number(text);
    if (!Number.isFinite(v)) this.fail(field, `"${text}" is not a number`);
    if (v < min) this.fail(field, min > 0 ? `${v} must be positive` : `${v} must not be negative`);
    return v;
  }

  private size(text: string | undefined, field: string, optional: boolean): number | null {
    if (text === undefined || text === '') {
      if (optional) return null;
      this.fail(field, 'missing');
    }
    try {
      const v = parseSize(/^\d+$/.test(text) ? Number(text) : text);
      if (v <= 0) this.fail(field, 'must be positive');
      return v;
    } catch (err) {
      if (err instanceof SizeError) this.fail(field, err.message);
      throw err;
    }
  }

  private devices(text: string | undefined): TraceDevice[] {
    if (text === undefined || text === '') return [];
    return text.split(';').map((item) => {
      const [cls, loc = 'preferred'] = item.trim().split(':');
      if (!cls || !/^[a-z0-9-]+$/.test(cls)) this.fail('devices', `"${item}" is not class[:required|preferred|none]`);
      if (loc !== 'required' && loc !== 'preferred' && loc !== 'none') this.fail('devices', `locality "${loc}" is not required, preferred or none`);
      return { class: cls, locality: loc };
    });
  }

  private error(field: string, message: string): TraceError {
    return new TraceError(this.path, this.lineNo, field, message);
  }

  private fail(field: string, message: string): never {
    throw this.error(field, message);
  }
}

/** Parses a whole trace text at once. */
export function parseTrace(text: string, options: TraceParseOptions): Trace {
  const parser = new TraceParser(options);
  parser.push(text);
  return parser.finish();
}
