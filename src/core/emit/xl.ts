/**
 * Xen `xl.cfg` for a placement (xl.cfg(5)):
 *   name = "db"; type = "hvm"; vcpus = 16; memory = 65536        (MiB)
 *   cpus = ["1", "2", ...]                                     (element i: host CPUs of vCPU i)
 *   vnuma = [ [ "pnode=0", "size=8192", "vcpus=0-1", "vdistances=10,12" ], ... ]  (size in MiB)
 *   pci = [ "0000:c1:00.2" ]
 * Without host binding, `cpus` is left out (vnuma's `pnode` is mandatory in xl, so it stays).
 */
import { formatCpuList } from '../topology/cpulist.js';
import type { Topology } from '../topology/model.js';
import { EmitError } from './errors.js';
import { guestOf, type PlacementLike } from './guest.js';
import type { EmitOptions } from './options.js';

const MIB = 1024 * 1024;

/** The xl.cfg text of a placement. */
export function emitXlCfg(placement: PlacementLike, topology: Topology, options: EmitOptions = {}): string {
  const g = guestOf(placement, topology);
  if (g.memory % MIB !== 0) throw new EmitError('placement.memory', 'xl sizes memory in MiB; the placement is not a whole number of MiB');
  const lines = [`name = "${g.name}"`, 'type = "hvm"', `vcpus = ${g.vcpus}`, `memory = ${g.memory / MIB}`];
  if (options.hostBinding !== false) lines.push(`cpus = [ ${g.pins.map((c) => `"${c}"`).join(', ')} ]`);
  if (g.numa) {
    const rows = g.cells.map((c) => {
      const items = [`"pnode=${c.hostNode}"`, `"size=${c.memory / MIB}"`];
      if (c.vcpus.length > 0) items.push(`"vcpus=${formatCpuList(c.vcpus)}"`);
      items.push(`"vdistances=${(g.distances[c.id] ?? []).join(',')}"`);
      return `    [ ${items.join(', ')} ]`;
    });
    lines.push(`vnuma = [\n${rows.join(',\n')}\n]`);
  }
  if (g.devices.length > 0) lines.push(`pci = [ ${g.devices.map((d) => `"${d.address}"`).join(', ')} ]`);
  return `${lines.join('\n')}\n`;
}

/** A value of xl.cfg: string, number or (nested) list. */
export type XlValue = string | number | XlValue[];

/**
 * Parses xl.cfg text (KEY=VALUE pairs separated by newlines or ";", "#" comments, strings in
 * single or double quotes, decimal/octal/hex numbers, nested lists). Throws EmitError (ERR_XL_CFG)
 * with the line of the fault.
 */
export function parseXlCfg(text: string): Record<string, XlValue> {
  let i = 0;
  let line = 1;
  const out: Record<string, XlValue> = {};
  const fail = (msg: string): never => {
    throw new EmitError(`xl.cfg line ${line}`, msg, 'ERR_XL_CFG');
  };
  const skip = (newlines: boolean): void => {
    for (;;) {
      const c = text[i];
      if (c === '#') {
        while (i < text.length && text[i] !== '\n') i++;
      } else if (c === ' ' || c === '\t' || c === '\r' || (newlines && c === '\n')) {
        if (c === '\n') line++;
        i++;
      } else return;
    }
  };
  const value = (): XlValue => {
    skip(true);
    const c = text[i];
    if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) fail('unterminated string');
      const s = text.slice(i + 1, end);
      line += s.split('\n').length - 1;
      i = end + 1;
      return s;
    }
    if (c === '[') {
      i++;
      const list: XlValue[] = [];
      skip(true);
      if (text[i] === ']') {
        i++;
        return list;
      }
      for (;;) {
        list.push(value());
        skip(true);
        if (text[i] === ',') {
          i++;
          skip(true);
          if (text[i] === ']') {
            i++;
            return list;
          }
          continue;
        }
        if (text[i] === ']') {
          i++;
          return list;
        }
        fail(`expected "," or "]" in a list, found ${JSON.stringify(text[i] ?? 'end of file')}`);
      }
    }
    const m = /^(0x[0-9a-fA-F]+|\d+)/.exec(text.slice(i));
    if (!m) fail(`expected a string, number or list, found ${JSON.stringify(text.slice(i, i + 10) || 'end of file')}`);
    const tok = (m as RegExpExecArray)[1] as string;
    i += tok.length;
    if (tok.startsWith('0x')) return Number.parseInt(tok, 16);
    if (tok.length > 1 && tok.startsWith('0')) return Number.parseInt(tok, 8);
    return Number(tok);
  };
  for (;;) {
    skip(true);
    if (i >= text.length) return out;
    if (text[i] === ';') {
      i++;
      continue;
    }
    const m = /^([A-Za-z_][A-Za-z0-9_]*)/.exec(text.slice(i));
    if (!m) fail(`expected KEY=VALUE, found ${JSON.stringify(text.slice(i, i + 10))}`);
    const key = (m as RegExpExecArray)[1] as string;
    i += key.length;
    skip(false);
    if (text[i] !== '=') fail(`expected "=" after ${key}`);
    i++;
    out[key] = value();
    skip(false);
    if (i < text.length && text[i] !== '\n' && text[i] !== ';' && text[i] !== '#') fail(`unexpected ${JSON.stringify(text[i])} after the value of ${key}`);
  }
}

/** One vnuma entry, read back. */
export interface XlVnode {
  pnode: number;
  /** MiB. */
  size: number;
  vcpus: string | null;
  vdistances: number[];
}

/** Reads the vnuma list of a parsed xl.cfg (each entry a list of "key=value" strings). */
export function xlVnuma(cfg: Record<string, XlValue>): XlVnode[] {
  const v = cfg.vnuma;
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new EmitError('vnuma', 'must be a list of lists', 'ERR_XL_CFG');
  return v.map((entry, k) => {
    if (!Array.isArray(entry)) throw new EmitError(`vnuma[${k}]`, 'must be a list of "key=value" strings', 'ERR_XL_CFG');
    const kv = new Map<string, string>();
    for (const item of entry) {
      if (typeof item !== 'string' || !item.includes('=')) throw new EmitError(`vnuma[${k}]`, `expected "key=value", got ${JSON.stringify(item)}`, 'ERR_XL_CFG');
      kv.set(item.slice(0, item.indexOf('=')), item.slice(item.indexOf('=') + 1));
    }
    for (const key of kv.keys()) {
      if (!['pnode', 'size', 'vcpus', 'vdistances'].includes(key)) throw new EmitError(`vnuma[${k}].${key}`, 'unknown vnuma key', 'ERR_XL_CFG');
    }
    const num = (key: string): number => {
      const s = kv.get(key);
      if (s === undefined || !/^\d+$/.test(s)) throw new EmitError(`vnuma[${k}].${key}`, `expected a number, got ${JSON.stringify(s)}`, 'ERR_XL_CFG');
      return Number(s);
    };
    return {
      pnode: num('pnode'),
      size: num('size'),
      vcpus: kv.get('vcpus') ?? null,
      vdistances: (kv.get('vdistances') ?? '').split(',').filter((s) => s !== '').map(Number),
    };
  });
}
