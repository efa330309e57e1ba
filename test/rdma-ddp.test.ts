/**
 * Direct data placement (native I/O): the addon places in-order RDMA WRITEs into registered memory
 * itself and hands every other packet to the TS responder. Checked by feeding the same crafted
 * request packets to a responder with placement on and off and comparing what comes back (ACK/NAK
 * opcodes, PSNs, syndromes, MSNs), the responder's memory and completions; and by the RC
 * reliability property over impaired UDP with placement on and off.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { NativeUdpTransport } from '../src/rdma/transport/native-udp.js';
import type { PacketTransport } from '../src/rdma/transport/transport.js';
import { nativeIoAvailable, openUdpTransport } from '../src/rdma/transport/udp.js';
import { type RoceUdpAddon, loadRoceUdpAddon } from '../src/rdma/transport/native-addon.js';
import { aethSyndrome } from '../src/rdma/wire/aeth.js';
import { DEFAULT_PKEY } from '../src/rdma/wire/headers.js';
import { writeIcrc } from '../src/rdma/wire/icrc.js';
import { parseIp } from '../src/rdma/wire/ip-address.js';
import { OP } from '../src/rdma/wire/opcodes.js';
import { type RocePacket, decodePacket, encodePacket } from '../src/rdma/wire/packet.js';
import { bringUp, connectPair } from '../src/rdma/verbs/connect.js';
import { RdmaDevice } from '../src/rdma/verbs/device.js';
import type { MemoryRegion } from '../src/rdma/verbs/mr.js';
import { ACCESS, type PeerAddress, type WorkCompletion } from '../src/rdma/verbs/types.js';
import { ImpairedTransport } from './support/impaired-transport.js';
import { until } from './support/until.js';

/** Under CI the addon must be there (a missing one fails); elsewhere the suite skips without it. */
const RUN = nativeIoAvailable().available || process.env.CI === 'true';
const ALL = ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE | ACCESS.REMOTE_READ | ACCESS.REMOTE_ATOMIC;
const MTU = 1024;
const SERVER_QPN = 0x40;
const CLIENT_QPN = 0x77;
const PSN0 = 0xfffffe; // wraps after two packets
const addon = loadRoceUdpAddon().addon as RoceUdpAddon;

/** One crafted request: what the raw client sends. `deregBefore` deregisters the region first. */
interface Req {
  op: number;
  psn: number;
  payload: Buffer;
  va?: bigint;
  rkey?: number | 'bad';
  dmaLength?: number;
  imm?: number;
  /** To the second responder QP (same device and PD) instead of the first. */
  second?: boolean;
  /** SEND with invalidate: the IETH names the region's rkey. */
  invalidate?: boolean;
  deregBefore?: boolean;
  /** One payload bit flipped after the ICRC was computed. */
  corrupt?: boolean;
}

interface Outcome {
  responses: string[];
  mem: Buffer;
  recv: WorkCompletion[];
  placed: number;
  state: string;
  /** Receives of the responder's socket that carried several datagrams (UDP GRO), and ICRC failures. */
  coalesced: number;
  icrcErrors: number;
}

function fill(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Datagrams a transport has taken in (delivered, or dropped as malformed or with a bad ICRC). */
const taken = (t: PacketTransport): number => t.stats.received + t.stats.malformed + t.stats.icrcErrors;

/** Waits until `done()` holds and the counters `mark()` reads stay the same over three timer turns. */
async function settled(done: () => boolean, mark: () => string, what: string): Promise<void> {
  let last = '';
  let same = 0;
  await until(() => {
    const m = mark();
    same = m === last ? same + 1 : 0;
    last = m;
    return done() && same >= 3;
  }, what);
}

/** A responder QP on native UDP (placement on or off) fed `reqs` by a raw native socket, one batch per inner array. */
async function feed(ddp: boolean, batches: Req[][]): Promise<Outcome> {
  const st = (await openUdpTransport({ address: '::1', port: 0, io: 'native', ddp })) as NativeUdpTransport;
  expect(st.ddp !== undefined).toBe(ddp);
  // With a corrupt packet to send the ICRCs are computed here (the raw socket leaves them as they are).
  const signHere = batches.some((b) => b.some((r) => r.corrupt === true));
  const raw = await openUdpTransport({ address: '::1', port: 0, io: 'native', ddp: false, noIcrc: signHere });
  const responses: string[] = [];
  raw.onReceive((b) => {
    const d = decodePacket(b);
    if (!d.ok) return responses.push('malformed');
    const p = d.packet;
    responses.push(`${p.bth.opcode.toString(16)} psn=${p.bth.psn} syn=${p.aeth ? aethSyndrome(p.aeth).toString(16) : '-'} msn=${p.aeth?.msn ?? '-'}`);
  });
  const dev = new RdmaDevice(st);
  const pd = dev.allocPd();
  const mem = Buffer.alloc(8 * MTU);
  // A region a peer may invalidate when the scenario sends a SEND with Invalidate for it.
  const mr: MemoryRegion = pd.regMr(mem, ALL, { remoteInvalidate: batches.some((b) => b.some((r) => r.invalidate === true)) });
  const rcq = dev.createCq();
  const qp = dev.createQp(pd, { sendCq: dev.createCq(), recvCq: rcq, qpNum: SERVER_QPN });
  bringUp(qp, 0x10, { qpn: CLIENT_QPN, psn: PSN0, address: raw.local.address, port: raw.local.port }, { pathMtu: MTU });
  for (let i = 0; i < 4; i++) qp.postRecv({ wrId: 100 + i, sgList: [{ addr: mr.addr, length: 16, lkey: mr.lkey }] });
  const qp2 = dev.createQp(pd, { sendCq: dev.createCq(), recvCq: rcq, qpNum: SERVER_QPN + 1 });
  bringUp(qp2, 0x10, { qpn: CLIENT_QPN + 1, psn: PSN0, address: raw.local.address, port: raw.local.port }, { pathMtu: MTU });
  const to: PeerAddress = st.local;
  let sent = 0;
  for (const batch of batches) {
    for (const r of batch) {
      if (r.deregBefore) pd.deregMr(mr);
      const p: RocePacket = {
        bth: { opcode: r.op, se: false, migReq: false, padCount: 0, tver: 0, pKey: DEFAULT_PKEY, fecn: false, becn: false, destQp: r.second ? SERVER_QPN + 1 : SERVER_QPN, ackReq: true, psn: r.psn },
        payload: r.payload,
      };
      if (r.op === OP.RDMA_WRITE_FIRST || r.op === OP.RDMA_WRITE_ONLY || r.op === OP.RDMA_WRITE_ONLY_WITH_IMMEDIATE)
        p.reth = { va: r.va ?? BigInt(mr.addr), rkey: r.rkey === 'bad' ? mr.rkey ^ 0x100 : (r.rkey ?? mr.rkey), dmaLength: r.dmaLength ?? r.payload.length };
      if (r.imm !== undefined) p.immDt = r.imm;
      if (r.invalidate) p.ieth = mr.rkey;
      const pkt = encodePacket(p);
      if (signHere) {
        const local = parseIp('::1') as Buffer;
        writeIcrc(pkt, addon.icrc(local, local, raw.local.port, to.port, pkt, 0, 0));
        if (r.corrupt) pkt[pkt.length - 10] = (pkt[pkt.length - 10] as number) ^ 0x04;
      }
      raw.send(to, pkt);
      sent++;
    }
    // Each batch leaves in one sendmmsg and is read in one recvmmsg; the next one goes once the
    // responder has taken all of it and every answer it sent has arrived.
    await settled(() => taken(st) >= sent && taken(raw) >= st.stats.sent, () => `${taken(st)}/${sent}/${st.stats.sent}/${taken(raw)}`, 'the responder to take the batch and answer it');
  }
  const out: Outcome = {
    responses,
    mem: Buffer.from(mem),
    recv: rcq.poll(100),
    placed: st.ioStats.placed,
    state: qp.state,
    coalesced: st.rxStats.coalesced,
    icrcErrors: st.stats.icrcErrors,
  };
  await raw.close();
  await dev.close();
  return out;
}

/** Runs a scenario with placement on and off: same answers, memory and completions. */
async function same(batches: Req[][]): Promise<Outcome> {
  const on = await feed(true, batches);
  const off = await feed(false, batches);
  expect(off.placed).toBe(0);
  expect(on.responses).toEqual(off.responses);
  expect(on.mem.equals(off.mem)).toBe(true);
  // Keys carry a random key byte: the two runs invalidate different rkeys (the same region).
  const keyless = (r: WorkCompletion[]) => r.map((w) => ({ ...w, invalidatedRkey: w.invalidatedRkey === undefined ? undefined : 'a key' }));
  expect(keyless(on.recv)).toEqual(keyless(off.recv));
  expect(on.state).toBe(off.state);
  return on;
}

const psn = (k: number) => (PSN0 + k) & 0xffffff;
const ACK = OP.ACKNOWLEDGE.toString(16);

describe.runIf(RUN)('direct data placement (native I/O)', () => {
  it('places in-order WRITEs (FIRST/MIDDLE/LAST across a PSN wrap, ONLY) and acknowledges as the TS responder does', async () => {
    const a = fill(3 * MTU - 100, 1);
    const b = fill(200, 2);
    const o = await same([
      [
        { op: OP.RDMA_WRITE_FIRST, psn: psn(0), payload: a.subarray(0, MTU), dmaLength: a.length },
        { op: OP.RDMA_WRITE_MIDDLE, psn: psn(1), payload: a.subarray(MTU, 2 * MTU) },
        { op: OP.RDMA_WRITE_LAST, psn: psn(2), payload: a.subarray(2 * MTU) },
        { op: OP.RDMA_WRITE_ONLY, psn: psn(3), payload: b, va: BigInt(0x7f0000000000 + 5 * MTU + 3) },
      ],
    ]);
    expect(o.placed).toBe(4);
    expect(o.mem.subarray(0, a.length).equals(a)).toBe(true);
    expect(o.mem.subarray(5 * MTU + 3, 5 * MTU + 3 + b.length).equals(b)).toBe(true);
    expect(o.responses).toEqual([0, 1, 2, 3].map((k) => `${ACK} psn=${psn(k)} syn=1f msn=${k < 2 ? 0 : k === 2 ? 1 : 2}`));
  });

  it('an out-of-order packet goes to the TS responder (PSN sequence NAK) and the go-back-N resend is placed again', async () => {
    const a = fill(3 * MTU, 3);
    const o = await same([
      [
        { op: OP.RDMA_WRITE_FIRST, psn: psn(0), payload: a.subarray(0, MTU), dmaLength: a.length },
        { op: OP.RDMA_WRITE_LAST, psn: psn(2), payload: a.subarray(2 * MTU) },
      ],
      [
        { op: OP.RDMA_WRITE_MIDDLE, psn: psn(1), payload: a.subarray(MTU, 2 * MTU) },
        { op: OP.RDMA_WRITE_LAST, psn: psn(2), payload: a.subarray(2 * MTU) },
      ],
    ]);
    expect(o.responses).toEqual([`${ACK} psn=${psn(0)} syn=1f msn=0`, `${ACK} psn=${psn(1)} syn=60 msn=0`, `${ACK} psn=${psn(1)} syn=1f msn=0`, `${ACK} psn=${psn(2)} syn=1f msn=1`]);
    expect(o.mem.subarray(0, a.length).equals(a)).toBe(true);
    expect(o.placed).toBe(3);
  });

  it('a duplicate is re-acknowledged by the TS responder, not placed again, and placement resumes after it', async () => {
    const x = fill(64, 4);
    const y = fill(64, 5);
    const o = await same([
      [
        { op: OP.RDMA_WRITE_ONLY, psn: psn(0), payload: x },
        { op: OP.RDMA_WRITE_ONLY, psn: psn(0), payload: y },
      ],
      [{ op: OP.RDMA_WRITE_ONLY, psn: psn(1), payload: y, va: BigInt(0x7f0000000000 + 100) }],
    ]);
    expect(o.mem.subarray(0, 64).equals(x)).toBe(true);
    expect(o.mem.subarray(100, 164).equals(y)).toBe(true);
    expect(o.placed).toBe(2);
  });

  it('a bad rkey, an out-of-bounds WRITE and a bad length are NAKed by the TS responder and touch nothing', async () => {
    for (const bad of [
      { op: OP.RDMA_WRITE_ONLY, psn: psn(0), payload: fill(32, 6), rkey: 'bad' as const },
      { op: OP.RDMA_WRITE_ONLY, psn: psn(0), payload: fill(32, 7), va: BigInt(0x7f0000000000 + 8 * MTU - 16) },
      { op: OP.RDMA_WRITE_FIRST, psn: psn(0), payload: fill(MTU, 8), dmaLength: 5 * MTU, va: BigInt(0x7f0000000000 + 4 * MTU) },
      { op: OP.RDMA_WRITE_FIRST, psn: psn(0), payload: fill(MTU - 4, 9), dmaLength: 2 * MTU },
    ]) {
      const o = await same([[bad, { op: OP.RDMA_WRITE_ONLY, psn: psn(1), payload: fill(8, 10) }]]);
      expect(o.placed).toBe(0);
      expect(o.mem.equals(Buffer.alloc(8 * MTU))).toBe(true);
      expect(o.state).toBe('error');
      expect(o.responses).toHaveLength(1);
      expect(o.responses[0]).toMatch(/^11 psn=16777214 syn=6[12] /);
    }
  });

  it('deregistering the region stops placement at once (remote access NAK, memory untouched)', async () => {
    const x = fill(40, 11);
    const o = await same([[{ op: OP.RDMA_WRITE_ONLY, psn: psn(0), payload: x }], [{ op: OP.RDMA_WRITE_ONLY, psn: psn(1), payload: fill(40, 12), va: BigInt(0x7f0000000000 + 64), deregBefore: true }]]);
    expect(o.placed).toBe(1);
    expect(o.mem.subarray(0, 40).equals(x)).toBe(true);
    expect(o.mem.subarray(64, 104).equals(Buffer.alloc(40))).toBe(true);
    expect(o.responses[1]).toBe(`${ACK} psn=${psn(1)} syn=62 msn=1`);
  });

  it('a region deregistered in the middle of a placed WRITE: the rest of the WRITE is NAKed (remote access error) and not one byte is written after deregMr()', async () => {
    const a = fill(3 * MTU, 13);
    const o = await same([
      [
        { op: OP.RDMA_WRITE_FIRST, psn: psn(0), payload: a.subarray(0, MTU), dmaLength: a.length },
        { op: OP.RDMA_WRITE_MIDDLE, psn: psn(1), payload: a.subarray(MTU, 2 * MTU) },
      ],
      [{ op: OP.RDMA_WRITE_LAST, psn: psn(2), payload: a.subarray(2 * MTU), deregBefore: true }],
    ]);
    expect(o.placed).toBe(2);
    expect(o.mem.subarray(0, 2 * MTU).equals(a.subarray(0, 2 * MTU))).toBe(true);
    expect(o.mem.subarray(2 * MTU, 3 * MTU).equals(Buffer.alloc(MTU))).toBe(true);
    expect(o.responses.at(-1)).toBe(`${ACK} psn=${psn(2)} syn=62 msn=0`);
    expect(o.state).toBe('error');
  });

  it('a SEND with invalidate stops placement at once: a WRITE behind it in the same batch, on another QP, is NAKed', async () => {
    const o = await same([
      [
        { op: OP.RDMA_WRITE_ONLY, psn: psn(0), payload: fill(16, 16), va: BigInt(0x7f0000000000 + 64) },
        { op: OP.SEND_ONLY_WITH_INVALIDATE, psn: psn(1), payload: fill(8, 17), invalidate: true },
        { op: OP.RDMA_WRITE_ONLY, psn: psn(0), payload: fill(16, 18), va: BigInt(0x7f0000000000 + 128), second: true },
      ],
    ]);
    expect(o.placed).toBe(1);
    expect(o.recv.map((w) => [w.opcode, w.status, w.invalidatedRkey !== undefined])[0]).toEqual(['recv', 'success', true]);
    expect(o.responses.at(-1)).toBe(`${ACK} psn=${psn(0)} syn=62 msn=0`);
    expect(o.mem.subarray(128, 144).equals(Buffer.alloc(16))).toBe(true);
  });

  it('UDP GRO: a WRITE whose MIDDLE packets arrive coalesced with a corrupt one among them: nothing from the corrupt packet on is placed (PSN sequence NAK), and the resend is', async () => {
    const a = fill(5 * MTU - 100, 19);
    const write = (k: number, corrupt = false): Req =>
      k === 0
        ? { op: OP.RDMA_WRITE_FIRST, psn: psn(0), payload: a.subarray(0, MTU), dmaLength: a.length }
        : { op: k === 4 ? OP.RDMA_WRITE_LAST : OP.RDMA_WRITE_MIDDLE, psn: psn(k), payload: a.subarray(k * MTU, (k + 1) * MTU), corrupt };
    // MIDDLE, MIDDLE, MIDDLE, LAST: one UDP GSO message (equal lengths, a shorter last one), one receive.
    const bad = await same([[write(0), write(1, true), write(2), write(3), write(4)]]);
    expect(bad.coalesced).toBeGreaterThanOrEqual(1);
    expect(bad.icrcErrors).toBe(1);
    expect(bad.placed).toBe(1);
    expect(bad.mem.subarray(0, MTU).equals(a.subarray(0, MTU))).toBe(true);
    expect(bad.mem.subarray(MTU).equals(Buffer.alloc(7 * MTU))).toBe(true);
    expect(bad.responses.slice(0, 2)).toEqual([`${ACK} psn=${psn(0)} syn=1f msn=0`, `${ACK} psn=${psn(1)} syn=60 msn=0`]);
    const resent = await same([[write(0), write(1, true), write(2), write(3), write(4)], [write(1), write(2), write(3), write(4)]]);
    expect(resent.coalesced).toBeGreaterThanOrEqual(2);
    expect(resent.placed).toBe(5);
    expect(resent.mem.subarray(0, a.length).equals(a)).toBe(true);
    expect(resent.responses.at(-1)).toBe(`${ACK} psn=${psn(4)} syn=1f msn=1`);
  });

  it('WRITE with immediate goes to the TS responder: same receive completion, data placed by it', async () => {
    const a = fill(2 * MTU, 14);
    const o = await same([
      [
        { op: OP.RDMA_WRITE_FIRST, psn: psn(0), payload: a.subarray(0, MTU), dmaLength: a.length },
        { op: OP.RDMA_WRITE_LAST_WITH_IMMEDIATE, psn: psn(1), payload: a.subarray(MTU), imm: 0xdeadbeef },
        { op: OP.RDMA_WRITE_ONLY_WITH_IMMEDIATE, psn: psn(2), payload: fill(8, 15), imm: 7, va: BigInt(0x7f0000000000 + 4 * MTU) },
      ],
    ]);
    expect(o.placed).toBe(1);
    expect(o.recv.map((w) => [w.opcode, w.immData, w.status])).toEqual([
      ['recv-rdma-with-imm', 0xdeadbeef, 'success'],
      ['recv-rdma-with-imm', 7, 'success'],
    ]);
    expect(o.mem.subarray(0, a.length).equals(a)).toBe(true);
  });
});

/**
 * What Linux rxe's requester sends when it recovers (rxe_req.c, req_retry and
 * retry_first_write_send; rxe_comp.c, check_ack): after a PSN sequence NAK it resumes at the
 * NAK's PSN in the middle of the message (MIDDLE or LAST, no RETH); after its retransmit timer it
 * goes back to the oldest PSN it has no ACK for, which may be the message's FIRST while the
 * responder is past it, so the responder first sees duplicates of packets it already took. Every
 * packet keeps the PSN and opcode it had the first time. The responder must take all of that as
 * duplicates and in-order continuations: no invalid request NAK (syndrome 0x61), and the memory
 * holds every WRITE.
 */
describe.runIf(RUN)("rxe's recovery sequences (placement on and off)", () => {
  const at = (off: number) => BigInt(0x7f0000000000 + off);
  const syndromes = (o: Outcome) => o.responses.map((r) => /syn=(\w+)/.exec(r)?.[1]);

  it('a lost MIDDLE: PSN sequence NAK, then the resend from the NAK PSN (a MIDDLE) completes the WRITE', async () => {
    const a = fill(5 * MTU, 16);
    const o = await same([
      [
        { op: OP.RDMA_WRITE_FIRST, psn: psn(0), payload: a.subarray(0, MTU), dmaLength: a.length },
        { op: OP.RDMA_WRITE_MIDDLE, psn: psn(1), payload: a.subarray(MTU, 2 * MTU) },
        { op: OP.RDMA_WRITE_MIDDLE, psn: psn(3), payload: a.subarray(3 * MTU, 4 * MTU) },
        { op: OP.RDMA_WRITE_LAST, psn: psn(4), payload: a.subarray(4 * MTU) },
      ],
      [
        { op: OP.RDMA_WRITE_MIDDLE, psn: psn(2), payload: a.subarray(2 * MTU, 3 * MTU) },
        { op: OP.RDMA_WRITE_MIDDLE, psn: psn(3), payload: a.subarray(3 * MTU, 4 * MTU) },
        { op: OP.RDMA_WRITE_LAST, psn: psn(4), payload: a.subarray(4 * MTU) },
      ],
    ]);
    expect(o.responses).toContain(`${ACK} psn=${psn(2)} syn=60 msn=0`);
    expect(o.responses.at(-1)).toBe(`${ACK} psn=${psn(4)} syn=1f msn=1`);
    expect(syndromes(o)).not.toContain('61');
    expect(o.mem.subarray(0, a.length).equals(a)).toBe(true);
    expect(o.state).toBe('rts');
  });

  it("a lost MIDDLE whose NAK is lost too: rxe's timer resends the whole WRITE from its FIRST; the packets before the gap are duplicates", async () => {
    const a = fill(5 * MTU, 17);
    const whole = [0, 1, 2, 3, 4].map((k) => ({
      op: k === 0 ? OP.RDMA_WRITE_FIRST : k === 4 ? OP.RDMA_WRITE_LAST : OP.RDMA_WRITE_MIDDLE,
      psn: psn(k),
      payload: a.subarray(k * MTU, (k + 1) * MTU),
      ...(k === 0 ? { dmaLength: a.length } : {}),
    }));
    const o = await same([whole.filter((_, k) => k !== 2), whole]);
    expect(syndromes(o)).not.toContain('61');
    expect(o.responses.at(-1)).toBe(`${ACK} psn=${psn(4)} syn=1f msn=1`);
    expect(o.mem.subarray(0, a.length).equals(a)).toBe(true);
    expect(o.state).toBe('rts');
  });

  it("rxe's timer goes back past a finished WRITE while the next one is in progress: its FIRST, LAST and the next FIRST are duplicates, the rest continues", async () => {
    const a = fill(2 * MTU, 18);
    const b = fill(3 * MTU - 8, 19);
    const w1 = [
      { op: OP.RDMA_WRITE_FIRST, psn: psn(0), payload: a.subarray(0, MTU), dmaLength: a.length },
      { op: OP.RDMA_WRITE_LAST, psn: psn(1), payload: a.subarray(MTU) },
    ];
    const w2 = [
      { op: OP.RDMA_WRITE_FIRST, psn: psn(2), payload: b.subarray(0, MTU), dmaLength: b.length, va: at(4 * MTU) },
      { op: OP.RDMA_WRITE_MIDDLE, psn: psn(3), payload: b.subarray(MTU, 2 * MTU) },
      { op: OP.RDMA_WRITE_LAST, psn: psn(4), payload: b.subarray(2 * MTU) },
    ];
    const o = await same([[...w1, w2[0] as Req], [...w1, ...w2]]);
    expect(syndromes(o)).not.toContain('61');
    expect(syndromes(o)).not.toContain('60');
    expect(o.responses.at(-1)).toBe(`${ACK} psn=${psn(4)} syn=1f msn=2`);
    expect(o.mem.subarray(0, a.length).equals(a)).toBe(true);
    expect(o.mem.subarray(4 * MTU, 4 * MTU + b.length).equals(b)).toBe(true);
    expect(o.state).toBe('rts');
  });

  it('duplicated and reordered packets inside one batch (a FIRST twice, a MIDDLE ahead of its turn): no invalid request, the resend completes', async () => {
    const a = fill(4 * MTU, 20);
    const p = (k: number) => ({ op: k === 0 ? OP.RDMA_WRITE_FIRST : k === 3 ? OP.RDMA_WRITE_LAST : OP.RDMA_WRITE_MIDDLE, psn: psn(k), payload: a.subarray(k * MTU, (k + 1) * MTU), ...(k === 0 ? { dmaLength: a.length } : {}) });
    const o = await same([[p(0), p(0), p(2), p(1), p(1)], [p(2), p(3)]]);
    expect(syndromes(o)).not.toContain('61');
    expect(o.responses.at(-1)).toBe(`${ACK} psn=${psn(3)} syn=1f msn=1`);
    expect(o.mem.subarray(0, a.length).equals(a)).toBe(true);
    expect(o.state).toBe('rts');
  });
});

let placedTotal = 0;
let retransmitsTotal = 0;

/** WRITEs (some with immediate) and READs from an impaired requester to a responder with placement `ddp`. */
async function impairedRun(ddp: boolean, lens: number[], seed: number, p: number) {
  const ta = new ImpairedTransport(await openUdpTransport({ address: '::1', port: 0, io: 'native', ddp: false }), { seed, loss: p, duplicate: p, reorder: p });
  const tb = (await openUdpTransport({ address: '::1', port: 0, io: 'native', ddp })) as NativeUdpTransport;
  const a = new RdmaDevice(ta);
  const b = new RdmaDevice(tb);
  const SLOT = 8192;
  const pa = a.allocPd();
  const pb = b.allocPd();
  const ma = Buffer.alloc(lens.length * SLOT);
  const mb = Buffer.alloc(lens.length * SLOT);
  const ra = pa.regMr(ma, ALL);
  const rb = pb.regMr(mb, ALL);
  const cq = a.createCq();
  const rcq = b.createCq();
  const qa = a.createQp(pa, { sendCq: cq, recvCq: a.createCq(), maxWindow: 32 });
  const qb = b.createQp(pb, { sendCq: b.createCq(), recvCq: rcq });
  connectPair(qa, qb, { pathMtu: 1024, timeout: 6, retryCnt: 7, psnA: 0xfffff0 });
  lens.forEach((len, i) => {
    fill(len, seed + i).copy(ma, i * SLOT);
    const sg = [{ addr: ra.addr + i * SLOT, length: len, lkey: ra.lkey }];
    if (i % 5 === 4) {
      qb.postRecv({ wrId: 500 + i, sgList: [] });
      qa.postSend({ wrId: i, opcode: 'rdma-write-with-imm', immData: i, sgList: sg, remoteAddr: rb.addr + i * SLOT, rkey: rb.rkey });
    } else qa.postSend({ wrId: i, opcode: 'rdma-write', sgList: sg, remoteAddr: rb.addr + i * SLOT, rkey: rb.rkey });
  });
  const wcs: WorkCompletion[] = [];
  const deadline = Date.now() + 15_000;
  while (wcs.length < lens.length && Date.now() < deadline) {
    await Promise.race([cq.wait(), wait(50)]);
    wcs.push(...cq.poll(64));
  }
  await wait(5);
  retransmitsTotal += qa.counters.retransmits;
  const out = { wcs: wcs.map((w) => [Number(w.wrId), w.status]), recv: rcq.poll(100).map((w) => [Number(w.wrId), w.immData, w.status]), mem: Buffer.from(mb), placed: tb.ioStats.placed };
  await a.close();
  await b.close();
  return out;
}

describe.runIf(RUN)('direct data placement under loss, duplication and reordering', () => {
  afterAll(() => {
    // The property did exercise placement (not only the fallback).
    expect(placedTotal).toBeGreaterThan(50);
    // ... and the impairment did force go-back-N retransmissions.
    expect(retransmitsTotal).toBeGreaterThan(10);
  });
  it('placement on and off give the same completions, receive completions and memory', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 6000 }), { minLength: 1, maxLength: 10 }), fc.nat(), fc.constantFrom(0, 0.03, 0.1), async (lens, seed, p) => {
        const on = await impairedRun(true, lens, seed, p);
        const off = await impairedRun(false, lens, seed, p);
        placedTotal += on.placed;
        expect(off.placed).toBe(0);
        const all = lens.map((_, i) => [i, 'success']);
        expect(on.wcs).toEqual(all);
        expect(off.wcs).toEqual(all);
        expect(on.recv).toEqual(off.recv);
        expect(on.mem.equals(off.mem)).toBe(true);
        lens.forEach((len, i) => expect(on.mem.subarray(i * 8192, i * 8192 + len).equals(fill(len, seed + i))).toBe(true));
      }),
      { numRuns: Number(process.env.RDMA_PROPERTY_RUNS ?? 25) },
    );
  });
});
