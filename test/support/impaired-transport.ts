/**
 * A packet transport wrapper that impairs what it sends, seeded: drops a packet, holds one back behind
 * the next (or for 1 ms), and sends a copy again, each with its own probability. Used by the RDMA
 * reliability suites over real UDP (the in-process fabric has its own impairments).
 */
import { seededRandom } from '../../src/core/random.js';
import type { PacketTransport } from '../../src/rdma/transport/transport.js';
import type { PeerAddress } from '../../src/rdma/verbs/types.js';

/** Probabilities of each impairment, per sent packet, and the seed. */
export interface Impairment {
  seed: number;
  loss: number;
  duplicate: number;
  reorder: number;
}

/** Drops, duplicates and reorders what a QP sends (packets are copied: a held one never aliases a recycled frame). */
export class ImpairedTransport implements PacketTransport {
  readonly counters = { dropped: 0, duplicated: 0, reordered: 0 };
  private held: { to: PeerAddress; parts: Buffer[]; srcPort: number | undefined } | null = null;
  private readonly rand: () => number;

  constructor(
    readonly inner: PacketTransport,
    private readonly imp: Impairment,
  ) {
    this.rand = seededRandom(imp.seed);
  }

  get local(): PeerAddress {
    return this.inner.local;
  }
  get stats() {
    return this.inner.stats;
  }

  openFlow(srcPort: number, to: PeerAddress): void {
    this.inner.openFlow?.(srcPort, to);
  }

  closeFlow(srcPort: number): void {
    this.inner.closeFlow?.(srcPort);
  }

  send(to: PeerAddress, roce: Buffer | readonly Buffer[], srcPort?: number): void {
    const parts = (Buffer.isBuffer(roce) ? [roce] : [...roce]).map((b) => Buffer.from(b));
    if (this.rand() < this.imp.loss) {
      this.counters.dropped++;
      return;
    }
    if (!this.held && this.rand() < this.imp.reorder) {
      this.counters.reordered++;
      this.held = { to, parts, srcPort };
      setTimeout(() => this.release(), 1);
      return;
    }
    this.inner.send(to, parts, srcPort);
    this.release();
    if (this.rand() < this.imp.duplicate) {
      this.counters.duplicated++;
      this.inner.send(to, parts.map((p) => Buffer.from(p)), srcPort);
    }
  }

  private release(): void {
    const h = this.held;
    this.held = null;
    if (h) this.inner.send(h.to, h.parts, h.srcPort);
  }

  onReceive(handler: (roce: Buffer, from: PeerAddress) => void): void {
    this.inner.onReceive(handler);
  }

  close(): Promise<void> {
    this.held = null;
    return this.inner.close();
  }
}
