/**
 * `numaplan rdma pingpong`: rdma-core's ibv_rc_pingpong (libibverbs/examples/rc_pingpong.c), both
 * roles, so either end can be the real tool.
 *
 * Exchange (TCP, port 18515 by default): each side sends one 52-byte message, the NUL-terminated text
 * "LLLL:QQQQQQ:PPPPPP:GGGG...G" (hex LID, QPN, PSN, and the 16 GID bytes as 32 hex digits in wire
 * order). The client writes its message, reads the server's, then writes "done" and its NUL; the
 * server reads the client's message, brings its QP to RTS, writes its own, then reads "done".
 * ibv_rc_pingpong takes the peer's GID only with -g (RoCE needs it); numaplan always sends its
 * own (its RoCE address: an IPv6 address, or IPv4 as ::ffff:a.b.c.d).
 *
 * Ping-pong, as rc_pingpong counts it: `rx_depth` receives of `size` bytes posted up front (and
 * reposted when at most one is left); the client sends first; each side sends its next message once
 * both its previous send and a receive completed, until it sent and received `iters` messages. The
 * tool fills its buffer with 0x7b and sends it; numaplan does the same and also checks that every
 * message received is `size` bytes of 0x7b (the tool does not check). With -c (--chk, both sides,
 * as with the tool) the client first writes 0 at the start of every page (4096 bytes) of its buffer,
 * so every message carries that pattern (the server echoes its buffer), and the server checks those
 * bytes of the last message received after the run, printing "invalid data in page N" for each
 * that is not 0, as rc_pingpong does. Output, as the tool prints it: the local and remote address
 * lines, then bytes, seconds, Mbit/s and usec/iter.
 */
import { randomInt } from 'node:crypto';
import { RdmaError } from '../errors.js';
import type { PacketTransport } from '../transport/transport.js';
import { type UdpIo, openUdpTransport } from '../transport/udp.js';
import { bringUp } from '../verbs/connect.js';
import { RdmaDevice } from '../verbs/device.js';
import { ACCESS, type PathMtu, type WorkCompletion } from '../verbs/types.js';
import { formatIp, parseIp } from '../wire/ip-address.js';
import { addressOfGid, cformat, gidOfAddress, gidText } from './cformat.js';
import { type Recovery, recoveryOf } from './perftest.js';
import { type MessageSocket, connectTcp, listenTcp } from './tcp.js';

/** Bytes of rc_pingpong's exchange message: sizeof "0000:000000:000000:" + 32 hex digits + NUL. */
export const PINGPONG_MSG_BYTES = 52;

/** One side's address as rc_pingpong exchanges it. */
export interface PingpongDest {
  lid: number;
  qpn: number;
  psn: number;
  gid: Buffer;
}

/** The 52-byte message of a side (gid_to_wire_gid: the GID bytes as hex in wire order). */
export function encodePingpongDest(d: PingpongDest): Buffer {
  const text = `${cformat('%04x:%06x:%06x:', d.lid, d.qpn, d.psn)}${d.gid.toString('hex')}`;
  const b = Buffer.alloc(PINGPONG_MSG_BYTES);
  b.write(text, 'latin1');
  return b;
}

/** Parses a peer's message (sscanf "%x:%x:%x:%s" and wire_gid_to_gid). */
export function decodePingpongDest(b: Buffer): PingpongDest {
  const text = b.toString('latin1').split('\0')[0] ?? '';
  const m = /^([0-9a-fA-F]+):([0-9a-fA-F]+):([0-9a-fA-F]+):([0-9a-fA-F]{32})$/.exec(text);
  if (!m) throw new RdmaError('exchange', `not an rc_pingpong address message: "${text}"`, 'ERR_RDMA_EXCHANGE');
  return { lid: Number.parseInt(m[1] as string, 16), qpn: Number.parseInt(m[2] as string, 16), psn: Number.parseInt(m[3] as string, 16), gid: Buffer.from(m[4] as string, 'hex') };
}

/** What to run. */
export interface PingpongOptions {
  /** The server to connect to; absent: be the server. */
  server?: string;
  /** TCP port of the exchange (default 18515). */
  tcpPort?: number;
  size?: number;
  iters?: number;
  rxDepth?: number;
  mtu?: PathMtu;
  /** Local RoCE address (default: the address the TCP connection uses). */
  local?: string;
  /** RoCE UDP port of this side and of the peer (default 4791 both). */
  rocePort?: number;
  peerRocePort?: number;
  io?: UdpIo;
  /** -c: the tool's buffer validation (see the module comment). */
  validate?: boolean;
  /** Called with each output line as the tool prints it. */
  out?: (line: string) => void;
}

/** The outcome (what the tool prints, and what numaplan checked). */
export interface PingpongResult {
  local: PingpongDest;
  remote: PingpongDest;
  bytes: number;
  seconds: number;
  mbitPerSec: number;
  usecPerIter: number;
  iters: number;
  /** Messages received that were not `size` bytes of 0x7b (with -c: 0 at each page start). */
  corrupt: number;
  /** With -c, on the server: the pages whose first byte was not 0 in the last message (the tool's own check). */
  invalidPages: number[];
  /** What the queue pair did to recover: go-backs, timer expiries, NAKs received. */
  recovery: Recovery;
  io?: string;
  notice?: string;
}

const RECV_WRID = 1;
const SEND_WRID = 2;
const FILL = 0x7b;
/** rc_pingpong's page size (sysconf(_SC_PAGESIZE) on x86-64 and most arm64 kernels). */
const PAGE = 4096;

/** Runs one side of a ping-pong. */
export async function runPingpong(o: PingpongOptions): Promise<PingpongResult> {
  const size = o.size ?? 4096;
  const iters = o.iters ?? 1000;
  const rxDepth = o.rxDepth ?? 500;
  const out = o.out ?? (() => {});
  if (!Number.isInteger(size) || size < 1) throw new RdmaError('size', `must be a positive integer, got ${size}`, 'ERR_RDMA_USAGE');
  if (!Number.isInteger(iters) || iters < 1) throw new RdmaError('iters', `must be a positive integer, got ${iters}`, 'ERR_RDMA_USAGE');
  if (!Number.isInteger(rxDepth) || rxDepth < 2) throw new RdmaError('rx-depth', `must be at least 2, got ${rxDepth}`, 'ERR_RDMA_USAGE');
  let listener: Awaited<ReturnType<typeof listenTcp>> | null = null;
  let sock: MessageSocket;
  if (o.server !== undefined) sock = await connectTcp(o.server, o.tcpPort ?? 18515);
  else {
    listener = await listenTcp(o.tcpPort ?? 18515);
    sock = await listener.accept();
  }
  let transport: PacketTransport | null = null;
  try {
    const local = o.local ?? sock.localAddress;
    transport = await openUdpTransport({ address: local, port: o.rocePort ?? 4791, ...(o.io ? { io: o.io } : {}) });
    const dev = new RdmaDevice(transport);
    const pd = dev.allocPd();
    const buf = Buffer.alloc(size, FILL);
    // What every message must be: the tool's fill, and with -c the client's 0 at each page start.
    const expected = Buffer.alloc(size, FILL);
    if (o.validate) for (let i = 0; i < size; i += PAGE) expected[i] = 0;
    const mr = pd.regMr(buf, ACCESS.LOCAL_WRITE);
    const cq = dev.createCq(rxDepth + 1);
    const qp = dev.createQp(pd, { sendCq: cq, recvCq: cq, maxSendWr: 1, maxRecvWr: rxDepth });
    qp.modify({ state: 'init', accessFlags: 0 });
    const postRecv = (n: number): number => {
      for (let i = 0; i < n; i++) qp.postRecv({ wrId: RECV_WRID, sgList: [{ addr: mr.addr, length: size, lkey: mr.lkey }] });
      return n;
    };
    let routs = postRecv(rxDepth);
    const me: PingpongDest = { lid: 0, qpn: qp.qpNum, psn: randomInt(0, 0x1000000), gid: gidOfAddress(parseIp(local) as Buffer) };
    out(cformat('  local address:  LID 0x%04x, QPN 0x%06x, PSN 0x%06x, GID %s\n', me.lid, me.qpn, me.psn, gidText(me.gid)));
    let rem: PingpongDest;
    const connect = (d: PingpongDest) => {
      if (d.gid.every((b) => b === 0)) throw new RdmaError('exchange', 'the peer sent no GID (RoCE needs one: run ibv_rc_pingpong with -g <GID index>)', 'ERR_RDMA_EXCHANGE');
      const peerBytes = addressOfGid(d.gid);
      if (peerBytes.length !== (parseIp(local) as Buffer).length)
        throw new RdmaError('exchange', `the peer's GID ${gidText(d.gid)} is not of the family of the local address ${local}`, 'ERR_RDMA_EXCHANGE');
      bringUp(qp, me.psn, { qpn: d.qpn, psn: d.psn, address: formatIp(peerBytes), port: o.peerRocePort ?? 4791 }, { pathMtu: o.mtu ?? 1024, accessFlags: 0, maxRdAtomic: 1, minRnrTimer: 12, timeout: 14, retryCnt: 7, rnrRetry: 7 });
    };
    if (o.server !== undefined) {
      await sock.write(encodePingpongDest(me));
      rem = decodePingpongDest(await sock.read(PINGPONG_MSG_BYTES, 'the server address'));
      await sock.write(Buffer.from('done\0', 'latin1'));
    } else {
      rem = decodePingpongDest(await sock.read(PINGPONG_MSG_BYTES, 'the client address'));
      connect(rem);
      await sock.write(encodePingpongDest(me));
      await sock.readUpTo(5);
    }
    out(cformat('  remote address: LID 0x%04x, QPN 0x%06x, PSN 0x%06x, GID %s\n', rem.lid, rem.qpn, rem.psn, gidText(rem.gid)));
    if (o.server !== undefined) connect(rem);
    const send = () => qp.postSend({ wrId: SEND_WRID, opcode: 'send', sgList: [{ addr: mr.addr, length: size, lkey: mr.lkey }] });
    let pending = RECV_WRID;
    if (o.server !== undefined) {
      if (o.validate) for (let i = 0; i < size; i += PAGE) buf[i] = 0;
      send();
      pending |= SEND_WRID;
    }
    const t0 = performance.now();
    let rcnt = 0;
    let scnt = 0;
    let corrupt = 0;
    while (rcnt < iters || scnt < iters) {
      await cq.wait();
      for (const wc of cq.poll(2) as WorkCompletion[]) {
        if (wc.status !== 'success') throw new RdmaError(`wr ${String(wc.wrId)}`, `Failed status ${wc.status} for wr_id ${String(wc.wrId)}`, 'ERR_RDMA_PINGPONG');
        if (wc.wrId === SEND_WRID) scnt++;
        else {
          if (wc.byteLen !== size || !buf.equals(expected)) corrupt++;
          if (--routs <= 1) routs += postRecv(rxDepth - routs);
          rcnt++;
        }
        pending &= ~Number(wc.wrId);
        if (scnt < iters && pending === 0) {
          send();
          pending = RECV_WRID | SEND_WRID;
        }
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const usec = seconds * 1e6;
    const bytes = size * iters * 2;
    out(cformat('%d bytes in %.2f seconds = %.2f Mbit/sec\n', bytes, usec / 1e6, (bytes * 8) / usec));
    out(cformat('%d iters in %.2f seconds = %.2f usec/iter\n', iters, usec / 1e6, usec / iters));
    const invalidPages: number[] = [];
    if (o.server === undefined && o.validate) {
      for (let i = 0; i < size; i += PAGE) {
        if (buf[i] === 0) continue;
        invalidPages.push(i / PAGE);
        out(cformat('invalid data in page %d\n', i / PAGE));
      }
    }
    const result: PingpongResult = {
      local: me,
      remote: rem,
      bytes,
      seconds,
      mbitPerSec: (bytes * 8) / usec,
      usecPerIter: usec / iters,
      iters,
      corrupt,
      invalidPages,
      recovery: recoveryOf([qp]),
      ...(transport.io ? { io: transport.io } : {}),
      ...(transport.notice ? { notice: transport.notice } : {}),
    };
    // Let the last ACK leave before the QP goes away.
    await new Promise((r) => setTimeout(r, 20));
    await dev.close();
    transport = null;
    return result;
  } finally {
    sock.close();
    await listener?.close();
    await transport?.close();
  }
}
