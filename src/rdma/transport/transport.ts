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
  send(to: PeerAddress, roce: Buffer | readonly Buffer[]): void;
  /** Installs the single receive handler (packets with a verified ICRC only). */
  onReceive(handler: (roce: Buffer, from: PeerAddress) => void): void;
  close(): Promise<void>;
}

/** Fresh zeroed counters. */
export function newStats(): TransportStats {
  return { sent: 0, received: 0, icrcErrors: 0, malformed: 0 };
}
