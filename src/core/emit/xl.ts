/**
 * Xen `xl.cfg` for a placement (xl.cfg(5)):
 *   name = "db"; type = "hvm"; vcpus = 16; memory = 65536     (MiB)
 *   cpus = ["1", "2", ...]                                  (element i: host CPUs of vCPU i)
 *   vnuma = [ [ "pnode=0", "size=8192", "vcpus=0-1", "vdistances=10,12" ], ... ]  (size in MiB)
 *   pci = [ "0000:c1:00.2" ]
 *
 * Memory policy: memory of a vnode is allocated on exactly its pnode (libxl asks Xen for the exact
 * node), so `bind` is a vnuma, a one-vnode vnuma for a VM on one node. `preferred` on one node is
 * no vnuma: Xen then allocates from the nodes of the vCPUs' affinity first and falls back to others
 * when they run short. What xl cannot express is refused (`xlLimit`, EmitError ERR_TARGET):
 * interleaved memory (xl has no interleave policy), preferred memory over several nodes (vnodes are
 * exact), guest nodes without vCPUs or without memory (xl.cfg(5): every vnode option is mandatory;
 * libxl's HVM build puts the video RAM in vnode 0), memory that is not whole MiB.
 * Devices: xl cannot tell the guest a device's NUMA node; they are passed through as they are.
 * Without host binding, `cpus` is left out (vnuma's `pnode` is mandatory in xl, so it stays).
 *
 * The I/O part (io-threads.ts): virtio disks and NICs become Xen's PV devices, served in dom0 by
 * blkback and netback (the kernel's own workers: the equivalent of vhost=on):
 *   disk = [ "format=raw, vdev=xvda, access=rw, target=DIR/NAME-disk0.img", ... ]
 *   vif = [ "type=vif", ... ]                        (xl.conf's default bridge)
 * What xl.cfg cannot say is refused (`xlIoLimit`): I/O threads (Xen has no per-guest I/O threads:
 * blkback runs one kernel thread per ring in dom0), a queue count (netback and blkback take theirs
 * from dom0's module parameters, xen_netback.max_queues and xen_blkback.max_queues, for every guest),
 * CPUs of their own for the I/O threads (where the backends run is dom0's vCPU placement, not the
 * guest's configuration) and vhost=off (netback is always in dom0's kernel). The emulator thread (the
 * device model, QEMU in dom0 for an HVM guest) is not placed by xl.cfg either; a comment says on which
 * node's CPUs dom0 should serve the guest.
 */
import { formatCpuList } from '../topology/cpulist.js';
import type { Topology } from '../topology/model.js';
import { EmitError } from './errors.js';
import { type Guest, diskLetters, guestOf, type PlacementLike } from './guest.js';
import { type EmitOptions, diskImage } from './options.js';

const MIB = 1024 * 1024;
/** libxl's default video RAM of an HVM guest (cirrus on QEMU_XEN: 8 MiB), which vnode 0 must hold. */
export const XL_HVM_VIDEO_MIB = 8;

/** Xen's limit on an HVM guest's vCPUs (xen/include/public/hvm/hvm_info_table.h HVM_MAX_VCPUS). */
export const XEN_HVM_MAX_VCPUS = 128;

/** Why xl cannot express a guest, or null. */
export function xlLimit(g: Guest): string | null {
  if (g.vcpus > XEN_HVM_MAX_VCPUS) return `Xen runs HVM guests of at most ${XEN_HVM_MAX_VCPUS} vCPUs (HVM_MAX_VCPUS); the placement has ${g.vcpus}`;
  if (g.memory % MIB !== 0) return 'xl sizes memory in whole MiB; the placement is not a whole number of MiB';
  if (g.memoryPolicy === 'interleave') return 'xl has no interleaved memory policy: Xen allocates a guest\'s memory by node affinity or exactly per vnode';
  if (g.memoryPolicy === 'preferred' && g.memoryNodes.length > 1) {
    return 'xl cannot prefer several nodes: vnuma memory is allocated on exactly its pnode (strict), and without a vnuma Xen follows the vCPUs\' node affinity';
  }
  if (g.numa) {
    const bad = g.cells.filter((c) => c.vcpus.length === 0 || c.memory === 0);
    if (bad.length > 0) {
      const what = bad.map((c) => `guest node ${c.id} has no ${c.vcpus.length === 0 && c.memory === 0 ? 'vCPUs and no memory' : c.vcpus.length === 0 ? 'vCPUs' : 'memory'}`);
      return `xl.cfg(5) makes pnode, size, vcpus and vdistances mandatory for every vnode (and a size of 0 holds nothing); ${what.join(', ')} (a memory tier or a device's node): emit qemu or cloud-hypervisor instead`;
    }
  }
  const first = g.cells[0];
  if (first && first.memory < XL_HVM_VIDEO_MIB * MIB) return `libxl puts the HVM video RAM (${XL_HVM_VIDEO_MIB} MiB) in vnode 0, which holds ${first.memory / MIB} MiB`;
  return null;
}

/** Why xl cannot express the I/O part of a guest, or null. */
export function xlIoLimit(g: Guest): string | null {
  const io = g.io;
  if (!io) return null;
  if (io.iothreads.length > 0) return 'Xen has no per-guest I/O threads (blkback in dom0 serves each PV disk ring with a kernel thread of its own): drop iothreads=';
  if (io.devices.some((d) => d.queues !== null)) {
    return "xl.cfg has no per-guest queue count: netback and blkback take theirs from dom0's module parameters (xen_netback.max_queues, xen_blkback.max_queues) for every guest: drop queues=";
  }
  if (io.source !== 'vcpus') return "xl cannot give the guest's I/O CPUs of their own: the backends run on dom0's vCPUs, placed by dom0's own configuration: use iocpus=share";
  if (io.devices.some((d) => d.kind === 'net' && !d.vhost)) return "xl's PV NICs are always served by netback in dom0's kernel (the equivalent of vhost=on): drop vhost=off";
  return null;
}

/** The xl.cfg text of a placement. Throws EmitError (ERR_TARGET) for what xl cannot express. */
export function emitXlCfg(placement: PlacementLike, topology: Topology, options: EmitOptions = {}): string {
  const g = guestOf(placement, topology);
  const why = xlLimit(g) ?? xlIoLimit(g);
  if (why) throw new EmitError('placement', why, 'ERR_TARGET');
  const lines = [`name = "${g.name}"`, 'type = "hvm"', `vcpus = ${g.vcpus}`, `memory = ${g.memory / MIB}`];
  if (options.hostBinding !== false) lines.push(`cpus = [ ${g.pinSets.map((c) => `"${formatCpuList(c)}"`).join(', ')} ]`);
  const vnuma = g.numa || g.memoryPolicy === 'bind';
  if (vnuma) {
    const rows = g.cells.map((c) => {
      const items = [`"pnode=${c.hostNode}"`, `"size=${c.memory / MIB}"`, `"vcpus=${formatCpuList(c.vcpus)}"`, `"vdistances=${(g.distances[c.id] ?? []).join(',')}"`];
      return `    [ ${items.join(', ')} ]`;
    });
    if (!g.numa) lines.push('# one vnode: its memory is allocated on exactly this host node (numa=strict)');
    lines.push(`vnuma = [\n${rows.join(',\n')}\n]`);
  } else if (g.memoryPolicy === 'preferred') {
    lines.push(`# numa=preferred: memory comes from the vCPUs' node ${g.memoryNodes.join(',')} first, other nodes when it runs short`);
  }
  if (g.devices.length > 0) lines.push(`pci = [ ${g.devices.map((d) => `"${d.address}"`).join(', ')} ]`);
  const io = g.io;
  if (io && io.devices.length > 0) {
    const disks = io.devices.filter((d) => d.kind === 'disk');
    const nets = io.devices.filter((d) => d.kind === 'net');
    lines.push(`# I/O: blkback and netback serve these in dom0; run dom0's vCPUs on node ${io.hostNode}'s CPUs (${formatCpuList(io.cpus)}) to serve them from the node of the guest's devices`);
    if (disks.length > 0) lines.push(`disk = [ ${disks.map((d) => `"format=raw, vdev=xvd${diskLetters(d.index)}, access=rw, target=${diskImage(options, 'xl', g.name, d.index)}"`).join(', ')} ]`);
    if (nets.length > 0) lines.push(`vif = [ ${nets.map(() => '"type=vif"').join(', ')} ]`);
  }
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
