/**
 * Encoding and decoding of one RoCE v2 transport packet: the UDP payload, i.e. BTH, extended headers,
 * payload, pad bytes and the 4-byte ICRC. Pure and allocation-light: decoding returns views
 * (subarrays) into the input, encoding allocates exactly one buffer. The ICRC slot is left zero by
 * encodePacket; icrc.ts fills it once the IP/UDP headers are known.
 */
import { type Aeth, readAeth, writeAeth } from './aeth.js';
import {
  type AtomicEth,
  BTH_LENGTH,
  type Bth,
  type Deth,
  type Reth,
  readAtomicEth,
  readBth,
  readDeth,
  readReth,
  writeAtomicEth,
  writeBth,
  writeDeth,
  writeReth,
} from './headers.js';
import { opcodeLayout } from './opcodes.js';

/** One decoded (or to-be-encoded) RoCE v2 packet. */
export interface RocePacket {
  bth: Bth;
  deth?: Deth;
  reth?: Reth;
  aeth?: Aeth;
  atomicEth?: AtomicEth;
  /** AtomicAckETH: the original remote data. */
  atomicAckData?: bigint;
  immDt?: number;
  /** IETH: the R_Key to invalidate. */
  ieth?: number;
  /** Payload without pad bytes. */
  payload: Buffer;
}

/** Bytes of the trailing invariant CRC. */
export const ICRC_LENGTH = 4;

/** Why a buffer is not a RoCE packet this decoder accepts. */
export type DecodeFailure = { ok: false; reason: string };
/** A decoded packet with the ICRC as carried (little-endian word as on the wire, see icrc.ts). */
export type DecodeResult = { ok: true; packet: RocePacket; icrc: number } | DecodeFailure;

const EMPTY = Buffer.alloc(0);

/** Total encoded length (BTH .. ICRC) of a packet with this opcode and payload length. */
export function encodedLength(opcode: number, payloadLength: number): number {
  const layout = opcodeLayout(opcode);
  if (!layout) throw new RangeError(`unknown opcode 0x${opcode.toString(16)}`);
  return BTH_LENGTH + layout.extLength + ((payloadLength + 3) & ~3) + ICRC_LENGTH;
}

/**
 * Encodes a packet. The BTH pad count is derived from the payload length; the headers present must
 * match the opcode's layout (a missing required header is a programming error and throws).
 */
export function encodePacket(p: RocePacket): Buffer {
  const buf = Buffer.allocUnsafe(encodedLength(p.bth.opcode, p.payload.length));
  encodePacketInto(p, buf, 0);
  return buf;
}

/**
 * Encodes a packet into `buf` at `start` (which must have encodedLength bytes free there): headers,
 * payload copy, zero pad bytes and a zeroed ICRC slot. Returns the offset just past the ICRC slot.
 * Lets a transport place the packet after headroom of its own (see PacketTransport.headroom), so a
 * packet is one buffer, one copy of the payload and no intermediate objects.
 */
export function encodePacketInto(p: RocePacket, buf: Buffer, start: number): number {
  const opcode = p.bth.opcode;
  const layout = opcodeLayout(opcode);
  if (!layout) throw new RangeError(`unknown opcode 0x${opcode.toString(16)}`);
  const payloadLength = p.payload.length;
  if (payloadLength > 0 && !layout.payload) throw new RangeError(`${layout.name} carries no payload`);
  const pad = (4 - (payloadLength & 3)) & 3;
  const total = BTH_LENGTH + layout.extLength + payloadLength + pad + ICRC_LENGTH;
  if (start + total > buf.length) throw new RangeError('buffer too small for the packet');
  writeBth(buf, start, p.bth);
  buf[start + 1] = ((buf[start + 1] as number) & 0xcf) | (pad << 4); // pad count from the payload
  let off = start + BTH_LENGTH;
  if (layout.deth) {
    writeDeth(buf, off, need(p.deth, 'deth', layout.name));
    off += 8;
  }
  if (layout.reth) {
    writeReth(buf, off, need(p.reth, 'reth', layout.name));
    off += 16;
  }
  if (layout.aeth) {
    writeAeth(buf, off, need(p.aeth, 'aeth', layout.name));
    off += 4;
  }
  if (layout.atomicEth) {
    writeAtomicEth(buf, off, need(p.atomicEth, 'atomicEth', layout.name));
    off += 28;
  }
  if (layout.atomicAckEth) {
    buf.writeBigUInt64BE(BigInt.asUintN(64, need(p.atomicAckData, 'atomicAckData', layout.name)), off);
    off += 8;
  }
  if (layout.immDt) {
    buf.writeUInt32BE(need(p.immDt, 'immDt', layout.name) >>> 0, off);
    off += 4;
  }
  if (layout.ieth) {
    buf.writeUInt32BE(need(p.ieth, 'ieth', layout.name) >>> 0, off);
    off += 4;
  }
  buf.set(p.payload, off);
  off += payloadLength;
  buf.fill(0, off, start + total);
  return start + total;
}

/**
 * Encodes a packet as three pieces for a gathering send without copying the payload: the BTH and
 * extended headers, the payload itself (the caller's buffer), and the pad bytes plus the ICRC slot.
 */
export function encodePacketParts(p: RocePacket): Buffer[] {
  const payloadLength = p.payload.length;
  if (payloadLength < 512) return [encodePacket(p)];
  const layout = opcodeLayout(p.bth.opcode);
  if (!layout || !layout.payload) throw new RangeError(`opcode 0x${p.bth.opcode.toString(16)} carries no payload`);
  const pad = (4 - (payloadLength & 3)) & 3;
  const head = encodePacket({ ...p, payload: EMPTY });
  // encodePacket wrote pad count 0 and a 4-byte ICRC slot: fix the pad count, drop the slot.
  head[1] = ((head[1] as number) & 0xcf) | (pad << 4);
  return [head.subarray(0, head.length - ICRC_LENGTH), p.payload, Buffer.alloc(pad + ICRC_LENGTH)];
}

function need<T>(v: T | undefined, what: string, name: string): T {
  if (v === undefined) throw new RangeError(`${name} needs ${what}`);
  return v;
}

/**
 * Decodes a UDP payload as a RoCE v2 packet. Never throws: malformed input is a failure result
 * (unknown opcode, truncated headers, pad count larger than the payload).
 */
export function decodePacket(buf: Buffer): DecodeResult {
  if (buf.length < BTH_LENGTH + ICRC_LENGTH) return { ok: false, reason: `too short for BTH and ICRC (${buf.length} bytes)` };
  const bth = readBth(buf, 0);
  const layout = opcodeLayout(bth.opcode);
  if (!layout) return { ok: false, reason: `unknown opcode 0x${bth.opcode.toString(16).padStart(2, '0')}` };
  const end = buf.length - ICRC_LENGTH;
  if (BTH_LENGTH + layout.extLength > end) return { ok: false, reason: `truncated ${layout.name} headers` };
  const packet: RocePacket = { bth, payload: EMPTY };
  let off = BTH_LENGTH;
  if (layout.deth) {
    packet.deth = readDeth(buf, off);
    off += 8;
  }
  if (layout.reth) {
    packet.reth = readReth(buf, off);
    off += 16;
  }
  if (layout.aeth) {
    packet.aeth = readAeth(buf, off);
    off += 4;
  }
  if (layout.atomicEth) {
    packet.atomicEth = readAtomicEth(buf, off);
    off += 28;
  }
  if (layout.atomicAckEth) {
    packet.atomicAckData = buf.readBigUInt64BE(off);
    off += 8;
  }
  if (layout.immDt) {
    packet.immDt = buf.readUInt32BE(off);
    off += 4;
  }
  if (layout.ieth) {
    packet.ieth = buf.readUInt32BE(off);
    off += 4;
  }
  const payloadEnd = end - bth.padCount;
  if (payloadEnd < off) return { ok: false, reason: `pad count ${bth.padCount} exceeds the payload` };
  if (!layout.payload && end !== off) return { ok: false, reason: `${layout.name} has ${end - off} unexpected payload bytes` };
  packet.payload = buf.subarray(off, payloadEnd);
  return { ok: true, packet, icrc: buf.readUInt32LE(end) };
}
