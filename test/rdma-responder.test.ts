/**
 * The responder against hostile and real input: a fuzzer feeding random and mutated packets never
 * crashes it nor touches memory outside registered regions; and fed the requests of real soft-RoCE
 * captures with matching registrations, it answers with the packet structure of the capture
 * (opcodes, PSNs, lengths, ACK syndromes and MSNs).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCapture } from '../src/rdma/decode-capture.js';
import { bringUp } from '../src/rdma/verbs/connect.js';
import { RdmaDevice } from '../src/rdma/verbs/device.js';
import { type ResponderFault, describeFault } from '../src/rdma/verbs/responder.js';
import { ACCESS, type PeerAddress } from '../src/rdma/verbs/types.js';
import { aethSyndrome } from '../src/rdma/wire/aeth.js';
import { OP, knownOpcodes, opcodeLayout } from '../src/rdma/wire/opcodes.js';
import { type RocePacket, decodePacket, encodePacket } from '../src/rdma/wire/packet.js';
import { dataSet } from './support/data.js';
import { TapTransport } from './support/tap-transport.js';

const PEER: PeerAddress = { address: 'fd00::99', port: 4791 };
const ALL = ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE | ACCESS.REMOTE_READ | ACCESS.REMOTE_ATOMIC;

describe('responder fuzzing', () => {
  it('never throws and never writes outside registered regions', async () => {
    const tap = new TapTransport({ address: 'fd00::1', port: 4791 });
    const dev = new RdmaDevice(tap);
    const pd = dev.allocPd();
    const cq = dev.createCq();
    const rcq = dev.createCq();
    const qp = dev.createQp(pd, { sendCq: cq, recvCq: rcq });
    const GUARD = 256;
    const arena = Buffer.alloc(GUARD + 4096 + GUARD + 4096 + GUARD);
    const rw = pd.regMr(arena.subarray(GUARD, GUARD + 4096), ALL, 0x10000);
    const ro = pd.regMr(arena.subarray(2 * GUARD + 4096, 2 * GUARD + 8192), ACCESS.REMOTE_READ, 0x20000);
    const other = dev.allocPd().regMr(Buffer.alloc(64), ALL, 0x30000);
    const recvArena = Buffer.alloc(GUARD + 2048 + GUARD);
    const rmr = pd.regMr(recvArena.subarray(GUARD, GUARD + 2048), ACCESS.LOCAL_WRITE);
    const keys = [rw.rkey, ro.rkey, other.rkey, 0, 0xffffffff, rw.rkey ^ 1];
    const vas = [0x10000n, 0x10ff8n, 0x11000n, 0x20000n, 0x30000n, 0xfffffffffffffff8n, 0x0fff8n, 0n];
    let psnBase = 1000;
    const up = () => {
      if (qp.state !== 'reset') qp.modify({ state: 'reset' });
      bringUp(qp, 5, { qpn: 0x77, psn: psnBase, address: PEER.address, port: PEER.port }, { pathMtu: 256, timeout: 0 });
      for (let i = 0; i < 4; i++) qp.postRecv({ wrId: i, sgList: [{ addr: rmr.addr + i * 512, length: 512, lkey: rmr.lkey }] });
    };
    up();

    const arbRequest = fc
      .record({
        op: fc.oneof(fc.constantFrom(...knownOpcodes()), fc.constantFrom(OP.RDMA_WRITE_ONLY, OP.SEND_ONLY, OP.FETCH_ADD, OP.RDMA_READ_REQUEST)),
        psnDelta: fc.oneof(fc.constant(0), fc.integer({ min: -3, max: 3 })),
        key: fc.oneof(fc.constant(rw.rkey), fc.constantFrom(...keys)),
        va: fc.oneof(fc.constant(0x10000n), fc.constantFrom(...vas)),
        len: fc.constantFrom(0, 1, 8, 255, 256, 257, 512, 4096, 0x7fffffff),
        payload: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constant(256)),
        ackReq: fc.boolean(),
        mutations: fc.oneof(fc.constant([] as [number, number][]), fc.array(fc.tuple(fc.nat(400), fc.nat(255)), { maxLength: 3 })),
        cut: fc.option(fc.nat(80), { nil: undefined, freq: 4 }),
        lenIsPayload: fc.boolean(),
      })
      .map((r) => {
        const l = opcodeLayout(r.op);
        const p: RocePacket = {
          bth: { opcode: r.op, se: false, migReq: false, padCount: 0, tver: 0, pKey: 0xffff, fecn: false, becn: false, destQp: qp.qpNum, ackReq: r.ackReq, psn: 0 },
          payload: l?.payload ? Buffer.alloc(r.payload, 0xab) : Buffer.alloc(0),
        };
        if (l?.deth) p.deth = { qKey: 1, srcQp: 1 };
        if (l?.reth) p.reth = { va: r.va, rkey: r.key, dmaLength: r.lenIsPayload ? p.payload.length : r.len };
        if (l?.aeth) p.aeth = { kind: 'ack', credits: 31, msn: 0 };
        if (l?.atomicEth) p.atomicEth = { va: r.va, rkey: r.key, swapAdd: 1n, compare: 0n };
        if (l?.atomicAckEth) p.atomicAckData = 0n;
        if (l?.immDt) p.immDt = 1;
        if (l?.ieth) p.ieth = r.key;
        return { p, r };
      });

    // One well-formed WRITE first: the responder does write where it may (the fuzz below need not
    // produce an accepted WRITE for every seed).
    tap.inject(
      encodePacket({
        bth: { opcode: OP.RDMA_WRITE_ONLY, se: false, migReq: false, padCount: 0, tver: 0, pKey: 0xffff, fecn: false, becn: false, destQp: qp.qpNum, ackReq: true, psn: psnBase },
        reth: { va: 0x10000n, rkey: rw.rkey, dmaLength: 16 },
        payload: Buffer.alloc(16, 0xab),
      }),
      PEER,
    );
    expect(arena.subarray(GUARD, GUARD + 16).every((x) => x === 0xab)).toBe(true);
    tap.sent.splice(0);
    let injected = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(arbRequest, fc.uint8Array({ maxLength: 120 })), { minLength: 1, maxLength: 40 }), async (items) => {
        for (const item of items) {
          let bytes: Buffer;
          if (item instanceof Uint8Array) bytes = Buffer.from(item);
          else {
            const ePsn = (qp.responder as unknown as { ePsn: number }).ePsn;
            item.p.bth.psn = (ePsn + item.r.psnDelta) & 0xffffff;
            bytes = encodePacket(item.p);
            for (const [at, v] of item.r.mutations) if (at < bytes.length) bytes[at] = v;
            if (item.r.cut !== undefined) bytes = bytes.subarray(0, item.r.cut);
          }
          injected++;
          tap.inject(bytes, PEER);
          // Every reply is a well-formed packet.
          for (const s of tap.sent.splice(0)) expect(decodePacket(s).ok).toBe(true);
          if (qp.state === 'error') {
            psnBase += 7;
            up();
          }
        }
        await new Promise((r) => setImmediate(r));
        for (const s of tap.sent.splice(0)) expect(decodePacket(s).ok).toBe(true);
        // Guard zones and the read-only region are never written.
        expect(arena.subarray(0, GUARD).every((x) => x === 0)).toBe(true);
        expect(arena.subarray(GUARD + 4096, 2 * GUARD + 4096).every((x) => x === 0)).toBe(true);
        expect(arena.subarray(2 * GUARD + 4096).every((x) => x === 0)).toBe(true);
        expect(recvArena.subarray(0, GUARD).every((x) => x === 0)).toBe(true);
        expect(recvArena.subarray(GUARD + 2048).every((x) => x === 0)).toBe(true);
        cq.poll(1000);
        rcq.poll(1000);
      }),
      { numRuns: 500 },
    );
    expect(injected).toBeGreaterThan(2000);
    expect(qp.responder.counters.accessErrors).toBeGreaterThan(10);
    expect(qp.responder.counters.invalidRequests).toBeGreaterThan(10);
    await dev.close();
  });
});

const dir = dataSet('rdma/pcaps');

describe.skipIf(!dir)('responder replaying captured requests', () => {
  const files = dir ? readdirSync(dir as string).filter((f) => f.endsWith('.pcap')).sort() : [];
  const isRequest = (op: number) => op <= OP.RDMA_READ_REQUEST || op === OP.COMPARE_SWAP || op === OP.FETCH_ADD || op === OP.SEND_LAST_WITH_INVALIDATE || op === OP.SEND_ONLY_WITH_INVALIDATE;
  const isResponse = (op: number) => op >= OP.RDMA_READ_RESPONSE_FIRST && op <= OP.ATOMIC_ACKNOWLEDGE;

  it.each(files)('%s', async (file) => {
    const pkts = decodeCapture(readFileSync(join(dir as string, file)), { name: file });
    const rc = pkts.filter((p) => p.packet && p.opcode < 0x20);
    const targets = [...new Set(rc.filter((p) => isRequest(p.opcode)).map((p) => `${p.dst}|${p.destQp}`))];
    expect(targets.length).toBeGreaterThan(0);
    for (const target of targets) {
      const [host, qpnText] = target.split('|') as [string, string];
      const qpn = Number(qpnText);
      const requests = rc.filter((p) => isRequest(p.opcode) && p.dst === host && p.destQp === qpn);
      const first = requests[0];
      if (!first) continue;
      const requesterHost = first.src;
      // The responses of this QP: from its host, with PSNs inside its requests' PSN ranges (another
      // QP pair between the same hosts answers in a different PSN space).
      const mtuGuess = Math.max(256, ...requests.map((r) => r.packet?.payload.length ?? 0));
      const psns = new Set<number>();
      for (const r of requests) {
        const n = r.opcode === OP.RDMA_READ_REQUEST ? Math.max(1, Math.ceil((r.packet?.reth?.dmaLength ?? 0) / mtuGuess)) : 1;
        for (let i = 0; i < n; i++) psns.add((r.psn + i) & 0xffffff);
      }
      const answers = rc.filter((p) => isResponse(p.opcode) && p.src === host && p.dst === requesterHost && psns.has(p.psn));
      const requesterQpn = answers[0]?.destQp ?? 1;
      expect(new Set(answers.map((a) => a.destQp)).size).toBe(1);
      // One device standing in for the capture's responder, with the captured QPN, keys and addresses.
      const tap = new TapTransport({ address: host, port: 4791 });
      const dev = new RdmaDevice(tap);
      const pd = dev.allocPd();
      const qp = dev.createQp(pd, { sendCq: dev.createCq(), recvCq: dev.createCq(), qpNum: qpn });
      const regions = new Map<number, { lo: bigint; hi: bigint }>();
      for (const r of requests) {
        const e = r.packet?.reth ?? r.packet?.atomicEth;
        if (!e) continue;
        const len = BigInt(r.packet?.reth?.dmaLength ?? 8);
        const cur = regions.get(e.rkey);
        regions.set(e.rkey, { lo: cur && cur.lo < e.va ? cur.lo : e.va, hi: cur && cur.hi > e.va + len ? cur.hi : e.va + len });
      }
      for (const [rkey, { lo, hi }] of regions) pd.regMr(Buffer.alloc(Number(hi - lo)), ALL, Number(lo), rkey);
      const mtu = Math.max(256, ...requests.filter((r) => r.opcode === OP.SEND_FIRST || r.opcode === OP.RDMA_WRITE_FIRST).map((r) => r.packet?.payload.length ?? 0));
      const peer = { address: requesterHost, port: first.srcPort };
      bringUp(qp, 0, { qpn: requesterQpn, psn: first.psn, address: peer.address, port: peer.port }, { pathMtu: (mtu > 256 ? mtu : 1024) as 1024, timeout: 0 });
      const recvMr = pd.regMr(Buffer.alloc(64 * 4096), ACCESS.LOCAL_WRITE);
      for (let i = 0; i < 64; i++) qp.postRecv({ wrId: i, sgList: [{ addr: recvMr.addr + i * 4096, length: 4096, lkey: recvMr.lkey }] });
      // Feed every request, letting coalesced ACKs go out between messages as the capture's did.
      for (const r of requests) {
        tap.inject(encodeFromCapture(r.packet as RocePacket), peer);
        if (r.packet?.bth.ackReq) await new Promise((res) => setImmediate(res));
      }
      await new Promise((res) => setImmediate(res));
      const ours = tap.sent.map((b) => {
        const d = decodePacket(b);
        if (!d.ok) throw new Error(d.reason);
        return { opcode: d.packet.bth.opcode, psn: d.packet.bth.psn, destQp: d.packet.bth.destQp, length: b.length, syndrome: d.packet.aeth ? aethSyndrome(d.packet.aeth) : null, msn: d.packet.aeth?.msn ?? null };
      });
      const theirs = answers.map((a) => ({
        opcode: a.opcode,
        psn: a.psn,
        destQp: a.destQp,
        length: encodeFromCapture(a.packet as RocePacket).length,
        syndrome: a.packet?.aeth ? aethSyndrome(a.packet.aeth) : null,
        msn: a.packet?.aeth?.msn ?? null,
      }));
      expect(ours, `${file} responder QP 0x${qpn.toString(16)}`).toEqual(theirs);
      await dev.close();
    }
  });
});

function encodeFromCapture(p: RocePacket): Buffer {
  return encodePacket(p);
}

describe('a fatal NAK names the request and the check it failed', () => {
  const bth = (opcode: number, psn: number, destQp: number): RocePacket['bth'] => ({ opcode, se: false, migReq: false, padCount: 0, tver: 0, pKey: 0xffff, fecn: false, becn: false, destQp, ackReq: true, psn });
  const setUp = () => {
    const tap = new TapTransport({ address: 'fd00::1', port: 4791 });
    const dev = new RdmaDevice(tap);
    const pd = dev.allocPd();
    const qp = dev.createQp(pd, { sendCq: dev.createCq(), recvCq: dev.createCq() });
    const mr = pd.regMr(Buffer.alloc(4096), ALL, 0x10000);
    bringUp(qp, 5, { qpn: 0x77, psn: 100, address: PEER.address, port: PEER.port }, { pathMtu: 1024, timeout: 0 });
    return { tap, dev, qp, mr };
  };

  it('a MIDDLE at the expected PSN with no WRITE in progress: invalid request, out of sequence', async () => {
    const { tap, dev, qp } = setUp();
    tap.inject(encodePacket({ bth: bth(OP.RDMA_WRITE_MIDDLE, 100, qp.qpNum), payload: Buffer.alloc(1024) }), PEER);
    const nak = decodePacket(tap.sent.at(-1) as Buffer);
    expect(nak.ok && aethSyndrome(nak.packet.aeth as NonNullable<RocePacket['aeth']>)).toBe(0x61);
    expect(qp.state).toBe('error');
    expect(qp.responder.fault).toEqual({ psn: 100, opcode: OP.RDMA_WRITE_MIDDLE, code: 1, why: 'opcode out of sequence: no message in progress (the PSN was the one expected)' });
    expect(describeFault(qp.responder.fault as ResponderFault)).toBe(
      'NAK invalid request for PSN 0x000064 (RC_RDMA_WRITE_MIDDLE): opcode out of sequence: no message in progress (the PSN was the one expected)',
    );
    await dev.close();
  });

  it('a LAST shorter than what the WRITE still has to come: invalid request, with both lengths; a good run leaves no fault', async () => {
    const { tap, dev, qp, mr } = setUp();
    tap.inject(encodePacket({ bth: bth(OP.RDMA_WRITE_FIRST, 100, qp.qpNum), reth: { va: 0x10000n, rkey: mr.rkey, dmaLength: 3072 }, payload: Buffer.alloc(1024) }), PEER);
    tap.inject(encodePacket({ bth: bth(OP.RDMA_WRITE_MIDDLE, 101, qp.qpNum), payload: Buffer.alloc(1024) }), PEER);
    expect(qp.responder.fault).toBeNull();
    tap.inject(encodePacket({ bth: bth(OP.RDMA_WRITE_LAST, 102, qp.qpNum), payload: Buffer.alloc(512) }), PEER);
    expect(qp.responder.fault).toMatchObject({ psn: 102, opcode: OP.RDMA_WRITE_LAST, why: '512 payload bytes, 1024 of the WRITE still to come' });
    await dev.close();
  });
});
