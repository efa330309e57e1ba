/**
 * Reliable-connection queue pairs: the verbs-facing object. It owns the state machine (RESET ->
 * INIT -> RTR -> RTS, any -> ERROR/RESET), posting of send and receive work requests, the flow
 * (UDP source port) its packets leave from, and the move to ERROR with its completions. The RC
 * protocol itself is split as Linux rxe splits it: requester.ts (rxe_req.c) sends requests,
 * completer.ts (rxe_comp.c) handles their responses, responder.ts (rxe_resp.c) serves the peer's
 * requests.
 */
import { roceSourcePort } from '../wire/flow.js';
import { OP } from '../wire/opcodes.js';
import { type RocePacket, encodePacketInto, encodePacketParts, encodedLength } from '../wire/packet.js';
import { Completer } from './completer.js';
import type { CompletionQueue } from './cq.js';
import type { RdmaDevice } from './device.js';
import { verbsError } from './errors.js';
import { checkAccess } from './mr.js';
import type { ProtectionDomain } from './pd.js';
import { Requester, type SendWqe, type WqeKind } from './requester.js';
import { Responder } from './responder.js';
import type { LocalPiece } from './sgl.js';
import type { PathMtu, PeerAddress, QpAttr, QpState, RecvWr, SendWr, Sge, WcOpcode, WcStatus } from './types.js';
import { ACCESS } from './types.js';
import { carve } from './slab.js';

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

  /** @internal */
  readonly requester: Requester;
  /** @internal */
  readonly completer: Completer;
  /** @internal */
  readonly responder: Responder;
  private readonly maxSendWr: number;

  constructor(
    readonly device: RdmaDevice,
    readonly pd: ProtectionDomain,
    readonly qpNum: number,
    readonly init: QpInit,
  ) {
    this.maxSendWr = init.maxSendWr ?? 4096;
    this.requester = new Requester(this, Math.max(1, Math.min(init.maxWindow ?? 256, 1 << 22)));
    this.completer = new Completer(this, this.requester);
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
      if (a.flowLabel !== undefined && (!Number.isInteger(a.flowLabel) || a.flowLabel < 0 || a.flowLabel > 0xfffff))
        throw verbsError(`qp ${this.qpNum}.flowLabel`, `a 20-bit flow label expected, got ${a.flowLabel}`);
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
    if (to === 'rts' && from === 'rtr') this.requester.start(this.attr.sqPsn);
    if (to === 'reset') {
      // RESET discards both queues without completions, as ibv_modify_qp(RESET) does.
      this.shutdown();
      this.requester.reset();
      this.responder.reset();
    }
    this.state = to;
    if (to === 'error' && from !== 'error') this.enterError(null);
    this.syncPlacement();
    if (to === 'rts') this.requester.pump();
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
    if (this.requester.sq.length >= this.maxSendWr) throw verbsError(`qp ${this.qpNum}`, 'send queue full');
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
    this.requester.post(wqe);
  }

  private resolve(sgList: readonly Sge[], need: number, path: string): LocalPiece[] {
    return sgList.map((s, i) => {
      const c = checkAccess(this.device.region(s.lkey), this.pd.handle, s.addr, s.length, need);
      if (!c.ok || c.mr.lkey !== s.lkey) throw verbsError(`${path}.sgList[${i}]`, 'local protection error (lkey, bounds or access)');
      return { mr: c.mr, generation: c.mr.generation, offset: c.offset, length: s.length };
    });
  }

  /** Path MTU in bytes. */
  get mtu(): PathMtu {
    return this.attr.pathMtu;
  }

  /** @internal BTH for a packet to the peer QP. */
  bth(opcode: number, psn: number, ackReq: boolean, se = false): RocePacket['bth'] {
    return this.requester.bth(opcode, psn, ackReq, se);
  }

  /** Sends one transport packet to the peer, from the QP's flow port. @internal */
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

  /** Entry point for every packet addressed to this QP, once the device checked its header, state and peer. @internal */
  receive(p: RocePacket): void {
    const op = p.bth.opcode;
    if (op >= OP.RDMA_READ_RESPONSE_FIRST && op <= OP.ATOMIC_ACKNOWLEDGE) {
      if (this.state === 'rts') this.completer.onResponse(p);
    } else if (this.state === 'rtr' || this.state === 'rts') this.responder.onRequest(p);
  }

  // ---------------------------------------------------------------- errors

  /** @internal A WQE cannot go on (e.g. its local memory is gone): it completes with `status`, the QP moves to ERROR. */
  failWqe(w: SendWqe, status: WcStatus): void {
    this.enterError({ w, status });
  }

  /** @internal The oldest unfinished WQE fails with `status`. */
  failHead(status: WcStatus): void {
    const w = this.requester.sq.find((x) => !x.done);
    this.enterError(w ? { w, status } : null);
  }

  /** @internal Moves to ERROR: the failing WQE completes with its status, every other outstanding WR is flushed. */
  enterError(fail: { w: SendWqe; status: WcStatus } | null): void {
    const req = this.requester;
    this.state = 'error';
    req.stop();
    this.completer.completeHead();
    // In posting order: WRs before the failing one keep their outcome (done = success; a READ or
    // atomic still waiting for its response is flushed), the failing one gets its status, and
    // every later one is flushed even if the peer already acknowledged it.
    let passed = fail === null;
    for (const w of req.sq) {
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
    req.sq.length = 0;
    req.cursor = 0;
    req.cursorPkt = 0;
    this.responder.flush();
    this.syncPlacement();
  }

  /** @internal The responder hit a fatal error (it already sent its NAK). */
  responderFatal(): void {
    if (this.state !== 'error') this.enterError(null);
  }

  /** Stops timers and releases the flow (destroy/reset). @internal */
  shutdown(): void {
    this.closeFlow();
    this.requester.stop();
    this.responder.stop();
  }
}
