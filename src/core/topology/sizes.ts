/**
 * Binary sizes as QEMU and libvirt read them: "16G" is 16 GiB; K, M, G, T suffixes (optionally
 * followed by "iB" or "B"); a plain number is bytes.
 */

const UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
  P: 1024 ** 5,
};

/** Error for a size string that cannot be read; carries a `code` for input errors. */
export class SizeError extends Error {
  readonly code = 'ERR_SIZE';
  constructor(message: string) {
    super(message);
    this.name = 'SizeError';
  }
}

/** Parses "16G", "2M", "1GiB", "512k", "4096" into bytes (an integer). */
export function parseSize(text: string | number): number {
  if (typeof text === 'number') {
    if (!Number.isSafeInteger(text) || text < 0) throw new SizeError(`size ${text} is not a whole number of bytes`);
    return text;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtpKMGTPbB]?)(?:i?[bB])?\s*$/.exec(text);
  if (!m) throw new SizeError(`cannot read size "${text}" (expected e.g. 512M, 16G, 1T or a byte count)`);
  const unit = UNITS[(m[2] ?? '').toUpperCase()] as number;
  const bytes = Number(m[1]) * unit;
  if (!Number.isSafeInteger(Math.round(bytes))) throw new SizeError(`size "${text}" is too large`);
  return Math.round(bytes);
}

/** Formats bytes the way an operator reads them: "64 GiB", "1.5 GiB", "2 MiB", "0 B". */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let i = 0;
  while (Math.abs(value) >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  const text = Number.isInteger(value) ? `${value}` : value.toFixed(value >= 100 ? 0 : 1).replace(/\.0$/, '');
  return `${text} ${units[i]}`;
}

/**
 * A size with the largest binary suffix that divides it, as QEMU, Cloud Hypervisor and the CLI write
 * page sizes: 4096 -> "4K", 2 MiB -> "2M", 1 GiB -> "1G", 64 GiB -> "64G"; a plain byte count otherwise.
 */
export function pageSizeLabel(bytes: number): string {
  for (const [suffix, unit] of [
    ['T', 1024 ** 4],
    ['G', 1024 ** 3],
    ['M', 1024 ** 2],
    ['K', 1024],
  ] as const) {
    if (bytes >= unit && bytes % unit === 0) return `${bytes / unit}${suffix}`;
  }
  return `${bytes}`;
}
