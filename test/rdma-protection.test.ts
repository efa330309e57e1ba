/**
 * What a peer may do to this endpoint's memory, as IBA and Linux rxe allow it:
 * - remote invalidation (SEND with Invalidate) only of regions registered to allow it, in the QP's
 *   protection domain, named by their exact rkey; anything else (an ordinary region, an unknown
 *   rkey, another protection domain) fails the request: the receive completes with a remote invalid
 *   request error, the requester with an invalid request NAK, and nothing is written;
 * - keys carry a random key byte, different on every registration of the same region;
 * - after deregMr() no byte of the region is read or written: in-flight operations (a WRITE between
 *   its packets, a SEND into a posted receive, a READ response, an atomic's result, a WRITE not yet
 *   sent) complete in error;
 * - registered memory that could move is refused (resizable ArrayBuffers), and memory detached
 *   (transferred) after registration is never touched: peers get a remote access error, local work
 *   requests a local protection error, never an exception.
 */
import { describe, expect, it } from 'vitest';
import { Fabric } from '../src/rdma/transport/fabric.js';
import type { PacketTransport } from '../src/rdma/transport/transport.js';
import { nativeIoAvailable, openUdpTransport } from '../src/rdma/transport/udp.js';
import { bringUp, connectPair } from '../src/rdma/verbs/connect.js';
import type { CompletionQueue } from '../src/rdma/verbs/cq.js';
import { RdmaDevice } from '../src/rdma/verbs/device.js';
import type { MemoryRegion } from '../src/rdma/verbs/mr.js';
import { ACCESS, type PeerAddress, type WorkCompletion } from '../src/rdma/verbs/types.js';
import { DEFAULT_PKEY } from '../src/rdma/wire/headers.js';
import { OP } from '../src/rdma/wire/opcodes.js';
import { type RocePacket, decodePacket, encodePacket } from '../src/rdma/wire/packet.js';
import { TapTransport } from './support/tap-transport.js';
import { UNTIL_CAP_MS } from './support/until.js';

const ALL = ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE | ACCESS.REMOTE_READ | ACCESS.REMOTE_ATOMIC;

function side(t: PacketTransport, bytes = 1 << 16) {
  const dev = new RdmaDevice(t);
  const pd = dev.allocPd();
  const cq = dev.createCq();
  const rcq = dev.createCq();
  const qp = dev.createQp(pd, { sendCq: cq, recvCq: rcq });
  const mem = Buffer.alloc(bytes);
  const mr = pd.regMr(mem, ALL);
  return { dev, pd, cq, rcq, qp, mem, mr };
}

function pair(fabric = new Fabric()) {
  const a = side(fabric.endpoint());
  const b = side(fabric.endpoint());
  connectPair(a.qp, b.qp, { pathMtu: 1024, timeout: 6, retryCnt: 2 });
  return { a, b };
}

/** The next completion; a sentinel one (wrId -1, which no assertion expects) after a generous cap. */
async function within(cq: CompletionQueue, ms = UNTIL_CAP_MS): Promise<WorkCompletion> {
  const t = setTimeout(() => cq.push({ wrId: -1, status: 'flushed', opcode: 'send', qpNum: 0, byteLen: 0 }), ms);
  const wc = await cq.next();
  clearTimeout(t);
  return wc;
}

describe('remote invalidation', () => {
  it('an ordinary region cannot be invalidated by a peer: both sides complete in error, the region stays valid, nothing is written', async () => {
    const { a, b } = pair();
    const target = b.pd.regMr(Buffer.alloc(256), ALL);
    b.qp.postRecv({ wrId: 7, sgList: [{ addr: b.mr.addr, length: 64, lkey: b.mr.lkey }] });
    a.mem.fill(0xab, 0, 16);
    a.qp.postSend({ wrId: 1, opcode: 'send-with-inv', invalidateRkey: target.rkey, sgList: [{ addr: a.mr.addr, length: 16, lkey: a.mr.lkey }] });
    expect(await within(b.rcq)).toMatchObject({ wrId: 7, status: 'remote-invalid-request-error' });
    expect(await within(a.cq)).toMatchObject({ wrId: 1, status: 'remote-invalid-request-error' });
    expect(target.valid).toBe(true);
    expect(b.dev.region(target.rkey)).toBe(target);
    expect(b.mem.subarray(0, 64).every((x) => x === 0)).toBe(true);
    expect(b.qp.state).toBe('error');
  });

  it('an unknown rkey is an error, not a success', async () => {
    const { a, b } = pair();
    b.qp.postRecv({ wrId: 7, sgList: [{ addr: b.mr.addr, length: 64, lkey: b.mr.lkey }] });
    a.qp.postSend({ wrId: 1, opcode: 'send-with-inv', invalidateRkey: 0x7777_7700, sgList: [{ addr: a.mr.addr, length: 16, lkey: a.mr.lkey }] });
    expect(await within(b.rcq)).toMatchObject({ wrId: 7, status: 'remote-invalid-request-error' });
    expect(await within(a.cq)).toMatchObject({ wrId: 1, status: 'remote-invalid-request-error' });
  });

  it('a region registered with remoteInvalidate is invalidated (exact key, same protection domain); another PD is refused', async () => {
    const { a, b } = pair();
    const target = b.pd.regMr(Buffer.alloc(256), ALL, { remoteInvalidate: true });
    const foreign = b.dev.allocPd().regMr(Buffer.alloc(256), ALL, { remoteInvalidate: true });
    b.qp.postRecv({ wrId: 7, sgList: [{ addr: b.mr.addr, length: 64, lkey: b.mr.lkey }] });
    b.qp.postRecv({ wrId: 8, sgList: [{ addr: b.mr.addr + 64, length: 64, lkey: b.mr.lkey }] });
    a.qp.postSend({ wrId: 1, opcode: 'send-with-inv', invalidateRkey: target.rkey, sgList: [{ addr: a.mr.addr, length: 16, lkey: a.mr.lkey }] });
    expect(await within(b.rcq)).toMatchObject({ wrId: 7, status: 'success', invalidatedRkey: target.rkey });
    expect(await within(a.cq)).toMatchObject({ wrId: 1, status: 'success' });
    expect(target.valid).toBe(false);
    a.qp.postSend({ wrId: 2, opcode: 'send-with-inv', invalidateRkey: foreign.rkey, sgList: [{ addr: a.mr.addr, length: 16, lkey: a.mr.lkey }] });
    expect(await within(b.rcq)).toMatchObject({ wrId: 8, status: 'remote-invalid-request-error' });
    expect(foreign.valid).toBe(true);
  });

  it('the wrong key byte of an invalidatable region is refused', async () => {
    const { a, b } = pair();
    const target = b.pd.regMr(Buffer.alloc(256), ALL, { remoteInvalidate: true });
    b.qp.postRecv({ wrId: 7, sgList: [{ addr: b.mr.addr, length: 64, lkey: b.mr.lkey }] });
    a.qp.postSend({ wrId: 1, opcode: 'send-with-inv', invalidateRkey: (target.rkey ^ 0x01) >>> 0, sgList: [{ addr: a.mr.addr, length: 16, lkey: a.mr.lkey }] });
    expect(await within(b.rcq)).toMatchObject({ wrId: 7, status: 'remote-invalid-request-error' });
    expect(target.valid).toBe(true);
  });
});

describe('keys', () => {
  it('carry a random key byte: two devices registering the same sequence get different keys', () => {
    const keys = (): number[] => {
      const pd = new RdmaDevice(new TapTransport({ address: 'fd00::1', port: 4791 })).allocPd();
      return Array.from({ length: 32 }, () => pd.regMr(Buffer.alloc(16), ACCESS.LOCAL_WRITE).rkey);
    };
    const x = keys();
    const y = keys();
    // The index (upper 24 bits) is the same sequence; the key bytes are not (2^-256 to fail by chance).
    expect(x.map((k) => k >>> 8)).toEqual(y.map((k) => k >>> 8));
    expect(x.map((k) => k & 0xff)).not.toEqual(y.map((k) => k & 0xff));
    expect(new Set(x.map((k) => k & 0xff)).size).toBeGreaterThan(8);
  });

  it('re-registration gives the same region a new key byte; the old key stops working', async () => {
    const { a, b } = pair();
    const target = b.pd.regMr(Buffer.alloc(64), ALL, { remoteInvalidate: true });
    const old = target.rkey;
    for (let i = 0; i < 20; i++) {
      const before = target.rkey;
      b.pd.reregMr(target);
      expect(target.rkey >>> 8).toBe(before >>> 8);
      expect(target.rkey).not.toBe(before);
      expect(target.lkey).toBe(target.rkey);
    }
    expect(b.dev.region(old)).toBeUndefined();
    a.qp.postSend({ wrId: 1, opcode: 'rdma-write', sgList: [{ addr: a.mr.addr, length: 8, lkey: a.mr.lkey }], remoteAddr: target.addr, rkey: old === target.rkey ? old ^ 1 : old });
    expect(await within(a.cq)).toMatchObject({ wrId: 1, status: 'remote-access-error' });
  });
});

describe('after deregMr() no byte of the region is touched', () => {
  const PEER: PeerAddress = { address: 'fd00::2', port: 4791 };
  function tapResponder() {
    const tap = new TapTransport({ address: 'fd00::1', port: 4791 });
    const dev = new RdmaDevice(tap);
    const pd = dev.allocPd();
    const mem = Buffer.alloc(4096);
    const mr = pd.regMr(mem, ALL);
    const rcq = dev.createCq();
    const qp = dev.createQp(pd, { sendCq: dev.createCq(), recvCq: rcq, qpNum: 0x31 });
    bringUp(qp, 7, { qpn: 0x52, psn: 0, address: PEER.address, port: PEER.port }, { pathMtu: 256 });
    const pkt = (opcode: number, psn: number, payload: Buffer, more: Partial<RocePacket> = {}): Buffer =>
      encodePacket({ bth: { opcode, se: false, migReq: false, padCount: 0, tver: 0, pKey: DEFAULT_PKEY, fecn: false, becn: false, destQp: 0x31, ackReq: true, psn }, payload, ...more });
    const naks = () => tap.sent.map((b) => decodePacket(b)).flatMap((d) => (d.ok && d.packet.aeth?.kind === 'nak' ? [d.packet.aeth.code] : []));
    return { tap, dev, pd, mem, mr, rcq, qp, pkt, naks };
  }

  it('a WRITE in progress: the packets after deregMr() are NAKed (remote access error), not written', () => {
    const r = tapResponder();
    r.tap.inject(r.pkt(OP.RDMA_WRITE_FIRST, 0, Buffer.alloc(256, 1), { reth: { va: BigInt(r.mr.addr), rkey: r.mr.rkey, dmaLength: 768 } }), PEER);
    r.tap.inject(r.pkt(OP.RDMA_WRITE_MIDDLE, 1, Buffer.alloc(256, 2)), PEER);
    r.pd.deregMr(r.mr);
    r.tap.inject(r.pkt(OP.RDMA_WRITE_LAST, 2, Buffer.alloc(256, 3)), PEER);
    expect(r.mem.subarray(0, 256).every((x) => x === 1)).toBe(true);
    expect(r.mem.subarray(256, 512).every((x) => x === 2)).toBe(true);
    expect(r.mem.subarray(512).every((x) => x === 0)).toBe(true);
    expect(r.naks()).toEqual([2]);
    expect(r.qp.state).toBe('error');
  });

  it('a SEND into a receive posted on a region deregistered since: the receive completes in error, nothing is written', () => {
    const r = tapResponder();
    const rbuf = Buffer.alloc(256);
    const rmr = r.pd.regMr(rbuf, ACCESS.LOCAL_WRITE);
    r.qp.postRecv({ wrId: 9, sgList: [{ addr: rmr.addr, length: 256, lkey: rmr.lkey }] });
    r.pd.deregMr(rmr);
    r.tap.inject(r.pkt(OP.SEND_ONLY, 0, Buffer.alloc(100, 5)), PEER);
    expect(rbuf.every((x) => x === 0)).toBe(true);
    expect(r.rcq.poll(8)).toMatchObject([{ wrId: 9, status: 'local-protection-error' }]);
    expect(r.naks()).toEqual([3]);
  });

  it('a READ whose local buffer is deregistered before the response arrives completes in error, the buffer untouched', async () => {
    const { a, b } = pair();
    b.mem.fill(0x5a, 0, 4096);
    const local = Buffer.alloc(4096);
    const lmr = a.pd.regMr(local, ACCESS.LOCAL_WRITE);
    a.qp.postSend({ wrId: 3, opcode: 'rdma-read', sgList: [{ addr: lmr.addr, length: 4096, lkey: lmr.lkey }], remoteAddr: b.mr.addr, rkey: b.mr.rkey });
    a.pd.deregMr(lmr);
    expect(await within(a.cq)).toMatchObject({ wrId: 3, status: 'local-protection-error' });
    expect(local.every((x) => x === 0)).toBe(true);
  });

  it("an atomic's result is not written into a deregistered local buffer", async () => {
    const { a, b } = pair();
    const local = Buffer.alloc(8);
    const lmr = a.pd.regMr(local, ACCESS.LOCAL_WRITE);
    b.mem.writeBigUInt64LE(41n, 64);
    a.qp.postSend({ wrId: 4, opcode: 'fetch-add', add: 1n, sgList: [{ addr: lmr.addr, length: 8, lkey: lmr.lkey }], remoteAddr: b.mr.addr + 64, rkey: b.mr.rkey });
    a.pd.deregMr(lmr);
    expect(await within(a.cq)).toMatchObject({ wrId: 4, status: 'local-protection-error' });
    expect(local.every((x) => x === 0)).toBe(true);
  });

  it('a WRITE whose source region is deregistered before it leaves completes with a local protection error and sends none of it', async () => {
    const fabric = new Fabric();
    const a = side(fabric.endpoint());
    const b = side(fabric.endpoint());
    connectPair(a.qp, b.qp, { pathMtu: 1024 });
    // A READ first, with a window of outstanding READs of 1, holds the WRITE behind a fence.
    const src = Buffer.alloc(2048, 0x77);
    const smr = a.pd.regMr(src, ACCESS.LOCAL_WRITE);
    a.qp.postSend({ wrId: 1, opcode: 'rdma-read', sgList: [{ addr: a.mr.addr, length: 8, lkey: a.mr.lkey }], remoteAddr: b.mr.addr, rkey: b.mr.rkey });
    a.qp.postSend({ wrId: 2, opcode: 'rdma-write', fence: true, sgList: [{ addr: smr.addr, length: 2048, lkey: smr.lkey }], remoteAddr: b.mr.addr + 1024, rkey: b.mr.rkey });
    a.pd.deregMr(smr);
    const wcs = [await within(a.cq), await within(a.cq)];
    expect(wcs).toMatchObject([
      { wrId: 1, status: 'success' },
      { wrId: 2, status: 'local-protection-error' },
    ]);
    expect(b.mem.subarray(1024, 3072).every((x) => x === 0)).toBe(true);
  });
});

describe('registered memory that could move', () => {
  it('a resizable ArrayBuffer is refused at registration, naming the buffer', () => {
    const pd = new RdmaDevice(new TapTransport({ address: 'fd00::1', port: 4791 })).allocPd();
    const ab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer)(4096, { maxByteLength: 8192 });
    expect(() => pd.regMr(new Uint8Array(ab), ALL)).toThrow(expect.objectContaining({ code: 'ERR_RDMA_VERBS', path: 'regMr.buffer' }));
  });

  const ios = nativeIoAvailable().available || process.env.CI === 'true' ? (['fabric', 'native', 'native without placement'] as const) : (['fabric'] as const);
  for (const io of ios) {
    it(`memory transferred away after registration is never touched (${io}): a peer's WRITE fails with a remote access error, no exception, no signal`, async () => {
      let ta: PacketTransport;
      let tb: PacketTransport;
      if (io === 'fabric') {
        const f = new Fabric();
        ta = f.endpoint();
        tb = f.endpoint();
      } else {
        ta = await openUdpTransport({ address: '::1', port: 0, io: 'native' });
        tb = await openUdpTransport({ address: '::1', port: 0, io: 'native', ddp: io === 'native' });
      }
      const a = side(ta);
      const b = side(tb);
      const victimBuf = new Uint8Array(new ArrayBuffer(4096));
      const victim: MemoryRegion = b.pd.regMr(victimBuf, ALL);
      connectPair(a.qp, b.qp, { pathMtu: 1024 });
      // The application transfers the ArrayBuffer away (its new owner may free it).
      const moved = structuredClone(victimBuf.buffer, { transfer: [victimBuf.buffer] });
      expect(victimBuf.byteLength).toBe(0);
      a.mem.fill(0x66, 0, 2048);
      a.qp.postSend({ wrId: 1, opcode: 'rdma-write', sgList: [{ addr: a.mr.addr, length: 2048, lkey: a.mr.lkey }], remoteAddr: victim.addr, rkey: victim.rkey });
      expect(await within(a.cq)).toMatchObject({ wrId: 1, status: 'remote-access-error' });
      expect(new Uint8Array(moved).every((x) => x === 0)).toBe(true);
      await a.dev.close();
      await b.dev.close();
    });
  }

  it("a peer's READ of transferred memory fails with a remote access error", async () => {
    const { a, b } = pair();
    const buf = new Uint8Array(new ArrayBuffer(1024));
    const victim = b.pd.regMr(buf, ALL);
    structuredClone(buf.buffer, { transfer: [buf.buffer] });
    a.qp.postSend({ wrId: 1, opcode: 'rdma-read', sgList: [{ addr: a.mr.addr, length: 512, lkey: a.mr.lkey }], remoteAddr: victim.addr, rkey: victim.rkey });
    expect(await within(a.cq)).toMatchObject({ wrId: 1, status: 'remote-access-error' });
  });

  it('a local work request on transferred memory completes with a local protection error', async () => {
    const { a, b } = pair();
    const buf = new Uint8Array(new ArrayBuffer(1024));
    const lmr = a.pd.regMr(buf, ACCESS.LOCAL_WRITE);
    a.qp.postSend({ wrId: 1, opcode: 'rdma-read', sgList: [{ addr: a.mr.addr, length: 8, lkey: a.mr.lkey }], remoteAddr: b.mr.addr, rkey: b.mr.rkey });
    a.qp.postSend({ wrId: 2, opcode: 'rdma-write', fence: true, sgList: [{ addr: lmr.addr, length: 1024, lkey: lmr.lkey }], remoteAddr: b.mr.addr, rkey: b.mr.rkey });
    structuredClone(buf.buffer, { transfer: [buf.buffer] });
    const wcs = [await within(a.cq), await within(a.cq)];
    expect(wcs[1]).toMatchObject({ wrId: 2, status: 'local-protection-error' });
  });
});
