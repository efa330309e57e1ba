/** Writes frames as a classic little-endian microsecond pcap file (for tshark checks and `rdma` tools). */
import { LINKTYPE } from './wire/frame.js';

/** Serialises frames into pcap bytes. `time` is seconds since the epoch per frame (default: 1 s apart from 0). */
export function writePcap(frames: readonly Buffer[], opts: { linkType?: number; times?: readonly number[] } = {}): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16);
  header.writeUInt32LE(opts.linkType ?? LINKTYPE.ETHERNET, 20);
  const parts: Buffer[] = [header];
  frames.forEach((f, i) => {
    const t = opts.times?.[i] ?? i;
    const rec = Buffer.alloc(16);
    const sec = Math.floor(t);
    rec.writeUInt32LE(sec, 0);
    rec.writeUInt32LE(Math.round((t - sec) * 1e6), 4);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    parts.push(rec, f);
  });
  return Buffer.concat(parts);
}
