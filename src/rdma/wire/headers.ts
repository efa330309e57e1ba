/**
 * Exact bit layouts of the InfiniBand transport headers carried by RoCE v2 (all big-endian):
 *
 * BTH (12 bytes): opcode(8) | SE(1) M(1) PadCnt(2) TVer(4) | P_Key(16) |
 *                 FECN(1) BECN(1) resv6(6) | DestQP(24) | AckReq(1) resv7(7) | PSN(24)
 * RETH (16): VA(64) | R_Key(32) | DMA length(32)
 * AETH (4):  syndrome(8) | MSN(24); syndrome = 0 | type(2) | value(5) (see aeth.ts)
 * DETH (8):  Q_Key(32) | resv(8) | SrcQP(24)
 * AtomicETH (28): VA(64) | R_Key(32) | swap-or-add(64) | compare(64)
 * AtomicAckETH (8): original remote data(64)
 * ImmDt (4), IETH (4): 32-bit immediate data / R_Key to invalidate
 */

/** Base Transport Header. */
export interface Bth {
  opcode: number;
  /** Solicited event. */
  se: boolean;
  /** Migration request. */
  migReq: boolean;
  /** Pad bytes (0-3) appended to the payload to reach a 4-byte multiple. */
  padCount: number;
  /** Transport header version (0). */
  tver: number;
  pKey: number;
  /** RoCE v2 uses FECN/BECN for ECN marking; kept as parsed. */
  fecn: boolean;
  becn: boolean;
  destQp: number;
  ackReq: boolean;
  psn: number;
}

/** RDMA Extended Transport Header. */
export interface Reth {
  va: bigint;
  rkey: number;
  dmaLength: number;
}

/** Datagram Extended Transport Header (UD). */
export interface Deth {
  qKey: number;
  srcQp: number;
}

/** Atomic Extended Transport Header. */
export interface AtomicEth {
  va: bigint;
  rkey: number;
  /** Swap value for COMPARE_SWAP, addend for FETCH_ADD. */
  swapAdd: bigint;
  compare: bigint;
}

/** Byte length of the BTH. */
export const BTH_LENGTH = 12;
/** Default partition key (full membership, default partition). */
export const DEFAULT_PKEY = 0xffff;

/** Writes a BTH at `off`. */
export function writeBth(buf: Buffer, off: number, h: Bth): void {
  buf[off] = h.opcode;
  buf[off + 1] = (h.se ? 0x80 : 0) | (h.migReq ? 0x40 : 0) | ((h.padCount & 3) << 4) | (h.tver & 0xf);
  buf.writeUInt16BE(h.pKey & 0xffff, off + 2);
  buf[off + 4] = (h.fecn ? 0x80 : 0) | (h.becn ? 0x40 : 0);
  buf.writeUIntBE(h.destQp & 0xffffff, off + 5, 3);
  buf[off + 8] = h.ackReq ? 0x80 : 0;
  buf.writeUIntBE(h.psn & 0xffffff, off + 9, 3);
}

/** Reads a BTH at `off` (the caller checks there are 12 bytes). */
export function readBth(buf: Buffer, off: number): Bth {
  const b1 = buf[off + 1] as number;
  const b4 = buf[off + 4] as number;
  return {
    opcode: buf[off] as number,
    se: (b1 & 0x80) !== 0,
    migReq: (b1 & 0x40) !== 0,
    padCount: (b1 >> 4) & 3,
    tver: b1 & 0xf,
    pKey: buf.readUInt16BE(off + 2),
    fecn: (b4 & 0x80) !== 0,
    becn: (b4 & 0x40) !== 0,
    destQp: buf.readUIntBE(off + 5, 3),
    ackReq: ((buf[off + 8] as number) & 0x80) !== 0,
    psn: buf.readUIntBE(off + 9, 3),
  };
}

/** Writes a RETH. */
export function writeReth(buf: Buffer, off: number, h: Reth): void {
  buf.writeBigUInt64BE(BigInt.asUintN(64, h.va), off);
  buf.writeUInt32BE(h.rkey >>> 0, off + 8);
  buf.writeUInt32BE(h.dmaLength >>> 0, off + 12);
}

/** Reads a RETH. */
export function readReth(buf: Buffer, off: number): Reth {
  return { va: buf.readBigUInt64BE(off), rkey: buf.readUInt32BE(off + 8), dmaLength: buf.readUInt32BE(off + 12) };
}

/** Writes a DETH. */
export function writeDeth(buf: Buffer, off: number, h: Deth): void {
  buf.writeUInt32BE(h.qKey >>> 0, off);
  buf[off + 4] = 0;
  buf.writeUIntBE(h.srcQp & 0xffffff, off + 5, 3);
}

/** Reads a DETH. */
export function readDeth(buf: Buffer, off: number): Deth {
  return { qKey: buf.readUInt32BE(off), srcQp: buf.readUIntBE(off + 5, 3) };
}

/** Writes an AtomicETH. */
export function writeAtomicEth(buf: Buffer, off: number, h: AtomicEth): void {
  buf.writeBigUInt64BE(BigInt.asUintN(64, h.va), off);
  buf.writeUInt32BE(h.rkey >>> 0, off + 8);
  buf.writeBigUInt64BE(BigInt.asUintN(64, h.swapAdd), off + 12);
  buf.writeBigUInt64BE(BigInt.asUintN(64, h.compare), off + 20);
}

/** Reads an AtomicETH. */
export function readAtomicEth(buf: Buffer, off: number): AtomicEth {
  return {
    va: buf.readBigUInt64BE(off),
    rkey: buf.readUInt32BE(off + 8),
    swapAdd: buf.readBigUInt64BE(off + 12),
    compare: buf.readBigUInt64BE(off + 20),
  };
}
