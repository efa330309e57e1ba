/**
 * The framed send path (one buffer per packet: transport headroom, then the packet encoded in
 * place, ICRC in one CRC pass) must produce exactly the bytes of the plain encoder and ICRC
 * routines, for every opcode, payload length (pad counts 0-3), address family and BTH byte 4.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fillIcrcFramed, icrcForUdp, icrcForUdpWith, pseudoHeaderLength } from '../src/rdma/wire/icrc.js';
import { knownOpcodes, opcodeLayout } from '../src/rdma/wire/opcodes.js';
import { type RocePacket, encodePacket, encodePacketInto, encodedLength } from '../src/rdma/wire/packet.js';

function packet(opcode: number, payload: Buffer, fecn: boolean, psn: number): RocePacket {
  const l = opcodeLayout(opcode);
  if (!l) throw new Error('unknown opcode');
  const p: RocePacket = {
    bth: { opcode, se: false, migReq: false, padCount: 0, tver: 0, pKey: 0xffff, fecn, becn: false, destQp: 0x123456, ackReq: true, psn },
    payload: l.payload ? payload : Buffer.alloc(0),
  };
  if (l.deth) p.deth = { qKey: 0x80010000, srcQp: 1 };
  if (l.reth) p.reth = { va: 0x7f3c80000000n, rkey: 0xab12cd34, dmaLength: payload.length };
  if (l.aeth) p.aeth = { kind: 'ack', credits: 31, msn: 0x123456 };
  if (l.atomicEth) p.atomicEth = { va: 0x1000n, rkey: 7, swapAdd: 5n, compare: 9n };
  if (l.atomicAckEth) p.atomicAckData = 0xdeadbeefcafef00dn;
  if (l.immDt) p.immDt = 0x01020304;
  if (l.ieth) p.ieth = 0x0a0b0c0d;
  return p;
}

describe('framed encoding and one-pass ICRC', () => {
  it('matches encodePacket + icrcForUdp byte for byte', () => {
    const v6 = { srcAddr: Buffer.from('fd000000000000000000000000000001', 'hex'), dstAddr: Buffer.from('fd000000000000000000000000000002', 'hex'), srcPort: 49152, dstPort: 4791 };
    const v4 = { srcAddr: Buffer.from([10, 0, 0, 1]), dstAddr: Buffer.from([10, 0, 0, 2]), srcPort: 1234, dstPort: 4791 };
    const ops = knownOpcodes();
    const scratch = Buffer.alloc(64);
    fc.assert(
      fc.property(fc.constantFrom(...ops), fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 0xffffff }), fc.integer({ min: 0, max: 40 }), (op, bytes, fecn, useV4, psn, garbage) => {
        const ctx = useV4 ? v4 : v6;
        const p = packet(op, Buffer.from(bytes), fecn, psn);
        const plain = encodePacket(p);
        const expected = icrcForUdp(ctx, plain);
        expect(icrcForUdpWith(ctx, plain, scratch)).toBe(expected);
        const room = pseudoHeaderLength(ctx.srcAddr.length === 16);
        // A frame carved from a dirty buffer, with unrelated bytes before it.
        const backing = Buffer.alloc(garbage + room + encodedLength(op, p.payload.length), 0xa5);
        const frame = backing.subarray(garbage);
        expect(encodePacketInto(p, frame, room)).toBe(frame.length);
        const roce = frame.subarray(room);
        expect(roce.subarray(0, roce.length - 4).equals(plain.subarray(0, plain.length - 4))).toBe(true);
        expect(fillIcrcFramed(ctx, frame)).toBe(expected);
        expect(roce.readUInt32LE(roce.length - 4)).toBe(expected);
        expect(roce[4]).toBe(plain[4]); // BTH byte 4 restored after the masked pass
        expect(backing.subarray(0, garbage).every((b) => b === 0xa5)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });
});
