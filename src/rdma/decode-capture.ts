/**
 * Decodes the RoCE v2 packets of a capture: every UDP datagram to the RoCE port (4791 unless told
 * otherwise) becomes one record with its headers decoded and its ICRC checked.
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
    const d = decodePacket(p);
    if (d.ok) out.push({ ...base, icrc, icrcOk, packet: d.packet });
    else out.push({ ...base, icrc, icrcOk, error: d.reason });
  }
  return out;
}
