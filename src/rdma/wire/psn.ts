/**
 * 24-bit packet sequence number arithmetic with wrap-around. A PSN `a` is "after" `b` when the
 * forward distance from b to a is less than half the space (2^23), as InfiniBand receivers judge it.
 */

/** Number of distinct PSNs. */
export const PSN_SPACE = 0x1000000;
/** Mask for a 24-bit PSN. */
export const PSN_MASK = 0xffffff;

/** a + n modulo 2^24 (n may be negative). */
export function psnAdd(a: number, n: number): number {
  return (a + n) & PSN_MASK;
}

/** Signed distance a - b in [-2^23, 2^23): positive when a is after b. */
export function psnDiff(a: number, b: number): number {
  return (((a - b) & PSN_MASK) << 8) >> 8;
}

/** True when a comes strictly before b. */
export function psnBefore(a: number, b: number): boolean {
  return psnDiff(a, b) < 0;
}
