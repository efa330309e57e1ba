/**
 * hwloc bitmap strings (cpusets and nodesets): comma-separated 32-bit hex words, most significant
 * first, each optionally prefixed with "0x". An empty word is a zero word; a leading "0xf...f" word
 * means every higher bit is set too (an infinite set, which hwloc uses for "all, whatever exists").
 */

import { MAX_MASK_WORDS } from '../../core/topology/cpulist.js';

/** A parsed hwloc bitmap: the finite bits, and whether every bit above them is set as well. */
export interface HwlocBitmap {
  /** Set bit indexes, ascending. */
  bits: number[];
  /** True for "0xf...f,..." sets: all bits beyond the listed words are set. */
  infinite: boolean;
}

/** Parses an hwloc bitmap string; returns null when the text is not one (or reaches beyond MAX_CPU_ID). */
export function parseHwlocBitmap(text: string): HwlocBitmap | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  const words = trimmed.split(',');
  if (words.length > MAX_MASK_WORDS + 1) return null;
  let infinite = false;
  if (/^0xf\.\.\.f$/i.test((words[0] ?? '').trim())) {
    infinite = true;
    words.shift();
  }
  const bits: number[] = [];
  for (let wi = 0; wi < words.length; wi++) {
    const raw = (words[words.length - 1 - wi] as string).trim().replace(/^0x/i, '');
    if (raw === '') continue;
    if (!/^[0-9a-f]{1,8}$/i.test(raw)) return null;
    const value = Number.parseInt(raw, 16);
    for (let bit = 0; bit < 32; bit++) {
      if ((value >>> bit) & 1) bits.push(wi * 32 + bit);
    }
  }
  return { bits: bits.sort((a, b) => a - b), infinite };
}

/** Formats indexes the way hwloc writes them: "0x" words of 8 hex digits, most significant first. */
export function formatHwlocBitmap(indexes: Iterable<number>): string {
  const list = [...new Set(indexes)];
  if (list.length === 0) return '0x0';
  const max = Math.max(...list);
  const words = new Array<number>(Math.floor(max / 32) + 1).fill(0);
  for (const c of list) {
    const w = Math.floor(c / 32);
    words[w] = ((words[w] as number) | (1 << (c % 32))) >>> 0;
  }
  return words
    .reverse()
    .map((w) => `0x${w.toString(16).padStart(8, '0')}`)
    .join(',');
}
