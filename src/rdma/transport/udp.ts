/**
 * RoCE v2 over UDP: opening a transport (which socket I/O, which port), and the node:dgram
 * transport used when the native addon is not built.
 *
 * Ports: a transport receives on its RoCE port (4791, the IANA port every RNIC sends to, unless
 * `port` says otherwise: tests running two endpoints on one address give each its own) and sends
 * every packet to the peer's RoCE port from its queue pair's flow port (wire/flow.ts).
 *
 * ICRC over IPv6: fully generated and verified. Every field the ICRC covers is known to both ends:
 * the masked fields (traffic class, flow label, hop limit, UDP checksum) are all ones by definition,
 * payload length and next header follow from the datagram, and the addresses and ports are the
 * socket's own and the sender's. The socket must therefore be bound to a specific address (default
 * ::1), not a wildcard, so the destination address is known.
 *
 * ICRC over IPv4: the ICRC also covers the IPv4 Identification, flags and IHL, which a UDP socket can
 * neither choose nor see. Raw I/O (`io: 'raw'`, the default for IPv4 where the process may open raw
 * sockets: root or CAP_NET_RAW) writes and reads whole IPv4 headers, so the ICRC is computed over the
 * real header at both ends and IPv4 interoperates with RNICs and Linux rxe. Without it (`io:
 * 'native'` over IPv4) the endpoint sends from unconnected sockets with DF set, for which Linux
 * sends Identification 0, and verifies assuming Identification 0 and DF: two numaplan endpoints
 * agree, but RNICs and rxe number their IPv4 packets, so IPv4 over UDP sockets CANNOT interoperate
 * with them (the transport's `notice` says so). node:dgram can set neither DF nor the traffic class,
 * so `io: 'dgram'` is IPv6 only.
 *
 * UDP checksum over IPv6: Linux rxe sends RoCE v2 over IPv6 with UDP checksum 0 (RFC 6935 allows it
 * for tunnel protocols; the ICRC protects the packet), which a UDP socket drops unless it sets
 * UDP_NO_CHECK6_RX. Native I/O sets it; node:dgram cannot, so `io: 'dgram'` cannot receive from rxe
 * (its `notice` says so).
 *
 * ECN: native and raw I/O mark outgoing packets ECT(0) (RoCE v2 congestion control relies on
 * switches marking CE instead of dropping); node:dgram cannot set the traffic class (no ECN).
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
  /** The RoCE port to receive on (default 4791; 0 picks a free one). Peers send to their peer's RoCE port. */
  port?: number;
  /** Skip ICRC generation and checking (for measurements of its cost only). */
  noIcrc?: boolean;
  /**
   * Socket I/O: 'native' batches system calls (sendmmsg/recvmmsg) through the native addon (Linux,
   * built by node-gyp at install) and fails with ERR_RDMA_NATIVE_UNAVAILABLE when it cannot load;
   * 'raw' is native I/O over a raw IPv4 socket writing and reading whole IPv4 headers (IPv4 only;
   * root or CAP_NET_RAW); 'dgram' is node:dgram (IPv6 only; one system call per datagram); 'auto'
   * (default) is raw for IPv4 where permitted, else native when available, else dgram (IPv6).
   */
  io?: UdpIo;
  /** Datagrams per batched system call (native I/O only; default 64). */
  batch?: number;
  /** Direct data placement of in-order RDMA WRITEs by the addon (native I/O only; default true). */
  ddp?: boolean;
  /** Mark outgoing packets ECN-capable, ECT(0) (native and raw I/O; default true). */
  ecn?: boolean;
  /** Receive with UDP GRO where the kernel offers it (native UDP I/O; default true). */
  gro?: boolean;
}

/** The socket I/O choices of a UDP transport. */
export type UdpIo = 'native' | 'dgram' | 'raw' | 'auto';

/** What the transport's IPv4 ICRCs mean for interoperability, shown by the tools. */
export const IPV4_UDP_NOTICE =
  'IPv4 over UDP sockets: the ICRC is computed assuming IPv4 Identification 0 and DF (numaplan endpoints agree), ' +
  'but RNICs and Linux rxe number their IPv4 packets, so this endpoint cannot interoperate with them over IPv4. ' +
  'Use IPv6, or raw I/O (io raw: root or CAP_NET_RAW).';

/** What node:dgram I/O means for interoperability, shown by the tools. */
export const DGRAM_ZERO_CHECKSUM_NOTICE =
  'node:dgram I/O: Linux rxe sends RoCE over IPv6 with UDP checksum 0, which a node:dgram socket drops (it cannot set UDP_NO_CHECK6_RX), ' +
  'so this endpoint cannot receive from rxe. Use native I/O (the addon built by npm install).';

/** Whether the native I/O addon is available here, and why not when it is not. */
export function nativeIoAvailable(): { available: boolean; reason: string } {
  const r = loadRoceUdpAddon();
  return { available: r.addon !== null, reason: r.reason };
}

/** Whether raw IPv4 I/O is available here (the addon, and root or CAP_NET_RAW), and why not when it is not. */
export function rawIoAvailable(): { available: boolean; reason: string } {
  const r = loadRoceUdpAddon();
  if (!r.addon) return { available: false, reason: r.reason };
  if (!r.addon.rawPermitted()) return { available: false, reason: 'raw IPv4 sockets need root or CAP_NET_RAW' };
  return { available: true, reason: 'permitted' };
}

/** Opens a UDP transport and waits until it is bound. */
export async function openUdpTransport(opts: UdpTransportOptions = {}): Promise<PacketTransport> {
  const address = opts.address ?? '::1';
  const localBytes = parseIp(address);
  if (!localBytes || localBytes.every((b) => b === 0))
    throw new RdmaError('address', `bind to a specific IP address, not "${address}" (the ICRC covers the destination address)`, 'ERR_RDMA_USAGE');
  const v6 = isIPv6(address);
  const io = opts.io ?? 'auto';
  if (io !== 'native' && io !== 'dgram' && io !== 'raw' && io !== 'auto') throw new RdmaError('io', `expected native, raw, dgram or auto, got "${String(io)}"`, 'ERR_RDMA_USAGE');
  const port = opts.port ?? ROCE_V2_PORT;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RdmaError('port', `not a UDP port: ${String(port)}`, 'ERR_RDMA_USAGE');
  if (io === 'raw' && v6) throw new RdmaError('io', 'raw I/O is for IPv4 (over IPv6 every field the ICRC covers is known: use io native)', 'ERR_RDMA_USAGE');
  if (io === 'dgram' && !v6)
    throw new RdmaError('io', `node:dgram I/O is IPv6 only (it cannot set DF, so the IPv4 header the ICRC covers is unknown): use io native or raw for ${address}`, 'ERR_RDMA_USAGE');
  const native = { batch: opts.batch, ddp: opts.ddp, ecn: opts.ecn, gro: opts.gro };
  const { addon, reason } = loadRoceUdpAddon();
  if (io === 'raw' || (io === 'auto' && !v6 && addon?.rawPermitted())) {
    if (!addon) throw new RdmaError('io', `raw I/O was asked for but the native addon is unavailable: ${reason}`, 'ERR_RDMA_NATIVE_UNAVAILABLE');
    if (!addon.rawPermitted()) throw new RdmaError('io', 'raw I/O was asked for but raw IPv4 sockets need root or CAP_NET_RAW', 'ERR_RDMA_RAW_UNAVAILABLE');
    return openNative(address, localBytes, port, opts.noIcrc === true, { ...clean(native), raw: true });
  }
  if (io !== 'dgram') {
    if (addon) {
      const t = openNative(address, localBytes, port, opts.noIcrc === true, clean(native));
      if (!v6) (t as { notice?: string }).notice = IPV4_UDP_NOTICE;
      return t;
    }
    if (io === 'native') throw new RdmaError('io', `native socket I/O was asked for (io: 'native') but is unavailable: ${reason}`, 'ERR_RDMA_NATIVE_UNAVAILABLE');
    if (!v6) throw new RdmaError('io', `IPv4 needs native or raw I/O, and the native addon is unavailable (${reason}): use IPv6`, 'ERR_RDMA_NATIVE_UNAVAILABLE');
  }
  const sock = await bindDgram(address, port);
  const t = new UdpTransport(sock, address, localBytes, sock.address().port, opts.noIcrc === true);
  (t as { notice?: string }).notice = DGRAM_ZERO_CHECKSUM_NOTICE;
  return t;
}

function clean<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}

function openNative(address: string, localBytes: Buffer, port: number, noIcrc: boolean, o: { batch?: number; ddp?: boolean; ecn?: boolean; gro?: boolean; raw?: boolean }): PacketTransport {
  const { addon } = loadRoceUdpAddon();
  try {
    return openNativeUdpTransport(addon as NonNullable<typeof addon>, address, localBytes, port, noIcrc, o);
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === 'ERR_RDMA_NATIVE_PERMISSION') throw new RdmaError('io', `raw IPv4 sockets: ${err.message}`, 'ERR_RDMA_RAW_UNAVAILABLE');
    if (/EADDRINUSE|Address already in use/.test(err.message)) throw new RdmaError('port', `UDP port ${port} on ${address} is in use (${err.message})`, 'ERR_RDMA_PORT_IN_USE');
    if (/EADDRNOTAVAIL|Cannot assign/.test(err.message)) throw new RdmaError('address', `${address} is not an address of this host (${err.message})`, 'ERR_RDMA_USAGE');
    throw e;
  }
}

/** Addresses are always IP literals: skip the resolver on every send. */
const lookup = (host: string, _o: unknown, cb: (err: Error | null, address: string, family: number) => void) => cb(null, host, 6);

async function bindDgram(address: string, port: number): Promise<Socket> {
  const sock = createSocket({ type: 'udp6', ipv6Only: true, recvBufferSize: 8 << 20, sendBufferSize: 8 << 20, lookup: lookup as never });
  await new Promise<void>((resolve, reject) => {
    sock.once('error', (e: Error & { code?: string }) => {
      sock.close();
      reject(
        e.code === 'EADDRINUSE'
          ? new RdmaError('port', `UDP port ${port} on ${address} is in use`, 'ERR_RDMA_PORT_IN_USE')
          : e.code === 'EADDRNOTAVAIL'
            ? new RdmaError('address', `${address} is not an address of this host`, 'ERR_RDMA_USAGE')
            : e,
      );
    });
    sock.bind(port, address, () => {
      sock.removeAllListeners('error');
      resolve();
    });
  });
  return sock;
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

/** A flow's socket: bound to its source port (or any free one when it is taken); packets wait while it binds. */
interface DgramSender {
  sock: Socket | null;
  /** 0 until bound. */
  port: number;
  refs: number;
  waiting: { to: PeerAddress; roce: Buffer[] }[];
}

function bindOne(address: string, port: number, opts: { sendBufferSize?: number } = {}): Promise<Socket> {
  const sock = createSocket({ type: 'udp6', ipv6Only: true, ...opts, lookup: lookup as never });
  return new Promise((resolve, reject) => {
    sock.once('error', (e) => {
      sock.close();
      reject(e);
    });
    sock.bind(port, address, () => {
      sock.removeAllListeners('error');
      sock.on('error', () => {
        /* send errors (e.g. unreachable peer) are losses; the RC protocol retransmits */
      });
      resolve(sock);
    });
  });
}

/** RoCE v2 over node:dgram sockets (IPv6): see the module comment. */
class UdpTransport implements PacketTransport {
  readonly local: PeerAddress;
  readonly stats: TransportStats = newStats();
  readonly io = 'dgram' as const;
  readonly ecn = false;
  /** Room for the masked IP/UDP pseudo-header in front of a framed packet (sendFramed). */
  readonly headroom: number;
  private handler: ((roce: Buffer, from: PeerAddress) => void) | null = null;
  /** Reused for the pseudo-header of every received packet (receive is synchronous). */
  private readonly scratch = Buffer.alloc(64);
  private readonly senders = new Map<number, DgramSender>();
  private closed = false;

  constructor(
    private readonly sock: Socket,
    address: string,
    private readonly localBytes: Buffer,
    port: number,
    private readonly noIcrc: boolean,
  ) {
    this.local = { address, port };
    this.headroom = pseudoHeaderLength(true);
    sock.on('message', (msg, rinfo) => this.receive(msg, rinfo.address, rinfo.port));
    sock.on('error', () => {
      /* send errors (e.g. unreachable peer) are losses; the RC protocol retransmits */
    });
    this.senders.set(port, { sock, port, refs: 1, waiting: [] });
  }

  /** The socket of source port `srcPort`: bound to it, or to any free port when it is taken. */
  private sender(srcPort: number): DgramSender {
    let s = this.senders.get(srcPort);
    if (s) return s;
    const sender: DgramSender = { sock: null, port: 0, refs: 0, waiting: [] };
    s = sender;
    this.senders.set(srcPort, sender);
    const address = this.local.address;
    void bindOne(address, srcPort, { sendBufferSize: 4 << 20 })
      .catch(() => bindOne(address, 0, { sendBufferSize: 4 << 20 }))
      .then(
        (sock) => {
          if (this.closed || this.senders.get(srcPort) !== sender) {
            sock.close();
            return;
          }
          sender.sock = sock;
          sender.port = sock.address().port;
          for (const w of sender.waiting.splice(0)) this.sendOn(sender, w.to, w.roce);
        },
        () => {
          sender.waiting.length = 0;
        },
      );
    return sender;
  }

  openFlow(srcPort: number): void {
    if (!this.closed) this.sender(srcPort).refs++;
  }

  closeFlow(srcPort: number): void {
    const s = this.senders.get(srcPort);
    if (!s || this.closed || --s.refs > 0 || s.sock === this.sock) return;
    this.senders.delete(srcPort);
    s.sock?.close();
  }

  send(to: PeerAddress, roce: Buffer | readonly Buffer[], srcPort?: number): void {
    if (this.closed) return;
    const s = this.sender(srcPort ?? this.local.port);
    const parts = Buffer.isBuffer(roce) ? [roce] : [...roce];
    this.stats.sent++;
    if (s.port === 0) s.waiting.push({ to, roce: parts });
    else this.sendOn(s, to, parts);
  }

  private sendOn(s: DgramSender, to: PeerAddress, parts: Buffer[]): void {
    if (!this.noIcrc) {
      const icrc = icrcForUdpParts({ srcAddr: this.localBytes, dstAddr: addrBytes(to.address), srcPort: s.port, dstPort: to.port }, parts);
      writeIcrc(parts[parts.length - 1] as Buffer, icrc);
    }
    (s.sock as Socket).send(parts.length === 1 ? (parts[0] as Buffer) : parts, to.port, to.address);
  }

  sendFramed(to: PeerAddress, frame: Buffer, srcPort?: number): void {
    if (this.closed) return;
    const s = this.sender(srcPort ?? this.local.port);
    const roce = frame.subarray(this.headroom);
    this.stats.sent++;
    if (s.port === 0) {
      s.waiting.push({ to, roce: [roce] });
      return;
    }
    if (!this.noIcrc) fillIcrcFramed({ srcAddr: this.localBytes, dstAddr: addrBytes(to.address), srcPort: s.port, dstPort: to.port }, frame);
    (s.sock as Socket).send(roce, to.port, to.address);
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

  async close(): Promise<void> {
    this.closed = true;
    const all = [...new Set([...this.senders.values()].map((s) => s.sock).filter((x): x is Socket => x !== null))];
    this.senders.clear();
    await Promise.all(all.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
