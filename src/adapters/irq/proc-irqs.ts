/**
 * A device's interrupts as the kernel shows them, and moving them: the MSI/MSI-X vectors a PCI
 * function owns (/sys/bus/pci/devices/ADDR/msi_irqs/), their names (/proc/interrupts), their
 * affinity (/proc/irq/N/smp_affinity_list, effective_affinity_list); writing smp_affinity_list and
 * reading it back; whether irqbalance runs (and which IRQs it was told to leave alone). Every path is
 * under `root` ("/" for this machine), so a captured tree reads like the live one.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatCpuList, parseCpuList } from '../../core/topology/cpulist.js';
import type { IrqVector } from '../../core/irq/plan.js';
import type { DeviceClass } from '../../core/topology/model.js';
import { classifyPci } from '../sysfs/pci.js';

/** Error for a device or IRQ that cannot be read (the CLI exits 2). */
export class IrqError extends Error {
  readonly code = 'ERR_IRQ';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'IrqError';
  }
}

const read = (path: string): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};

/** The names of /proc/interrupts by IRQ number (the handler names after the counts, chip and hardware IRQ). */
export function parseProcInterrupts(text: string): Map<number, string> {
  const lines = text.split('\n');
  const cpus = (lines[0] ?? '').trim().split(/\s+/).filter((t) => /^CPU\d+$/.test(t)).length;
  const out = new Map<number, string>();
  for (const line of lines.slice(1)) {
    const m = /^\s*(\d+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const rest = (m[2] as string).trim().split(/\s+/).slice(cpus);
    out.set(Number(m[1]), rest.length >= 3 ? rest.slice(2).join(' ') : rest.join(' '));
  }
  return out;
}

/** What sysfs says of a PCI function for its interrupts. */
export interface IrqDevice {
  address: string;
  /** numa_node (null for -1 or absent). */
  node: number | null;
  localCpus: number[] | null;
  vectors: IrqVector[];
}

/** Normalises "41:00.0" or "0000:41:00.0" to "0000:41:00.0". */
export function pciAddress(text: string): string {
  const a = text.trim().toLowerCase();
  if (/^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(a)) return `0000:${a}`;
  if (/^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(a)) return a;
  throw new IrqError('--device', `"${text}" is not a PCI address (domain:bus:device.function, e.g. 0000:41:00.0)`);
}

/** Reads a device's vectors. Throws IrqError when the device does not exist. */
export function readIrqDevice(address: string, root = '/'): IrqDevice {
  const dir = join(root, 'sys', 'bus', 'pci', 'devices', address);
  if (!existsSync(dir)) throw new IrqError('--device', `no PCI device ${address} on this host (${join(root, 'sys/bus/pci/devices')})`);
  const nodeText = read(join(dir, 'numa_node'))?.trim();
  const node = nodeText === undefined || !/^\d+$/.test(nodeText) ? null : Number(nodeText);
  const lc = read(join(dir, 'local_cpulist'))?.trim();
  const localCpus = lc ? parseCpuList(lc) : null;
  let irqs: number[] = [];
  try {
    irqs = readdirSync(join(dir, 'msi_irqs')).filter((f) => /^\d+$/.test(f)).map(Number).sort((a, b) => a - b);
  } catch {
    irqs = [];
  }
  const names = parseProcInterrupts(read(join(root, 'proc', 'interrupts')) ?? '');
  const vectors = irqs.map((irq): IrqVector => {
    const base = join(root, 'proc', 'irq', String(irq));
    const aff = read(join(base, 'smp_affinity_list'))?.trim() ?? '';
    const eff = read(join(base, 'effective_affinity_list'))?.trim();
    return { irq, name: names.get(irq) ?? '', affinity: aff ? parseCpuList(aff) : [], effective: eff ? parseCpuList(eff) : null };
  });
  return { address, node, localCpus, vectors };
}

/** The PCI functions of the host that own MSI/MSI-X vectors, with their class and count. */
export function devicesWithVectors(root = '/'): { address: string; class: DeviceClass; node: number | null; vectors: number }[] {
  const base = join(root, 'sys', 'bus', 'pci', 'devices');
  let list: string[] = [];
  try {
    list = readdirSync(base).sort();
  } catch {
    return [];
  }
  const out: { address: string; class: DeviceClass; node: number | null; vectors: number }[] = [];
  for (const a of list) {
    let n = 0;
    try {
      n = readdirSync(join(base, a, 'msi_irqs')).filter((f) => /^\d+$/.test(f)).length;
    } catch {
      continue;
    }
    if (n === 0) continue;
    const t = read(join(base, a, 'numa_node'))?.trim();
    const code = Number.parseInt(read(join(base, a, 'class'))?.trim() ?? '0', 16) || 0;
    const vendor = Number.parseInt(read(join(base, a, 'vendor'))?.trim() ?? '0', 16) || 0;
    const rdma = existsSync(join(base, a, 'infiniband'));
    out.push({ address: a, class: classifyPci(code, vendor, rdma), node: t !== undefined && /^\d+$/.test(t) ? Number(t) : null, vectors: n });
  }
  return out;
}

/** The outcome of moving one vector. */
export interface IrqApplied {
  irq: number;
  planned: string;
  /** smp_affinity_list read back after the write. */
  observed: string;
  ok: boolean;
  /** Why the write failed, when it did (EIO: the kernel manages this vector's affinity). */
  error: string | null;
  managed: boolean;
}

/** Writes a vector's affinity and reads it back. */
export function applyIrqAffinity(irq: number, cpus: readonly number[], root = '/'): IrqApplied {
  const file = join(root, 'proc', 'irq', String(irq), 'smp_affinity_list');
  const planned = formatCpuList(cpus);
  let error: string | null = null;
  let managed = false;
  try {
    writeFileSync(file, `${planned}\n`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    managed = code === 'EIO';
    error = managed ? 'EIO: the kernel manages this vector\'s affinity (a managed interrupt); it cannot be moved from user space' : `${code || (err as Error).message}`;
  }
  const observed = formatCpuList(parseCpuList(read(file)?.trim() ?? ''));
  return { irq, planned, observed, ok: observed === planned, error, managed };
}

/** irqbalance, when it runs: its pid and the IRQs its command line bans. */
export function irqbalanceStatus(root = '/'): { pid: number; banned: number[] } | null {
  let pids: string[] = [];
  try {
    pids = readdirSync(join(root, 'proc')).filter((p) => /^\d+$/.test(p));
  } catch {
    return null;
  }
  for (const p of pids) {
    if (read(join(root, 'proc', p, 'comm'))?.trim() !== 'irqbalance') continue;
    const args = (read(join(root, 'proc', p, 'cmdline')) ?? '').split('\0');
    const banned: number[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i] as string;
      const m = /^(?:--banirq=|-i)(\d+)$/.exec(a);
      if (m) banned.push(Number(m[1]));
      else if ((a === '--banirq' || a === '-i') && /^\d+$/.test(args[i + 1] ?? '')) banned.push(Number(args[++i]));
    }
    return { pid: Number(p), banned };
  }
  return null;
}
