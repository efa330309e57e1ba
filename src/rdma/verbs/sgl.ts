/**
 * Scatter/gather lists resolved against registered memory. A work request resolves its SGL when it
 * is posted (lkey, bounds and access checked then); each piece remembers the region and the
 * region's generation, and every later copy checks that the region is still that registration and
 * its memory still there: after deregMr() (or an invalidation, or a detached ArrayBuffer) no byte of
 * the region is read or written, and the copy reports failure so the work request completes in
 * error, as on an RNIC.
 */
import { type MemoryRegion, memoryPresent } from './mr.js';

/** A resolved local buffer piece of an SGL. */
export interface LocalPiece {
  mr: MemoryRegion;
  /** The region's generation when the SGL was resolved. */
  generation: number;
  /** Byte offset in the region. */
  offset: number;
  length: number;
}

/** Whether the piece's region is still the registration it was resolved against, with its memory present. */
export function pieceLive(p: LocalPiece): boolean {
  return p.mr.valid && p.mr.generation === p.generation && memoryPresent(p.mr);
}

/** Whether every piece that bytes [from, from + length) of the SGL touch is live. */
export function rangeLive(pieces: readonly LocalPiece[], from: number, length: number): boolean {
  let skip = from;
  let left = length;
  for (const p of pieces) {
    if (left <= 0) break;
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    if (!pieceLive(p)) return false;
    left -= Math.min(p.length - skip, left);
    skip = 0;
  }
  return true;
}

/**
 * Copies `length` bytes starting at byte `from` of an SGL into `dst` at `dstOff`. Returns false,
 * having read nothing, when a region it would read was deregistered, invalidated or detached.
 */
export function gather(pieces: readonly LocalPiece[], from: number, length: number, dst: Uint8Array, dstOff: number): boolean {
  if (!rangeLive(pieces, from, length)) return false;
  let skip = from;
  let left = length;
  let o = dstOff;
  for (const p of pieces) {
    if (left === 0) break;
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    const n = Math.min(p.length - skip, left);
    const at = p.offset + skip;
    dst.set(p.mr.buffer.subarray(at, at + n), o);
    o += n;
    left -= n;
    skip = 0;
  }
  return true;
}

/**
 * Copies `src` into an SGL starting at byte `at` (the caller checked the total length). Returns
 * false, having written nothing, when a region it would write was deregistered, invalidated or
 * detached.
 */
export function scatter(pieces: readonly LocalPiece[], at: number, src: Uint8Array): boolean {
  if (!rangeLive(pieces, at, src.length)) return false;
  let skip = at;
  let s = 0;
  for (const p of pieces) {
    if (s === src.length) break;
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    const n = Math.min(p.length - skip, src.length - s);
    p.mr.buffer.set(src.subarray(s, s + n), p.offset + skip);
    s += n;
    skip = 0;
  }
  return true;
}

/**
 * A view of bytes [from, from + length) of the SGL when they lie in one live piece (no copy needed),
 * or null.
 */
export function contiguous(pieces: readonly LocalPiece[], from: number, length: number): Buffer | null {
  const p = pieces[0];
  if (pieces.length !== 1 || !p || from + length > p.length || !pieceLive(p)) return null;
  const b = p.mr.buffer;
  return Buffer.from(b.buffer, b.byteOffset + p.offset + from, length);
}
