/**
 * The device context: one transport endpoint (a UDP socket or a fabric endpoint), the key and QP
 * tables, and the packet dispatch from the wire to queue pairs.
 */
import type { PacketTransport } from '../transport/transport.js';
import { OP } from '../wire/opcodes.js';
import { decodePacket } from '../wire/packet.js';
import { CompletionQueue } from './cq.js';
import type { MemoryRegion } from './mr.js';
import { ProtectionDomain } from './pd.js';
import { verbsError } from './errors.js';
import { QueuePair, type QpInit } from './qp.js';
import { ACCESS, type PeerAddress } from './types.js';

/** Counters the device keeps about what it dropped. */
export interface DeviceStats {
  /** Packets that did not decode (unknown opcode, truncated, bad pad). */
  malformed: number;
  /** Packets for a QP number that does not exist. */
  unknownQp: number;
}

/** An RDMA device context bound to one transport. */
export class RdmaDevice {
  private readonly qps = new Map<number, QueuePair>();
  private readonly mrs = new Map<number, MemoryRegion>();
  private nextPd = 1;
  private nextQpn = 0x11;
  private nextKey = 1;
  private nextVa = 0x7f0000000000;
  readonly stats: DeviceStats = { malformed: 0, unknownQp: 0 };

  constructor(readonly transport: PacketTransport) {
    transport.onReceive((roce, from) => {
      const d = decodePacket(roce);
      if (!d.ok) {
        this.stats.malformed++;
        return;
      }
      const qp = this.qps.get(d.packet.bth.destQp);
      if (!qp) {
        this.stats.unknownQp++;
        return;
      }
      qp.receive(d.packet, from);
      // A packet the transport handed over stopped its placement for this QP (all but plain
      // ACKs, which cannot change the QP's state): give it the QP's state after that packet.
      if (transport.ddp && (d.packet.bth.opcode !== OP.ACKNOWLEDGE || d.packet.aeth?.kind !== 'ack')) qp.syncPlacement();
    });
    transport.ddp?.onPlaced((w) => this.qps.get(w.qpn)?.responder.onPlaced(w));
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
    this.updateSolePeer();
  }

  /**
   * @internal After a QP state change: when every QP that has a peer (RTR and later) has the same
   * one, the transport may connect its socket to it (datagrams from elsewhere could reach no QP).
   */
  updateSolePeer(): void {
    const t = this.transport;
    if (!t.setSolePeer) return;
    let sole: PeerAddress | null = null;
    for (const qp of this.qps.values()) {
      const p = qp.state === 'reset' ? null : qp.attr.peer;
      if (!p) continue;
      if (sole === null) sole = p;
      else if (sole.address !== p.address || sole.port !== p.port) {
        sole = null;
        break;
      }
    }
    t.setSolePeer(sole);
  }

  /** Looks up a region by lkey or rkey (they are equal here, as in Linux rxe). */
  region(key: number): MemoryRegion | undefined {
    return this.mrs.get(key >>> 0);
  }

  /** @internal used by ProtectionDomain.regMr */
  registerRegion(pdHandle: number, buffer: Uint8Array, access: number, addr?: number, wantKey?: number): MemoryRegion {
    let key: number;
    if (wantKey !== undefined) {
      key = wantKey >>> 0;
      if (this.mrs.has(key)) throw verbsError('regMr.key', `key 0x${key.toString(16)} in use`);
    } else {
      do {
        const index = this.nextKey++;
        // Index in the upper 24 bits, a varying key byte below, as hardware does.
        key = (((index & 0xffffff) << 8) | ((index * 0x9d) & 0xff)) >>> 0;
      } while (this.mrs.has(key));
    }
    let va = addr;
    if (va === undefined) {
      va = this.nextVa;
      this.nextVa += Math.ceil((buffer.length + 1) / 4096) * 4096 + 4096;
    }
    const mr: MemoryRegion = { pdHandle, buffer, addr: va, length: buffer.length, lkey: key, rkey: key, access, valid: true };
    this.mrs.set(key, mr);
    if ((access & ACCESS.REMOTE_WRITE) !== 0) this.transport.ddp?.setRegion(key, buffer, va, pdHandle, access);
    return mr;
  }

  /** @internal */
  deregisterRegion(mr: MemoryRegion): void {
    mr.valid = false;
    this.mrs.delete(mr.lkey);
    this.transport.ddp?.dropRegion(mr.rkey);
  }

  /** Stops every QP and closes the transport. */
  async close(): Promise<void> {
    for (const qp of this.qps.values()) qp.shutdown();
    this.qps.clear();
    await this.transport.close();
  }
}
