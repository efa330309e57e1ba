/** What a queue pair needs from the network: send and receive RoCE v2 transport packets (BTH .. ICRC). */
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

/**
 * A packet transport. `send` fills the ICRC slot of `roce` (its last 4 bytes) before sending; a
 * packet may be given in pieces (see encodePacketParts), sent with one gathering write.
 */
export interface PacketTransport {
  readonly local: PeerAddress;
  readonly stats: TransportStats;
  /** Which socket I/O a UDP transport uses ('native' batched system calls, 'dgram' node:dgram); absent for others. */
  readonly io?: 'native' | 'dgram';
  send(to: PeerAddress, roce: Buffer | readonly Buffer[]): void;
  /**
   * Optional fast path: bytes the transport wants free in front of a packet. A sender that honours
   * it encodes the packet at `frame[headroom..]` and calls `sendFramed`, so the transport can build
   * what it needs there (the UDP transport: the masked IP/UDP pseudo-header, making the ICRC one
   * CRC pass over one buffer) without another allocation or copy.
   */
  readonly headroom?: number;
  /** Sends `frame.subarray(headroom)` (BTH .. ICRC slot), filling the ICRC; `frame` is the transport's afterwards. */
  sendFramed?(to: PeerAddress, frame: Buffer): void;
  /**
   * Optional: a buffer of `n` bytes for one frame to pass to sendFramed, from memory the
   * transport recycles once the frame is sent. A frame taken must be sent (or dropped) soon.
   */
  frame?(n: number): Buffer;
  /**
   * Optional: tells the transport that every queue pair of its device talks to `peer` (null: to
   * several, or none), so it may connect its socket to it (native UDP I/O). Returns whether it did.
   */
  setSolePeer?(peer: PeerAddress | null): boolean;
  /** Direct data placement, when this transport does it (native UDP I/O). */
  readonly ddp?: DirectPlacement;
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
  peer: PeerAddress | null;
  /** The message in progress: none, an RDMA WRITE (region, next byte offset in it, bytes to come), or another kind. */
  current: { kind: 'none' } | { kind: 'write'; rkey: number; offset: number; remaining: number } | { kind: 'other' };
}

/**
 * One RDMA WRITE packet the transport placed into registered memory itself: in order for its
 * queue pair, checked (ICRC, peer, rkey, PD, access, bounds, opcode sequence and lengths) against
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
