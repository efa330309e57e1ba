/**
 * An in-process network for tests and simulation: endpoints exchange RoCE packets through a fabric
 * that drops, duplicates, reorders and delays them, driven by a seeded PRNG so runs are repeatable.
 * Packets carry real ICRCs computed over an IPv6 pseudo-header of the endpoints' addresses.
 */
import { seededRandom } from '../../core/random.js';
import { icrcForUdp, readIcrc, writeIcrc } from '../wire/icrc.js';
import { parseIp } from '../wire/ip-address.js';
import type { PeerAddress } from '../verbs/types.js';
import { type PacketTransport, type TransportStats, newStats } from './transport.js';

/** Impairments, each a probability per packet (0-1), and delays in milliseconds. */
export interface FabricOptions {
  seed?: number;
  loss?: number;
  duplicate?: number;
  /** Probability a packet is held back by an extra random delay (up to reorderMs), so later ones overtake it. */
  reorder?: number;
  reorderMs?: number;
  /** Base one-way delay (0 = next macrotask). */
  delayMs?: number;
  /** Probability a packet has one random bit flipped (the receiver's ICRC check must drop it). */
  corrupt?: number;
}

export { seededRandom } from '../../core/random.js';

/** The fabric: create endpoints with `endpoint(address)`. */
export class Fabric {
  private readonly endpoints = new Map<string, FabricEndpoint>();
  private readonly rng: () => number;
  /** Counters of what the fabric did. */
  readonly counters = { delivered: 0, dropped: 0, duplicated: 0, reordered: 0, corrupted: 0 };
  private nextPort = 49152;

  constructor(readonly options: FabricOptions = {}) {
    this.rng = seededRandom(options.seed ?? 1);
  }

  /** A new endpoint at `address` (an IPv6 address; default fd00::N). */
  endpoint(address?: string): PacketTransport {
    const ep = new FabricEndpoint(this, { address: address ?? `fd00::${this.endpoints.size + 1}`, port: this.nextPort++ });
    this.endpoints.set(key(ep.local), ep);
    return ep;
  }

  /** @internal */
  carry(from: PeerAddress, to: PeerAddress, roce: Buffer): void {
    const o = this.options;
    const target = this.endpoints.get(key(to));
    if (!target || this.rng() < (o.loss ?? 0)) {
      this.counters.dropped++;
      return;
    }
    const copies = this.rng() < (o.duplicate ?? 0) ? 2 : 1;
    if (copies === 2) this.counters.duplicated++;
    for (let i = 0; i < copies; i++) {
      const pkt = Buffer.from(roce);
      if (this.rng() < (o.corrupt ?? 0)) {
        const bit = Math.floor(this.rng() * pkt.length * 8);
        pkt[bit >> 3] = (pkt[bit >> 3] as number) ^ (1 << (bit & 7));
        this.counters.corrupted++;
      }
      let delay = o.delayMs ?? 0;
      if (this.rng() < (o.reorder ?? 0)) {
        delay += 0.1 + this.rng() * (o.reorderMs ?? 2);
        this.counters.reordered++;
      }
      const deliver = () => {
        this.counters.delivered++;
        target.deliver(pkt, from);
      };
      if (delay > 0) setTimeout(deliver, delay);
      else setImmediate(deliver);
    }
  }

  /** @internal */
  remove(ep: PeerAddress): void {
    this.endpoints.delete(key(ep));
  }
}

function key(a: PeerAddress): string {
  return `[${a.address}]:${a.port}`;
}

class FabricEndpoint implements PacketTransport {
  readonly stats: TransportStats = newStats();
  private handler: ((roce: Buffer, from: PeerAddress) => void) | null = null;
  private readonly bytes: Buffer;

  constructor(
    private readonly fabric: Fabric,
    readonly local: PeerAddress,
  ) {
    this.bytes = parseIp(local.address) ?? Buffer.alloc(16);
  }

  send(to: PeerAddress, pieces: Buffer | readonly Buffer[], srcPort?: number): void {
    const roce = Buffer.isBuffer(pieces) ? pieces : Buffer.concat(pieces as Buffer[]);
    const from = srcPort === undefined || srcPort === this.local.port ? this.local : { address: this.local.address, port: srcPort };
    writeIcrc(roce, icrcForUdp({ srcAddr: this.bytes, dstAddr: parseIp(to.address) ?? Buffer.alloc(16), srcPort: from.port, dstPort: to.port }, roce));
    this.stats.sent++;
    this.fabric.carry(from, to, roce);
  }

  deliver(roce: Buffer, from: PeerAddress): void {
    if (roce.length < 16) {
      this.stats.malformed++;
      return;
    }
    const want = icrcForUdp({ srcAddr: parseIp(from.address) ?? Buffer.alloc(16), dstAddr: this.bytes, srcPort: from.port, dstPort: this.local.port }, roce);
    if (want !== readIcrc(roce)) {
      this.stats.icrcErrors++;
      return;
    }
    this.stats.received++;
    this.handler?.(roce, from);
  }

  onReceive(handler: (roce: Buffer, from: PeerAddress) => void): void {
    this.handler = handler;
  }

  close(): Promise<void> {
    this.fabric.remove(this.local);
    this.handler = null;
    return Promise.resolve();
  }
}
