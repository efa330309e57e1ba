/**
 * The completer of an RC queue pair (Linux rxe's rxe_comp.c): ACKs, NAKs, READ responses and
 * atomic ACKs for the requester's WQEs, implicit acknowledgement, sequence-error and RNR handling,
 * and completions in posting order.
 *
 * Local memory: a READ response or an atomic's original value is scattered into the WQE's SGL only
 * while its regions are still the registrations the WQE was posted against; otherwise the WQE
 * completes with a local protection error and nothing is written.
 */
import { type Aeth, NAK } from '../wire/aeth.js';
import { OP } from '../wire/opcodes.js';
import type { RocePacket } from '../wire/packet.js';
import { psnAdd, psnDiff } from '../wire/psn.js';
import type { QueuePair } from './qp.js';
import { Requester, type SendWqe } from './requester.js';
import { scatter } from './sgl.js';
import type { WcStatus } from './types.js';

/** See the module comment. */
export class Completer {
  constructor(
    private readonly qp: QueuePair,
    private readonly req: Requester,
  ) {}

  /** A response (ACK, READ response, atomic ACK) for this QP. */
  onResponse(p: RocePacket): void {
    const op = p.bth.opcode;
    const psn = p.bth.psn;
    const req = this.req;
    const counters = this.qp.counters;
    // A response only matters while something is outstanding, and never for a PSN not yet sent.
    // (Stale ones, before the oldest outstanding PSN, are harmless: cumulative ACKs for them are
    // no-ops and READ/atomic responses for them find no WQE.)
    if (!req.hasUnacked() || psnDiff(psn, req.nextPsn) >= 0) {
      if (op === OP.ACKNOWLEDGE || op === OP.ATOMIC_ACKNOWLEDGE) counters.acksReceived++;
      return;
    }
    if (op === OP.ACKNOWLEDGE) {
      counters.acksReceived++;
      this.onAeth(p.aeth as Aeth, psn);
    } else if (op === OP.ATOMIC_ACKNOWLEDGE) {
      counters.acksReceived++;
      const a = p.aeth as Aeth;
      if (a.kind !== 'ack') return this.onAeth(a, psn);
      const w = req.wqeAt(psn);
      if (!w || w.kind !== 'atomic' || w.done) return;
      if (!this.implicitAck(psn)) return;
      const out = Buffer.allocUnsafe(8);
      out.writeBigUInt64LE(BigInt.asUintN(64, p.atomicAckData ?? 0n));
      if (!scatter(w.pieces, 0, out)) return this.failAt(psn, 'local-protection-error');
      w.done = true;
      this.progress(psnAdd(psn, 1));
    } else this.onReadResponse(p);
  }

  private onAeth(a: Aeth, psn: number): void {
    const req = this.req;
    const qp = this.qp;
    if (a.kind === 'ack') {
      this.ackThrough(psn);
      return;
    }
    if (a.kind === 'rnr-nak') {
      qp.counters.rnrNaks++;
      this.ackThrough(psnAdd(psn, -1));
      if (qp.attr.rnrRetry !== 7 && ++req.rnrRetries > qp.attr.rnrRetry) {
        this.failAt(psn, 'rnr-retry-exceeded');
        return;
      }
      req.holdForRnr(Requester.rnrDelayUs(a.timer), psn);
      return;
    }
    if (a.kind === 'nak' && a.code === NAK.PSN_SEQUENCE_ERROR) {
      qp.counters.seqNaks++;
      const before = req.firstUnackedPsn();
      this.ackThrough(psnAdd(psn, -1));
      if (req.firstUnackedPsn() === before && req.rewoundTo === psn) {
        // A repeated NAK for the same PSN with no progress counts against the retry budget.
        if (++req.retries > qp.attr.retryCnt) return qp.failHead('retry-exceeded');
      }
      req.rewindTo(psn, true);
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

  /**
   * A response at `psn` implicitly acknowledges everything before it (the responder executes
   * requests in PSN order): the SENDs and WRITEs before it are done, even when their own ACK was
   * lost. Returns false (and asks for a retransmission) when an earlier READ or atomic is still
   * missing its response.
   */
  private implicitAck(psn: number): boolean {
    const req = this.req;
    for (const w of req.sq) {
      if (!w.assigned || psnDiff(psnAdd(w.firstPsn, w.npkts - 1), psn) >= 0) break;
      if (w.done) continue;
      if (w.kind === 'read' || w.kind === 'atomic') {
        req.rewindTo(req.firstUnackedPsnOf(w), false);
        return false;
      }
      w.done = true;
    }
    return true;
  }

  /** Cumulative ACK through `psn` (inclusive). */
  private ackThrough(psn: number): void {
    const req = this.req;
    const next = psnAdd(psn, 1);
    let rewind = -1;
    for (const w of req.sq) {
      if (!w.assigned) break;
      if (w.done) continue;
      const last = psnAdd(w.firstPsn, w.npkts - 1);
      if (psnDiff(last, psn) > 0) break; // not fully covered
      if (w.kind === 'send' || w.kind === 'write') w.done = true;
      else if (rewind < 0) {
        // Covered by an ACK but its response is missing: lost (or overtaken); go back to it.
        rewind = req.firstUnackedPsnOf(w);
      }
    }
    this.progress(next);
    if (rewind >= 0 && this.qp.state === 'rts') req.rewindTo(rewind, false);
  }

  private progress(next: number): void {
    const req = this.req;
    if (psnDiff(next, req.ackedPsn) > 0 && psnDiff(next, req.nextPsn) <= 0) {
      req.ackedPsn = next;
      req.retries = 0;
      req.rnrRetries = 0;
      req.rewoundTo = -1;
    }
    this.completeHead();
    // With nothing unacknowledged the timer is left to lapse (onTimeout ignores it) rather than
    // cleared, so a steady stream of operations refreshes one timer instead of creating one each.
    if (req.hasUnacked()) req.armTimer();
    req.pump();
  }

  private onReadResponse(p: RocePacket): void {
    const psn = p.bth.psn;
    const op = p.bth.opcode;
    const req = this.req;
    const mtu = this.qp.attr.pathMtu;
    const w = req.wqeAt(psn);
    if (!w || w.kind !== 'read' || w.done) return;
    const expected = psnAdd(w.firstPsn, w.readRecvd);
    const d = psnDiff(psn, expected);
    if (d < 0) return; // duplicate
    if (d > 0) {
      // A response was lost. Go back to the first response missing overall: an earlier READ or
      // atomic still waiting for its own (then this READ's responses were discarded from its FIRST
      // on, and every later packet would name another point to go back to), else this READ's rest.
      if (this.implicitAck(psn)) req.rewindTo(expected, false);
      return;
    }
    if (!this.implicitAck(psn)) return;
    const k = w.readRecvd;
    const isLast = k === w.npkts - 1;
    const want = isLast ? w.length - k * mtu : mtu;
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
    if (!scatter(w.pieces, k * mtu, p.payload)) return this.failAt(psn, 'local-protection-error');
    w.readRecvd++;
    if (w.readRecvd === w.npkts) w.done = true;
    this.progress(psnAdd(psn, 1));
  }

  /** Completes done WQEs at the head of the send queue, in order. */
  completeHead(): void {
    const req = this.req;
    const qp = this.qp;
    while (req.sq.length > 0) {
      const w = req.sq[0] as SendWqe;
      if (!w.done) break;
      req.sq.shift();
      if (req.cursor > 0) req.cursor--;
      else req.cursorPkt = 0;
      if (w.signaled || w.status !== 'success')
        qp.init.sendCq.push({ wrId: w.wr.wrId, status: w.status, opcode: w.wcOpcode, qpNum: qp.qpNum, byteLen: w.status === 'success' ? w.length : 0 });
    }
  }

  private failAt(psn: number, status: WcStatus): void {
    const w = this.req.wqeAt(psn) ?? this.req.sq.find((x) => !x.done);
    this.qp.enterError(w ? { w, status } : null);
  }
}
