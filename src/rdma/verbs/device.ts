/**
 * The device context: one transport endpoint (a UDP socket or a fabric endpoint), the key and QP
 * tables, and the packet dispatch from the wire to queue pairs, with the header checks an RNIC
 * makes before a packet reaches a queue pair (those of Linux rxe's rxe_recv.c: hdr_check,
 * check_type_state, check_addr, check_keys). A packet that fails one is dropped silently and
 * counted, as IBA and rxe do: it never touches memory, is never acknowledged and never changes a
 * queue pair's state.
 */
import { randomInt } from 'node:crypto';
import type { PacketTransport } from '../transport/transport.js';
import { DEFAULT_PKEY } from '../wire/headers.js';
import { OP, opcodeLayout } from '../wire/opcodes.js';
import { decodePacket } from '../wire/packet.js';
import { CompletionQueue } from './cq.js';
import type { MemoryRegion } from './mr.js';
import { ProtectionDomain } from './pd.js';
import { verbsError } from './errors.js';
import { QueuePair, type QpInit } from './qp.js';
import { ACCESS } from './types.js';

/** Counters the device keeps about what it dropped (each packet counts once, for the first check it fails). */
export interface DeviceStats {
  /** Packets that did not decode (unknown opcode, truncated, bad pad). */
  malformed: number;
  /** Transport header version (BTH TVer) other than 0. */
  badTver: number;
  /** Packets for QP 0 or a QP number that does not exist. */
  unknownQp: number;
  /** Opcodes of another transport than the QP's (UC, UD, CNP on an RC QP). */
  badQpType: number;
  /** Requests to a QP not in RTR or RTS, responses to a QP not in RTS. */
  badState: number;
  /** From another address than the QP's peer. */
  badAddress: number;
  /** A P_Key that does not match the QP's partition (the default, 0xFFFF). */
  badPkey: number;
}

/**
 * IBA P_Key matching against the default partition key (0xFFFF, a full member): the low 15 bits
 * must be equal (and one of the two a full member, which the default key is).
 */
export function pkeyMatches(pkey: number, own = DEFAULT_PKEY): boolean {
  const a = pkey & 0x7fff;
  return a !== 0 && a === (own & 0x7fff) && ((pkey & 0x8000) !== 0 || (own & 0x8000) !== 0);
}

/** An RDMA device context bound to one transport. */
export class RdmaDevice {
  private readonly qps = new Map<number, QueuePair>();
  private readonly mrs = new Map<number, MemoryRegion>();
  private nextPd = 1;
  private nextQpn = 0x11;
  private nextKey = 1;
  private nextGeneration = 1;
  private trafficWaiters: (() => void)[] = [];
  private nextVa = 0x7f0000000000;
  readonly stats: DeviceStats = { malformed: 0, badTver: 0, unknownQp: 0, badQpType: 0, badState: 0, badAddress: 0, badPkey: 0 };

  constructor(readonly transport: PacketTransport) {
    transport.onReceive((roce, from) => {
      const d = decodePacket(roce);
      if (!d.ok) {
        this.stats.malformed++;
        return;
      }
      const bth = d.packet.bth;
      if (bth.tver !== 0) {
        this.stats.badTver++;
        return;
      }
      const qp = bth.destQp === 0 ? undefined : this.qps.get(bth.destQp);
      if (!qp) {
        this.stats.unknownQp++;
        return;
      }
      // Every QP here is RC: UC, UD and CNP opcodes are another transport's.
      const layout = opcodeLayout(bth.opcode);
      if (!layout || layout.transport !== 'RC') {
        this.stats.badQpType++;
        return;
      }
      if (layout.request ? qp.state !== 'rtr' && qp.state !== 'rts' : qp.state !== 'rts') {
        this.stats.badState++;
        return;
      }
      // The peer's address; any source port (a peer sends each QP's packets from its own flow port).
      if (qp.attr.peer === null || from.address !== qp.attr.peer.address) {
        this.stats.badAddress++;
        return;
      }
      if (!pkeyMatches(bth.pKey)) {
        this.stats.badPkey++;
        return;
      }
      qp.receive(d.packet);
      if (this.trafficWaiters.length > 0) this.wakeTraffic();
      // A packet the transport handed over stopped its placement for this QP (all but plain
      // ACKs, which cannot change the QP's state): give it the QP's state after that packet.
      if (transport.ddp && (d.packet.bth.opcode !== OP.ACKNOWLEDGE || d.packet.aeth?.kind !== 'ack')) qp.syncPlacement();
    });
    transport.ddp?.onPlaced((w) => {
      this.qps.get(w.qpn)?.responder.onPlaced(w);
      if (this.trafficWaiters.length > 0) this.wakeTraffic();
    });
  }

  /**
   * Resolves once the next packet for one of this device's QPs has been handled (an RDMA WRITE into
   * memory included): for programs that watch registered memory for a peer's WRITE, as
   * ib_write_lat does, without spinning.
   */
  nextPacket(): Promise<void> {
    return new Promise((resolve) => this.trafficWaiters.push(resolve));
  }

  private wakeTraffic(): void {
    const w = this.trafficWaiters;
    this.trafficWaiters = [];
    for (const f of w) f();
  }

  /** Allocates a protection domain. */
  allocPd(): ProtectionDomain {
    return new ProtectionDomain(this, this.nextPd++);
  }

  /** Creates a completion queue. */
  createCq(capacity = 65536): CompletionQueue {
    return new CompletionQueue(capacity);
  }

  /** Creates an RC queue pair in the RESET state. */
  createQp(pd: ProtectionDomain, init: QpInit): QueuePair {
    let qpn = init.qpNum ?? this.nextQpn++;
    if (init.qpNum !== undefined && (this.qps.has(qpn) || qpn < 2 || qpn > 0xffffff)) throw verbsError('createQp.qpNum', `QP number ${qpn} unavailable`);
    while (this.qps.has(qpn)) qpn = this.nextQpn++;
    const qp = new QueuePair(this, pd, qpn, init);
    this.qps.set(qpn, qp);
    return qp;
  }

  /** Destroys a queue pair (its timers stop; packets for it are dropped). */
  destroyQp(qp: QueuePair): void {
    qp.shutdown();
    this.qps.delete(qp.qpNum);
    this.transport.ddp?.dropQp(qp.qpNum);
  }

  /** Looks up a region by lkey or rkey (they are equal here, as in Linux rxe). */
  region(key: number): MemoryRegion | undefined {
    return this.mrs.get(key >>> 0);
  }

  /** A key for region index `index`: the index in the upper 24 bits, a random key byte other than `not`. */
  private static keyFor(index: number, not = -1): number {
    let b: number;
    do b = randomInt(256);
    while (b === not);
    return (((index & 0xffffff) << 8) | b) >>> 0;
  }

  /** @internal used by ProtectionDomain.regMr */
  registerRegion(pdHandle: number, buffer: Uint8Array, access: number, addr?: number, wantKey?: number, remoteInvalidate = false): MemoryRegion {
    let key: number;
    if (wantKey !== undefined) {
      key = wantKey >>> 0;
      if (this.mrs.has(key)) throw verbsError('regMr.key', `key 0x${key.toString(16)} in use`);
    } else {
      do key = RdmaDevice.keyFor(this.nextKey++);
      while (this.mrs.has(key));
    }
    let va = addr;
    if (va === undefined) {
      va = this.nextVa;
      this.nextVa += Math.ceil((buffer.length + 1) / 4096) * 4096 + 4096;
    }
    const mr: MemoryRegion = { pdHandle, buffer, addr: va, length: buffer.length, lkey: key, rkey: key, access, remoteInvalidate, valid: true, generation: this.nextGeneration++ };
    this.mrs.set(key, mr);
    this.place(mr);
    return mr;
  }

  /** Offers a region to direct data placement (those that allow REMOTE_WRITE). */
  private place(mr: MemoryRegion): void {
    if ((mr.access & ACCESS.REMOTE_WRITE) !== 0) this.transport.ddp?.setRegion(mr.rkey, mr.buffer, mr.addr, mr.pdHandle, mr.access);
  }

  /** @internal used by ProtectionDomain.reregMr: valid again, new keys. */
  reregisterRegion(mr: MemoryRegion): MemoryRegion {
    if (this.mrs.get(mr.lkey) !== mr) throw verbsError('reregMr', 'the region is not registered with this device');
    this.mrs.delete(mr.lkey);
    this.transport.ddp?.dropRegion(mr.rkey);
    let key: number;
    do key = RdmaDevice.keyFor(mr.lkey >>> 8, mr.lkey & 0xff);
    while (this.mrs.has(key));
    mr.lkey = key;
    mr.rkey = key;
    mr.valid = true;
    mr.generation = this.nextGeneration++;
    this.mrs.set(key, mr);
    this.place(mr);
    return mr;
  }

  /**
   * @internal A peer's SEND with Invalidate names `rkey`: invalidates the region when it may be
   * remotely invalidated (registered with remoteInvalidate, in protection domain `pdHandle`, valid,
   * the exact key). Returns false otherwise (the responder then fails the request).
   */
  invalidateRemote(rkey: number, pdHandle: number): boolean {
    const mr = this.mrs.get(rkey >>> 0);
    if (!mr || mr.rkey !== rkey >>> 0 || !mr.valid || !mr.remoteInvalidate || mr.pdHandle !== pdHandle) return false;
    mr.valid = false;
    mr.generation = this.nextGeneration++;
    this.transport.ddp?.dropRegion(mr.rkey);
    return true;
  }

  /** @internal */
  deregisterRegion(mr: MemoryRegion): void {
    mr.valid = false;
    mr.generation = this.nextGeneration++;
    if (this.mrs.get(mr.lkey) === mr) this.mrs.delete(mr.lkey);
    this.transport.ddp?.dropRegion(mr.rkey);
  }

  /** Stops every QP and closes the transport. */
  async close(): Promise<void> {
    for (const qp of this.qps.values()) qp.shutdown();
    this.qps.clear();
    await this.transport.close();
  }
}
