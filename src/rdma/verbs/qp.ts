/**
 * Reliable-connection queue pairs: the verbs-facing object (state machine, post send/receive) and the
 * requester half of the RC protocol (segmentation by path MTU, PSN assignment, bounded window, AckReq,
 * ACK/NAK processing, go-back-N retransmission, retransmit timer and retry count, RNR back-off, READ
 * response and atomic ACK handling, ordered completions, flush on error). The responder half is in
 * responder.ts.
 */
import { type Aeth, NAK, RNR_TIMER_US, ackTimeoutUs } from '../wire/aeth.js';
import { BTH_LENGTH, DEFAULT_PKEY } from '../wire/headers.js';
import { OP } from '../wire/opcodes.js';
import { ICRC_LENGTH, type RocePacket, encodePacketInto, encodePacketParts, encodedLength } from '../wire/packet.js';
import type { PacketTransport } from '../transport/transport.js';
import { roceSourcePort } from '../wire/flow.js';
import { psnAdd, psnDiff } from '../wire/psn.js';
import type { CompletionQueue } from './cq.js';
import type { RdmaDevice } from './device.js';
import { verbsError } from './errors.js';
import { checkAccess } from './mr.js';
import type { ProtectionDomain } from './pd.js';
import { Responder } from './responder.js';
import type { PathMtu, PeerAddress, QpAttr, QpState, RecvWr, SendWr, Sge, WcOpcode, WcStatus } from './types.js';
import { ACCESS } from './types.js';

/** Creation parameters of a queue pair. */
export interface QpInit {
  sendCq: CompletionQueue;
  recvCq: CompletionQueue;
  maxSendWr?: number;
  maxRecvWr?: number;
  /** Every send WR generates a completion regardless of `signaled`. */
  sqSigAll?: boolean;
  /** Bound on unacknowledged request packets in flight (default 256). */
  maxWindow?: number;
  /** Ask for a specific QP number (replaying captures); default: the device's next free one. */
  qpNum?: number;
}

/** A resolved local buffer piece of an SGL. */
export interface LocalPiece {
  buf: Uint8Array;
  offset: number;
  length: number;
}

type WqeKind = 'send' | 'write' | 'read' | 'atomic';

interface SendWqe {
  wr: SendWr;
  kind: WqeKind;
  wcOpcode: WcOpcode;
  pieces: LocalPiece[];
  length: number;
  signaled: boolean;
  /** PSN of the first packet (assigned on first transmission). */
  firstPsn: number;
  npkts: number;
  assigned: boolean;
  /** READ: response packets received in order so far. */
  readRecvd: number;
  done: boolean;
  status: WcStatus;
}

/** Request packets between requested ACKs when no message ends (AckReq coalescing interval). */
const ACK_REQ_INTERVAL = 16;
/** Floor for the retransmit timer so loopback runs are not dominated by timer granularity. */
const MIN_TIMEOUT_MS = 1;

/** Packet buffers are carved from slabs of this size (a slab is never reused; GC frees it). */
const SLAB = 256 * 1024;
let slab = Buffer.allocUnsafe(SLAB);
let slabUsed = 0;

/**
 * A fresh `n`-byte buffer for one outgoing packet: a slice of the current slab (8-byte aligned), as
 * Node's own Buffer pool does for small buffers, so a 4 KiB packet costs no allocation of its own.
 * A slice is handed out once and never written again by this module, so a send still queued in
 * the socket keeps its bytes.
 */
function carve(n: number): Buffer {
  if (n > SLAB / 4) return Buffer.allocUnsafe(n);
  if (slabUsed + n > SLAB) {
    slab = Buffer.allocUnsafe(SLAB);
    slabUsed = 0;
  }
  const b = slab.subarray(slabUsed, slabUsed + n);
  slabUsed = (slabUsed + n + 7) & ~7;
  return b;
}

/** Copies `length` bytes starting at byte `from` of an SGL into `dst` at `dstOff`. */
export function gather(pieces: readonly LocalPiece[], from: number, length: number, dst: Buffer, dstOff: number): void {
  let skip = from;
  let left = length;
  let o = dstOff;
  for (const p of pieces) {
    if (left === 0) break;
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    const n = Math.min(p.length - skip, left);
    dst.set(p.buf.subarray(p.offset + skip, p.offset + skip + n), o);
    o += n;
    left -= n;
    skip = 0;
  }
}

/** Copies `src` into an SGL starting at byte `at` (the caller checked the total length). */
export function scatter(pieces: readonly LocalPiece[], at: number, src: Uint8Array): void {
  let skip = at;
  let s = 0;
  for (const p of pieces) {
    if (s === src.length) break;
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    const n = Math.min(p.length - skip, src.length - s);
    p.buf.set(src.subarray(s, s + n), p.offset + skip);
    s += n;
    skip = 0;
  }
}

/** An RC queue pair. */
export class QueuePair {
  state: QpState = 'reset';
  readonly attr: Required<Omit<QpAttr, 'state' | 'peer'>> & { peer: PeerAddress | null } = {
    accessFlags: 0,
    pathMtu: 1024,
    destQpNum: 0,
    rqPsn: 0,
    peer: null,
    maxDestRdAtomic: 16,
    minRnrTimer: 1,
    sqPsn: 0,
    timeout: 14,
    retryCnt: 7,
    rnrRetry: 7,
    maxRdAtomic: 16,
    flowLabel: 0,
  };
  /** The UDP source port of this QP's packets (its flow), from RTR on; 0 before. */
  srcPort = 0;
  /** Protocol counters (for tests and tools). */
  readonly counters = { retransmits: 0, timeouts: 0, seqNaks: 0, rnrNaks: 0, packetsSent: 0, acksReceived: 0 };

  private readonly sq: SendWqe[] = [];
  /** Index in sq of the WQE the transmit cursor is on, and the packet within it. */
  private cursor = 0;
  private cursorPkt = 0;
  /** PSN for the next WQE to be assigned. */
  private nextPsn = 0;
  /** Oldest PSN not known to be acknowledged. */
  private ackedPsn = 0;
  private retries = 0;
  private rnrRetries = 0;
  private timer: NodeJS.Timeout | null = null;
  private rnrHold: NodeJS.Timeout | null = null;
  private pumping = false;
  /** Go-back point already requested since the last progress (suppresses retransmit storms). */
  private rewoundTo = -1;
  private pktsSinceAckReq = 0;
  /** @internal */
  readonly responder: Responder;
  private readonly maxSendWr: number;
  private readonly maxWindow: number;

  constructor(
    readonly device: RdmaDevice,
    readonly pd: ProtectionDomain,
    readonly qpNum: number,
    readonly init: QpInit,
  ) {
    this.maxSendWr = init.maxSendWr ?? 4096;
    this.maxWindow = Math.max(1, Math.min(init.maxWindow ?? 256, 1 << 22));
    this.responder = new Responder(this, init.maxRecvWr ?? 4096);
  }

  /** ibv_modify_qp: applies attributes and a state transition RESET -> INIT -> RTR -> RTS, any -> ERROR/RESET. */
  modify(a: QpAttr): void {
    const from = this.state;
    const to = a.state;
    const ok =
      to === 'error' ||
      to === 'reset' ||
      (from === 'reset' && to === 'init') ||
      (from === 'init' && (to === 'init' || to === 'rtr')) ||
      (from === 'rtr' && to === 'rts') ||
      (from === 'rts' && to === 'rts');
    if (!ok) throw verbsError(`qp ${this.qpNum}.state`, `illegal transition ${from} -> ${to}`);
    if (to === 'rtr') {
      if (a.destQpNum === undefined || a.rqPsn === undefined || !a.peer) throw verbsError(`qp ${this.qpNum}`, 'RTR needs destQpNum, rqPsn and peer');
      if (a.pathMtu !== undefined && ![256, 512, 1024, 2048, 4096].includes(a.pathMtu)) throw verbsError(`qp ${this.qpNum}.pathMtu`, `not an IB MTU: ${a.pathMtu}`);
    }
    if (to === 'rts' && from === 'rtr' && a.sqPsn === undefined) throw verbsError(`qp ${this.qpNum}`, 'RTS needs sqPsn');
    for (const [k, v] of Object.entries(a)) {
      if (k === 'state' || v === undefined) continue;
      (this.attr as Record<string, unknown>)[k] = k === 'rqPsn' || k === 'sqPsn' ? (v as number) & 0xffffff : v;
    }
    if (to === 'rtr' && from === 'init') {
      this.responder.start(this.attr.rqPsn);
      this.openFlow();
    }
    if (to === 'rts' && from === 'rtr') {
      this.nextPsn = this.attr.sqPsn;
      this.ackedPsn = this.attr.sqPsn;
    }
    if (to === 'reset') {
      // RESET discards both queues without completions, as ibv_modify_qp(RESET) does.
      this.shutdown();
      this.sq.length = 0;
      this.cursor = 0;
      this.cursorPkt = 0;
      this.retries = 0;
      this.rnrRetries = 0;
      this.rewoundTo = -1;
      this.responder.reset();
      this.closeFlow();
    }
    this.state = to;
    if (to === 'error' && from !== 'error') this.enterError(null);
    this.syncPlacement();
    if (to === 'rts') this.pump();
  }

  /** From RTR on, the QP's packets leave from its flow's UDP source port (wire/flow.ts). */
  private openFlow(): void {
    const peer = this.attr.peer;
    if (!peer) return;
    this.srcPort = roceSourcePort(this.qpNum, this.attr.destQpNum, this.attr.flowLabel);
    this.device.transport.openFlow?.(this.srcPort, peer);
  }

  private closeFlow(): void {
    if (this.srcPort === 0) return;
    this.device.transport.closeFlow?.(this.srcPort);
    this.srcPort = 0;
  }

  /** Gives the transport's direct data placement the responder's current state (no-op without it). @internal */
  syncPlacement(): void {
    const ddp = this.device.transport.ddp;
    if (!ddp) return;
    const on = this.state === 'rtr' || this.state === 'rts';
    ddp.setQp(this.qpNum, {
      enabled: on,
      ePsn: this.responder.expectedPsn,
      mtu: this.attr.pathMtu,
      pd: this.pd.handle,
      remoteWrite: (this.attr.accessFlags & ACCESS.REMOTE_WRITE) !== 0,
      peer: this.attr.peer,
      current: this.responder.placementCurrent(),
    });
  }

  /** ibv_query_qp (the parts kept here). */
  query(): QpAttr {
    const { peer, ...rest } = this.attr;
    return { state: this.state, ...rest, ...(peer ? { peer } : {}) };
  }

  /** ibv_post_recv. Throws for an invalid SGL (bad lkey, no LOCAL_WRITE, out of bounds). */
  postRecv(wr: RecvWr): void {
    if (this.state === 'reset') throw verbsError(`qp ${this.qpNum}`, 'post_recv in RESET');
    const pieces = this.resolve(wr.sgList, ACCESS.LOCAL_WRITE, `recv wr ${String(wr.wrId)}`);
    if (this.state === 'error') {
      this.init.recvCq.push({ wrId: wr.wrId, status: 'flushed', opcode: 'recv', qpNum: this.qpNum, byteLen: 0 });
      return;
    }
    this.responder.postRecv(wr.wrId, pieces);
  }

  /** ibv_post_send. Throws for an invalid work request; in ERROR the WR completes as flushed. */
  postSend(wr: SendWr): void {
    if (this.state !== 'rts' && this.state !== 'error') throw verbsError(`qp ${this.qpNum}`, `post_send in ${this.state}`);
    if (this.sq.length >= this.maxSendWr) throw verbsError(`qp ${this.qpNum}`, 'send queue full');
    const isRead = wr.opcode === 'rdma-read';
    const isAtomic = wr.opcode === 'compare-swap' || wr.opcode === 'fetch-add';
    const pieces = this.resolve(wr.sgList, isRead || isAtomic ? ACCESS.LOCAL_WRITE : 0, `send wr ${String(wr.wrId)}`);
    const length = pieces.reduce((s, p) => s + p.length, 0);
    if (isAtomic && length !== 8) throw verbsError(`send wr ${String(wr.wrId)}.sgList`, 'atomics need exactly 8 local bytes');
    if (length > 0x80000000) throw verbsError(`send wr ${String(wr.wrId)}.sgList`, 'message longer than 2 GiB');
    if ('remoteAddr' in wr && isAtomic && BigInt(wr.remoteAddr) % 8n !== 0n) throw verbsError(`send wr ${String(wr.wrId)}.remoteAddr`, 'atomics need 8-byte alignment');
    const kind: WqeKind = wr.opcode.startsWith('send') ? 'send' : wr.opcode.startsWith('rdma-write') ? 'write' : isRead ? 'read' : 'atomic';
    const wcOpcode: WcOpcode = kind === 'send' ? 'send' : kind === 'write' ? 'rdma-write' : kind === 'read' ? 'rdma-read' : wr.opcode === 'compare-swap' ? 'compare-swap' : 'fetch-add';
    const wqe: SendWqe = {
      wr,
      kind,
      wcOpcode,
      pieces,
      length,
      signaled: wr.signaled !== false || this.init.sqSigAll === true,
      firstPsn: 0,
      npkts: 0,
      assigned: false,
      readRecvd: 0,
      done: false,
      status: 'success',
    };
    if (this.state === 'error') {
      this.init.sendCq.push({ wrId: wr.wrId, status: 'flushed', opcode: wcOpcode, qpNum: this.qpNum, byteLen: 0 });
      return;
    }
    this.sq.push(wqe);
    this.pump();
  }

  private resolve(sgList: readonly Sge[], need: number, path: string): LocalPiece[] {
    return sgList.map((s, i) => {
      const c = checkAccess(this.device.region(s.lkey), this.pd.handle, s.addr, s.length, need);
      if (!c.ok || c.mr.lkey !== s.lkey) throw verbsError(`${path}.sgList[${i}]`, 'local protection error (lkey, bounds or access)');
      return { buf: c.mr.buffer, offset: c.offset, length: s.length };
    });
  }

  /** Path MTU in bytes. */
  get mtu(): PathMtu {
    return this.attr.pathMtu;
  }

  /** Sends one transport packet to the peer. @internal */
  transmit(p: RocePacket): void {
    const peer = this.attr.peer;
    if (!peer) return;
    this.counters.packetsSent++;
    const t = this.device.transport;
    if (t.sendFramed && t.headroom !== undefined) {
      // One buffer per packet (from the transport's recycled frames, else carved from a shared
      // slab): the transport's headroom, then the packet.
      const n = t.headroom + encodedLength(p.bth.opcode, p.payload.length);
      const frame = t.frame ? t.frame(n) : carve(n);
      encodePacketInto(p, frame, t.headroom);
      t.sendFramed(peer, frame, this.srcPort);
    } else t.send(peer, encodePacketParts(p), this.srcPort);
  }

  /** @internal BTH for a packet to the peer QP. */
  bth(opcode: number, psn: number, ackReq: boolean, se = false): RocePacket['bth'] {
    return { opcode, se, migReq: false, padCount: 0, tver: 0, pKey: DEFAULT_PKEY, fecn: false, becn: false, destQp: this.attr.destQpNum, ackReq, psn };
  }

  /** Entry point for every packet addressed to this QP, once the device checked its header, state and peer. @internal */
  receive(p: RocePacket): void {
    const op = p.bth.opcode;
    if (op >= OP.RDMA_READ_RESPONSE_FIRST && op <= OP.ATOMIC_ACKNOWLEDGE) {
      if (this.state === 'rts') this.onResponse(p);
    } else if (this.state === 'rtr' || this.state === 'rts') this.responder.onRequest(p);
  }

  // ---------------------------------------------------------------- requester: transmit

  private pump(): void {
    if (this.pumping || this.state !== 'rts' || this.rnrHold) return;
    this.pumping = true;
    try {
      while (this.cursor < this.sq.length && this.state === 'rts') {
        const wqe = this.sq[this.cursor] as SendWqe;
        if (!wqe.assigned) {
          if ((wqe.kind === 'read' || wqe.kind === 'atomic') && this.outstandingRdAtomic() >= this.attr.maxRdAtomic) break;
          if (wqe.wr.fence === true && this.outstandingRdAtomic() > 0) break;
          wqe.firstPsn = this.nextPsn;
          wqe.npkts = Math.max(1, Math.ceil(wqe.length / this.mtu));
          if (wqe.kind === 'atomic') wqe.npkts = 1;
          wqe.assigned = true;
          this.nextPsn = psnAdd(this.nextPsn, wqe.npkts);
        }
        const psn = psnAdd(wqe.firstPsn, this.cursorPkt);
        if (psnDiff(psn, this.ackedPsn) >= this.maxWindow) break;
        this.sendRequestPacket(wqe, this.cursorPkt);
        if (wqe.kind === 'read' || wqe.kind === 'atomic' || this.cursorPkt + 1 >= wqe.npkts) {
          this.cursor++;
          this.cursorPkt = 0;
        } else this.cursorPkt++;
      }
    } finally {
      this.pumping = false;
    }
    if (this.hasUnacked()) this.armTimer();
  }

  private outstandingRdAtomic(): number {
    let n = 0;
    for (let i = 0; i < this.cursor && i < this.sq.length; i++) {
      const w = this.sq[i] as SendWqe;
      if (!w.done && (w.kind === 'read' || w.kind === 'atomic')) n++;
    }
    return n;
  }

  private sendRequestPacket(w: SendWqe, k: number): void {
    const wr = w.wr;
    const mtu = this.mtu;
    const psn = psnAdd(w.firstPsn, k);
    if (w.kind === 'read') {
      const done = w.readRecvd * mtu;
      const ra = wr as Extract<SendWr, { opcode: 'rdma-read' }>;
      this.transmit({
        bth: this.bth(OP.RDMA_READ_REQUEST, psnAdd(w.firstPsn, w.readRecvd), true),
        reth: { va: BigInt(ra.remoteAddr) + BigInt(done), rkey: ra.rkey, dmaLength: w.length - done },
        payload: Buffer.alloc(0),
      });
      this.pktsSinceAckReq = 0;
      return;
    }
    if (w.kind === 'atomic') {
      const a = wr as Extract<SendWr, { opcode: 'compare-swap' | 'fetch-add' }>;
      this.transmit({
        bth: this.bth(a.opcode === 'compare-swap' ? OP.COMPARE_SWAP : OP.FETCH_ADD, psn, true),
        atomicEth: {
          va: BigInt(a.remoteAddr),
          rkey: a.rkey,
          swapAdd: a.opcode === 'compare-swap' ? a.swap : a.add,
          compare: a.opcode === 'compare-swap' ? a.compare : 0n,
        },
        payload: Buffer.alloc(0),
      });
      this.pktsSinceAckReq = 0;
      return;
    }
    const first = k === 0;
    const last = k === w.npkts - 1;
    const off = k * mtu;
    const len = Math.min(mtu, w.length - off);
    const t = this.device.transport;
    if (w.kind === 'write' && t.frame && t.sendFramed && t.headroom !== undefined && this.attr.peer && !(last && wr.opcode === 'rdma-write-with-imm')) {
      // The common case, encoded straight into a transport frame (no packet object, no payload view).
      this.pktsSinceAckReq++;
      const ackReq = last || psnDiff(psnAdd(psn, 1), this.ackedPsn) >= this.maxWindow || this.pktsSinceAckReq >= ACK_REQ_INTERVAL;
      if (ackReq) this.pktsSinceAckReq = 0;
      this.sendWriteFramed(t as Required<Pick<PacketTransport, 'frame' | 'sendFramed' | 'headroom'>>, w, psn, first, last, ackReq, off, len);
      return;
    }
    let payload: Buffer;
    const p0 = w.pieces[0];
    if (w.pieces.length === 1 && p0) payload = Buffer.from(p0.buf.buffer, p0.buf.byteOffset + p0.offset + off, len);
    else {
      payload = Buffer.allocUnsafe(len);
      gather(w.pieces, off, len, payload, 0);
    }
    this.pktsSinceAckReq++;
    const windowEdge = psnDiff(psnAdd(psn, 1), this.ackedPsn) >= this.maxWindow;
    const ackReq = last || windowEdge || this.pktsSinceAckReq >= ACK_REQ_INTERVAL;
    if (ackReq) this.pktsSinceAckReq = 0;
    const se = last && wr.solicited === true;
    const pkt: RocePacket = { bth: this.bth(0, psn, ackReq, se), payload };
    if (w.kind === 'send') {
      const only = first && last;
      if (wr.opcode === 'send-with-imm' && last) {
        pkt.bth.opcode = only ? OP.SEND_ONLY_WITH_IMMEDIATE : OP.SEND_LAST_WITH_IMMEDIATE;
        pkt.immDt = wr.immData;
      } else if (wr.opcode === 'send-with-inv' && last) {
        pkt.bth.opcode = only ? OP.SEND_ONLY_WITH_INVALIDATE : OP.SEND_LAST_WITH_INVALIDATE;
        pkt.ieth = wr.invalidateRkey;
      } else pkt.bth.opcode = only ? OP.SEND_ONLY : first ? OP.SEND_FIRST : last ? OP.SEND_LAST : OP.SEND_MIDDLE;
    } else {
      const ww = wr as Extract<SendWr, { opcode: 'rdma-write' | 'rdma-write-with-imm' }>;
      const imm = ww.opcode === 'rdma-write-with-imm';
      if (first) pkt.reth = { va: BigInt(ww.remoteAddr), rkey: ww.rkey, dmaLength: w.length };
      if (imm && last) pkt.immDt = ww.immData;
      if (first && last) pkt.bth.opcode = imm ? OP.RDMA_WRITE_ONLY_WITH_IMMEDIATE : OP.RDMA_WRITE_ONLY;
      else if (first) pkt.bth.opcode = OP.RDMA_WRITE_FIRST;
      else if (last) pkt.bth.opcode = imm ? OP.RDMA_WRITE_LAST_WITH_IMMEDIATE : OP.RDMA_WRITE_LAST;
      else pkt.bth.opcode = OP.RDMA_WRITE_MIDDLE;
    }
    this.transmit(pkt);
  }

  /**
   * One RDMA WRITE packet (FIRST/MIDDLE/LAST/ONLY, no immediate) encoded into a transport frame:
   * the same bytes encodePacketInto writes for it (BTH, RETH on the first, payload, zero pad and ICRC slot).
   */
  private sendWriteFramed(t: Required<Pick<PacketTransport, 'frame' | 'sendFramed' | 'headroom'>>, w: SendWqe, psn: number, first: boolean, last: boolean, ackReq: boolean, off: number, len: number): void {
    const ww = w.wr as Extract<SendWr, { opcode: 'rdma-write' | 'rdma-write-with-imm' }>;
    const pad = (4 - (len & 3)) & 3;
    const h = t.headroom;
    const body = h + BTH_LENGTH + (first ? 16 : 0);
    const end = body + len + pad + ICRC_LENGTH;
    const f = t.frame(end);
    const dq = this.attr.destQpNum;
    f[h] = first ? (last ? OP.RDMA_WRITE_ONLY : OP.RDMA_WRITE_FIRST) : last ? OP.RDMA_WRITE_LAST : OP.RDMA_WRITE_MIDDLE;
    f[h + 1] = (last && ww.solicited === true ? 0x80 : 0) | (pad << 4);
    f[h + 2] = DEFAULT_PKEY >> 8;
    f[h + 3] = DEFAULT_PKEY & 0xff;
    f[h + 4] = 0;
    f[h + 5] = (dq >> 16) & 0xff;
    f[h + 6] = (dq >> 8) & 0xff;
    f[h + 7] = dq & 0xff;
    f[h + 8] = ackReq ? 0x80 : 0;
    f[h + 9] = (psn >> 16) & 0xff;
    f[h + 10] = (psn >> 8) & 0xff;
    f[h + 11] = psn & 0xff;
    if (first) {
      f.writeBigUInt64BE(BigInt.asUintN(64, BigInt(ww.remoteAddr)), h + BTH_LENGTH);
      f.writeUInt32BE(ww.rkey >>> 0, h + BTH_LENGTH + 8);
      f.writeUInt32BE(w.length >>> 0, h + BTH_LENGTH + 12);
    }
    gather(w.pieces, off, len, f, body);
    for (let i = body + len; i < end; i++) f[i] = 0;
    this.counters.packetsSent++;
    t.sendFramed(this.attr.peer as PeerAddress, f, this.srcPort);
  }

  private hasUnacked(): boolean {
    const head = this.sq[0];
    return head !== undefined && head.assigned;
  }

  private armTimer(): void {
    const ms = Math.max(MIN_TIMEOUT_MS, ackTimeoutUs(this.attr.timeout) / 1000);
    if (!Number.isFinite(ms)) return;
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(() => this.onTimeout(), ms);
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private onTimeout(): void {
    this.timer = null;
    if (this.state !== 'rts' || !this.hasUnacked()) return;
    this.counters.timeouts++;
    if (++this.retries > this.attr.retryCnt) {
      this.failHead('retry-exceeded');
      return;
    }
    this.rewindTo(this.firstUnackedPsn(), true);
    if (this.state === 'rts' && this.hasUnacked()) this.armTimer();
  }

  /** PSN of the oldest packet whose effect is not yet confirmed. */
  private firstUnackedPsn(): number {
    const head = this.sq[0];
    if (!head) return this.nextPsn;
    if (head.kind === 'read' || head.kind === 'atomic') return this.firstUnackedPsnOf(head);
    const d = psnDiff(this.ackedPsn, head.firstPsn);
    return d > 0 && d < head.npkts ? this.ackedPsn : head.firstPsn;
  }

  /** Go-back-N: moves the transmit cursor back to `psn` and resends from there. */
  private rewindTo(psn: number, force: boolean): void {
    if (!force && this.rewoundTo === psn) return;
    for (let i = 0; i < this.sq.length; i++) {
      const w = this.sq[i] as SendWqe;
      if (!w.assigned) break;
      const d = psnDiff(psn, w.firstPsn);
      if (d >= 0 && d < w.npkts) {
        if (w.done) continue;
        if (i > this.cursor || (i === this.cursor && (w.kind === 'read' || w.kind === 'atomic' ? 0 : d) > this.cursorPkt)) return; // not sent yet
        this.rewoundTo = psn;
        this.counters.retransmits++;
        this.cursor = i;
        this.cursorPkt = w.kind === 'read' || w.kind === 'atomic' ? 0 : d;
        this.pktsSinceAckReq = 0;
        this.pump();
        return;
      }
    }
  }

  // ---------------------------------------------------------------- requester: responses

  private onResponse(p: RocePacket): void {
    const op = p.bth.opcode;
    const psn = p.bth.psn;
    // A response only matters while something is outstanding, and never for a PSN not yet sent.
    // (Stale ones, before the oldest outstanding PSN, are harmless: cumulative ACKs for them are
    // no-ops and READ/atomic responses for them find no WQE.)
    if (!this.hasUnacked() || psnDiff(psn, this.nextPsn) >= 0) {
      if (op === OP.ACKNOWLEDGE || op === OP.ATOMIC_ACKNOWLEDGE) this.counters.acksReceived++;
      return;
    }
    if (op === OP.ACKNOWLEDGE) {
      this.counters.acksReceived++;
      this.onAeth(p.aeth as Aeth, psn);
    } else if (op === OP.ATOMIC_ACKNOWLEDGE) {
      this.counters.acksReceived++;
      const a = p.aeth as Aeth;
      if (a.kind !== 'ack') return this.onAeth(a, psn);
      const w = this.wqeAt(psn);
      if (!w || w.kind !== 'atomic' || w.done) return;
      if (!this.implicitAck(psn)) return;
      const out = Buffer.allocUnsafe(8);
      out.writeBigUInt64LE(BigInt.asUintN(64, p.atomicAckData ?? 0n));
      scatter(w.pieces, 0, out);
      w.done = true;
      this.progress(psnAdd(psn, 1));
    } else this.onReadResponse(p);
  }

  private onAeth(a: Aeth, psn: number): void {
    if (a.kind === 'ack') {
      this.ackThrough(psn);
      return;
    }
    if (a.kind === 'rnr-nak') {
      this.counters.rnrNaks++;
      this.ackThrough(psnAdd(psn, -1));
      if (this.attr.rnrRetry !== 7 && ++this.rnrRetries > this.attr.rnrRetry) {
        this.failAt(psn, 'rnr-retry-exceeded');
        return;
      }
      const us = RNR_TIMER_US[a.timer & 31] ?? 10;
      this.stopTimer();
      if (this.rnrHold) clearTimeout(this.rnrHold);
      this.rnrHold = setTimeout(() => {
        this.rnrHold = null;
        this.rewindTo(psn, true);
        this.pump();
      }, us / 1000);
      return;
    }
    if (a.kind === 'nak' && a.code === NAK.PSN_SEQUENCE_ERROR) {
      this.counters.seqNaks++;
      const before = this.firstUnackedPsn();
      this.ackThrough(psnAdd(psn, -1));
      if (this.firstUnackedPsn() === before && this.rewoundTo === psn) {
        // A repeated NAK for the same PSN with no progress counts against the retry budget.
        if (++this.retries > this.attr.retryCnt) return this.failHead('retry-exceeded');
      }
      this.rewindTo(psn, true);
      return;
    }
    const status: WcStatus =
      a.kind === 'nak' && a.code === NAK.REMOTE_ACCESS_ERROR
        ? 'remote-access-error'
        : a.kind === 'nak' && a.code === NAK.INVALID_REQUEST
          ? 'remote-invalid-request-error'
          : 'remote-operation-error';
    this.ackThrough(psnAdd(psn, -1));
    this.failAt(psn, status);
  }

  /** The WQE whose PSN range contains psn. */
  private wqeAt(psn: number): SendWqe | undefined {
    for (const w of this.sq) {
      if (!w.assigned) return undefined;
      const d = psnDiff(psn, w.firstPsn);
      if (d >= 0 && d < w.npkts) return w;
    }
    return undefined;
  }

  /**
   * A response at `psn` implicitly acknowledges everything before it. Returns false (and asks for a
   * retransmission) when an earlier READ or atomic is still missing its response.
   */
  private implicitAck(psn: number): boolean {
    for (const w of this.sq) {
      if (!w.assigned || psnDiff(psnAdd(w.firstPsn, w.npkts - 1), psn) >= 0) break;
      if (w.done) continue;
      if (w.kind === 'read' || w.kind === 'atomic') {
        this.rewindTo(this.firstUnackedPsnOf(w), false);
        return false;
      }
    }
    return true;
  }

  private firstUnackedPsnOf(w: SendWqe): number {
    return w.kind === 'read' ? psnAdd(w.firstPsn, w.readRecvd) : w.firstPsn;
  }

  /** Cumulative ACK through `psn` (inclusive). */
  private ackThrough(psn: number): void {
    const next = psnAdd(psn, 1);
    let rewind = -1;
    for (const w of this.sq) {
      if (!w.assigned) break;
      if (w.done) continue;
      const last = psnAdd(w.firstPsn, w.npkts - 1);
      if (psnDiff(last, psn) > 0) break; // not fully covered
      if (w.kind === 'send' || w.kind === 'write') w.done = true;
      else if (rewind < 0) {
        // Covered by an ACK but its response is missing: lost (or overtaken); go back to it.
        rewind = this.firstUnackedPsnOf(w);
      }
    }
    this.progress(next);
    if (rewind >= 0 && this.state === 'rts') this.rewindTo(rewind, false);
  }

  private progress(next: number): void {
    if (psnDiff(next, this.ackedPsn) > 0 && psnDiff(next, this.nextPsn) <= 0) {
      this.ackedPsn = next;
      this.retries = 0;
      this.rnrRetries = 0;
      this.rewoundTo = -1;
    }
    this.completeHead();
    // With nothing unacknowledged the timer is left to lapse (onTimeout ignores it) rather than
    // cleared, so a steady stream of operations refreshes one timer instead of creating one each.
    if (this.hasUnacked()) this.armTimer();
    this.pump();
  }

  private onReadResponse(p: RocePacket): void {
    const psn = p.bth.psn;
    const op = p.bth.opcode;
    const w = this.wqeAt(psn);
    if (!w || w.kind !== 'read' || w.done) return;
    const expected = psnAdd(w.firstPsn, w.readRecvd);
    const d = psnDiff(psn, expected);
    if (d < 0) return; // duplicate
    if (d > 0) {
      this.rewindTo(expected, false); // a response was lost: re-issue the READ for the rest
      return;
    }
    if (!this.implicitAck(psn)) return;
    const k = w.readRecvd;
    const isLast = k === w.npkts - 1;
    const want = isLast ? w.length - k * this.mtu : this.mtu;
    // A READ resumed mid-way (after a lost response) is answered as a new READ starting with FIRST
    // or ONLY; responses of the original request may still arrive as MIDDLE/LAST. Both carry the same data.
    const okOp = isLast
      ? op === OP.RDMA_READ_RESPONSE_LAST || op === OP.RDMA_READ_RESPONSE_ONLY
      : op === OP.RDMA_READ_RESPONSE_FIRST || op === OP.RDMA_READ_RESPONSE_MIDDLE;
    if (!okOp || p.payload.length !== want) {
      this.failAt(psn, 'remote-invalid-request-error');
      return;
    }
    if (p.aeth && p.aeth.kind !== 'ack') return this.onAeth(p.aeth, psn);
    scatter(w.pieces, k * this.mtu, p.payload);
    w.readRecvd++;
    if (w.readRecvd === w.npkts) w.done = true;
    this.progress(psnAdd(psn, 1));
  }

  // ---------------------------------------------------------------- completions and errors

  private completeHead(): void {
    while (this.sq.length > 0) {
      const w = this.sq[0] as SendWqe;
      if (!w.done) break;
      this.sq.shift();
      if (this.cursor > 0) this.cursor--;
      else this.cursorPkt = 0;
      if (w.signaled || w.status !== 'success')
        this.init.sendCq.push({ wrId: w.wr.wrId, status: w.status, opcode: w.wcOpcode, qpNum: this.qpNum, byteLen: w.status === 'success' ? w.length : 0 });
    }
  }

  private failAt(psn: number, status: WcStatus): void {
    const w = this.wqeAt(psn) ?? this.sq.find((x) => !x.done);
    this.enterError(w ? { w, status } : null);
  }

  private failHead(status: WcStatus): void {
    const w = this.sq.find((x) => !x.done);
    this.enterError(w ? { w, status } : null);
  }

  /** Moves to ERROR: the failing WQE completes with its status, every other outstanding WR is flushed. */
  private enterError(fail: { w: SendWqe; status: WcStatus } | null): void {
    this.state = 'error';
    this.stopTimer();
    if (this.rnrHold) clearTimeout(this.rnrHold);
    this.rnrHold = null;
    this.completeHead();
    // In posting order: WRs before the failing one keep their outcome (done = success; a READ or
    // atomic still waiting for its response is flushed), the failing one gets its status, and
    // every later one is flushed even if the peer already acknowledged it.
    let passed = fail === null;
    for (const w of this.sq) {
      let status: WcStatus = 'flushed';
      if (fail && w === fail.w) {
        status = fail.status;
        passed = true;
      } else if (w.done && !passed) {
        if (!w.signaled) continue;
        status = w.status;
      }
      this.init.sendCq.push({ wrId: w.wr.wrId, status, opcode: w.wcOpcode, qpNum: this.qpNum, byteLen: status === 'success' ? w.length : 0 });
    }
    this.sq.length = 0;
    this.cursor = 0;
    this.cursorPkt = 0;
    this.responder.flush();
    this.syncPlacement();
  }

  /** @internal The responder hit a fatal error (it already sent its NAK). */
  responderFatal(): void {
    if (this.state !== 'error') this.enterError(null);
  }

  /** Stops timers (destroy/reset). @internal */
  shutdown(): void {
    this.closeFlow();
    this.stopTimer();
    if (this.rnrHold) clearTimeout(this.rnrHold);
    this.rnrHold = null;
    this.responder.stop();
  }
}
