/**
 * RC reliability over real UDP sockets on IPv6 loopback, for each socket I/O kind (native batched
 * and node:dgram): a seeded impairment layer between the QP and the transport drops, duplicates and
 * reorders up to 10% of the packets each; every WRITE/READ/SEND still completes exactly once, in
 * order, with the right data, and the runs did exercise retransmission.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type { PacketTransport } from '../src/rdma/transport/transport.js';
import { nativeIoAvailable, openUdpTransport } from '../src/rdma/transport/udp.js';
import { connectPair } from '../src/rdma/verbs/connect.js';
import { RdmaDevice } from '../src/rdma/verbs/device.js';
import { ACCESS, type PeerAddress, type SendWr, type WorkCompletion } from '../src/rdma/verbs/types.js';
import { type Impairment, ImpairedTransport } from './support/impaired-transport.js';

/** Socket I/O kinds to run over: native too when built (always under CI, where a missing addon fails). */
const UDP_IO = nativeIoAvailable().available || process.env.CI === 'true' ? (['native', 'dgram'] as const) : (['dgram'] as const);

const ALL = ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE | ACCESS.REMOTE_READ | ACCESS.REMOTE_ATOMIC;
const SLOT = 16384;
const MAX_LEN = 12000;

type Op = { kind: 'write' | 'read' | 'send'; off: number; len: number; seed: number };

const arbOp: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom('write' as const, 'read' as const, 'send' as const),
  off: fc.nat(SLOT - MAX_LEN),
  len: fc.nat(MAX_LEN),
  seed: fc.nat(255),
});
const prob = fc.oneof(fc.constant(0.1), fc.integer({ min: 0, max: 100 }).map((x) => x / 1000));
const arbImp = fc.record({ seed: fc.nat(), loss: prob, duplicate: prob, reorder: prob });

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (seed + i * 13) & 0xff;
  return b;
}

const totals = { dropped: 0, duplicated: 0, reordered: 0, retransmits: 0 };

async function run(io: 'native' | 'dgram', ops: Op[], imp: Impairment, mtu: 1024 | 4096) {
  const ta = new ImpairedTransport(await openUdpTransport({ address: '::1', port: 0, io }), imp);
  const tb = new ImpairedTransport(await openUdpTransport({ address: '::1', port: 0, io }), { ...imp, seed: imp.seed ^ 0x5a5a5a5a });
  expect([ta.inner.io, tb.inner.io]).toEqual([io, io]);
  const mk = (t: PacketTransport, bytes: number) => {
    const dev = new RdmaDevice(t);
    const pd = dev.allocPd();
    const cq = dev.createCq();
    const rcq = dev.createCq();
    const qp = dev.createQp(pd, { sendCq: cq, recvCq: rcq, maxWindow: 64 });
    const mem = Buffer.alloc(bytes);
    const mr = pd.regMr(mem, ALL);
    return { dev, cq, rcq, qp, mem, mr };
  };
  const a = mk(ta, ops.length * SLOT);
  const b = mk(tb, ops.length * SLOT * 2);
  connectPair(a.qp, b.qp, { pathMtu: mtu, timeout: 6, retryCnt: 7, rnrRetry: 7, psnA: 0xfffff8, psnB: 0xfffff0 });
  const checks: (() => void)[] = [];
  ops.forEach((op, i) => {
    const local = i * SLOT + op.off;
    const remote = i * SLOT + op.off; // B's first half: WRITE/READ targets; second half: SEND receive slots
    const sg = [{ addr: a.mr.addr + local, length: op.len, lkey: a.mr.lkey }];
    let wr: SendWr;
    if (op.kind === 'write') {
      pattern(op.len, op.seed).copy(a.mem, local);
      wr = { wrId: i, opcode: 'rdma-write', sgList: sg, remoteAddr: b.mr.addr + remote, rkey: b.mr.rkey };
      checks.push(() => expect(b.mem.subarray(remote, remote + op.len).equals(pattern(op.len, op.seed)), `write ${i}`).toBe(true));
    } else if (op.kind === 'read') {
      pattern(op.len, op.seed ^ 0xff).copy(b.mem, remote);
      wr = { wrId: i, opcode: 'rdma-read', sgList: sg, remoteAddr: b.mr.addr + remote, rkey: b.mr.rkey };
      checks.push(() => expect(a.mem.subarray(local, local + op.len).equals(pattern(op.len, op.seed ^ 0xff)), `read ${i}`).toBe(true));
    } else {
      const slot = (ops.length + i) * SLOT;
      b.qp.postRecv({ wrId: 1000 + i, sgList: [{ addr: b.mr.addr + slot, length: SLOT, lkey: b.mr.lkey }] });
      pattern(op.len, op.seed).copy(a.mem, local);
      wr = { wrId: i, opcode: 'send', sgList: sg };
      checks.push(() => expect(b.mem.subarray(slot, slot + op.len).equals(pattern(op.len, op.seed)), `send ${i}`).toBe(true));
    }
    a.qp.postSend(wr);
  });
  const wcs: WorkCompletion[] = [];
  const deadline = Date.now() + 20_000;
  while (wcs.length < ops.length && Date.now() < deadline) {
    await Promise.race([a.cq.wait(), new Promise((r) => setTimeout(r, 50))]);
    wcs.push(...a.cq.poll(64));
  }
  await new Promise((r) => setTimeout(r, 5));
  wcs.push(...a.cq.poll(1000));
  const rwcs = b.rcq.poll(1000);
  totals.retransmits += a.qp.counters.retransmits;
  for (const t of [ta, tb]) for (const k of Object.keys(t.counters) as (keyof ImpairedTransport['counters'])[]) totals[k] += t.counters[k];
  await a.dev.close();
  await b.dev.close();
  return { wcs, rwcs, checks };
}

describe.each(UDP_IO)('RC reliability over impaired UDP, %s I/O', (io) => {
  it('every WRITE/READ/SEND completes exactly once, in order, with the right data', async () => {
    for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(arbOp, { minLength: 1, maxLength: 12 }), arbImp, fc.constantFrom(1024 as const, 4096 as const), async (ops, imp, mtu) => {
        const r = await run(io, ops, imp, mtu);
        expect(r.wcs.map((w) => Number(w.wrId))).toEqual(ops.map((_, i) => i));
        for (const w of r.wcs) expect(w.status, `wr ${String(w.wrId)}`).toBe('success');
        for (const c of r.checks) c();
        const sends = ops.flatMap((o, i) => (o.kind === 'send' ? [{ id: 1000 + i, len: o.len }] : []));
        expect(r.rwcs.map((w) => [Number(w.wrId), w.byteLen, w.status])).toEqual(sends.map((s) => [s.id, s.len, 'success']));
      }),
      { numRuns: Number(process.env.RDMA_PROPERTY_RUNS ?? 40) },
    );
    expect(totals.dropped).toBeGreaterThan(10);
    expect(totals.duplicated).toBeGreaterThan(10);
    expect(totals.reordered).toBeGreaterThan(10);
    expect(totals.retransmits).toBeGreaterThan(5);
  });
});

describe.skipIf(!UDP_IO.includes('native' as never))('the retransmit timer, native I/O', () => {
  it('takes the ACKs already in the socket before it declares a loss (Node runs expired timers before it polls sockets)', async () => {
    const ta = await openUdpTransport({ address: '::1', port: 0, io: 'native' });
    const tb = await openUdpTransport({ address: '::1', port: 0, io: 'native' });
    const mk = (t: PacketTransport) => {
      const dev = new RdmaDevice(t);
      const pd = dev.allocPd();
      const cq = dev.createCq();
      const qp = dev.createQp(pd, { sendCq: cq, recvCq: cq });
      const mem = Buffer.alloc(4096);
      return { dev, cq, qp, mem, mr: pd.regMr(mem, ALL) };
    };
    const a = mk(ta);
    const b = mk(tb);
    // A's retransmit timer runs on a fake clock: it expires exactly when the test says, never
    // because the machine was slow (a loaded machine could otherwise let it expire before B even
    // received the WRITE). Everything else (the sockets, setImmediate, microtasks) is real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      // timeout 1: 8 µs, which the requester floors at 1 ms.
      connectPair(a.qp, b.qp, { pathMtu: 1024, timeout: 1, retryCnt: 7 });
      // When B's ACK has left (its batch goes out in a microtask queued before ours; loopback puts
      // the datagram in A's socket during the send), A's timer expires before the event loop polls
      // A's socket again, as after a long stretch of work: the ACK is there, unread.
      let ackSent = false;
      const send = tb.sendFramed?.bind(tb) as NonNullable<PacketTransport['sendFramed']>;
      (tb as { sendFramed: PacketTransport['sendFramed'] }).sendFramed = (to: PeerAddress, frame: Buffer, srcPort?: number) => {
        send(to, frame, srcPort);
        if (ackSent) return;
        ackSent = true;
        queueMicrotask(() => vi.advanceTimersToNextTimer());
      };
      a.mem.write('12345678');
      a.qp.postSend({ wrId: 1, opcode: 'rdma-write', sgList: [{ addr: a.mr.addr, length: 8, lkey: a.mr.lkey }], remoteAddr: b.mr.addr, rkey: b.mr.rkey });
      const wc = await a.cq.next();
      expect(wc).toMatchObject({ wrId: 1, status: 'success' });
      expect(ackSent).toBe(true);
      expect(b.mem.toString('latin1', 0, 8)).toBe('12345678');
      expect({ timeouts: a.qp.counters.timeouts, retransmits: a.qp.counters.retransmits }).toEqual({ timeouts: 0, retransmits: 0 });
    } finally {
      vi.useRealTimers();
    }
    await a.dev.close();
    await b.dev.close();
  });
});
