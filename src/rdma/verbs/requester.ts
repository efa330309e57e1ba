/**
 * The requester half of an RC queue pair (Linux rxe's rxe_req.c): the send queue, segmentation by
 * path MTU, PSN assignment, a bounded window, AckReq coalescing, the retransmit timer and retry
 * count, go-back-N rewinds and the RNR back-off. Responses are the completer's (completer.ts).
 *
 * Local memory: a WQE's SGL was resolved when it was posted; every packet's payload is gathered
 * from it again at transmission, and a region deregistered (or invalidated, or detached) since makes
 * the WQE complete with a local protection error instead of being read.
 */
import { RNR_TIMER_US, ackTimeoutUs } from '../wire/aeth.js';
import { BTH_LENGTH, DEFAULT_PKEY } from '../wire/headers.js';
import { OP } from '../wire/opcodes.js';
import { ICRC_LENGTH, type RocePacket } from '../wire/packet.js';
import type { PacketTransport } from '../transport/transport.js';
import { psnAdd, psnDiff } from '../wire/psn.js';
import type { QueuePair } from './qp.js';
import { type LocalPiece, contiguous, gather } from './sgl.js';
import type { PeerAddress, SendWr, WcOpcode, WcStatus } from './types.js';
import { carve } from './slab.js';

/** The operation class of a send WQE. */
export type WqeKind = 'send' | 'write' | 'read' | 'atomic';

/** A posted send work request and its progress. */
export interface SendWqe {
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

/** See the module comment. */
export class Requester {
  /** Posted WQEs, oldest first, until they complete. */
  readonly sq: SendWqe[] = [];
  /** Index in sq of the WQE the transmit cursor is on, and the packet within it. */
  cursor = 0;
  cursorPkt = 0;
  /** PSN for the next WQE to be assigned. */
  nextPsn = 0;
  /** Oldest PSN not known to be acknowledged. */
  ackedPsn = 0;
  retries = 0;
  rnrRetries = 0;
  /** Go-back point already requested since the last progress (suppresses retransmit storms). */
  rewoundTo = -1;
  private pktsSinceAckReq = 0;
  private timer: NodeJS.Timeout | null = null;
  private rnrHold: NodeJS.Timeout | null = null;
  private pumping = false;

  constructor(
    private readonly qp: QueuePair,
    private readonly maxWindow: number,
  ) {}

  /** RTS: numbering starts at `sqPsn`. */
  start(sqPsn: number): void {
    this.nextPsn = sqPsn;
    this.ackedPsn = sqPsn;
  }

  /** RESET: the send queue is discarded without completions. */
  reset(): void {
    this.stop();
    this.sq.length = 0;
    this.cursor = 0;
    this.cursorPkt = 0;
    this.retries = 0;
    this.rnrRetries = 0;
    this.rewoundTo = -1;
  }

  /** Stops the timers. */
  stop(): void {
    this.stopTimer();
    if (this.rnrHold) clearTimeout(this.rnrHold);
    this.rnrHold = null;
  }

  /** Queues a WQE and transmits what the window allows. */
  post(w: SendWqe): void {
    this.sq.push(w);
    this.pump();
  }

  private get mtu(): number {
    return this.qp.attr.pathMtu;
  }

  /** Transmits from the cursor while the window and the READ/atomic limit allow. */
  pump(): void {
    const qp = this.qp;
    if (this.pumping || qp.state !== 'rts' || this.rnrHold) return;
    this.pumping = true;
    try {
      while (this.cursor < this.sq.length && qp.state === 'rts') {
        const wqe = this.sq[this.cursor] as SendWqe;
        if (!wqe.assigned) {
          if ((wqe.kind === 'read' || wqe.kind === 'atomic') && this.outstandingRdAtomic() >= qp.attr.maxRdAtomic) break;
          if (wqe.wr.fence === true && this.outstandingRdAtomic() > 0) break;
          wqe.firstPsn = this.nextPsn;
          wqe.npkts = Math.max(1, Math.ceil(wqe.length / this.mtu));
          if (wqe.kind === 'atomic') wqe.npkts = 1;
          wqe.assigned = true;
          this.nextPsn = psnAdd(this.nextPsn, wqe.npkts);
        }
        if (wqe.done && (wqe.kind === 'read' || wqe.kind === 'atomic')) {
          // Answered already (a go-back to an earlier request passes it): asking again would name
          // a PSN past its range (a READ resumes after the responses it has).
          this.cursor++;
          this.cursorPkt = 0;
          continue;
        }
        const psn = psnAdd(wqe.firstPsn, this.cursorPkt);
        if (psnDiff(psn, this.ackedPsn) >= this.maxWindow) break;
        if (!this.sendRequestPacket(wqe, this.cursorPkt)) {
          // Its local memory is gone: the WQE fails; nothing more leaves.
          qp.failWqe(wqe, 'local-protection-error');
          break;
        }
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

  /** WQEs sent (at least partly) whose READ or atomic response is still due. */
  outstandingRdAtomic(): number {
    let n = 0;
    for (let i = 0; i < this.cursor && i < this.sq.length; i++) {
      const w = this.sq[i] as SendWqe;
      if (!w.done && (w.kind === 'read' || w.kind === 'atomic')) n++;
    }
    return n;
  }

  /** @internal BTH for a packet to the peer QP. */
  bth(opcode: number, psn: number, ackReq: boolean, se = false): RocePacket['bth'] {
    return { opcode, se, migReq: false, padCount: 0, tver: 0, pKey: DEFAULT_PKEY, fecn: false, becn: false, destQp: this.qp.attr.destQpNum, ackReq, psn };
  }

  /** Sends packet `k` of a WQE; false when its local memory is gone (nothing was sent). */
  private sendRequestPacket(w: SendWqe, k: number): boolean {
    const wr = w.wr;
    const mtu = this.mtu;
    const psn = psnAdd(w.firstPsn, k);
    const qp = this.qp;
    if (w.kind === 'read') {
      const done = w.readRecvd * mtu;
      const ra = wr as Extract<SendWr, { opcode: 'rdma-read' }>;
      qp.transmit({
        bth: this.bth(OP.RDMA_READ_REQUEST, psnAdd(w.firstPsn, w.readRecvd), true),
        reth: { va: BigInt(ra.remoteAddr) + BigInt(done), rkey: ra.rkey, dmaLength: w.length - done },
        payload: Buffer.alloc(0),
      });
      this.pktsSinceAckReq = 0;
      return true;
    }
    if (w.kind === 'atomic') {
      const a = wr as Extract<SendWr, { opcode: 'compare-swap' | 'fetch-add' }>;
      qp.transmit({
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
      return true;
    }
    const first = k === 0;
    const last = k === w.npkts - 1;
    const off = k * mtu;
    const len = Math.min(mtu, w.length - off);
    const t = qp.device.transport;
    if (w.kind === 'write' && t.frame && t.sendFramed && t.headroom !== undefined && qp.attr.peer && !(last && wr.opcode === 'rdma-write-with-imm')) {
      // The common case, encoded straight into a transport frame (no packet object, no payload view).
      const ackReq = last || psnDiff(psnAdd(psn, 1), this.ackedPsn) >= this.maxWindow || this.pktsSinceAckReq + 1 >= ACK_REQ_INTERVAL;
      if (!this.sendWriteFramed(t as Required<Pick<PacketTransport, 'frame' | 'sendFramed' | 'headroom'>>, w, psn, first, last, ackReq, off, len)) return false;
      this.pktsSinceAckReq = ackReq ? 0 : this.pktsSinceAckReq + 1;
      return true;
    }
    let payload = contiguous(w.pieces, off, len);
    if (!payload) {
      payload = Buffer.allocUnsafe(len);
      if (!gather(w.pieces, off, len, payload, 0)) return false;
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
    qp.transmit(pkt);
    return true;
  }

  /**
   * One RDMA WRITE packet (FIRST/MIDDLE/LAST/ONLY, no immediate) encoded into a transport frame:
   * the same bytes encodePacketInto writes for it (BTH, RETH on the first, payload, zero pad and
   * ICRC slot). False when the local memory is gone (the frame is dropped unsent).
   */
  private sendWriteFramed(t: Required<Pick<PacketTransport, 'frame' | 'sendFramed' | 'headroom'>>, w: SendWqe, psn: number, first: boolean, last: boolean, ackReq: boolean, off: number, len: number): boolean {
    const ww = w.wr as Extract<SendWr, { opcode: 'rdma-write' | 'rdma-write-with-imm' }>;
    const pad = (4 - (len & 3)) & 3;
    const h = t.headroom;
    const body = h + BTH_LENGTH + (first ? 16 : 0);
    const end = body + len + pad + ICRC_LENGTH;
    const f = t.frame(end);
    if (!gather(w.pieces, off, len, f, body)) return false;
    const dq = this.qp.attr.destQpNum;
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
    for (let i = body + len; i < end; i++) f[i] = 0;
    this.qp.counters.packetsSent++;
    t.sendFramed(this.qp.attr.peer as PeerAddress, f, this.qp.srcPort);
    return true;
  }

  /** Something was sent and not yet acknowledged. */
  hasUnacked(): boolean {
    const head = this.sq[0];
    return head !== undefined && head.assigned;
  }

  armTimer(): void {
    const ms = Math.max(MIN_TIMEOUT_MS, ackTimeoutUs(this.qp.attr.timeout) / 1000);
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
    const qp = this.qp;
    if (qp.state !== 'rts' || !this.hasUnacked()) return;
    // Node runs expired timers before it polls sockets: after a long stretch of work (a slow
    // machine, a collection) the ACKs this timer waits for may be sitting in the socket. Take them
    // first, as an RNIC's completer handles the responses that arrived before its timer fires;
    // progress re-arms the timer.
    qp.device.transport.poll?.();
    if (this.timer !== null || qp.state !== 'rts' || !this.hasUnacked()) return;
    qp.counters.timeouts++;
    if (++this.retries > qp.attr.retryCnt) {
      qp.failHead('retry-exceeded');
      return;
    }
    this.rewindTo(this.firstUnackedPsn(), true);
    if (qp.state === 'rts' && this.hasUnacked()) this.armTimer();
  }

  /** RNR NAK: wait the peer's RNR timer (`us`), then resend from `psn`. */
  holdForRnr(us: number, psn: number): void {
    this.stopTimer();
    if (this.rnrHold) clearTimeout(this.rnrHold);
    this.rnrHold = setTimeout(() => {
      this.rnrHold = null;
      this.rewindTo(psn, true);
      this.pump();
    }, us / 1000);
  }

  /** RNR timer codes in microseconds (IBA table 45). */
  static rnrDelayUs(code: number): number {
    return RNR_TIMER_US[code & 31] ?? 10;
  }

  /** PSN of the oldest packet whose effect is not yet confirmed. */
  firstUnackedPsn(): number {
    const head = this.sq[0];
    if (!head) return this.nextPsn;
    if (head.kind === 'read' || head.kind === 'atomic') return this.firstUnackedPsnOf(head);
    const d = psnDiff(this.ackedPsn, head.firstPsn);
    return d > 0 && d < head.npkts ? this.ackedPsn : head.firstPsn;
  }

  firstUnackedPsnOf(w: SendWqe): number {
    return w.kind === 'read' ? psnAdd(w.firstPsn, w.readRecvd) : w.firstPsn;
  }

  /** Go-back-N: moves the transmit cursor back to `psn` and resends from there. */
  rewindTo(psn: number, force: boolean): void {
    if (!force && this.rewoundTo === psn) return;
    for (let i = 0; i < this.sq.length; i++) {
      const w = this.sq[i] as SendWqe;
      if (!w.assigned) break;
      const d = psnDiff(psn, w.firstPsn);
      if (d >= 0 && d < w.npkts) {
        if (w.done) continue;
        if (i > this.cursor || (i === this.cursor && (w.kind === 'read' || w.kind === 'atomic' ? 0 : d) > this.cursorPkt)) return; // not sent yet
        this.rewoundTo = psn;
        this.qp.counters.retransmits++;
        this.cursor = i;
        this.cursorPkt = w.kind === 'read' || w.kind === 'atomic' ? 0 : d;
        this.pktsSinceAckReq = 0;
        this.pump();
        return;
      }
    }
  }

  /** The WQE whose PSN range contains psn. */
  wqeAt(psn: number): SendWqe | undefined {
    for (const w of this.sq) {
      if (!w.assigned) return undefined;
      const d = psnDiff(psn, w.firstPsn);
      if (d >= 0 && d < w.npkts) return w;
    }
    return undefined;
  }
}
