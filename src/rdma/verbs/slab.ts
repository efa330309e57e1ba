/**
 * Packet buffers for outgoing packets, carved from slabs as Node's own Buffer pool does for small
 * buffers, so a 4 KiB packet costs no allocation of its own. A slab is never reused (the GC frees
 * it once every slice of it is gone), and a slice is handed out once and never written again by the
 * code that built it, so a send still queued in the socket keeps its bytes.
 */

/** The slab size: packets larger than a quarter of it get a buffer of their own. */
const SLAB = 256 * 1024;
let slab = Buffer.allocUnsafe(SLAB);
let slabUsed = 0;

/** A fresh `n`-byte buffer for one outgoing packet: a slice of the current slab, 8-byte aligned. */
export function carve(n: number): Buffer {
  if (n > SLAB / 4) return Buffer.allocUnsafe(n);
  if (slabUsed + n > SLAB) {
    slab = Buffer.allocUnsafe(SLAB);
    slabUsed = 0;
  }
  const b = slab.subarray(slabUsed, slabUsed + n);
  slabUsed = (slabUsed + n + 7) & ~7;
  return b;
}
