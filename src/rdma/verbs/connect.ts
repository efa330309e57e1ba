/** Bringing RC queue pairs up: the RESET -> INIT -> RTR -> RTS sequence given the peer's parameters. */
import type { QueuePair } from './qp.js';
import { ACCESS, type PathMtu, type PeerAddress } from './types.js';

/** What each side must learn about the other (what perftest exchanges over TCP). */
export interface PeerInfo {
  qpn: number;
  psn: number;
  address: string;
  port: number;
  /** Optional: a region the peer offers for one-sided operations. */
  rkey?: number;
  addr?: number;
  length?: number;
}

/** Options for bringing a QP to RTS. */
export interface ConnectOptions {
  pathMtu?: PathMtu;
  accessFlags?: number;
  timeout?: number;
  retryCnt?: number;
  rnrRetry?: number;
  minRnrTimer?: number;
  maxRdAtomic?: number;
}

/** Moves `qp` from RESET to RTS towards `peer`, with local send PSN `localPsn`. */
export function bringUp(qp: QueuePair, localPsn: number, peer: PeerInfo, o: ConnectOptions = {}): void {
  const address: PeerAddress = { address: peer.address, port: peer.port };
  qp.modify({ state: 'init', accessFlags: o.accessFlags ?? ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE | ACCESS.REMOTE_READ | ACCESS.REMOTE_ATOMIC });
  qp.modify({
    state: 'rtr',
    pathMtu: o.pathMtu ?? 1024,
    destQpNum: peer.qpn,
    rqPsn: peer.psn,
    peer: address,
    maxDestRdAtomic: o.maxRdAtomic ?? 16,
    minRnrTimer: o.minRnrTimer ?? 1,
  });
  qp.modify({ state: 'rts', sqPsn: localPsn, timeout: o.timeout ?? 14, retryCnt: o.retryCnt ?? 7, rnrRetry: o.rnrRetry ?? 7, maxRdAtomic: o.maxRdAtomic ?? 16 });
}

/** Connects two QPs in one process (each device's transport address is the peer's address). */
export function connectPair(a: QueuePair, b: QueuePair, o: ConnectOptions & { psnA?: number; psnB?: number } = {}): void {
  const psnA = o.psnA ?? 0x100;
  const psnB = o.psnB ?? 0x200;
  const la = a.device.transport.local;
  const lb = b.device.transport.local;
  bringUp(a, psnA, { qpn: b.qpNum, psn: psnB, address: lb.address, port: lb.port }, o);
  bringUp(b, psnB, { qpn: a.qpNum, psn: psnA, address: la.address, port: la.port }, o);
}
