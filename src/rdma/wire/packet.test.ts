import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NAK, aethFromSyndrome, aethSyndrome } from './aeth.js';
import { readBth, writeBth } from './headers.js';
import { icrcForUdp, icrcForUdpParts, icrcOfIpPacket, readIcrc } from './icrc.js';
import { formatIp, parseIp } from './ip-address.js';
import { OP, knownOpcodes, opcodeLayout } from './opcodes.js';
import { type RocePacket, decodePacket, encodePacket, encodePacketParts } from './packet.js';
import { PSN_MASK, psnAdd, psnBefore, psnDiff } from './psn.js';
import { buildRoceFrame } from './frame.js';

function sample(opcode: number, payload: Buffer): RocePacket {
  const l = opcodeLayout(opcode);
  if (!l) throw new Error('unknown');
  const p: RocePacket = {
    bth: { opcode, se: true, migReq: false, padCount: 0, tver: 0, pKey: 0xffff, fecn: false, becn: true, destQp: 0xabcdef, ackReq: true, psn: 0xfffffe },
    payload: l.payload ? payload : Buffer.alloc(0),
  };
  if (l.deth) p.deth = { qKey: 0x80010000, srcQp: 1 };
  if (l.reth) p.reth = { va: 0x7f3c80000000n, rkey: 0xab12cd34, dmaLength: 4096 };
  if (l.aeth) p.aeth = { kind: 'ack', credits: 31, msn: 0x123456 };
  if (l.atomicEth) p.atomicEth = { va: 0xffffffffffffff00n, rkey: 7, swapAdd: 0x1122334455667788n, compare: 0x8877665544332211n };
  if (l.atomicAckEth) p.atomicAckData = 0xdeadbeefcafef00dn;
  if (l.immDt) p.immDt = 0x01020304;
  if (l.ieth) p.ieth = 0x0a0b0c0d;
  return p;
}

describe('BTH bit layout', () => {
  it('places every field at its exact bits', () => {
    const b = Buffer.alloc(12);
    writeBth(b, 0, { opcode: 0x0a, se: true, migReq: true, padCount: 3, tver: 0, pKey: 0xffff, fecn: false, becn: false, destQp: 0x000011, ackReq: true, psn: 0x123456 });
    expect(b.toString('hex')).toBe('0af0ffff000000118012' + '3456');
    expect(readBth(b, 0)).toMatchObject({ opcode: 10, se: true, migReq: true, padCount: 3, destQp: 0x11, ackReq: true, psn: 0x123456 });
  });
});

describe('AETH syndromes', () => {
  it('encodes ACK, RNR NAK and NAK codes', () => {
    expect(aethSyndrome({ kind: 'ack', credits: 31, msn: 0 })).toBe(0x1f);
    expect(aethSyndrome({ kind: 'rnr-nak', timer: 14, msn: 0 })).toBe(0x2e);
    expect(aethSyndrome({ kind: 'nak', code: NAK.PSN_SEQUENCE_ERROR, msn: 0 })).toBe(0x60);
    expect(aethSyndrome({ kind: 'nak', code: NAK.INVALID_REQUEST, msn: 0 })).toBe(0x61);
    expect(aethSyndrome({ kind: 'nak', code: NAK.REMOTE_ACCESS_ERROR, msn: 0 })).toBe(0x62);
    expect(aethSyndrome({ kind: 'nak', code: NAK.REMOTE_OPERATIONAL_ERROR, msn: 0 })).toBe(0x63);
    for (let s = 0; s < 128; s++) expect(aethSyndrome(aethFromSyndrome(s, 5))).toBe(s);
  });
});

describe('packets', () => {
  it('round-trips every known opcode with every payload length mod 4', () => {
    for (const op of knownOpcodes()) {
      for (const len of [0, 1, 2, 3, 4, 257]) {
        const p = sample(op, Buffer.alloc(len, 0x5a));
        const enc = encodePacket(p);
        expect(enc.length % 4).toBe(0);
        const d = decodePacket(enc);
        expect(d.ok).toBe(true);
        if (!d.ok) continue;
        expect(d.packet.bth.padCount).toBe(opcodeLayout(op)?.payload ? (4 - (len % 4)) % 4 : 0);
        expect({ ...d.packet, bth: { ...d.packet.bth, padCount: 0 } }).toEqual({ ...p, bth: { ...p.bth, padCount: 0 } });
      }
    }
  });

  it('lists every RC opcode of SEND, WRITE, READ, ACK and atomics', () => {
    for (const op of Object.values(OP)) expect(opcodeLayout(op)).toBeDefined();
    expect(opcodeLayout(OP.RDMA_WRITE_ONLY_WITH_IMMEDIATE)?.extLength).toBe(20);
    expect(opcodeLayout(OP.ATOMIC_ACKNOWLEDGE)?.extLength).toBe(12);
    expect(opcodeLayout(OP.COMPARE_SWAP)?.extLength).toBe(28);
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        decodePacket(Buffer.from(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('ICRC over a rebuilt pseudo-header equals the ICRC over the real frame (IPv4 and IPv6)', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 65535 }), (v6, len, port) => {
        const src = parseIp(v6 ? 'fe80::1' : '10.0.0.1') as Buffer;
        const dst = parseIp(v6 ? '2001:db8::42' : '10.0.0.2') as Buffer;
        const roce = encodePacket(sample(OP.SEND_ONLY, Buffer.alloc(len, 1)));
        const frame = buildRoceFrame({ srcAddr: src, dstAddr: dst, srcPort: port, ttl: 17 }, roce);
        const carried = readIcrc(frame.subarray(frame.length - roce.length));
        expect(icrcOfIpPacket(frame.subarray(14))).toBe(carried);
        expect(icrcForUdp({ srcAddr: src, dstAddr: dst, srcPort: port, dstPort: 4791 }, roce)).toBe(carried);
      }),
      { numRuns: 200 },
    );
  });
});

describe('gathered packets', () => {
  it('encodePacketParts concatenates to encodePacket, and the ICRC over pieces is the same', () => {
    const ctx = { srcAddr: parseIp('::1') as Buffer, dstAddr: parseIp('::1') as Buffer, srcPort: 1000, dstPort: 4791 };
    for (const op of [OP.SEND_ONLY, OP.RDMA_WRITE_FIRST, OP.RDMA_READ_RESPONSE_MIDDLE, OP.RDMA_WRITE_ONLY_WITH_IMMEDIATE]) {
      for (const len of [0, 511, 512, 513, 1023, 4096]) {
        const p = sample(op, Buffer.alloc(len, 7));
        const whole = encodePacket(p);
        const parts = encodePacketParts(p);
        expect(Buffer.concat(parts).equals(whole)).toBe(true);
        expect(icrcForUdpParts(ctx, parts)).toBe(icrcForUdp(ctx, whole));
      }
    }
  });
});

describe('PSN arithmetic', () => {
  it('wraps at 2^24', () => {
    expect(psnAdd(PSN_MASK, 1)).toBe(0);
    expect(psnAdd(0, -1)).toBe(PSN_MASK);
    expect(psnDiff(0, PSN_MASK)).toBe(1);
    expect(psnBefore(PSN_MASK, 0)).toBe(true);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: PSN_MASK }), fc.integer({ min: -(2 ** 23), max: 2 ** 23 - 1 }), (a, n) => {
        expect(psnDiff(psnAdd(a, n), a)).toBe(n);
      }),
    );
  });
});

describe('IP addresses', () => {
  it('parses and formats', () => {
    expect(formatIp(parseIp('::1') as Buffer)).toBe('::1');
    expect(formatIp(parseIp('2001:db8:0:0:1:0:0:1') as Buffer)).toBe('2001:db8::1:0:0:1');
    expect(formatIp(parseIp('::ffff:10.1.2.3') as Buffer)).toBe('::ffff:a01:203');
    expect(formatIp(parseIp('10.1.16.62') as Buffer)).toBe('10.1.16.62');
    expect(parseIp('1::2::3')).toBeNull();
    expect(parseIp('300.1.1.1')).toBeNull();
  });
});
