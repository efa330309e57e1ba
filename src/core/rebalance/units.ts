/** Durations and rates as the rebalancing options are written: "10m", "30s", "1h", "500ms"; "1G/s". */
import { parseSize } from '../topology/sizes.js';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of "500ms", "30s", "10m", "1h", "1d" (a bare number is seconds); null when unreadable. */
export function parseDuration(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return null;
  return Math.round(Number(m[1]) * (DURATION_UNITS[m[2] ?? 's'] as number));
}

/** Bytes per second of "1G/s", "500M/s", "2GiB/s" (or a bare size, per second); null when unreadable. */
export function parseRate(text: string): number | null {
  const body = text.trim().replace(/\/s(ec)?$/i, '');
  try {
    const n = parseSize(body);
    return n > 0 ? n : null;
  } catch {
    return null;
  }
}
