/**
 * Decodes the RoCE v2 packets of a capture: every UDP datagram to the RoCE port (4791 unless told
 * otherwise) becomes one record with its headers decoded and its ICRC checked.
 *
 * UDP GSO: a capture taken on the sending host (on loopback, or before a NIC segments) shows a
 * UDP GSO message as one datagram holding several RoCE packets of one length (the last may be
 * shorter), which the kernel cuts into datagrams later. When a datagram's ICRC does not verify as a
 * whole, it is split at the segment length whose first packet's ICRC verifies over the header that
 * segment goes out with, and each segment becomes a record of its own (`gso` says which).
 */
import { type CaptureRecord, readCapture } from './pcap.js';
import { formatIp } from './wire/ip-address.js';
import { icrcOfIpPacket } from './wire/icrc.js';
import { opcodeName } from './wire/opcodes.js';
import { type RocePacket, decodePacket } from './wire/packet.js';
import { ROCE_V2_PORT, udpFromFrame } from './wire/frame.js';

/** One RoCE v2 packet found in a capture. */
export interface DecodedRoce {
  /** Frame number in the capture (1-based). */
  frame: number;
  time: number;
  ipVersion: 4 | 6;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  vlans: number[];
  /** BTH opcode. */
  opcode: number;
  opcodeName: string;
  destQp: number;
  psn: number;
  /** ICRC carried in the packet, and whether it matches the recomputed one (false if truncated). */
  icrc: number;
  icrcOk: boolean;
  /** Decoded headers; absent (with `error`) when the transport packet is malformed. */
  packet?: RocePacket;
  error?: string;
  /** One of the segments of a UDP GSO message captured before segmentation: its index and their count. */
  gso?: { index: number; of: number };
}

/** Decodes all RoCE v2 packets in pcap/pcapng bytes. */
export function decodeCapture(bytes: Buffer, opts: { name?: string; port?: number } = {}): DecodedRoce[] {
  return decodeRecords(readCapture(bytes, opts.name), opts.port ?? ROCE_V2_PORT);
}

/** Decodes RoCE v2 packets from already-read capture records. */
export function decodeRecords(records: readonly CaptureRecord[], port = ROCE_V2_PORT): DecodedRoce[] {
  const out: DecodedRoce[] = [];
  for (const rec of records) {
    const udp = udpFromFrame(rec.linkType, rec.data);
    if (!udp || udp.dstPort !== port || udp.payload.length < 12) continue;
    const p = udp.payload;
    const base = {
      frame: rec.index,
      time: rec.time,
      ipVersion: udp.ipVersion,
      src: formatIp(udp.srcAddr),
      dst: formatIp(udp.dstAddr),
      srcPort: udp.srcPort,
      dstPort: udp.dstPort,
      vlans: udp.vlans,
      opcode: p[0] as number,
      opcodeName: opcodeName(p[0] as number),
      destQp: p.readUIntBE(5, 3),
      psn: p.readUIntBE(9, 3),
    };
    const icrc = p.length >= 16 ? p.readUInt32LE(p.length - 4) : 0;
    let icrcOk = false;
    if (udp.complete && p.length >= 16) {
      try {
        icrcOk = icrcOfIpPacket(udp.ip) === icrc;
      } catch {
        icrcOk = false;
      }
    }
    const segments = !icrcOk && udp.complete ? splitGso(udp.ip, udp.ip.length - p.length, p) : null;
    if (segments) {
      segments.forEach((seg, index) => {
        const d = decodePacket(seg);
        const one = { ...base, opcode: seg[0] as number, opcodeName: opcodeName(seg[0] as number), destQp: seg.readUIntBE(5, 3), psn: seg.readUIntBE(9, 3), icrc: seg.readUInt32LE(seg.length - 4), icrcOk: true, gso: { index, of: segments.length } };
        out.push(d.ok ? { ...one, packet: d.packet } : { ...one, error: d.reason });
      });
      continue;
    }
    const d = decodePacket(p);
    if (d.ok) out.push({ ...base, icrc, icrcOk, packet: d.packet });
    else out.push({ ...base, icrc, icrcOk, error: d.reason });
  }
  return out;
}

/** Lengths of full-MTU packets (BTH, optional RETH or AETH, payload, ICRC): tried first. */
const MTU_LENGTHS = [256, 512, 1024, 2048, 4096].flatMap((m) => [m + 16, m + 32, m + 20]);

/**
 * The IP packet a segment of `len` RoCE bytes goes out with after GSO: the GSO message's IP and
 * UDP headers with the lengths of one segment.
 */
function segmentIp(ip: Buffer, hdrLen: number, seg: Buffer): Buffer {
  const out = Buffer.concat([ip.subarray(0, hdrLen), seg]);
  const udpLen = seg.length + 8;
  const v6 = (ip[0] as number) >> 4 === 6;
  if (v6) out.writeUInt16BE(udpLen, 4);
  else out.writeUInt16BE(hdrLen + seg.length, 2);
  out.writeUInt16BE(udpLen, hdrLen - 4);
  return out;
}

/** Splits a GSO message's payload into RoCE packets whose ICRCs all verify, or null. */
function splitGso(ip: Buffer, hdrLen: number, payload: Buffer): Buffer[] | null {
  if (payload.length < 32 || (ip[0] as number) >> 4 !== 6) return null;
  const tried = new Set<number>();
  const candidates = [...MTU_LENGTHS, ...Array.from({ length: Math.floor(payload.length / 4) }, (_, i) => 16 + 4 * i)];
  for (const len of candidates) {
    if (len >= payload.length || tried.has(len)) continue;
    tried.add(len);
    const first = payload.subarray(0, len);
    let ok = false;
    try {
      ok = icrcOfIpPacket(segmentIp(ip, hdrLen, first)) === first.readUInt32LE(len - 4);
    } catch {
      ok = false;
    }
    if (!ok) continue;
    const segs: Buffer[] = [];
    for (let at = 0; at < payload.length; at += len) segs.push(payload.subarray(at, Math.min(payload.length, at + len)));
    const all = segs.every((sg) => {
      try {
        return sg.length >= 16 && icrcOfIpPacket(segmentIp(ip, hdrLen, sg)) === sg.readUInt32LE(sg.length - 4);
      } catch {
        return false;
      }
    });
    if (all) return segs;
  }
  return null;
}
