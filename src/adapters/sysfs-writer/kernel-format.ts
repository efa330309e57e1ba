/**
 * Text formats of Linux sysfs/procfs files, byte for byte as the kernel prints them.
 *
 * - lists (`cpulist`, `*_list`, `online`): `%*pbl` — ranges "a-b" for every run of two or more
 *   consecutive indexes (so "0-1", not "0,1"), comma-separated, newline-terminated;
 * - masks (`cpumap`, `*_cpus`, `shared_cpu_map`, `local_cpus`): `%*pb` — exactly `nbits` bits
 *   (nr_cpu_ids for CPU masks) as comma-separated 32-bit hex words, most significant first; the
 *   first word only as wide as the leftover bits need ("0000,000000ff,ffffffff" for 80 bits);
 * - memory lines: `%8lu kB` columns behind a label padded to a fixed width.
 */

import { formatCpuList } from '../../core/topology/cpulist.js';

/** Formats indexes as the kernel's list form ("0-3,8-11"), without the trailing newline. */
export const kernelList: (indexes: Iterable<number>) => string = formatCpuList;

/**
 * Formats indexes as the kernel's mask form over `nbits` bits, without the trailing newline.
 * Indexes at or above `nbits` are an error: the kernel cannot print them either.
 */
export function kernelMask(indexes: Iterable<number>, nbits: number): string {
  if (!Number.isInteger(nbits) || nbits < 1) throw new RangeError(`mask width must be a positive integer, got ${nbits}`);
  const nwords = Math.ceil(nbits / 32);
  const words = new Array<number>(nwords).fill(0);
  for (const i of indexes) {
    if (!Number.isInteger(i) || i < 0 || i >= nbits) throw new RangeError(`index ${i} does not fit a ${nbits}-bit mask`);
    const w = Math.floor(i / 32);
    words[w] = ((words[w] as number) | (1 << (i % 32))) >>> 0;
  }
  const firstBits = nbits % 32 === 0 ? 32 : nbits % 32;
  const out: string[] = [];
  for (let w = nwords - 1; w >= 0; w--) {
    const digits = w === nwords - 1 ? Math.ceil(firstBits / 4) : 8;
    out.push((words[w] as number).toString(16).padStart(digits, '0'));
  }
  return out.join(',');
}

/** Bytes to whole kibibytes, as meminfo files count them. */
export function toKb(bytes: number): number {
  return Math.floor(bytes / 1024);
}

/** One `/proc/meminfo` line: "MemTotal:       16318056 kB" (label padded to 16, value to 8). */
export function meminfoLine(label: string, kb: number): string {
  return `${`${label}:`.padEnd(16)}${String(kb).padStart(8)} kB`;
}

/** One `/proc/meminfo` huge-page count line: "HugePages_Total:     512" (label to 16, value to 8). */
export function meminfoCountLine(label: string, count: number): string {
  return `${`${label}:`.padEnd(16)}${String(count).padStart(8)}`;
}

/** One per-node meminfo line: "Node 0 MemTotal:       134204252 kB". */
export function nodeMeminfoLine(node: number, label: string, kb: number): string {
  return `Node ${node} ${`${label}:`.padEnd(16)}${String(kb).padStart(8)} kB`;
}

/** One per-node huge-page count line: "Node 0 HugePages_Total:     0". */
export function nodeMeminfoCountLine(node: number, label: string, count: number): string {
  return `Node ${node} ${`${label}:`.padEnd(17)}${String(count).padStart(5)}`;
}

/** The directory name of a huge-page pool: "hugepages-2048kB". */
export function hugepagesDirName(pageSize: number): string {
  return `hugepages-${toKb(pageSize)}kB`;
}
