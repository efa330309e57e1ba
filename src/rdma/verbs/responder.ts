/**
 * The responder half of an RC queue pair (Linux rxe's rxe_resp.c): PSN checking (in order,
 * duplicate, out of sequence), receive-queue consumption for SENDs, protection checks (rkey, PD,
 * bounds, access rights) before any memory is touched, RDMA WRITE/READ/atomic execution, coalesced
 * ACKs, NAKs (PSN sequence error, RNR, invalid request, remote access error, remote operational
 * error) and replay of duplicate READs and atomics from saved state.
 *
 * Protection beyond the first packet: every packet of an RDMA WRITE checks again that its region is
 * still the registration the first packet checked (rxe looks the rkey up for every packet), so a
 * region deregistered mid-message is never written again (remote access error NAK); a SEND's
 * receive buffer likewise (a receive whose region is gone completes with a local protection error,
 * the requester gets a remote operational error NAK, as rxe's class A error). A SEND with
 * Invalidate invalidates only a region that may be remotely invalidated (registered with
 * remoteInvalidate, in this QP's protection domain, named by its exact rkey); any other rkey, an
 * unknown one included, fails the request (the receive completes with a remote invalid request
 * error, the requester gets an invalid request NAK, the QP moves to ERROR: IBA's class J error, the
 * status rxe completes the receive with) and nothing is written.
 */
import { type Aeth, CREDITS_INVALID, NAK } from '../wire/aeth.js';
import { OP, opcodeName } from '../wire/opcodes.js';
import type { RocePacket } from '../wire/packet.js';
import { psnAdd, psnDiff } from '../wire/psn.js';
import type { PlacedWrite, PlacementQpState } from '../transport/transport.js';
import { type MemoryRegion, checkAccess, memoryPresent } from './mr.js';
import type { QueuePair } from './qp.js';
import { type LocalPiece, scatter } from './sgl.js';
import { ACCESS, type WcStatus } from './types.js';

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
  /** mr null: a zero-length WRITE (no region). */
  | { kind: 'write'; mr: MemoryRegion | null; generation: number; offset: number; remaining: number; imm: boolean; rkey: number }
  | null;

/** Whether a WRITE's region is still the registration its first packet was checked against, with its memory present. */
function writeTargetLive(c: Extract<InProgress, { kind: 'write' }>): boolean {
  return c.mr === null || (c.mr.valid && c.mr.generation === c.generation && memoryPresent(c.mr));
}

const EMPTY = Buffer.alloc(0);

/** The request a responder answered with a fatal NAK, and why (for error reports). */
export interface ResponderFault {
  psn: number;
  opcode: number;
  /** NAK code (wire/aeth.ts NAK). */
  code: number;
  /** The check that failed, e.g. "RDMA_WRITE_MIDDLE with no message in progress". */
  why: string;
}

const NAK_NAMES: Record<number, string> = { [NAK.INVALID_REQUEST]: 'invalid request', [NAK.REMOTE_ACCESS_ERROR]: 'remote access error', [NAK.REMOTE_OPERATIONAL_ERROR]: 'remote operational error' };

/** One line for an error report: "NAK invalid request for PSN 0x123456 (RC_RDMA_WRITE_MIDDLE): ..., expected PSN ...". */
export function describeFault(f: ResponderFault): string {
  const name = NAK_NAMES[f.code] ?? `NAK code ${f.code}`;
  return `NAK ${name} for PSN 0x${f.psn.toString(16).padStart(6, '0')} (${opcodeName(f.opcode)}): ${f.why}`;
}

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
  /** The request that moved the QP to ERROR with a NAK, if one did. */
  fault: ResponderFault | null = null;
  /** The packet inOrder() is handling (named by fatal()). */
  private handling = 0;
  /** Counters (for tests). */
  readonly counters = { duplicates: 0, seqNaksSent: 0, rnrNaksSent: 0, accessErrors: 0, invalidRequests: 0, operationalErrors: 0, invalidations: 0, acksSent: 0 };

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
    if (c.kind === 'write' && c.remaining > 0 && c.mr !== null && writeTargetLive(c) && c.mr.rkey === c.rkey) {
      // Only while the region is still that registration (else JS handles the rest of the message).
      return { kind: 'write', rkey: c.rkey, offset: c.offset, remaining: c.remaining };
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
      const mr = this.qp.device.region(w.rkey) ?? null;
      this.current = { kind: 'write', mr, generation: mr ? mr.generation : -1, offset: w.offset, remaining: w.remaining, imm: false, rkey: w.rkey };
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
    this.fault = null;
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

  /**
   * A class A/C/J error: NAK `code`, the receive in progress (if any) completes with `recvStatus`
   * (default: what the NAK implies), the QP moves to ERROR.
   */
  private fatal(psn: number, code: number, recvStatus?: WcStatus, why?: string): void {
    const because = why ?? (code === NAK.REMOTE_ACCESS_ERROR ? 'rkey, protection domain, bounds or access rights' : code === NAK.REMOTE_OPERATIONAL_ERROR ? 'the receive buffer is gone' : 'malformed request');
    this.fault ??= { psn, opcode: this.handling, code, why: because };
    if (code === NAK.REMOTE_ACCESS_ERROR) this.counters.accessErrors++;
    else if (code === NAK.REMOTE_OPERATIONAL_ERROR) this.counters.operationalErrors++;
    else this.counters.invalidRequests++;
    this.flushAck();
    this.nak(psn, { kind: 'nak', code, msn: this.msn });
    if (this.current?.kind === 'send') {
      const w = this.current.wqe;
      this.current = null;
      const status = recvStatus ?? (code === NAK.REMOTE_ACCESS_ERROR ? 'remote-access-error' : 'local-length-error');
      this.qp.init.recvCq.push({ wrId: w.wrId, status, opcode: 'recv', qpNum: this.qp.qpNum, byteLen: 0 });
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
    this.handling = op;
    const isSend = op <= OP.SEND_ONLY_WITH_IMMEDIATE || op === OP.SEND_LAST_WITH_INVALIDATE || op === OP.SEND_ONLY_WITH_INVALIDATE;
    const isWrite = op >= OP.RDMA_WRITE_FIRST && op <= OP.RDMA_WRITE_ONLY_WITH_IMMEDIATE;
    const continues = op === OP.SEND_MIDDLE || op === OP.SEND_LAST || op === OP.SEND_LAST_WITH_IMMEDIATE || op === OP.SEND_LAST_WITH_INVALIDATE || op === OP.RDMA_WRITE_MIDDLE || op === OP.RDMA_WRITE_LAST || op === OP.RDMA_WRITE_LAST_WITH_IMMEDIATE;
    const middle = op === OP.SEND_MIDDLE || op === OP.RDMA_WRITE_MIDDLE;
    const firstOfMany = op === OP.SEND_FIRST || op === OP.RDMA_WRITE_FIRST;
    // Opcode sequence: a continuation needs a message in progress of the same kind, and vice versa.
    if (continues ? !cur || (cur.kind === 'send') !== isSend : cur !== null) {
      const inProgress = cur ? `a ${cur.kind === 'send' ? 'SEND' : 'RDMA WRITE'} in progress` : 'no message in progress';
      return this.fatal(psn, NAK.INVALID_REQUEST, undefined, `opcode out of sequence: ${inProgress} (the PSN was the one expected)`);
    }
    if ((middle || firstOfMany) && p.payload.length !== mtu) return this.fatal(psn, NAK.INVALID_REQUEST, undefined, `${p.payload.length} payload bytes, the path MTU is ${mtu}`);
    if (p.payload.length > mtu) return this.fatal(psn, NAK.INVALID_REQUEST, undefined, `${p.payload.length} payload bytes, more than the path MTU ${mtu}`);

    if (isSend) {
      let state = cur as Extract<InProgress, { kind: 'send' }> | null;
      if (!state) {
        const wqe = this.rq[0];
        if (!wqe) return this.rnr(psn);
        this.rq.shift();
        state = { kind: 'send', wqe, offset: 0 };
        this.current = state;
      }
      if (state.offset + p.payload.length > state.wqe.capacity) return this.fatal(psn, NAK.INVALID_REQUEST, undefined, `the message is longer than the receive buffer (${state.wqe.capacity} bytes)`);
      const ending = !firstOfMany && !middle;
      // SEND with Invalidate: only a region that may be remotely invalidated (checked before any byte is written).
      if (ending && p.ieth !== undefined && !this.mayInvalidate(p.ieth)) return this.fatal(psn, NAK.INVALID_REQUEST, 'remote-invalid-request-error', `rkey 0x${(p.ieth >>> 0).toString(16)} may not be invalidated remotely`);
      // The receive buffer's region must still be the one it was posted against.
      if (!scatter(state.wqe.pieces, state.offset, p.payload)) return this.fatal(psn, NAK.REMOTE_OPERATIONAL_ERROR, 'local-protection-error');
      state.offset += p.payload.length;
      this.advance(1);
      if (ending) {
        this.current = null;
        this.msn = (this.msn + 1) & 0xffffff;
        if (p.ieth !== undefined) {
          this.qp.device.invalidateRemote(p.ieth, this.qp.pd.handle);
          this.counters.invalidations++;
        }
        this.qp.init.recvCq.push({
          wrId: state.wqe.wrId,
          status: 'success',
          opcode: 'recv',
          qpNum: this.qp.qpNum,
          byteLen: state.offset,
          ...(p.immDt !== undefined ? { immData: p.immDt } : {}),
          ...(p.ieth !== undefined ? { invalidatedRkey: p.ieth } : {}),
        });
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
        if (!reth) return this.fatal(psn, NAK.INVALID_REQUEST, undefined, 'no RETH');
        const len = reth.dmaLength;
        if (firstOfMany ? len <= mtu : len !== p.payload.length) return this.fatal(psn, NAK.INVALID_REQUEST, undefined, `DMA length ${len} does not fit the opcode (${p.payload.length} payload bytes, path MTU ${mtu})`);
        let mr: MemoryRegion | null = null;
        let offset = 0;
        if (len > 0) {
          if (reth.va > BigInt(Number.MAX_SAFE_INTEGER)) return this.fatal(psn, NAK.REMOTE_ACCESS_ERROR);
          const c = checkAccess(this.qp.device.region(reth.rkey), this.qp.pd.handle, Number(reth.va), len, ACCESS.REMOTE_WRITE);
          if (!c.ok || c.mr.rkey !== reth.rkey || (this.qp.attr.accessFlags & ACCESS.REMOTE_WRITE) === 0) return this.fatal(psn, NAK.REMOTE_ACCESS_ERROR);
          mr = c.mr;
          offset = c.offset;
        }
        state = { kind: 'write', mr, generation: mr ? mr.generation : -1, offset, remaining: len, imm: false, rkey: reth.rkey };
        this.current = state;
      }
      const last = !firstOfMany && !middle;
      if (p.payload.length > state.remaining || (last && p.payload.length !== state.remaining))
        return this.fatal(psn, NAK.INVALID_REQUEST, undefined, `${p.payload.length} payload bytes, ${state.remaining} of the WRITE still to come`);
      // Every packet: the region is still the registration the first packet was checked against.
      if (!writeTargetLive(state)) return this.fatal(psn, NAK.REMOTE_ACCESS_ERROR);
      if (state.mr) state.mr.buffer.set(p.payload, state.offset);
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

  /** A SEND with Invalidate may invalidate `rkey` (see the module comment). */
  private mayInvalidate(rkey: number): boolean {
    const mr = this.qp.device.region(rkey);
    return mr !== undefined && mr.rkey === rkey >>> 0 && mr.valid && mr.remoteInvalidate && mr.pdHandle === this.qp.pd.handle;
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
