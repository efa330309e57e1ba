/**
 * Link, IP and UDP framing around RoCE v2 transport packets: building Ethernet + IPv4/IPv6 + UDP
 * frames (for captures and tests) and dissecting captured frames down to the UDP payload
 * (Ethernet with any number of 802.1Q/802.1ad tags, Linux cooked SLL and SLL2, raw IP, BSD loopback).
 */
import { icrcOfIpPacket, writeIcrc } from './icrc.js';

/** The default RoCE v2 UDP destination port (IANA). */
export const ROCE_V2_PORT = 4791;

/** pcap link-layer types understood here. */
export const LINKTYPE = { NULL: 0, ETHERNET: 1, RAW: 101, LINUX_SLL: 113, IPV4: 228, IPV6: 229, LINUX_SLL2: 276 } as const;

/** A UDP datagram found inside a frame, with its IP packet (for the ICRC). */
export interface UdpInFrame {
  ipVersion: 4 | 6;
  /** The IP packet, from the IP header to the end of the UDP datagram. */
  ip: Buffer;
  srcAddr: Buffer;
  dstAddr: Buffer;
  srcPort: number;
  dstPort: number;
  /** UDP payload (length from the UDP header, clipped to what was captured). */
  payload: Buffer;
  /** True when the capture holds the whole datagram. */
  complete: boolean;
  /** 802.1Q VLAN IDs, outermost first. */
  vlans: number[];
}

/** Finds the UDP datagram in a frame of the given link type; null when it is not UDP over IP. */
export function udpFromFrame(linkType: number, frame: Buffer): UdpInFrame | null {
  let off: number;
  let etherType: number;
  const vlans: number[] = [];
  switch (linkType) {
    case LINKTYPE.ETHERNET:
      if (frame.length < 14) return null;
      etherType = frame.readUInt16BE(12);
      off = 14;
      break;
    case LINKTYPE.LINUX_SLL:
      if (frame.length < 16) return null;
      etherType = frame.readUInt16BE(14);
      off = 16;
      break;
    case LINKTYPE.LINUX_SLL2:
      if (frame.length < 20) return null;
      etherType = frame.readUInt16BE(0);
      off = 20;
      break;
    case LINKTYPE.RAW:
    case LINKTYPE.IPV4:
    case LINKTYPE.IPV6:
      if (frame.length < 1) return null;
      etherType = (frame[0] as number) >> 4 === 6 ? 0x86dd : 0x0800;
      off = 0;
      break;
    case LINKTYPE.NULL: {
      if (frame.length < 4) return null;
      const fam = frame.readUInt32LE(0) > 0xffff ? frame.readUInt32BE(0) : frame.readUInt32LE(0);
      etherType = fam === 2 ? 0x0800 : 0x86dd;
      off = 4;
      break;
    }
    default:
      return null;
  }
  while ((etherType === 0x8100 || etherType === 0x88a8 || etherType === 0x9100) && frame.length >= off + 4) {
    vlans.push(frame.readUInt16BE(off) & 0x0fff);
    etherType = frame.readUInt16BE(off + 2);
    off += 4;
  }
  let ipLen: number;
  let ipVersion: 4 | 6;
  let srcAddr: Buffer;
  let dstAddr: Buffer;
  let ipTotal: number;
  if (etherType === 0x0800) {
    if (frame.length < off + 20 || (frame[off] as number) >> 4 !== 4) return null;
    ipLen = ((frame[off] as number) & 0xf) * 4;
    if (ipLen < 20 || frame[off + 9] !== 17) return null;
    if ((frame.readUInt16BE(off + 6) & 0x3fff) !== 0) return null; // fragment
    ipVersion = 4;
    srcAddr = frame.subarray(off + 12, off + 16);
    dstAddr = frame.subarray(off + 16, off + 20);
    ipTotal = frame.readUInt16BE(off + 2);
  } else if (etherType === 0x86dd) {
    if (frame.length < off + 40 || (frame[off] as number) >> 4 !== 6) return null;
    if (frame[off + 6] !== 17) return null; // extension headers: not RoCE v2 as emitted by RNICs
    ipLen = 40;
    ipVersion = 6;
    srcAddr = frame.subarray(off + 8, off + 24);
    dstAddr = frame.subarray(off + 24, off + 40);
    ipTotal = 40 + frame.readUInt16BE(off + 4);
  } else return null;
  const u = off + ipLen;
  if (frame.length < u + 8) return null;
  const udpLen = frame.readUInt16BE(u + 4);
  if (udpLen < 8) return null;
  const avail = frame.length - u;
  const complete = avail >= udpLen;
  return {
    ipVersion,
    ip: frame.subarray(off, Math.min(frame.length, off + Math.max(ipTotal, ipLen + udpLen))),
    srcAddr,
    dstAddr,
    srcPort: frame.readUInt16BE(u),
    dstPort: frame.readUInt16BE(u + 2),
    payload: frame.subarray(u + 8, u + Math.min(udpLen, avail)),
    complete,
    vlans,
  };
}

/** Addresses for building a frame. */
export interface FrameEndpoints {
  srcMac?: Buffer;
  dstMac?: Buffer;
  /** 4 bytes (IPv4) or 16 bytes (IPv6); both ends the same family. */
  srcAddr: Buffer;
  dstAddr: Buffer;
  srcPort: number;
  dstPort?: number;
  ttl?: number;
  /** IPv4 identification. */
  ipId?: number;
}

/**
 * Builds an Ethernet + IP + UDP frame around a transport packet (BTH .. ICRC slot) and fills in the
 * ICRC (and the IPv4 header checksum and the UDP checksum) so that the frame is what an RNIC would
 * put on the wire.
 */
export function buildRoceFrame(ep: FrameEndpoints, roce: Buffer): Buffer {
  const v6 = ep.srcAddr.length === 16;
  const ipLen = v6 ? 40 : 20;
  const udpLen = 8 + roce.length;
  const frame = Buffer.alloc(14 + ipLen + udpLen);
  (ep.dstMac ?? Buffer.from([0x02, 0, 0, 0, 0, 2])).copy(frame, 0);
  (ep.srcMac ?? Buffer.from([0x02, 0, 0, 0, 0, 1])).copy(frame, 6);
  frame.writeUInt16BE(v6 ? 0x86dd : 0x0800, 12);
  const ip = 14;
  if (v6) {
    frame.writeUInt32BE(0x60000000, ip);
    frame.writeUInt16BE(udpLen, ip + 4);
    frame[ip + 6] = 17;
    frame[ip + 7] = ep.ttl ?? 64;
    ep.srcAddr.copy(frame, ip + 8);
    ep.dstAddr.copy(frame, ip + 24);
  } else {
    frame[ip] = 0x45;
    frame.writeUInt16BE(20 + udpLen, ip + 2);
    frame.writeUInt16BE(ep.ipId ?? 0, ip + 4);
    frame.writeUInt16BE(0x4000, ip + 6);
    frame[ip + 8] = ep.ttl ?? 64;
    frame[ip + 9] = 17;
    ep.srcAddr.copy(frame, ip + 12);
    ep.dstAddr.copy(frame, ip + 16);
    frame.writeUInt16BE(onesComplement(sum16(frame, ip, 20, 0)), ip + 10);
  }
  const u = ip + ipLen;
  frame.writeUInt16BE(ep.srcPort, u);
  frame.writeUInt16BE(ep.dstPort ?? ROCE_V2_PORT, u + 2);
  frame.writeUInt16BE(udpLen, u + 4);
  roce.copy(frame, u + 8);
  const ipPacket = frame.subarray(ip);
  writeIcrc(frame.subarray(u + 8), icrcOfIpPacket(ipPacket));
  // UDP checksum over the pseudo-header (mandatory for IPv6, done for IPv4 too).
  let s = sum16(ep.srcAddr, 0, ep.srcAddr.length, 0);
  s = sum16(ep.dstAddr, 0, ep.dstAddr.length, s);
  s += 17 + udpLen;
  s = sum16(frame, u, udpLen, s);
  const ck = onesComplement(s);
  frame.writeUInt16BE(ck === 0 ? 0xffff : ck, u + 6);
  return frame;
}

function sum16(b: Buffer, off: number, len: number, acc: number): number {
  let s = acc;
  let i = 0;
  for (; i + 1 < len; i += 2) s += b.readUInt16BE(off + i);
  if (i < len) s += (b[off + i] as number) << 8;
  return s;
}

function onesComplement(s: number): number {
  let x = s;
  while (x > 0xffff) x = (x & 0xffff) + Math.floor(x / 0x10000);
  return ~x & 0xffff;
}
