/**
 * The AETH: syndrome(8) | MSN(24). Syndrome bit 7 is reserved (0); bits 6-5 are the type
 * (00 ACK, 01 RNR NAK, 11 NAK); bits 4-0 are the credit count (ACK), the RNR timer code (RNR NAK) or
 * the NAK code (0 PSN sequence error, 1 invalid request, 2 remote access error, 3 remote operational
 * error, 4 invalid RD request).
 */

/** Decoded AETH. */
export type Aeth =
  | { kind: 'ack'; credits: number; msn: number }
  | { kind: 'rnr-nak'; timer: number; msn: number }
  | { kind: 'nak'; code: number; msn: number }
  | { kind: 'reserved'; value: number; msn: number };

/** NAK codes. */
export const NAK = {
  PSN_SEQUENCE_ERROR: 0,
  INVALID_REQUEST: 1,
  REMOTE_ACCESS_ERROR: 2,
  REMOTE_OPERATIONAL_ERROR: 3,
  INVALID_RD_REQUEST: 4,
} as const;

/** Credit count meaning "no end-to-end credits advertised" (used on RC with SRQ, and by rxe). */
export const CREDITS_INVALID = 0x1f;

/** The 8-bit syndrome of an AETH. */
export function aethSyndrome(a: Aeth): number {
  switch (a.kind) {
    case 'ack':
      return a.credits & 0x1f;
    case 'rnr-nak':
      return 0x20 | (a.timer & 0x1f);
    case 'nak':
      return 0x60 | (a.code & 0x1f);
    case 'reserved':
      return 0x40 | (a.value & 0x1f);
  }
}

/** Decodes a syndrome and MSN. */
export function aethFromSyndrome(syndrome: number, msn: number): Aeth {
  const v = syndrome & 0x1f;
  switch ((syndrome >> 5) & 3) {
    case 0:
      return { kind: 'ack', credits: v, msn };
    case 1:
      return { kind: 'rnr-nak', timer: v, msn };
    case 3:
      return { kind: 'nak', code: v, msn };
    default:
      return { kind: 'reserved', value: v, msn };
  }
}

/** Writes an AETH at `off`. */
export function writeAeth(buf: Buffer, off: number, a: Aeth): void {
  buf[off] = aethSyndrome(a);
  buf.writeUIntBE(a.msn & 0xffffff, off + 1, 3);
}

/** Reads an AETH at `off`. */
export function readAeth(buf: Buffer, off: number): Aeth {
  return aethFromSyndrome(buf[off] as number, buf.readUIntBE(off + 1, 3));
}

/**
 * RNR NAK timer codes (IBA table 45) in microseconds: code 0 is 655.36 ms, codes 1-31 run from
 * 0.01 ms to 491.52 ms.
 */
export const RNR_TIMER_US: readonly number[] = [
  655360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960, 1280, 1920, 2560, 3840, 5120, 7680,
  10240, 15360, 20480, 30720, 40960, 61440, 81920, 122880, 163840, 245760, 327680, 491520,
];

/** Local ACK timeout for the QP `timeout` attribute: 4.096 us * 2^timeout (0 = infinite). */
export function ackTimeoutUs(timeout: number): number {
  return timeout === 0 ? Number.POSITIVE_INFINITY : 4.096 * 2 ** timeout;
}
