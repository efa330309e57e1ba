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
  /** Installs the single receive handler (packets with a verified ICRC only). */
  onReceive(handler: (roce: Buffer, from: PeerAddress) => void): void;
  close(): Promise<void>;
}

/** Fresh zeroed counters. */
export function newStats(): TransportStats {
  return { sent: 0, received: 0, icrcErrors: 0, malformed: 0 };
}
