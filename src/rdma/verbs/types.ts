/** The verbs vocabulary: access flags, work requests, completions, QP states and attributes. */

/** Memory-region access rights (same bit values as libibverbs). */
export const ACCESS = {
  LOCAL_WRITE: 1,
  REMOTE_WRITE: 2,
  REMOTE_READ: 4,
  REMOTE_ATOMIC: 8,
} as const;

/** Completion status, named as ibv_wc_status is. */
export type WcStatus =
  | 'success'
  | 'local-length-error'
  | 'local-protection-error'
  | 'remote-invalid-request-error'
  | 'remote-access-error'
  | 'remote-operation-error'
  | 'retry-exceeded'
  | 'rnr-retry-exceeded'
  | 'flushed';

/** Work-completion opcode. */
export type WcOpcode = 'send' | 'rdma-write' | 'rdma-read' | 'compare-swap' | 'fetch-add' | 'recv' | 'recv-rdma-with-imm';

/** One completion queue entry. */
export interface WorkCompletion {
  wrId: bigint | number;
  status: WcStatus;
  opcode: WcOpcode;
  qpNum: number;
  /** Bytes received (receive completions) or transferred. */
  byteLen: number;
  /** Immediate data (receive completions of *_WITH_IMMEDIATE). */
  immData?: number;
  /** R_Key invalidated by SEND with invalidate. */
  invalidatedRkey?: number;
}

/** Scatter/gather element: a local virtual address range in a registered region. */
export interface Sge {
  addr: number;
  length: number;
  lkey: number;
}

/** Send-queue work request. */
export type SendWr = {
  wrId: bigint | number;
  sgList: readonly Sge[];
  /** Generate a completion on success (errors always complete). Default true. */
  signaled?: boolean;
  solicited?: boolean;
  /** Wait for every earlier READ and atomic to complete before starting (IBV_SEND_FENCE). */
  fence?: boolean;
} & (
  | { opcode: 'send' }
  | { opcode: 'send-with-imm'; immData: number }
  | { opcode: 'send-with-inv'; invalidateRkey: number }
  | { opcode: 'rdma-write'; remoteAddr: bigint | number; rkey: number }
  | { opcode: 'rdma-write-with-imm'; remoteAddr: bigint | number; rkey: number; immData: number }
  | { opcode: 'rdma-read'; remoteAddr: bigint | number; rkey: number }
  | { opcode: 'compare-swap'; remoteAddr: bigint | number; rkey: number; compare: bigint; swap: bigint }
  | { opcode: 'fetch-add'; remoteAddr: bigint | number; rkey: number; add: bigint }
);

/** Receive-queue work request. */
export interface RecvWr {
  wrId: bigint | number;
  sgList: readonly Sge[];
}

/** Queue pair states. */
export type QpState = 'reset' | 'init' | 'rtr' | 'rts' | 'error';

/** Path MTUs InfiniBand defines. */
export type PathMtu = 256 | 512 | 1024 | 2048 | 4096;

/** Where the peer QP lives: its IP address and RoCE UDP port (4791 unless the peer says otherwise). */
export interface PeerAddress {
  address: string;
  port: number;
}

/** Attributes set by QP transitions (ibv_modify_qp). */
export interface QpAttr {
  state: QpState;
  /** INIT: remote access the responder allows (ACCESS bits). */
  accessFlags?: number;
  /** RTR: */
  pathMtu?: PathMtu;
  destQpNum?: number;
  rqPsn?: number;
  peer?: PeerAddress;
  /** RTR: the GRH flow label (20 bits; 0, the default: derived from both QP numbers, as Linux does). It picks the UDP source port. */
  flowLabel?: number;
  /** Max incoming RDMA READ/atomic requests kept for replay. */
  maxDestRdAtomic?: number;
  /** RNR NAK timer code this responder asks for (0-31). */
  minRnrTimer?: number;
  /** RTS: */
  sqPsn?: number;
  /** Local ACK timeout code: 4.096 us * 2^timeout. */
  timeout?: number;
  /** Retransmissions allowed after a timeout or sequence NAK (0-7). */
  retryCnt?: number;
  /** RNR retries (0-7, 7 = infinite). */
  rnrRetry?: number;
  /** Max outstanding RDMA READ/atomic requests this requester issues. */
  maxRdAtomic?: number;
}
