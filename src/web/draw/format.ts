/**
 * Small formatters for the page (browser-safe: no imports). Sizes are binary (GiB), CPU sets are
 * printed as cpulists ("0-3,8-11") like the rest of numaplan.
 */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** "64 GiB", "1.5 GiB", "512 MiB", "0 B": at most one decimal, trailing ".0" dropped. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes <= 0) return '0 B';
  let i = 0;
  let v = bytes;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i += 1;
  }
  const text = v >= 100 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1).replace(/\.0$/, '');
  return `${text} ${UNITS[i]}`;
}

/** Page size label: "4K", "2M", "1G". */
export function pageLabel(bytes: number): string {
  if (bytes >= 1024 ** 3 && bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3}G`;
  if (bytes >= 1024 ** 2 && bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2}M`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024}K`;
  return `${bytes}B`;
}

/** Sorted, de-duplicated cpulist: [0,1,2,3,8] -> "0-3,8"; empty -> "". */
export function cpuList(cpus: Iterable<number>): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    const start = sorted[i] as number;
    let end = start;
    while (i + 1 < sorted.length && sorted[i + 1] === end + 1) {
      i += 1;
      end += 1;
    }
    out.push(start === end ? String(start) : `${start}-${end}`);
    i += 1;
  }
  return out.join(',');
}

/** "3 of 8" style ratio as a percentage 0..100, 0 when the total is 0. */
export function percent(part: number, total: number): number {
  return total > 0 ? Math.min(100, Math.max(0, (part / total) * 100)) : 0;
}
