/**
 * What a queue pair needs from the network: send and receive RoCE v2 transport packets (BTH .. ICRC).
 *
 * Addresses: `local` is the transport's IP address and RoCE port (the UDP port it receives on,
 * 4791 unless told otherwise); a packet is sent to the peer's RoCE port, from a UDP source port
 * the queue pair names (its flow, see wire/flow.ts). `from` of a received packet is the sender's
 * address and source port: queue pairs accept their peer's packets by address, as RNICs do.
 */
import type { PeerAddress } from '../verbs/types.js';

/** Counters every transport keeps. */
export interface TransportStats {
  sent: number;
  received: number;
  /** Received packets dropped because their ICRC did not verify. */
  icrcErrors: number;
  /** Received datagrams too short to be RoCE. */
  malformed: number;
}

/** The socket I/O kinds: batched native UDP, node:dgram UDP, raw IPv4 (whole IP headers, native). */
export type TransportIo = 'native' | 'dgram' | 'raw';

/**
 * A packet transport. `send` fills the ICRC slot of `roce` (its last 4 bytes) before sending; a
 * packet may be given in pieces (see encodePacketParts), sent with one gathering write.
 */
export interface PacketTransport {
  readonly local: PeerAddress;
  readonly stats: TransportStats;
  /** Which socket I/O a UDP transport uses ('native' batched system calls, 'dgram' node:dgram, 'raw' raw IPv4); absent for others. */
  readonly io?: TransportIo;
  /** Whether outgoing packets are marked ECN-capable (ECT(0)); absent: not known. */
  readonly ecn?: boolean;
  /** A limitation users should know about (e.g. IPv4 over UDP sockets cannot interoperate with RNICs). */
  readonly notice?: string;
  /**
   * Sends a packet to `to` (its address and RoCE port) from UDP source port `srcPort` (default:
   * the transport's own port). Fills the ICRC slot.
   */
  send(to: PeerAddress, roce: Buffer | readonly Buffer[], srcPort?: number): void;
  /**
   * Optional fast path: bytes the transport wants free in front of a packet. A sender that honours
   * it encodes the packet at `frame[headroom..]` and calls `sendFramed`, so the transport can build
   * what it needs there (the UDP transport: the masked IP/UDP pseudo-header, making the ICRC one
   * CRC pass over one buffer) without another allocation or copy.
   */
  readonly headroom?: number;
  /** Sends `frame.subarray(headroom)` (BTH .. ICRC slot), filling the ICRC; `frame` is the transport's afterwards. */
  sendFramed?(to: PeerAddress, frame: Buffer, srcPort?: number): void;
  /**
   * Optional: a queue pair will send to `to` from `srcPort` until closeFlow (the transport may
   * open a socket bound to that port, connected to the peer). Calls nest: one close per open.
   */
  openFlow?(srcPort: number, to: PeerAddress): void;
  closeFlow?(srcPort: number): void;
  /**
   * Optional: a buffer of `n` bytes for one frame to pass to sendFramed, from memory the
   * transport recycles once the frame is sent. A frame taken must be sent (or dropped) soon.
   */
  frame?(n: number): Buffer;
  /** Direct data placement, when this transport does it (native UDP I/O). */
  readonly ddp?: DirectPlacement;
  /**
   * Optional: receives and dispatches, synchronously, what already arrived for this transport.
   * Node runs expired timers before it polls sockets, so a retransmit timer that expires during a
   * long stretch of work looks here first: the ACKs it waits for may be sitting in the socket.
   */
  poll?(): void;
  /** Installs the single receive handler (packets with a verified ICRC only). */
  onReceive(handler: (roce: Buffer, from: PeerAddress) => void): void;
  close(): Promise<void>;
}

/** What a responder queue pair expects next, as direct data placement needs it. */
export interface PlacementQpState {
  /** Place nothing for this queue pair when false (not in RTR/RTS, no peer). */
  enabled: boolean;
  ePsn: number;
  mtu: number;
  pd: number;
  /** The queue pair's access flags allow REMOTE_WRITE. */
  remoteWrite: boolean;
  /** The peer (packets from its address are the queue pair's, whatever their source port). */
  peer: PeerAddress | null;
  /** The message in progress: none, an RDMA WRITE (region, next byte offset in it, bytes to come), or another kind. */
  current: { kind: 'none' } | { kind: 'write'; rkey: number; offset: number; remaining: number } | { kind: 'other' };
}

/**
 * One RDMA WRITE packet the transport placed into registered memory itself: in order for its
 * queue pair, checked (ICRC, header, peer address, rkey, PD, access, bounds, memory still there, opcode sequence and lengths) against
 * the state the responder last gave with `setQp`. The responder applies its effects (PSN, MSN,
 * ACK) exactly as for a packet it placed.
 */
export interface PlacedWrite {
  qpn: number;
  psn: number;
  opcode: number;
  ackReq: boolean;
  /** Payload bytes placed. */
  bytes: number;
  rkey: number;
  /** Region byte offset just past the bytes placed. */
  offset: number;
  /** Bytes of the message still to come. */
  remaining: number;
}

/**
 * Direct data placement (what an RNIC does): a transport that offers it places in-order RDMA
 * WRITE packets into registered memory without handing them to the responder, and reports each
 * as a PlacedWrite, in arrival order with the packets it does hand over. Any packet of a queue
 * pair that it hands over stops placement for that queue pair until the next `setQp`, and a
 * SEND with invalidate stops all placement until the next receive batch. Every change takes
 * effect before the call returns.
 */
export interface DirectPlacement {
  setRegion(rkey: number, bytes: Uint8Array, va: number, pd: number, access: number): void;
  dropRegion(rkey: number): void;
  setQp(qpn: number, state: PlacementQpState): void;
  dropQp(qpn: number): void;
  /** Installs the single handler of placed packets. */
  onPlaced(handler: (w: PlacedWrite) => void): void;
}

/** Fresh zeroed counters. */
export function newStats(): TransportStats {
  return { sent: 0, received: 0, icrcErrors: 0, malformed: 0 };
}
