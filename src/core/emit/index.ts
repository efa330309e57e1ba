/**
 * # Emitters
 *
 * A placement becomes the exact configuration of its consumer. Pure: text and `string[]` argv in,
 * text and `string[]` out; nothing is run here (apply lives in src/adapters/apply).
 *
 * - `guest.ts`: the guest a placement describes (cells, CPU topology rule, pins, devices);
 * - `libvirt.ts` (complete domain, fragment) and `libvirt-merge.ts` (merge into an existing domain);
 * - `qemu.ts`: argv and the vCPU pinning plan; `xl.ts`: xl.cfg and its parser;
 * - `cloud-hypervisor.ts`: argv and its parser; `numactl.ts`: numactl / taskset prefixes;
 * - `placement-file.ts`: placements read back from `numaplan place --json`.
 */
import type { Topology } from '../topology/model.js';
import { emitCloudHypervisor } from './cloud-hypervisor.js';
import { EmitError } from './errors.js';
import type { PlacementLike } from './guest.js';
import { emitLibvirtDomain, emitLibvirtFragment } from './libvirt.js';
import { mergeLibvirtDomain } from './libvirt-merge.js';
import { emitProcessCommands } from './numactl.js';
import type { EmitOptions } from './options.js';
import { type PinPlan, emitQemu } from './qemu.js';
import { emitXlCfg } from './xl.js';

export * from './cloud-hypervisor.js';
export * from './errors.js';
export * from './guest.js';
export * from './libvirt.js';
export * from './libvirt-merge.js';
export * from './numactl.js';
export * from './options.js';
export * from './placement-file.js';
export * from './qemu.js';
export * from './xl.js';

/** Targets `emitPlacement` knows. */
export const EMIT_FORMATS = ['libvirt', 'qemu', 'xl', 'cloud-hypervisor', 'numactl'] as const;
/** One of them. */
export type EmitFormat = (typeof EMIT_FORMATS)[number];

/** Options of `emitPlacement`: the emitters' own plus the libvirt mode. */
export interface EmitPlacementOptions extends EmitOptions {
  /** libvirt: complete domain (default), fragment, or merge into `existingDomain`. */
  libvirtMode?: 'complete' | 'fragment' | 'merge';
  /** libvirt merge: the existing domain XML. */
  existingDomain?: string;
}

/** What an emitter produced: text for files, argv for command lines. */
export interface Emitted {
  format: EmitFormat;
  name: string;
  /** The configuration as text (XML, xl.cfg, or the command line with its binary, shell-quoted, one option per line). */
  text: string;
  /** Command lines: the argv (without the binary for QEMU and Cloud Hypervisor; with it for numactl). */
  argv?: string[];
  /** QEMU and Cloud Hypervisor: the binary the argv is for. */
  binary?: string;
  /** QEMU: where each vCPU thread goes (`numaplan launch qemu` applies it). */
  pins?: PinPlan;
  /** numactl: the taskset alternative (CPU affinity only). */
  taskset?: string[];
}

/** Emits a placement for one target. Throws EmitError (ERR_...) for input it cannot use. */
export function emitPlacement(placement: PlacementLike, topology: Topology, format: EmitFormat, options: EmitPlacementOptions = {}): Emitted {
  const name = placement.name;
  switch (format) {
    case 'libvirt': {
      const mode = options.libvirtMode ?? 'complete';
      if (mode === 'merge') {
        if (options.existingDomain === undefined) throw new EmitError('existingDomain', 'merge mode needs the existing domain XML');
        return { format, name, text: mergeLibvirtDomain(options.existingDomain, placement, topology, options) };
      }
      const text = mode === 'fragment' ? emitLibvirtFragment(placement, topology, options) : emitLibvirtDomain(placement, topology, options);
      return { format, name, text };
    }
    case 'qemu': {
      const q = emitQemu(placement, topology, options);
      return { format, name, text: commandText(QEMU_BINARY, q.argv), argv: q.argv, binary: QEMU_BINARY, pins: q.pins };
    }
    case 'xl':
      return { format, name, text: emitXlCfg(placement, topology, options) };
    case 'cloud-hypervisor': {
      const argv = emitCloudHypervisor(placement, topology, options);
      return { format, name, text: commandText(CLOUD_HYPERVISOR_BINARY, argv), argv, binary: CLOUD_HYPERVISOR_BINARY };
    }
    case 'numactl': {
      const p = emitProcessCommands(placement, topology, options);
      return { format, name, text: `${shellQuote(p.numactl)}\n`, argv: p.numactl, taskset: p.taskset };
    }
    default:
      throw new EmitError('format', `unknown format "${String(format)}" (known: ${EMIT_FORMATS.join(', ')})`);
  }
}

/** The QEMU binary the emitted argv is for. */
export const QEMU_BINARY = 'qemu-system-x86_64';
/** The Cloud Hypervisor binary. */
export const CLOUD_HYPERVISOR_BINARY = 'cloud-hypervisor';

/** A runnable command for reading: the binary, then each option with its values on a line of its own. */
export function commandText(binary: string, argv: readonly string[]): string {
  const lines: string[][] = [[binary]];
  for (const a of argv) {
    if (a.startsWith('-')) lines.push([a]);
    else (lines[lines.length - 1] as string[]).push(a);
  }
  return `${lines.map((l) => shellQuote(l)).join(' \\\n  ')}\n`;
}

/**
 * Why a target cannot express a placement, or null: the check `numaplan place --emit FORMAT` runs
 * at placement time, so that a placement the target would refuse is never accepted.
 */
export function targetLimit(placement: PlacementLike, topology: Topology, format: EmitFormat, options: EmitPlacementOptions = {}): string | null {
  try {
    emitPlacement(placement, topology, format, options);
    return null;
  } catch (err) {
    if (err instanceof EmitError && err.code === 'ERR_TARGET') return err.message.replace(/^placement: /, '');
    throw err;
  }
}

/** Quotes argv for a POSIX shell, for display only (commands are run as argv, never as strings). */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
