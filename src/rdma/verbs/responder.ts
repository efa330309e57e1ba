/**
 * The responder half of an RC queue pair: PSN checking (in order, duplicate, out of sequence),
 * receive-queue consumption for SENDs, protection checks (rkey, PD, bounds, access rights) before any
 * memory is touched, RDMA WRITE/READ/atomic execution, coalesced ACKs, NAKs (PSN sequence error, RNR,
 * invalid request, remote access error) and replay of duplicate READs and atomics from saved state.
 */
import { type Aeth, CREDITS_INVALID, NAK } from '../wire/aeth.js';
import { OP } from '../wire/opcodes.js';
import type { RocePacket } from '../wire/packet.js';
import { psnAdd, psnDiff } from '../wire/psn.js';
import type { PlacedWrite, PlacementQpState } from '../transport/transport.js';
import { checkAccess } from './mr.js';
import type { LocalPiece, QueuePair } from './qp.js';
import { scatter } from './qp.js';
import { ACCESS } from './types.js';

interface RecvWqe {
  wrId: bigint | number;
  pieces: LocalPiece[];
  capacity: number;
}

/** A READ or atomic kept so a duplicate request can be answered again. */
interface Replay {
  firstPsn: number;
  npkts: number;
  /** Atomic: the original value returned the first time. */
  orig?: bigint;
}

type InProgress =
  | { kind: 'send'; wqe: RecvWqe; offset: number }
  | { kind: 'write'; buf: Uint8Array; offset: number; remaining: number; imm: boolean; rkey: number }
  | null;

const EMPTY = Buffer.alloc(0);

/** Responder state of one QP. */
export class Responder {
  private ePsn = 0;
  private msn = 0;
  private readonly rq: RecvWqe[] = [];
  private current: InProgress = null;
  private nakSent = false;
  private readonly replays: Replay[] = [];
  private pendingAck = -1;
  private ackScheduled: NodeJS.Immediate | null = null;
  /** Counters (for tests). */
  readonly counters = { duplicates: 0, seqNaksSent: 0, rnrNaksSent: 0, accessErrors: 0, invalidRequests: 0, acksSent: 0 };

  constructor(
    private readonly qp: QueuePair,
    private readonly maxRecvWr: number,
  ) {}

  /** Starts in RTR with the expected PSN. */
  start(rqPsn: number): void {
    this.ePsn = rqPsn & 0xffffff;
  }

  /** The PSN expected next. */
  get expectedPsn(): number {
    return this.ePsn;
  }

  /** The message in progress, as direct data placement needs it. */
  placementCurrent(): PlacementQpState['current'] {
    const c = this.current;
    if (c === null) return { kind: 'none' };
    if (c.kind === 'write' && c.remaining > 0) {
      const mr = this.qp.device.region(c.rkey);
      // Only while the region is still registered to this very buffer (else JS finishes the message).
      if (mr && mr.buffer === c.buf) return { kind: 'write', rkey: c.rkey, offset: c.offset, remaining: c.remaining };
    }
    return { kind: 'other' };
  }

  /**
   * An RDMA WRITE packet the transport placed itself (direct data placement): the effects of an
   * in-order WRITE packet that inOrder() would have had, without the copy (already done).
   */
  onPlaced(w: PlacedWrite): void {
    if (w.psn !== this.ePsn) {
      // Cannot happen while the transport follows the state given to it; resynchronise it.
      this.qp.syncPlacement();
      return;
    }
    const op = w.opcode;
    const last = op === OP.RDMA_WRITE_LAST || op === OP.RDMA_WRITE_ONLY;
    const cur = this.current;
    if (last) this.current = null;
    else if (cur !== null && cur.kind === 'write') {
      cur.offset = w.offset;
      cur.remaining = w.remaining;
    } else {
      const mr = this.qp.device.region(w.rkey);
      this.current = { kind: 'write', buf: mr ? mr.buffer : EMPTY, offset: w.offset, remaining: w.remaining, imm: false, rkey: w.rkey };
    }
    this.advance(1);
    if (last) this.msn = (this.msn + 1) & 0xffffff;
    this.ack(w.psn, w.ackReq);
  }

  /** Queues a receive buffer. */
  postRecv(wrId: bigint | number, pieces: LocalPiece[]): void {
    if (this.rq.length >= this.maxRecvWr) throw new RangeError('receive queue full');
    this.rq.push({ wrId, pieces, capacity: pieces.reduce((s, p) => s + p.length, 0) });
  }

  /** Number of posted receive buffers. */
  get recvQueued(): number {
    return this.rq.length;
  }

  /** Flushes every posted receive (QP in ERROR). */
  flush(): void {
    this.stop();
    const cur = this.current;
    if (cur?.kind === 'send') this.rq.unshift(cur.wqe);
    this.current = null;
    for (const r of this.rq) this.qp.init.recvCq.push({ wrId: r.wrId, status: 'flushed', opcode: 'recv', qpNum: this.qp.qpNum, byteLen: 0 });
    this.rq.length = 0;
  }

  /** Back to the RESET state: receives and replay state are discarded without completions. */
  reset(): void {
    this.stop();
    this.rq.length = 0;
    this.current = null;
    this.replays.length = 0;
    this.msn = 0;
    this.ePsn = 0;
    this.nakSent = false;
  }

  /** Cancels a scheduled ACK. */
  stop(): void {
    if (this.ackScheduled) clearImmediate(this.ackScheduled);
    this.ackScheduled = null;
    this.pendingAck = -1;
  }

  private aeth(): Aeth {
    return { kind: 'ack', credits: CREDITS_INVALID, msn: this.msn };
  }

  private sendAck(psn: number): void {
    this.counters.acksSent++;
    this.qp.transmit({ bth: this.qp.bth(OP.ACKNOWLEDGE, psn, false), aeth: this.aeth(), payload: EMPTY });
  }

  private nak(psn: number, aeth: Aeth): void {
    this.qp.transmit({ bth: this.qp.bth(OP.ACKNOWLEDGE, psn, false), aeth, payload: EMPTY });
  }

  /** Coalesces ACKs: one per event-loop turn unless the requester asked for one now. */
  private ack(psn: number, now: boolean): void {
    this.pendingAck = psn;
    if (now) {
      this.flushAck();
      return;
    }
    if (!this.ackScheduled) this.ackScheduled = setImmediate(() => this.flushAck());
  }

  private flushAck(): void {
    if (this.ackScheduled) clearImmediate(this.ackScheduled);
    this.ackScheduled = null;
    if (this.pendingAck < 0) return;
    const psn = this.pendingAck;
    this.pendingAck = -1;
    this.sendAck(psn);
  }

  /** Handles one request packet addressed to this QP. */
  onRequest(p: RocePacket): void {
    const psn = p.bth.psn;
    const d = psnDiff(psn, this.ePsn);
    if (d > 0) {
      if (!this.nakSent) {
        this.nakSent = true;
        this.counters.seqNaksSent++;
        this.flushAck();
        this.nak(this.ePsn, { kind: 'nak', code: NAK.PSN_SEQUENCE_ERROR, msn: this.msn });
      }
      return;
    }
    if (d < 0) {
      this.duplicate(p);
      return;
    }
    this.inOrder(p);
  }

  private duplicate(p: RocePacket): void {
    this.counters.duplicates++;
    const op = p.bth.opcode;
    const psn = p.bth.psn;
    if (op === OP.RDMA_READ_REQUEST || op === OP.COMPARE_SWAP || op === OP.FETCH_ADD) {
      const r = this.replays.find((x) => {
        const k = psnDiff(psn, x.firstPsn);
        return k >= 0 && k < x.npkts;
      });
      if (!r) return; // too old to replay: drop, the requester's timer recovers or fails the WR
      this.flushAck();
      if (op === OP.RDMA_READ_REQUEST) {
        // Re-executed from the request as sent (it may resume mid-way): reads are idempotent.
        this.executeRead(p, psn, false);
      } else {
        this.qp.transmit({ bth: this.qp.bth(OP.ATOMIC_ACKNOWLEDGE, r.firstPsn, false), aeth: this.aeth(), atomicAckData: r.orig ?? 0n, payload: EMPTY });
      }
      return;
    }
    // SEND/WRITE duplicates are not executed again; they are acknowledged.
    this.ack(psnAdd(this.ePsn, -1), p.bth.ackReq);
  }

  private fatal(psn: number, code: number): void {
    if (code === NAK.REMOTE_ACCESS_ERROR) this.counters.accessErrors++;
    else this.counters.invalidRequests++;
    this.flushAck();
    this.nak(psn, { kind: 'nak', code, msn: this.msn });
    if (this.current?.kind === 'send') {
      const w = this.current.wqe;
      this.current = null;
      this.qp.init.recvCq.push({ wrId: w.wrId, status: code === NAK.REMOTE_ACCESS_ERROR ? 'remote-access-error' : 'local-length-error', opcode: 'recv', qpNum: this.qp.qpNum, byteLen: 0 });
    }
    this.qp.responderFatal();
  }

  private advance(n: number): void {
    this.ePsn = psnAdd(this.ePsn, n);
    this.nakSent = false;
  }

  private inOrder(p: RocePacket): void {
    const op = p.bth.opcode;
    const psn = p.bth.psn;
    const mtu = this.qp.mtu;
    const cur = this.current;
    const isSend = op <= OP.SEND_ONLY_WITH_IMMEDIATE || op === OP.SEND_LAST_WITH_INVALIDATE || op === OP.SEND_ONLY_WITH_INVALIDATE;
    const isWrite = op >= OP.RDMA_WRITE_FIRST && op <= OP.RDMA_WRITE_ONLY_WITH_IMMEDIATE;
    const continues = op === OP.SEND_MIDDLE || op === OP.SEND_LAST || op === OP.SEND_LAST_WITH_IMMEDIATE || op === OP.SEND_LAST_WITH_INVALIDATE || op === OP.RDMA_WRITE_MIDDLE || op === OP.RDMA_WRITE_LAST || op === OP.RDMA_WRITE_LAST_WITH_IMMEDIATE;
    const middle = op === OP.SEND_MIDDLE || op === OP.RDMA_WRITE_MIDDLE;
    const firstOfMany = op === OP.SEND_FIRST || op === OP.RDMA_WRITE_FIRST;
    // Opcode sequence: a continuation needs a message in progress of the same kind, and vice versa.
    if (continues ? !cur || (cur.kind === 'send') !== isSend : cur !== null) return this.fatal(psn, NAK.INVALID_REQUEST);
    if ((middle || firstOfMany) && p.payload.length !== mtu) return this.fatal(psn, NAK.INVALID_REQUEST);
    if (p.payload.length > mtu) return this.fatal(psn, NAK.INVALID_REQUEST);

    if (isSend) {
      let state = cur as Extract<InProgress, { kind: 'send' }> | null;
      if (!state) {
        const wqe = this.rq[0];
        if (!wqe) return this.rnr(psn);
        this.rq.shift();
        state = { kind: 'send', wqe, offset: 0 };
        this.current = state;
      }
      if (state.offset + p.payload.length > state.wqe.capacity) return this.fatal(psn, NAK.INVALID_REQUEST);
      scatter(state.wqe.pieces, state.offset, p.payload);
      state.offset += p.payload.length;
      this.advance(1);
      if (!firstOfMany && !middle) {
        this.current = null;
        this.msn = (this.msn + 1) & 0xffffff;
        this.qp.init.recvCq.push({
          wrId: state.wqe.wrId,
          status: 'success',
          opcode: 'recv',
          qpNum: this.qp.qpNum,
          byteLen: state.offset,
          ...(p.immDt !== undefined ? { immData: p.immDt } : {}),
          ...(p.ieth !== undefined ? { invalidatedRkey: p.ieth } : {}),
        });
        if (p.ieth !== undefined) {
          const mr = this.qp.device.region(p.ieth);
          if (mr && mr.pdHandle === this.qp.pd.handle) this.qp.device.deregisterRegion(mr);
        }
      }
      this.ack(psn, p.bth.ackReq);
      return;
    }

    if (isWrite) {
      let state = cur as Extract<InProgress, { kind: 'write' }> | null;
      const withImm = op === OP.RDMA_WRITE_ONLY_WITH_IMMEDIATE || op === OP.RDMA_WRITE_LAST_WITH_IMMEDIATE;
      if (withImm && this.rq.length === 0) return this.rnr(psn);
      if (!state) {
        const reth = p.reth;
        if (!reth) return this.fatal(psn, NAK.INVALID_REQUEST);
        const len = reth.dmaLength;
        if (firstOfMany ? len <= mtu : len !== p.payload.length) return this.fatal(psn, NAK.INVALID_REQUEST);
        let buf: Uint8Array = EMPTY;
        let offset = 0;
        if (len > 0) {
          if (reth.va > BigInt(Number.MAX_SAFE_INTEGER)) return this.fatal(psn, NAK.REMOTE_ACCESS_ERROR);
          const mr = this.qp.device.region(reth.rkey);
          const c = checkAccess(mr, this.qp.pd.handle, Number(reth.va), len, ACCESS.REMOTE_WRITE);
          if (!c.ok || c.mr.rkey !== reth.rkey || (this.qp.attr.accessFlags & ACCESS.REMOTE_WRITE) === 0) return this.fatal(psn, NAK.REMOTE_ACCESS_ERROR);
          buf = c.mr.buffer;
          offset = c.offset;
        }
        state = { kind: 'write', buf, offset, remaining: len, imm: false, rkey: reth.rkey };
        this.current = state;
      }
      const last = !firstOfMany && !middle;
      if (p.payload.length > state.remaining || (last && p.payload.length !== state.remaining)) return this.fatal(psn, NAK.INVALID_REQUEST);
      state.buf.set(p.payload, state.offset);
      state.offset += p.payload.length;
      state.remaining -= p.payload.length;
      this.advance(1);
      if (last) {
        this.current = null;
        this.msn = (this.msn + 1) & 0xffffff;
        if (withImm) {
          const wqe = this.rq.shift() as RecvWqe;
          this.qp.init.recvCq.push({ wrId: wqe.wrId, status: 'success', opcode: 'recv-rdma-with-imm', qpNum: this.qp.qpNum, byteLen: 0, immData: p.immDt ?? 0 });
        }
      }
      this.ack(psn, p.bth.ackReq);
      return;
    }

    if (op === OP.RDMA_READ_REQUEST) {
      const reth = p.reth;
      if (!reth) return this.fatal(psn, NAK.INVALID_REQUEST);
      const npkts = Math.max(1, Math.ceil(reth.dmaLength / mtu));
      if (!this.checkRead(p)) return this.fatal(psn, NAK.REMOTE_ACCESS_ERROR);
      this.flushAck();
      this.advance(npkts);
      this.msn = (this.msn + 1) & 0xffffff;
      this.remember({ firstPsn: psn, npkts });
      this.executeRead(p, psn, true);
      return;
    }

    if (op === OP.COMPARE_SWAP || op === OP.FETCH_ADD) {
      const a = p.atomicEth;
      if (!a) return this.fatal(psn, NAK.INVALID_REQUEST);
      if (a.va % 8n !== 0n) return this.fatal(psn, NAK.INVALID_REQUEST);
      if (a.va > BigInt(Number.MAX_SAFE_INTEGER)) return this.fatal(psn, NAK.REMOTE_ACCESS_ERROR);
      const c = checkAccess(this.qp.device.region(a.rkey), this.qp.pd.handle, Number(a.va), 8, ACCESS.REMOTE_ATOMIC);
      if (!c.ok || c.mr.rkey !== a.rkey || (this.qp.attr.accessFlags & ACCESS.REMOTE_ATOMIC) === 0) return this.fatal(psn, NAK.REMOTE_ACCESS_ERROR);
      const view = Buffer.from(c.mr.buffer.buffer, c.mr.buffer.byteOffset + c.offset, 8);
      const orig = view.readBigUInt64LE(0);
      if (op === OP.COMPARE_SWAP) {
        if (orig === a.compare) view.writeBigUInt64LE(a.swapAdd);
      } else view.writeBigUInt64LE(BigInt.asUintN(64, orig + a.swapAdd));
      this.flushAck();
      this.advance(1);
      this.msn = (this.msn + 1) & 0xffffff;
      this.remember({ firstPsn: psn, npkts: 1, orig });
      this.qp.transmit({ bth: this.qp.bth(OP.ATOMIC_ACKNOWLEDGE, psn, false), aeth: this.aeth(), atomicAckData: orig, payload: EMPTY });
      return;
    }
    // Responses or unknown opcodes on the request path.
    this.fatal(psn, NAK.INVALID_REQUEST);
  }

  private rnr(psn: number): void {
    this.counters.rnrNaksSent++;
    this.flushAck();
    this.nak(psn, { kind: 'rnr-nak', timer: this.qp.attr.minRnrTimer, msn: this.msn });
  }

  private remember(r: Replay): void {
    this.replays.push(r);
    if (this.replays.length > Math.max(1, this.qp.attr.maxDestRdAtomic)) this.replays.shift();
  }

  private checkRead(p: RocePacket): boolean {
    const reth = p.reth;
    if (!reth) return false;
    if (reth.dmaLength === 0) return true;
    if (reth.va > BigInt(Number.MAX_SAFE_INTEGER)) return false;
    const c = checkAccess(this.qp.device.region(reth.rkey), this.qp.pd.handle, Number(reth.va), reth.dmaLength, ACCESS.REMOTE_READ);
    return c.ok && c.mr.rkey === reth.rkey && (this.qp.attr.accessFlags & ACCESS.REMOTE_READ) !== 0;
  }

  /** Sends the READ responses for a (possibly resumed) request starting at `psn`. */
  private executeRead(p: RocePacket, psn: number, checked: boolean): void {
    if (!checked && !this.checkRead(p)) return; // a replay that no longer passes the checks is dropped
    const reth = p.reth;
    if (!reth) return;
    const mtu = this.qp.mtu;
    const len = reth.dmaLength;
    const n = Math.max(1, Math.ceil(len / mtu));
    let src: Buffer = EMPTY;
    if (len > 0) {
      const c = checkAccess(this.qp.device.region(reth.rkey), this.qp.pd.handle, Number(reth.va), len, ACCESS.REMOTE_READ);
      if (!c.ok) return;
      src = Buffer.from(c.mr.buffer.buffer, c.mr.buffer.byteOffset + c.offset, len);
    }
    for (let i = 0; i < n; i++) {
      const op = n === 1 ? OP.RDMA_READ_RESPONSE_ONLY : i === 0 ? OP.RDMA_READ_RESPONSE_FIRST : i === n - 1 ? OP.RDMA_READ_RESPONSE_LAST : OP.RDMA_READ_RESPONSE_MIDDLE;
      const pkt: RocePacket = { bth: this.qp.bth(op, psnAdd(psn, i), false), payload: src.subarray(i * mtu, Math.min(len, (i + 1) * mtu)) };
      if (op !== OP.RDMA_READ_RESPONSE_MIDDLE) pkt.aeth = this.aeth();
      this.qp.transmit(pkt);
    }
  }
}
