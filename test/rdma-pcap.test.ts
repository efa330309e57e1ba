/**
 * Real soft-RoCE (Linux rxe) captures: the ICRC routine reproduces every packet's ICRC, and the
 * decoder parses every RoCE v2 packet.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeRecords } from '../src/rdma/decode-capture.js';
import { readCapture } from '../src/rdma/pcap.js';
import { udpFromFrame } from '../src/rdma/wire/frame.js';
import { icrcForUdp, icrcOfIpPacket, readIcrc } from '../src/rdma/wire/icrc.js';
import { decodePacket, encodePacket } from '../src/rdma/wire/packet.js';
import { dataSet } from './support/data.js';

const dir = dataSet('rdma/pcaps');

describe.skipIf(!dir)('RoCE v2 captures', () => {
  const files = dir ? readdirSync(dir).filter((f) => /\.pcap(ng)?$/.test(f)).sort() : [];
  const all = files.map((f) => ({ file: f, records: readCapture(readFileSync(join(dir as string, f)), f) }));

  it('reproduces the ICRC of every RoCE v2 packet', () => {
    let n = 0;
    for (const { file, records } of all) {
      for (const rec of records) {
        const udp = udpFromFrame(rec.linkType, rec.data);
        if (!udp || udp.dstPort !== 4791) continue;
        n++;
        const carried = readIcrc(udp.payload);
        expect(icrcOfIpPacket(udp.ip), `${file} frame ${rec.index}`).toBe(carried);
        // The same, from only what a UDP socket knows plus the IPv4 ID/flags of the frame.
        const ipv4 = udp.ipVersion === 4 ? { ipv4Id: udp.ip.readUInt16BE(4), ipv4FlagsFrag: udp.ip.readUInt16BE(6) } : {};
        expect(icrcForUdp({ srcAddr: udp.srcAddr, dstAddr: udp.dstAddr, srcPort: udp.srcPort, dstPort: udp.dstPort, ...ipv4 }, udp.payload)).toBe(carried);
      }
    }
    expect(n).toBe(281);
  });

  it('decodes all 281 packets, every ICRC ok, and re-encodes each byte for byte', () => {
    const decoded = all.flatMap(({ records }) => decodeRecords(records));
    expect(decoded).toHaveLength(281);
    const opcodes = new Set<number>();
    for (const d of decoded) {
      expect(d.error, `frame ${d.frame}`).toBeUndefined();
      expect(d.icrcOk).toBe(true);
      opcodes.add(d.opcode);
    }
    expect([...opcodes].sort((a, b) => a - b)).toEqual([0, 1, 2, 4, 6, 7, 8, 10, 12, 13, 14, 15, 16, 17, 18, 20, 100]);
    for (const { records } of all) {
      for (const rec of records) {
        const udp = udpFromFrame(rec.linkType, rec.data);
        if (!udp || udp.dstPort !== 4791) continue;
        const d = decodePacket(udp.payload);
        if (!d.ok) throw new Error(d.reason);
        const again = encodePacket(d.packet);
        // The pad bytes and ICRC slot are zeroed by the encoder; compare all but the ICRC.
        expect(again.subarray(0, again.length - 4).equals(udp.payload.subarray(0, udp.payload.length - 4))).toBe(true);
      }
    }
  });
});
