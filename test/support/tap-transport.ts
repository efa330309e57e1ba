/**
 * A transport for tests that drive one device by hand: it records every packet the device sends
 * (with the source port it named) and lets the test inject datagrams as if they came off the wire.
 */
import { type PacketTransport, newStats } from '../../src/rdma/transport/transport.js';
import type { PeerAddress } from '../../src/rdma/verbs/types.js';

/** One packet the device sent. */
export interface TappedPacket {
  to: PeerAddress;
  roce: Buffer;
  srcPort: number | undefined;
}

/** Records what is sent; `inject` delivers a datagram to the device. */
export class TapTransport implements PacketTransport {
  readonly stats = newStats();
  readonly sent: Buffer[] = [];
  readonly log: TappedPacket[] = [];
  private handler: ((roce: Buffer, from: PeerAddress) => void) | null = null;
  constructor(readonly local: PeerAddress) {}
  send(to: PeerAddress, roce: Buffer | readonly Buffer[], srcPort?: number): void {
    const b = Buffer.isBuffer(roce) ? Buffer.from(roce) : Buffer.concat(roce as Buffer[]);
    this.sent.push(b);
    this.log.push({ to, roce: b, srcPort });
  }
  onReceive(h: (roce: Buffer, from: PeerAddress) => void): void {
    this.handler = h;
  }
  inject(roce: Buffer, from: PeerAddress): void {
    this.handler?.(roce, from);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
