import { describe, expect, it } from 'vitest';
import { decodeRecords } from './decode-capture.js';
import { readCapture } from './pcap.js';
import { writePcap } from './pcap-writer.js';
import { LINKTYPE, buildRoceFrame } from './wire/frame.js';
import { parseIp } from './wire/ip-address.js';
import { OP } from './wire/opcodes.js';
import { encodePacket } from './wire/packet.js';

const roce = encodePacket({
  bth: { opcode: OP.RDMA_WRITE_ONLY, se: false, migReq: false, padCount: 0, tver: 0, pKey: 0xffff, fecn: false, becn: false, destQp: 0x99, ackReq: true, psn: 1234 },
  reth: { va: 0x1000n, rkey: 0x42, dmaLength: 3 },
  payload: Buffer.from([1, 2, 3]),
});
const eth4 = buildRoceFrame({ srcAddr: parseIp('192.168.1.1') as Buffer, dstAddr: parseIp('192.168.1.2') as Buffer, srcPort: 49152 }, roce);
const eth6 = buildRoceFrame({ srcAddr: parseIp('fd00::1') as Buffer, dstAddr: parseIp('fd00::2') as Buffer, srcPort: 49153 }, roce);

function pcapng(linkType: number, frames: Buffer[], bigEndian = false): Buffer {
  const blocks: Buffer[] = [];
  const block = (type: number, body: Buffer): Buffer => {
    const len = 12 + body.length;
    const b = Buffer.alloc(len);
    const w = (v: number, o: number) => (bigEndian ? b.writeUInt32BE(v, o) : b.writeUInt32LE(v, o));
    w(type, 0);
    w(len, 4);
    body.copy(b, 8);
    w(len, len - 4);
    return b;
  };
  const shb = Buffer.alloc(16);
  bigEndian ? shb.writeUInt32BE(0x1a2b3c4d, 0) : shb.writeUInt32LE(0x1a2b3c4d, 0);
  bigEndian ? shb.writeUInt16BE(1, 4) : shb.writeUInt16LE(1, 4);
  shb.fill(0xff, 8);
  blocks.push(block(0x0a0d0d0a, shb));
  const idb = Buffer.alloc(8);
  bigEndian ? idb.writeUInt16BE(linkType, 0) : idb.writeUInt16LE(linkType, 0);
  blocks.push(block(1, idb));
  for (const f of frames) {
    const body = Buffer.alloc(20 + ((f.length + 3) & ~3));
    const w = (v: number, o: number) => (bigEndian ? body.writeUInt32BE(v, o) : body.writeUInt32LE(v, o));
    w(0, 0);
    w(0, 4);
    w(1_000_000, 8);
    w(f.length, 12);
    w(f.length, 16);
    f.copy(body, 20);
    blocks.push(block(6, body));
  }
  return Buffer.concat(blocks);
}

function sll(eth: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(4, 0);
  h.writeUInt16BE(1, 2);
  h.writeUInt16BE(6, 4);
  eth.copy(h, 6, 6, 12);
  eth.copy(h, 14, 12, 14);
  return Buffer.concat([h, eth.subarray(14)]);
}

function sll2(eth: Buffer): Buffer {
  const h = Buffer.alloc(20);
  eth.copy(h, 0, 12, 14);
  h.writeUInt32BE(2, 4);
  h.writeUInt16BE(1, 8);
  h[11] = 6;
  eth.copy(h, 12, 6, 12);
  return Buffer.concat([h, eth.subarray(14)]);
}

function vlan(eth: Buffer, ids: number[]): Buffer {
  const tags = ids.map((id) => Buffer.from([0x81, 0x00, (id >> 8) & 0x0f, id & 0xff]));
  return Buffer.concat([eth.subarray(0, 12), ...tags, eth.subarray(12)]);
}

describe('capture formats', () => {
  it('reads pcap and pcapng (both byte orders) with Ethernet, VLAN, SLL, SLL2 and raw IP frames', () => {
    const cases: [string, Buffer][] = [
      ['pcap', writePcap([eth4, eth6])],
      ['pcapng-le', pcapng(LINKTYPE.ETHERNET, [eth4, eth6])],
      ['pcapng-be', pcapng(LINKTYPE.ETHERNET, [eth4, eth6], true)],
      ['vlan', writePcap([vlan(eth4, [5]), vlan(eth6, [100, 200])])],
      ['sll', writePcap([sll(eth4), sll(eth6)], { linkType: LINKTYPE.LINUX_SLL })],
      ['sll2', pcapng(LINKTYPE.LINUX_SLL2, [sll2(eth4), sll2(eth6)])],
      ['raw', writePcap([eth4.subarray(14), eth6.subarray(14)], { linkType: LINKTYPE.RAW })],
    ];
    for (const [name, bytes] of cases) {
      const got = decodeRecords(readCapture(bytes, name));
      expect(got.map((g) => [g.ipVersion, g.opcode, g.destQp, g.psn, g.icrcOk]), name).toEqual([
        [4, OP.RDMA_WRITE_ONLY, 0x99, 1234, true],
        [6, OP.RDMA_WRITE_ONLY, 0x99, 1234, true],
      ]);
      expect(got[0]?.packet?.reth).toEqual({ va: 0x1000n, rkey: 0x42, dmaLength: 3 });
    }
    expect(decodeRecords(readCapture(writePcap([vlan(eth6, [100, 200])])))[0]?.vlans).toEqual([100, 200]);
  });

  it('rejects files that are not captures', () => {
    expect(() => readCapture(Buffer.from('hello world, this is text'))).toThrow(/not a pcap/);
  });

  it('stops at a truncated final record instead of reading past the end', () => {
    const full = writePcap([eth4, eth6]);
    expect(readCapture(full.subarray(0, full.length - 5))).toHaveLength(1);
  });
});
