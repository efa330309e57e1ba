/**
 * Header validation as IBA and Linux rxe (rxe_recv.c: hdr_check, check_type_state, check_addr,
 * check_keys) do it: a packet with TVer != 0, for QP 0 or an unknown QP, with an opcode of another
 * transport (UC, UD, CNP on an RC QP), for a QP in the wrong state, from another address than the
 * QP's peer, or with a P_Key that does not match is dropped silently: no byte of memory touched,
 * no ACK or NAK, no completion, and the QP's state unchanged. A well-formed packet right after each
 * one is accepted (so the drop did not disturb the QP). Also over native I/O, where the addon's
 * direct data placement must drop the same packets.
 */
import { describe, expect, it } from 'vitest';
import { nativeIoAvailable, openUdpTransport } from '../src/rdma/transport/udp.js';
import { bringUp } from '../src/rdma/verbs/connect.js';
import { RdmaDevice } from '../src/rdma/verbs/device.js';
import { ACCESS, type PeerAddress } from '../src/rdma/verbs/types.js';
import { DEFAULT_PKEY } from '../src/rdma/wire/headers.js';
import { OP } from '../src/rdma/wire/opcodes.js';
import { type RocePacket, decodePacket, encodePacket } from '../src/rdma/wire/packet.js';
import { TapTransport } from './support/tap-transport.js';
import { until } from './support/until.js';

const ALL = ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE | ACCESS.REMOTE_READ | ACCESS.REMOTE_ATOMIC;
const PEER: PeerAddress = { address: 'fd00::2', port: 4791 };
const QPN = 0x31;
const PEER_QPN = 0x52;
const PSN = 100;

function setup() {
  const tap = new TapTransport({ address: 'fd00::1', port: 4791 });
  const dev = new RdmaDevice(tap);
  const pd = dev.allocPd();
  const mem = Buffer.alloc(4096);
  const mr = pd.regMr(mem, ALL);
  const rcq = dev.createCq();
  const qp = dev.createQp(pd, { sendCq: dev.createCq(), recvCq: rcq, qpNum: QPN });
  bringUp(qp, 7, { qpn: PEER_QPN, psn: PSN, address: PEER.address, port: PEER.port });
  qp.postRecv({ wrId: 1, sgList: [{ addr: mr.addr + 2048, length: 64, lkey: mr.lkey }] });
  return { tap, dev, pd, mem, mr, qp, rcq };
}

type Tweak = (p: RocePacket) => void;

function writeOnly(mrAddr: number, rkey: number, psn: number, fill: number, tweak?: Tweak): Buffer {
  const p: RocePacket = {
    bth: { opcode: OP.RDMA_WRITE_ONLY, se: false, migReq: false, padCount: 0, tver: 0, pKey: DEFAULT_PKEY, fecn: false, becn: false, destQp: QPN, ackReq: true, psn },
    reth: { va: BigInt(mrAddr), rkey, dmaLength: 32 },
    payload: Buffer.alloc(32, fill),
  };
  tweak?.(p);
  return encodePacket(p);
}

/** One bad packet, then a good WRITE: the bad one leaves no trace, the good one lands and is ACKed. */
function dropped(tweak: Tweak, from: PeerAddress = PEER, raw?: (b: Buffer) => void): ReturnType<typeof setup> & { stat: RdmaDevice['stats'] } {
  const s = setup();
  const bad = writeOnly(s.mr.addr, s.mr.rkey, PSN, 0xee, tweak);
  raw?.(bad);
  s.tap.inject(bad, from);
  expect(s.mem.every((b) => b === 0)).toBe(true);
  expect(s.tap.sent).toHaveLength(0);
  expect(s.qp.state).toBe('rts');
  expect(s.rcq.length).toBe(0);
  s.tap.inject(writeOnly(s.mr.addr, s.mr.rkey, PSN, 0x11), PEER);
  expect(s.mem.subarray(0, 32).every((b) => b === 0x11)).toBe(true);
  const ack = s.tap.sent.map((b) => decodePacket(b)).find((d) => d.ok && d.packet.bth.opcode === OP.ACKNOWLEDGE);
  expect(ack?.ok && ack.packet.aeth?.kind).toBe('ack');
  return { ...s, stat: s.dev.stats };
}

describe('header checks: dropped silently, as IBA and rxe do', () => {
  it('TVer other than 0', () => {
    expect(dropped((p) => (p.bth.tver = 1)).stat.badTver).toBe(1);
  });

  it('a P_Key that does not match the partition (limited-member 0x7fff matches, 0x8001 does not)', () => {
    expect(dropped((p) => (p.bth.pKey = 0x8001)).stat.badPkey).toBe(1);
    expect(dropped((p) => (p.bth.pKey = 0x1234)).stat.badPkey).toBe(1);
    const s = setup();
    s.tap.inject(writeOnly(s.mr.addr, s.mr.rkey, PSN, 0x22, (p) => (p.bth.pKey = 0x7fff)), PEER);
    expect(s.mem[0]).toBe(0x22);
  });

  it('UC, UD and CNP opcodes on an RC QP', () => {
    // UC RDMA WRITE ONLY has the RC layout: only the transport bits differ.
    expect(dropped(() => {}, PEER, (b) => (b[0] = 0x2a)).stat.badQpType).toBe(1);
    const ud = setup();
    ud.tap.inject(
      encodePacket({
        bth: { opcode: OP.UD_SEND_ONLY, se: false, migReq: false, padCount: 0, tver: 0, pKey: DEFAULT_PKEY, fecn: false, becn: false, destQp: QPN, ackReq: false, psn: PSN },
        deth: { qKey: 0x11111111, srcQp: 9 },
        payload: Buffer.alloc(16, 0xee),
      }),
      PEER,
    );
    expect(ud.mem.every((b) => b === 0)).toBe(true);
    expect(ud.rcq.length).toBe(0);
    expect(ud.tap.sent).toHaveLength(0);
    expect(ud.qp.state).toBe('rts');
    expect(ud.dev.stats.badQpType).toBe(1);
  });

  it('QP 0 and unknown QPs', () => {
    expect(dropped((p) => (p.bth.destQp = 0)).stat.unknownQp).toBe(1);
    expect(dropped((p) => (p.bth.destQp = QPN + 1)).stat.unknownQp).toBe(1);
  });

  it("from another address than the QP's peer (any source port of the peer is fine)", () => {
    expect(dropped(() => {}, { address: 'fd00::3', port: 4791 }).stat.badAddress).toBe(1);
    const s = setup();
    s.tap.inject(writeOnly(s.mr.addr, s.mr.rkey, PSN, 0x33), { address: PEER.address, port: 50208 });
    expect(s.mem[0]).toBe(0x33);
  });

  it('requests to a QP not in RTR or RTS, responses to a QP not in RTS', () => {
    const s = setup();
    s.qp.modify({ state: 'reset' });
    s.qp.modify({ state: 'init', accessFlags: ALL });
    s.tap.inject(writeOnly(s.mr.addr, s.mr.rkey, PSN, 0xee), PEER);
    expect(s.mem.every((b) => b === 0)).toBe(true);
    expect(s.tap.sent).toHaveLength(0);
    expect(s.qp.state).toBe('init');
    expect(s.dev.stats.badState).toBe(1);
    // RTR: requests are served, responses (for a requester that cannot have sent anything) dropped.
    s.qp.modify({ state: 'rtr', pathMtu: 1024, destQpNum: PEER_QPN, rqPsn: PSN, peer: PEER });
    s.tap.inject(
      encodePacket({
        bth: { opcode: OP.ACKNOWLEDGE, se: false, migReq: false, padCount: 0, tver: 0, pKey: DEFAULT_PKEY, fecn: false, becn: false, destQp: QPN, ackReq: false, psn: 5 },
        aeth: { kind: 'nak', code: 2, msn: 0 },
        payload: Buffer.alloc(0),
      }),
      PEER,
    );
    expect(s.qp.state).toBe('rtr');
    expect(s.dev.stats.badState).toBe(2);
  });
});

const NATIVE = nativeIoAvailable().available || process.env.CI === 'true';

describe.runIf(NATIVE)('header checks with direct data placement (native I/O)', () => {
  it('the addon places none of the bad packets, and placement goes on after them', async () => {
    const st = await openUdpTransport({ address: '::1', port: 0, io: 'native' });
    const raw = await openUdpTransport({ address: '::1', port: 0, io: 'native', ddp: false });
    const dev = new RdmaDevice(st);
    const pd = dev.allocPd();
    const mem = Buffer.alloc(4096);
    const mr = pd.regMr(mem, ALL);
    const qp = dev.createQp(pd, { sendCq: dev.createCq(), recvCq: dev.createCq(), qpNum: QPN });
    bringUp(qp, 7, { qpn: PEER_QPN, psn: PSN, address: '::1', port: raw.local.port });
    const acks: string[] = [];
    raw.onReceive((b) => {
      const d = decodePacket(b);
      if (d.ok) acks.push(`${d.packet.bth.psn}:${d.packet.aeth?.kind}`);
    });
    const bad = [
      writeOnly(mr.addr, mr.rkey, PSN, 0xe1, (p) => (p.bth.tver = 1)),
      writeOnly(mr.addr, mr.rkey, PSN, 0xe2, (p) => (p.bth.pKey = 0x1234)),
      (() => {
        const b = writeOnly(mr.addr, mr.rkey, PSN, 0xe3);
        b[0] = 0x2a;
        return b;
      })(),
    ];
    for (const b of bad) raw.send(st.local, b);
    raw.send(st.local, writeOnly(mr.addr + 64, mr.rkey, PSN, 0x44));
    raw.send(st.local, writeOnly(mr.addr + 128, mr.rkey, PSN + 1, 0x55));
    await until(() => acks.length >= 2, 'the ACKs of the two well-formed WRITEs');
    expect(mem.subarray(0, 32).every((b) => b === 0)).toBe(true);
    expect(mem.subarray(64, 96).every((b) => b === 0x44)).toBe(true);
    expect(mem.subarray(128, 160).every((b) => b === 0x55)).toBe(true);
    expect(acks).toEqual([`${PSN}:ack`, `${PSN + 1}:ack`]);
    expect(dev.stats).toMatchObject({ badTver: 1, badPkey: 1, badQpType: 1 });
    expect(qp.state).toBe('rts');
    await raw.close();
    await dev.close();
  });
});
