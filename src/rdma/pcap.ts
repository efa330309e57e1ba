/**
 * A reader for pcap (both byte orders, micro- and nanosecond stamps) and pcapng (SHB, IDB, EPB,
 * SPB and obsolete PB blocks; several sections and interfaces, each with its own link type) files.
 * Works on a Buffer; throws RdmaError (ERR_RDMA_PCAP) for files that are neither.
 */
import { RdmaError } from './errors.js';

/** One captured frame. */
export interface CaptureRecord {
  /** 1-based frame number, as Wireshark counts. */
  index: number;
  linkType: number;
  /** Seconds since the epoch (float; nanosecond captures lose sub-microsecond precision). */
  time: number;
  /** Original length on the wire. */
  origLength: number;
  data: Buffer;
}

/** Parses a pcap or pcapng file's bytes. `name` is used in error messages. */
export function readCapture(buf: Buffer, name = 'capture'): CaptureRecord[] {
  if (buf.length < 4) throw new RdmaError(name, 'too short to be a capture file', 'ERR_RDMA_PCAP');
  const magic = buf.readUInt32LE(0);
  if (magic === 0x0a0d0d0a) return readPcapng(buf, name);
  return readPcap(buf, name);
}

function readPcap(buf: Buffer, name: string): CaptureRecord[] {
  if (buf.length < 24) throw new RdmaError(name, 'truncated pcap header', 'ERR_RDMA_PCAP');
  const m = buf.readUInt32LE(0);
  let le: boolean;
  let nano: boolean;
  if (m === 0xa1b2c3d4 || m === 0xa1b23c4d) {
    le = true;
    nano = m === 0xa1b23c4d;
  } else if (m === 0xd4c3b2a1 || m === 0x4d3cb2a1) {
    le = false;
    nano = m === 0x4d3cb2a1;
  } else throw new RdmaError(name, `not a pcap or pcapng file (magic 0x${m.toString(16)})`, 'ERR_RDMA_PCAP');
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = u32(20) & 0x0fffffff;
  const out: CaptureRecord[] = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const sec = u32(off);
    const frac = u32(off + 4);
    const incl = u32(off + 8);
    const orig = u32(off + 12);
    if (off + 16 + incl > buf.length) break; // truncated final record
    out.push({
      index: out.length + 1,
      linkType,
      time: sec + frac / (nano ? 1e9 : 1e6),
      origLength: orig,
      data: buf.subarray(off + 16, off + 16 + incl),
    });
    off += 16 + incl;
  }
  return out;
}

function readPcapng(buf: Buffer, name: string): CaptureRecord[] {
  const out: CaptureRecord[] = [];
  let le = true;
  let ifaces: { linkType: number; tsDiv: number }[] = [];
  let off = 0;
  while (off + 12 <= buf.length) {
    const typeLE = buf.readUInt32LE(off);
    if (typeLE === 0x0a0d0d0a) {
      const bom = buf.readUInt32LE(off + 8);
      if (bom === 0x1a2b3c4d) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw new RdmaError(name, `bad pcapng byte-order magic at offset ${off}`, 'ERR_RDMA_PCAP');
      ifaces = [];
    }
    const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
    const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
    const type = u32(off);
    const len = u32(off + 4);
    if (len < 12 || len % 4 !== 0 || off + len > buf.length) {
      if (out.length === 0 && off === 0) throw new RdmaError(name, 'corrupt pcapng section header', 'ERR_RDMA_PCAP');
      break;
    }
    const body = off + 8;
    if (type === 1) {
      // Interface Description Block: link type, snaplen, options (if_tsresol = 9).
      let tsDiv = 1e6;
      let o = body + 8;
      while (o + 4 <= off + len - 4) {
        const code = u16(o);
        const olen = u16(o + 2);
        if (code === 0) break;
        if (code === 9 && olen >= 1) {
          const r = buf[o + 4] as number;
          tsDiv = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
        }
        o += 4 + ((olen + 3) & ~3);
      }
      ifaces.push({ linkType: u16(body), tsDiv });
    } else if (type === 6 || type === 2) {
      // Enhanced Packet Block (6) or obsolete Packet Block (2).
      const ifId = type === 6 ? u32(body) : u16(body);
      const iface = ifaces[ifId];
      const tsHigh = u32(body + 4);
      const tsLow = u32(body + 8);
      const incl = u32(body + 12);
      const orig = u32(body + 16);
      const dataOff = body + 20;
      if (iface && dataOff + incl <= off + len) {
        out.push({
          index: out.length + 1,
          linkType: iface.linkType,
          time: (tsHigh * 2 ** 32 + tsLow) / iface.tsDiv,
          origLength: orig,
          data: buf.subarray(dataOff, dataOff + incl),
        });
      }
    } else if (type === 3) {
      // Simple Packet Block: interface 0, no timestamp.
      const iface = ifaces[0];
      const orig = u32(body);
      const incl = Math.min(orig, len - 16);
      if (iface) out.push({ index: out.length + 1, linkType: iface.linkType, time: 0, origLength: orig, data: buf.subarray(body + 4, body + 4 + incl) });
    }
    off += len;
  }
  return out;
}
