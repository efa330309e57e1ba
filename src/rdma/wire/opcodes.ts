/**
 * InfiniBand transport opcodes (BTH byte 0) and, for each, which extended headers follow the BTH and
 * whether it carries a payload. The top three bits select the transport (RC 000, UC 001, RD 010,
 * UD 011, CNP 100), the low five the operation.
 */

/** Reliable-connection opcodes. */
export const OP = {
  SEND_FIRST: 0x00,
  SEND_MIDDLE: 0x01,
  SEND_LAST: 0x02,
  SEND_LAST_WITH_IMMEDIATE: 0x03,
  SEND_ONLY: 0x04,
  SEND_ONLY_WITH_IMMEDIATE: 0x05,
  RDMA_WRITE_FIRST: 0x06,
  RDMA_WRITE_MIDDLE: 0x07,
  RDMA_WRITE_LAST: 0x08,
  RDMA_WRITE_LAST_WITH_IMMEDIATE: 0x09,
  RDMA_WRITE_ONLY: 0x0a,
  RDMA_WRITE_ONLY_WITH_IMMEDIATE: 0x0b,
  RDMA_READ_REQUEST: 0x0c,
  RDMA_READ_RESPONSE_FIRST: 0x0d,
  RDMA_READ_RESPONSE_MIDDLE: 0x0e,
  RDMA_READ_RESPONSE_LAST: 0x0f,
  RDMA_READ_RESPONSE_ONLY: 0x10,
  ACKNOWLEDGE: 0x11,
  ATOMIC_ACKNOWLEDGE: 0x12,
  COMPARE_SWAP: 0x13,
  FETCH_ADD: 0x14,
  SEND_LAST_WITH_INVALIDATE: 0x16,
  SEND_ONLY_WITH_INVALIDATE: 0x17,
  /** Unreliable datagram SEND only (carries a DETH), used by connection management on QP1. */
  UD_SEND_ONLY: 0x64,
  UD_SEND_ONLY_WITH_IMMEDIATE: 0x65,
  /** RoCE v2 congestion notification packet. */
  CNP: 0x81,
} as const;

/** The operation an opcode belongs to. */
export type OpcodeKind = 'send' | 'write' | 'read-request' | 'read-response' | 'ack' | 'atomic' | 'atomic-ack' | 'cnp';

/** Where a packet sits in its message (null: not part of a segmented message, e.g. ACKs). */
export type OpcodePosition = 'first' | 'middle' | 'last' | 'only' | null;

/** The transport an opcode belongs to: its top three bits (RC 000, UC 001, UD 011, CNP 100). */
export type OpcodeTransport = 'RC' | 'UC' | 'UD' | 'CNP';

/** What follows the BTH for one opcode, in wire order: DETH, RETH, AETH, AtomicETH, AtomicAckETH, ImmDt, IETH, payload. */
export interface OpcodeLayout {
  name: string;
  transport: OpcodeTransport;
  kind: OpcodeKind;
  position: OpcodePosition;
  /** A request (the responder handles it) rather than a response (the requester's completer does). */
  request: boolean;
  deth: boolean;
  reth: boolean;
  aeth: boolean;
  atomicEth: boolean;
  atomicAckEth: boolean;
  immDt: boolean;
  ieth: boolean;
  payload: boolean;
  /** Bytes of extended headers after the 12-byte BTH. */
  extLength: number;
}

const layouts = new Map<number, OpcodeLayout>();

type Parts = Partial<Omit<OpcodeLayout, 'name' | 'extLength' | 'transport' | 'kind' | 'position' | 'request'>>;

function def(code: number, name: string, kind: OpcodeKind, position: OpcodePosition, parts: Parts): void {
  const top = code >> 5;
  const transport: OpcodeTransport = top === 0 ? 'RC' : top === 1 ? 'UC' : top === 3 ? 'UD' : 'CNP';
  const l = {
    name,
    transport,
    kind,
    position,
    request: kind === 'send' || kind === 'write' || kind === 'read-request' || kind === 'atomic',
    deth: parts.deth ?? false,
    reth: parts.reth ?? false,
    aeth: parts.aeth ?? false,
    atomicEth: parts.atomicEth ?? false,
    atomicAckEth: parts.atomicAckEth ?? false,
    immDt: parts.immDt ?? false,
    ieth: parts.ieth ?? false,
    payload: parts.payload ?? false,
    extLength: 0,
  };
  l.extLength =
    (l.deth ? 8 : 0) + (l.reth ? 16 : 0) + (l.aeth ? 4 : 0) + (l.atomicEth ? 28 : 0) + (l.atomicAckEth ? 8 : 0) + (l.immDt ? 4 : 0) + (l.ieth ? 4 : 0);
  layouts.set(code, Object.freeze(l));
}

// RC (0x00) and UC (0x20, the SEND and WRITE subset): identical layouts.
for (const [base, prefix, all] of [
  [0x00, 'RC', true],
  [0x20, 'UC', false],
] as const) {
  def(base | 0x00, `${prefix}_SEND_FIRST`, 'send', 'first', { payload: true });
  def(base | 0x01, `${prefix}_SEND_MIDDLE`, 'send', 'middle', { payload: true });
  def(base | 0x02, `${prefix}_SEND_LAST`, 'send', 'last', { payload: true });
  def(base | 0x03, `${prefix}_SEND_LAST_WITH_IMMEDIATE`, 'send', 'last', { immDt: true, payload: true });
  def(base | 0x04, `${prefix}_SEND_ONLY`, 'send', 'only', { payload: true });
  def(base | 0x05, `${prefix}_SEND_ONLY_WITH_IMMEDIATE`, 'send', 'only', { immDt: true, payload: true });
  def(base | 0x06, `${prefix}_RDMA_WRITE_FIRST`, 'write', 'first', { reth: true, payload: true });
  def(base | 0x07, `${prefix}_RDMA_WRITE_MIDDLE`, 'write', 'middle', { payload: true });
  def(base | 0x08, `${prefix}_RDMA_WRITE_LAST`, 'write', 'last', { payload: true });
  def(base | 0x09, `${prefix}_RDMA_WRITE_LAST_WITH_IMMEDIATE`, 'write', 'last', { immDt: true, payload: true });
  def(base | 0x0a, `${prefix}_RDMA_WRITE_ONLY`, 'write', 'only', { reth: true, payload: true });
  def(base | 0x0b, `${prefix}_RDMA_WRITE_ONLY_WITH_IMMEDIATE`, 'write', 'only', { reth: true, immDt: true, payload: true });
  if (!all) continue;
  def(0x0c, 'RC_RDMA_READ_REQUEST', 'read-request', 'only', { reth: true });
  def(0x0d, 'RC_RDMA_READ_RESPONSE_FIRST', 'read-response', 'first', { aeth: true, payload: true });
  def(0x0e, 'RC_RDMA_READ_RESPONSE_MIDDLE', 'read-response', 'middle', { payload: true });
  def(0x0f, 'RC_RDMA_READ_RESPONSE_LAST', 'read-response', 'last', { aeth: true, payload: true });
  def(0x10, 'RC_RDMA_READ_RESPONSE_ONLY', 'read-response', 'only', { aeth: true, payload: true });
  def(0x11, 'RC_ACKNOWLEDGE', 'ack', null, { aeth: true });
  def(0x12, 'RC_ATOMIC_ACKNOWLEDGE', 'atomic-ack', null, { aeth: true, atomicAckEth: true });
  def(0x13, 'RC_COMPARE_SWAP', 'atomic', 'only', { atomicEth: true });
  def(0x14, 'RC_FETCH_ADD', 'atomic', 'only', { atomicEth: true });
  def(0x16, 'RC_SEND_LAST_WITH_INVALIDATE', 'send', 'last', { ieth: true, payload: true });
  def(0x17, 'RC_SEND_ONLY_WITH_INVALIDATE', 'send', 'only', { ieth: true, payload: true });
}
def(0x64, 'UD_SEND_ONLY', 'send', 'only', { deth: true, payload: true });
def(0x65, 'UD_SEND_ONLY_WITH_IMMEDIATE', 'send', 'only', { deth: true, immDt: true, payload: true });
// CNP: 16 reserved bytes follow the BTH; treated as payload.
def(0x81, 'CNP', 'cnp', null, { payload: true });

/** The layout of an opcode, or undefined for opcodes this implementation does not know. */
export function opcodeLayout(opcode: number): OpcodeLayout | undefined {
  return layouts.get(opcode);
}

/** Every opcode with a known layout, ascending. */
export function knownOpcodes(): number[] {
  return [...layouts.keys()].sort((a, b) => a - b);
}

/** The opcode's name (e.g. RC_SEND_ONLY), or OPCODE_0xNN when unknown. */
export function opcodeName(opcode: number): string {
  return layouts.get(opcode)?.name ?? `OPCODE_0x${opcode.toString(16).padStart(2, '0')}`;
}
