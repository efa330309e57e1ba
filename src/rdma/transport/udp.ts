/**
 * RoCE v2 over a UDP socket (node:dgram).
 *
 * ICRC over IPv6: fully generated and verified. Every field the ICRC covers is known to both ends:
 * the masked fields (traffic class, flow label, hop limit, UDP checksum) are all ones by definition,
 * payload length and next header follow from the datagram, and the addresses and ports are the
 * socket's own and the sender's (rinfo). The socket must therefore be bound to a specific address
 * (default ::1), not a wildcard, so the destination address is known.
 *
 * ICRC over IPv4: a UDP socket can neither choose nor see the IPv4 header. The ICRC also covers the
 * IPv4 Identification, Flags/Fragment Offset and IHL (options), which are not masked. This endpoint
 * computes and checks the ICRC assuming IHL 5 (no options), Identification 0 and Flags = DF; with that
 * assumption every other covered field is checked end to end: version, total length, protocol,
 * source and destination addresses, UDP ports and length, BTH (except resv8a), all extended headers,
 * payload and pad. NOT checked: whether the packet really carried Identification 0 / DF / no options.
 * A hardware RNIC receiving these packets computes the ICRC over the real header, so it accepts them
 * only when the kernel sent them with ID 0 and DF; conversely this endpoint rejects RNIC packets whose
 * IPv4 ID is not 0 (RNICs and rxe send varying IDs). Use IPv6 for interoperable ICRCs.
 */
import { type Socket, createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { RdmaError } from '../errors.js';
import { ROCE_V2_PORT } from '../wire/frame.js';
import { fillIcrcFramed, icrcForUdpParts, icrcForUdpWith, pseudoHeaderLength, readIcrc, writeIcrc } from '../wire/icrc.js';
import { parseIp } from '../wire/ip-address.js';
import type { PeerAddress } from '../verbs/types.js';
import { loadRoceUdpAddon } from './native-addon.js';
import { openNativeUdpTransport } from './native-udp.js';
import { type PacketTransport, type TransportStats, newStats } from './transport.js';

/** Options for a UDP transport. */
export interface UdpTransportOptions {
  /** Local address to bind: a specific IPv6 or IPv4 address (default ::1). */
  address?: string;
  /** Local UDP port (default 4791; 0 picks a free one). */
  port?: number;
  /** Skip ICRC generation and checking (for measurements of its cost only). */
  noIcrc?: boolean;
  /**
   * Socket I/O: 'native' batches system calls (sendmmsg/recvmmsg) through the native addon (Linux,
   * built by node-gyp at install) and fails with ERR_RDMA_NATIVE_UNAVAILABLE when it cannot load;
   * 'dgram' is node:dgram (one system call per datagram); 'auto' (default) is native when available.
   */
  io?: UdpIo;
  /** Datagrams per batched system call (native I/O only; default 64). */
  batch?: number;
  /** Direct data placement of in-order RDMA WRITEs by the addon (native I/O only; default true). */
  ddp?: boolean;
}

/** The socket I/O choices of a UDP transport. */
export type UdpIo = 'native' | 'dgram' | 'auto';

/** Whether the native I/O addon is available here, and why not when it is not. */
export function nativeIoAvailable(): { available: boolean; reason: string } {
  const r = loadRoceUdpAddon();
  return { available: r.addon !== null, reason: r.reason };
}

/** Opens a UDP transport and waits until it is bound. */
export async function openUdpTransport(opts: UdpTransportOptions = {}): Promise<PacketTransport> {
  const address = opts.address ?? '::1';
  const localBytes = parseIp(address);
  if (!localBytes || localBytes.every((b) => b === 0))
    throw new RdmaError('address', `bind to a specific IP address, not "${address}" (the ICRC covers the destination address)`, 'ERR_RDMA_USAGE');
  const v6 = isIPv6(address);
  const io = opts.io ?? 'auto';
  if (io !== 'native' && io !== 'dgram' && io !== 'auto') throw new RdmaError('io', `expected native, dgram or auto, got "${String(io)}"`, 'ERR_RDMA_USAGE');
  if (io !== 'dgram') {
    const { addon, reason } = loadRoceUdpAddon();
    if (addon) return openNativeUdpTransport(addon, address, localBytes, opts.port ?? ROCE_V2_PORT, opts.noIcrc === true, {
        ...(opts.batch === undefined ? {} : { batch: opts.batch }),
        ...(opts.ddp === undefined ? {} : { ddp: opts.ddp }),
      });
    if (io === 'native') throw new RdmaError('io', `native socket I/O was asked for (io: 'native') but is unavailable: ${reason}`, 'ERR_RDMA_NATIVE_UNAVAILABLE');
  }
  // Addresses are always IP literals: skip the resolver on every send.
  const lookup = (host: string, _o: unknown, cb: (err: Error | null, address: string, family: number) => void) => cb(null, host, v6 ? 6 : 4);
  const sock = createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6, recvBufferSize: 8 << 20, sendBufferSize: 8 << 20, lookup: lookup as never });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(opts.port ?? ROCE_V2_PORT, address, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  return new UdpTransport(sock, address, localBytes, sock.address().port, opts.noIcrc === true);
}

const addrCache = new Map<string, Buffer>();
function addrBytes(a: string): Buffer {
  let b = addrCache.get(a);
  if (!b) {
    b = parseIp(a) ?? Buffer.alloc(16);
    if (addrCache.size > 1024) addrCache.clear();
    addrCache.set(a, b);
  }
  return b;
}

class UdpTransport implements PacketTransport {
  readonly local: PeerAddress;
  readonly stats: TransportStats = newStats();
  readonly io = 'dgram' as const;
  /** Room for the masked IP/UDP pseudo-header in front of a framed packet (sendFramed). */
  readonly headroom: number;
  private handler: ((roce: Buffer, from: PeerAddress) => void) | null = null;
  /** Reused for the pseudo-header of every received packet (receive is synchronous). */
  private readonly scratch = Buffer.alloc(64);

  constructor(
    private readonly sock: Socket,
    address: string,
    private readonly localBytes: Buffer,
    port: number,
    private readonly noIcrc: boolean,
  ) {
    this.local = { address, port };
    this.headroom = pseudoHeaderLength(localBytes.length === 16);
    sock.on('message', (msg, rinfo) => this.receive(msg, rinfo.address, rinfo.port));
    sock.on('error', () => {
      /* send errors (e.g. unreachable peer) are losses; the RC protocol retransmits */
    });
  }

  send(to: PeerAddress, roce: Buffer | readonly Buffer[]): void {
    const parts = Buffer.isBuffer(roce) ? [roce] : roce;
    if (!this.noIcrc) {
      const icrc = icrcForUdpParts({ srcAddr: this.localBytes, dstAddr: addrBytes(to.address), srcPort: this.local.port, dstPort: to.port }, parts);
      writeIcrc(parts[parts.length - 1] as Buffer, icrc);
    }
    this.stats.sent++;
    this.sock.send(parts.length === 1 ? (parts[0] as Buffer) : (parts as Buffer[]), to.port, to.address);
  }

  sendFramed(to: PeerAddress, frame: Buffer): void {
    const roce = frame.subarray(this.headroom);
    if (!this.noIcrc) fillIcrcFramed({ srcAddr: this.localBytes, dstAddr: addrBytes(to.address), srcPort: this.local.port, dstPort: to.port }, frame);
    this.stats.sent++;
    this.sock.send(roce, to.port, to.address);
  }

  private receive(msg: Buffer, address: string, port: number): void {
    if (msg.length < 16) {
      this.stats.malformed++;
      return;
    }
    if (!this.noIcrc) {
      const want = icrcForUdpWith({ srcAddr: addrBytes(address), dstAddr: this.localBytes, srcPort: port, dstPort: this.local.port }, msg, this.scratch);
      if (want !== readIcrc(msg)) {
        this.stats.icrcErrors++;
        return;
      }
    }
    this.stats.received++;
    this.handler?.(msg, { address, port });
  }

  onReceive(handler: (roce: Buffer, from: PeerAddress) => void): void {
    this.handler = handler;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}
