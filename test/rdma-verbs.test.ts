/** Verbs over the in-process fabric and over UDP on IPv6 loopback: every operation, statuses, state machine. */
import { describe, expect, it } from 'vitest';
import { Fabric } from '../src/rdma/transport/fabric.js';
import type { PacketTransport } from '../src/rdma/transport/transport.js';
import { nativeIoAvailable, openUdpTransport } from '../src/rdma/transport/udp.js';
import { connectPair } from '../src/rdma/verbs/connect.js';
import { RdmaDevice } from '../src/rdma/verbs/device.js';
import { ACCESS, type WorkCompletion } from '../src/rdma/verbs/types.js';
import type { CompletionQueue } from '../src/rdma/verbs/cq.js';
import { until } from './support/until.js';

/** Socket I/O kinds to run over: native too when built (always under CI, where a missing addon fails). */
const UDP_IO = nativeIoAvailable().available || process.env.CI === 'true' ? (['native', 'dgram'] as const) : (['dgram'] as const);

const ALL = ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE | ACCESS.REMOTE_READ | ACCESS.REMOTE_ATOMIC;

function side(t: PacketTransport) {
  const dev = new RdmaDevice(t);
  const pd = dev.allocPd();
  const cq = dev.createCq();
  const rcq = dev.createCq();
  const qp = dev.createQp(pd, { sendCq: cq, recvCq: rcq });
  const mem = Buffer.alloc(1 << 20);
  const mr = pd.regMr(mem, ALL);
  return { dev, pd, cq, rcq, qp, mem, mr };
}

async function next(cq: CompletionQueue): Promise<WorkCompletion> {
  return cq.next();
}

async function scenario(ta: PacketTransport, tb: PacketTransport, mtu: 256 | 1024 | 4096 = 1024) {
  const a = side(ta);
  const b = side(tb);
  connectPair(a.qp, b.qp, { pathMtu: mtu, timeout: 8 });
  // WRITE 100 000 bytes
  for (let i = 0; i < 100_000; i++) a.mem[i] = (i * 7) & 0xff;
  a.qp.postSend({ wrId: 1, opcode: 'rdma-write', sgList: [{ addr: a.mr.addr, length: 100_000, lkey: a.mr.lkey }], remoteAddr: b.mr.addr + 10, rkey: b.mr.rkey });
  expect(await next(a.cq)).toMatchObject({ wrId: 1, status: 'success', opcode: 'rdma-write', byteLen: 100_000 });
  expect(b.mem.subarray(10, 100_010).equals(a.mem.subarray(0, 100_000))).toBe(true);
  expect(b.mem[9]).toBe(0);
  expect(b.mem[100_010]).toBe(0);
  // READ it back elsewhere
  a.qp.postSend({ wrId: 2, opcode: 'rdma-read', sgList: [{ addr: a.mr.addr + 200_000, length: 50_000, lkey: a.mr.lkey }], remoteAddr: b.mr.addr + 10, rkey: b.mr.rkey });
  expect(await next(a.cq)).toMatchObject({ wrId: 2, status: 'success', opcode: 'rdma-read', byteLen: 50_000 });
  expect(a.mem.subarray(200_000, 250_000).equals(a.mem.subarray(0, 50_000))).toBe(true);
  // SEND with immediate into two SGEs
  b.qp.postRecv({ wrId: 10, sgList: [{ addr: b.mr.addr + 500_000, length: 3000, lkey: b.mr.lkey }, { addr: b.mr.addr + 600_000, length: 3000, lkey: b.mr.lkey }] });
  a.mem.fill(0x33, 300_000, 305_000);
  a.qp.postSend({ wrId: 3, opcode: 'send-with-imm', immData: 0xfeed, sgList: [{ addr: a.mr.addr + 300_000, length: 5000, lkey: a.mr.lkey }] });
  expect(await next(a.cq)).toMatchObject({ wrId: 3, status: 'success' });
  expect(await next(b.rcq)).toMatchObject({ wrId: 10, status: 'success', opcode: 'recv', byteLen: 5000, immData: 0xfeed });
  expect(b.mem[500_000 + 2999]).toBe(0x33);
  expect(b.mem[600_000 + 1999]).toBe(0x33);
  expect(b.mem[600_000 + 2000]).toBe(0);
  // atomics
  b.mem.writeBigUInt64LE(41n, 800_000);
  a.qp.postSend({ wrId: 4, opcode: 'fetch-add', add: 1n, sgList: [{ addr: a.mr.addr + 900_000, length: 8, lkey: a.mr.lkey }], remoteAddr: b.mr.addr + 800_000, rkey: b.mr.rkey });
  expect(await next(a.cq)).toMatchObject({ wrId: 4, status: 'success', opcode: 'fetch-add' });
  expect(a.mem.readBigUInt64LE(900_000)).toBe(41n);
  expect(b.mem.readBigUInt64LE(800_000)).toBe(42n);
  a.qp.postSend({ wrId: 5, opcode: 'compare-swap', compare: 42n, swap: 7n, sgList: [{ addr: a.mr.addr + 900_008, length: 8, lkey: a.mr.lkey }], remoteAddr: b.mr.addr + 800_000, rkey: b.mr.rkey });
  expect(await next(a.cq)).toMatchObject({ wrId: 5, status: 'success', opcode: 'compare-swap' });
  expect(b.mem.readBigUInt64LE(800_000)).toBe(7n);
  // WRITE with immediate consumes a receive
  b.qp.postRecv({ wrId: 11, sgList: [] });
  a.qp.postSend({ wrId: 6, opcode: 'rdma-write-with-imm', immData: 99, sgList: [{ addr: a.mr.addr, length: 8, lkey: a.mr.lkey }], remoteAddr: b.mr.addr, rkey: b.mr.rkey });
  expect(await next(a.cq)).toMatchObject({ wrId: 6, status: 'success' });
  expect(await next(b.rcq)).toMatchObject({ wrId: 11, opcode: 'recv-rdma-with-imm', immData: 99 });
  // unsignalled WRs produce no completion; the signalled one after them does
  for (let i = 0; i < 10; i++)
    a.qp.postSend({ wrId: 100 + i, signaled: i === 9, opcode: 'rdma-write', sgList: [{ addr: a.mr.addr, length: 64, lkey: a.mr.lkey }], remoteAddr: b.mr.addr, rkey: b.mr.rkey });
  expect(await next(a.cq)).toMatchObject({ wrId: 109, status: 'success' });
  expect(a.cq.length).toBe(0);
  // protection: a WRITE one byte past the region is a remote access error; memory untouched
  const before = Buffer.from(b.mem);
  a.qp.postSend({ wrId: 7, opcode: 'rdma-write', sgList: [{ addr: a.mr.addr, length: 16, lkey: a.mr.lkey }], remoteAddr: b.mr.addr + b.mr.length - 15, rkey: b.mr.rkey });
  a.qp.postSend({ wrId: 8, opcode: 'rdma-write', sgList: [{ addr: a.mr.addr, length: 16, lkey: a.mr.lkey }], remoteAddr: b.mr.addr, rkey: b.mr.rkey });
  expect(await next(a.cq)).toMatchObject({ wrId: 7, status: 'remote-access-error' });
  expect(await next(a.cq)).toMatchObject({ wrId: 8, status: 'flushed' });
  expect(b.mem.equals(before)).toBe(true);
  expect(a.qp.state).toBe('error');
  expect(b.qp.state).toBe('error');
  await a.dev.close();
  await b.dev.close();
}

describe('verbs', () => {
  it('every operation over the in-process fabric', async () => {
    const f = new Fabric({ seed: 1 });
    await scenario(f.endpoint(), f.endpoint(), 256);
  });

  for (const io of UDP_IO) {
    it(`every operation over UDP on IPv6 loopback with ICRCs, ${io} I/O`, async () => {
      const ta = await openUdpTransport({ port: 0, io });
      const tb = await openUdpTransport({ port: 0, io });
      expect([ta.io, tb.io]).toEqual([io, io]);
      await scenario(ta, tb, 4096);
      expect(ta.stats.icrcErrors + tb.stats.icrcErrors).toBe(0);
    });
  }

  it('RNR NAK when no receive is posted, then success once one is', async () => {
    const f = new Fabric({ seed: 2 });
    const a = side(f.endpoint());
    const b = side(f.endpoint());
    connectPair(a.qp, b.qp, { minRnrTimer: 1, timeout: 8 });
    a.qp.postSend({ wrId: 1, opcode: 'send', sgList: [{ addr: a.mr.addr, length: 10, lkey: a.mr.lkey }] });
    await until(() => b.qp.responder.counters.rnrNaksSent > 0, 'an RNR NAK from the responder');
    b.qp.postRecv({ wrId: 9, sgList: [{ addr: b.mr.addr, length: 10, lkey: b.mr.lkey }] });
    expect(await next(a.cq)).toMatchObject({ wrId: 1, status: 'success' });
    expect(await next(b.rcq)).toMatchObject({ wrId: 9, status: 'success', byteLen: 10 });
  });

  it('RNR retry exceeded, and retry exceeded when the peer is gone', async () => {
    const f = new Fabric({ seed: 3 });
    const a = side(f.endpoint());
    const b = side(f.endpoint());
    connectPair(a.qp, b.qp, { minRnrTimer: 1, rnrRetry: 2, timeout: 8, retryCnt: 2 });
    a.qp.postSend({ wrId: 1, opcode: 'send', sgList: [] });
    a.qp.postSend({ wrId: 2, opcode: 'send', sgList: [] });
    expect(await next(a.cq)).toMatchObject({ wrId: 1, status: 'rnr-retry-exceeded' });
    expect(await next(a.cq)).toMatchObject({ wrId: 2, status: 'flushed' });
    const c = side(f.endpoint());
    const d = side(f.endpoint());
    connectPair(c.qp, d.qp, { timeout: 8, retryCnt: 3 });
    await d.dev.close();
    c.qp.postSend({ wrId: 3, opcode: 'rdma-write', sgList: [{ addr: c.mr.addr, length: 8, lkey: c.mr.lkey }], remoteAddr: d.mr.addr, rkey: d.mr.rkey });
    expect(await next(c.cq)).toMatchObject({ wrId: 3, status: 'retry-exceeded' });
    expect(c.qp.counters.timeouts).toBe(4);
  });

  it('enforces the QP state machine and local protection', () => {
    const f = new Fabric();
    const a = side(f.endpoint());
    expect(() => a.qp.modify({ state: 'rts', sqPsn: 0 })).toThrow(/illegal transition reset -> rts/);
    expect(() => a.qp.postSend({ wrId: 1, opcode: 'send', sgList: [] })).toThrow(/post_send in reset/);
    a.qp.modify({ state: 'init', accessFlags: 0 });
    expect(() => a.qp.modify({ state: 'rtr' })).toThrow(/RTR needs/);
    expect(() => a.qp.postRecv({ wrId: 1, sgList: [{ addr: a.mr.addr, length: a.mr.length + 1, lkey: a.mr.lkey }] })).toThrow(/local protection/);
    const ro = a.pd.regMr(Buffer.alloc(16), ACCESS.REMOTE_READ);
    expect(() => a.qp.postRecv({ wrId: 1, sgList: [{ addr: ro.addr, length: 16, lkey: ro.lkey }] })).toThrow(/local protection/);
    expect(() => a.pd.regMr(Buffer.alloc(16), ACCESS.REMOTE_WRITE)).toThrow(/LOCAL_WRITE/);
  });
});
