/**
 * The requester's direct encoding of RDMA WRITE packets into transport frames (the path native
 * I/O takes) produces exactly the packets of the generic path (RocePacket + encodePacketInto):
 * every opcode of a segmented WRITE, pad counts 0-3, solicited events, AckReq placement, gathered
 * SGLs and PSN wrap-around.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PacketTransport } from '../src/rdma/transport/transport.js';
import { newStats } from '../src/rdma/transport/transport.js';
import { RdmaDevice } from '../src/rdma/verbs/device.js';
import { ACCESS, type PeerAddress } from '../src/rdma/verbs/types.js';
import { bringUp } from '../src/rdma/verbs/connect.js';

/** Captures what a QP sends; with `frames`, offers frame() (the direct path). */
class Capture implements PacketTransport {
  readonly local: PeerAddress = { address: '::1', port: 1 };
  readonly stats = newStats();
  readonly headroom = 3;
  readonly packets: Buffer[] = [];
  frame?: (n: number) => Buffer;
  constructor(frames: boolean) {
    if (frames) this.frame = (n) => Buffer.alloc(n, 0xee);
  }
  send(_to: PeerAddress, roce: Buffer | readonly Buffer[]): void {
    this.packets.push(Buffer.isBuffer(roce) ? Buffer.from(roce) : Buffer.concat(roce));
  }
  sendFramed(_to: PeerAddress, frame: Buffer): void {
    this.packets.push(Buffer.from(frame.subarray(this.headroom)));
  }
  onReceive(): void {}
  async close(): Promise<void> {}
}

interface Wr {
  len: number;
  pieces: number;
  solicited: boolean;
  imm: boolean;
}

function sent(frames: boolean, wrs: Wr[], mtu: 256 | 1024, psn: number): Buffer[] {
  const t = new Capture(frames);
  const dev = new RdmaDevice(t);
  const pd = dev.allocPd();
  const mem = Buffer.alloc(8192);
  for (let i = 0; i < mem.length; i++) mem[i] = (i * 7 + 3) & 0xff;
  const mr = pd.regMr(mem, ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE);
  const cq = dev.createCq();
  const qp = dev.createQp(pd, { sendCq: cq, recvCq: cq, maxWindow: 1 << 20 });
  bringUp(qp, psn, { qpn: 0xabcdef, psn: 0, address: '::1', port: 2 }, { pathMtu: mtu });
  wrs.forEach((w, i) => {
    const part = Math.ceil(w.len / w.pieces);
    const sgList = Array.from({ length: w.pieces }, (_, k) => ({ addr: mr.addr + 100 * k + 1, length: Math.max(0, Math.min(part, w.len - k * part)), lkey: mr.lkey }));
    const common = { wrId: i, sgList, remoteAddr: 0x7f0000001234 + i, rkey: 0x1234, solicited: w.solicited };
    qp.postSend(w.imm ? { ...common, opcode: 'rdma-write-with-imm', immData: 0x10203040 + i } : { ...common, opcode: 'rdma-write' });
  });
  dev.destroyQp(qp);
  return t.packets;
}

describe('direct WRITE framing', () => {
  it('matches the generic encoder byte for byte', () => {
    const wr = fc.record({ len: fc.integer({ min: 0, max: 3000 }), pieces: fc.integer({ min: 1, max: 3 }), solicited: fc.boolean(), imm: fc.boolean() });
    fc.assert(
      fc.property(fc.array(wr, { minLength: 1, maxLength: 6 }), fc.constantFrom(256 as const, 1024 as const), fc.integer({ min: 0xfffff0, max: 0xffffff }), (wrs, mtu, psn) => {
        const direct = sent(true, wrs, mtu, psn);
        const generic = sent(false, wrs, mtu, psn);
        expect(direct.length).toBeGreaterThan(0);
        expect(direct.map((b) => b.toString('hex'))).toEqual(generic.map((b) => b.toString('hex')));
      }),
      { numRuns: 200 },
    );
  });
});
