/**
 * The one place where CPU and node lists are parsed and printed.
 *
 * Two textual forms exist in the wild:
 * - cpulist ("0-3,8-11"): what sysfs `cpulist`/`local_cpulist` files, numactl, libvirt and QEMU use;
 * - cpumask ("00000000,0000ff0f"): comma-separated 32-bit hex words, most significant first, as in
 *   sysfs `cpumap`/`local_cpus`; hwloc XML uses the same with "0x" prefixes on each word.
 *
 * Indexes are OS indexes (what the kernel calls cpu37), never logical ones.
 */

import { MAX_CPU_ID } from './limits.js';

/** Error thrown for a malformed list; `code` lets callers turn it into an input error. */
export class CpuListError extends Error {
  readonly code = 'ERR_CPULIST';
  constructor(message: string) {
    super(message);
    this.name = 'CpuListError';
  }
}

const RANGE = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/;

/** Bounds a list is parsed against (the host's, when known). */
export interface ListLimits {
  /** Largest index allowed (default MAX_CPU_ID). */
  maxId?: number;
  /** Most entries the list may expand to, counting repeats (default maxId + 1). */
  maxCount?: number;
  /** What the entries are, for messages ("CPU", "node"); default "index". */
  what?: string;
}

/**
 * Expands a cpulist in the order written (ranges ascending), checking every element against the
 * limits before expanding it: an index above `maxId` or a list longer than `maxCount` is refused
 * without a single entry being generated for it.
 */
function expandList(text: string, limits: ListLimits, visit: (i: number) => void): void {
  const trimmed = text.trim();
  if (trimmed === '') return;
  const maxId = limits.maxId ?? MAX_CPU_ID;
  const maxCount = limits.maxCount ?? maxId + 1;
  const what = limits.what ?? 'index';
  const shown = trimmed.length > 60 ? `${trimmed.slice(0, 57)}...` : trimmed;
  let count = 0;
  let start = 0;
  while (start <= trimmed.length) {
    let end = trimmed.indexOf(',', start);
    if (end < 0) end = trimmed.length;
    const part = trimmed.slice(start, end);
    start = end + 1;
    const m = RANGE.exec(part.trim());
    if (!m) throw new CpuListError(`bad cpulist element "${part.slice(0, 40)}" in "${shown}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    const stride = m[3] === undefined ? 1 : Number(m[3]);
    if (hi < lo) throw new CpuListError(`descending range "${part}" in "${shown}"`);
    if (stride < 1) throw new CpuListError(`zero stride in "${part}"`);
    if (hi > maxId) throw new CpuListError(`${what} ${hi} is beyond the largest there is (${maxId}) in "${shown}"`);
    count += Math.floor((hi - lo) / stride) + 1;
    if (count > maxCount) throw new CpuListError(`"${shown}" lists more than ${maxCount} ${what === 'index' ? 'entries' : `${what}s`}`);
    for (let i = lo; i <= hi; i += stride) visit(i);
  }
}

/**
 * Parses a cpulist ("0-3,8-11", "0-15:2" stride form as the kernel accepts, or "" for empty)
 * into a sorted array of unique indexes, bounded by `limits` (see `ListLimits`).
 */
export function parseCpuList(text: string, limits: ListLimits = {}): number[] {
  const seen = new Set<number>();
  expandList(text, limits, (i) => seen.add(i));
  return [...seen].sort((a, b) => a - b);
}

/**
 * Parses a cpulist keeping the order it was written in, repeats included ("350,183,74" stays
 * [350, 183, 74]): for lists whose order means something, such as one host CPU per vCPU.
 */
export function parseCpuListInOrder(text: string, limits: ListLimits = {}): number[] {
  const out: number[] = [];
  expandList(text, limits, (i) => out.push(i));
  return out;
}

/**
 * Formats indexes as the shortest cpulist: every run of consecutive indexes becomes "a-b" (a pair
 * too, "0-1", as the kernel prints it). Input need not be sorted or unique.
 */
export function formatCpuList(cpus: Iterable<number>): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    const start = sorted[i] as number;
    let end = start;
    while (i + 1 < sorted.length && sorted[i + 1] === end + 1) {
      i++;
      end++;
    }
    parts.push(end === start ? `${start}` : `${start}-${end}`);
    i++;
  }
  return parts.join(',');
}

/** 32-bit words of a mask that reaches MAX_CPU_ID. */
export const MAX_MASK_WORDS = Math.ceil((MAX_CPU_ID + 1) / 32);

/**
 * Parses a cpumask: comma-separated hex words, most significant word first. Accepts sysfs form
 * ("ff,00000001") and hwloc form ("0x000000ff,0x00000001"); an optional leading "0x" on each word.
 * hwloc's infinite masks ("0xf...f") are rejected: a topology never has infinitely many CPUs.
 */
export function parseCpuMask(text: string): number[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const words = trimmed.split(',').map((w) => w.trim().replace(/^0x/i, ''));
  if (words.length > MAX_MASK_WORDS) throw new CpuListError(`cpumask of ${words.length} words is longer than the largest there is (${MAX_MASK_WORDS} words, CPU ${MAX_CPU_ID})`);
  const out: number[] = [];
  for (let wi = 0; wi < words.length; wi++) {
    const word = words[words.length - 1 - wi] as string;
    if (word === '') continue;
    if (!/^[0-9a-f]{1,8}$/i.test(word)) throw new CpuListError(`bad cpumask word "${word}" in "${trimmed}"`);
    const value = Number.parseInt(word, 16);
    for (let bit = 0; bit < 32; bit++) {
      if (value & (1 << bit)) out.push(wi * 32 + bit);
    }
  }
  return out.sort((a, b) => a - b);
}

/** Formats indexes as a sysfs-style cpumask (32-bit words, most significant first, no prefix). */
export function formatCpuMask(cpus: Iterable<number>, options: { prefix?: boolean } = {}): string {
  const list = [...new Set(cpus)];
  const max = list.length === 0 ? 0 : Math.max(...list);
  const nwords = Math.floor(max / 32) + 1;
  const words = new Array<number>(nwords).fill(0);
  for (const c of list) {
    const w = Math.floor(c / 32);
    words[w] = ((words[w] as number) | (1 << (c % 32))) >>> 0;
  }
  const pre = options.prefix ? '0x' : '';
  return words
    .reverse()
    .map((w) => pre + w.toString(16).padStart(8, '0'))
    .join(',');
}
