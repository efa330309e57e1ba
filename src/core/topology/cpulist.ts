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

/** Error thrown for a malformed list; `code` lets callers turn it into an input error. */
export class CpuListError extends Error {
  readonly code = 'ERR_CPULIST';
  constructor(message: string) {
    super(message);
    this.name = 'CpuListError';
  }
}

const RANGE = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/;

/**
 * Parses a cpulist ("0-3,8-11", "0-15:2" stride form as the kernel accepts, or "" for empty)
 * into a sorted array of unique indexes.
 */
export function parseCpuList(text: string): number[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const seen = new Set<number>();
  for (const part of trimmed.split(',')) {
    const m = RANGE.exec(part.trim());
    if (!m) throw new CpuListError(`bad cpulist element "${part}" in "${trimmed}"`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    const stride = m[3] === undefined ? 1 : Number(m[3]);
    if (hi < lo) throw new CpuListError(`descending range "${part}" in "${trimmed}"`);
    if (stride < 1) throw new CpuListError(`zero stride in "${part}"`);
    if (hi > 1 << 22) throw new CpuListError(`index ${hi} too large in "${trimmed}"`);
    for (let i = lo; i <= hi; i += stride) seen.add(i);
  }
  return [...seen].sort((a, b) => a - b);
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

/**
 * Parses a cpumask: comma-separated hex words, most significant word first. Accepts sysfs form
 * ("ff,00000001") and hwloc form ("0x000000ff,0x00000001"); an optional leading "0x" on each word.
 * hwloc's infinite masks ("0xf...f") are rejected: a topology never has infinitely many CPUs.
 */
export function parseCpuMask(text: string): number[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const words = trimmed.split(',').map((w) => w.trim().replace(/^0x/i, ''));
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
