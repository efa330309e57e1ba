/**
 * An in-process measurement over the software RoCE endpoint: bandwidth, message rate and
 * per-operation latency (post to completion) of RDMA WRITE, READ, SEND or atomics, with both
 * endpoints in this process over UDP (IPv6 loopback by default). Two processes, or numaplan and
 * perftest, run perftest's own tests and exchange (tools/perftest.ts).
 */
import { randomInt } from 'node:crypto';
import { RdmaError } from './errors.js';
import type { PacketTransport, TransportIo } from './transport/transport.js';
import { type UdpIo, openUdpTransport } from './transport/udp.js';
import { type PeerInfo, bringUp } from './verbs/connect.js';
import type { CompletionQueue } from './verbs/cq.js';
import { RdmaDevice } from './verbs/device.js';
import type { MemoryRegion } from './verbs/mr.js';
import type { QueuePair } from './verbs/qp.js';
import { ACCESS, type PathMtu, type SendWr } from './verbs/types.js';

/** The operations `rdma perf` measures. */
export type PerfOp = 'write' | 'read' | 'send' | 'atomic';

/** What to measure. */
export interface PerfOptions {
  op: PerfOp;
  /** Message size in bytes (atomics are always 8). */
  size: number;
  iters: number;
  /** Operations kept in flight (1 = latency test). */
  txDepth: number;
  mtu: PathMtu;
  /** Socket I/O of the UDP transports (default auto: native batched I/O when the addon is built). */
  io?: UdpIo;
}

/** Latency percentiles in microseconds. */
export interface LatencySummary {
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  avg: number;
}

/** The result of one run. */
export interface PerfResult {
  op: PerfOp;
  size: number;
  iters: number;
  txDepth: number;
  mtu: number;
  seconds: number;
  bytes: number;
  /** Megabytes (10^6) per second of payload. */
  bandwidthMBps: number;
  gbps: number;
  /** Operations per second. */
  msgRate: number;
  latencyUs: LatencySummary;
  /** Protocol counters of the client QP (retransmits and timeouts should be 0 on loopback). */
  retransmits: number;
  timeouts: number;
  /** The socket I/O the client's transport used ('native' or 'dgram'; absent for other transports). */
  io?: TransportIo;
}

/** One side: device, PD, CQs, QP and a registered buffer. */
export interface PerfEndpoint {
  dev: RdmaDevice;
  qp: QueuePair;
  cq: CompletionQueue;
  rcq: CompletionQueue;
  mr: MemoryRegion;
  buf: Buffer;
}

const ALL = ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE | ACCESS.REMOTE_READ | ACCESS.REMOTE_ATOMIC;

/** Opens an endpoint on a transport with a buffer of `bytes`. */
export function perfEndpoint(transport: PacketTransport, bytes: number, depth: number): PerfEndpoint {
  const dev = new RdmaDevice(transport);
  const pd = dev.allocPd();
  const cq = dev.createCq();
  const rcq = dev.createCq();
  const qp = dev.createQp(pd, { sendCq: cq, recvCq: rcq, maxSendWr: Math.max(depth * 2, 64), maxRecvWr: 8192, maxWindow: 1024 });
  const buf = Buffer.alloc(Math.max(8, bytes));
  const mr = pd.regMr(buf, ALL);
  return { dev, qp, cq, rcq, mr, buf };
}

/** This endpoint's connection info. */
export function localInfo(e: PerfEndpoint, psn: number): PeerInfo {
  const l = e.dev.transport.local;
  return { qpn: e.qp.qpNum, psn, address: l.address, port: l.port, rkey: e.mr.rkey, addr: e.mr.addr, length: e.mr.length };
}

/**
 * Keeps receives posted on a server endpoint (for SEND tests): `size`-byte buffers, refilled as
 * they complete. Returns a stop function.
 */
export function keepReceiving(e: PerfEndpoint, size: number, count = 512): () => void {
  let stopped = false;
  const slots = Math.max(1, Math.min(count, Math.floor(e.buf.length / Math.max(1, size)) || 1));
  const post = (i: number) => e.qp.postRecv({ wrId: i, sgList: [{ addr: e.mr.addr + (i % slots) * size, length: Math.min(size, e.buf.length), lkey: e.mr.lkey }] });
  for (let i = 0; i < count; i++) post(i);
  void (async () => {
    while (!stopped) {
      await e.rcq.wait();
      for (const wc of e.rcq.poll(256)) if (wc.status === 'success' && !stopped && e.qp.state === 'rts') post(Number(wc.wrId));
    }
  })();
  return () => {
    stopped = true;
    e.rcq.push({ wrId: -1, status: 'flushed', opcode: 'recv', qpNum: e.qp.qpNum, byteLen: 0 });
  };
}

/** Runs the measurement from a connected client endpoint against the peer's region. */
export async function measure(e: PerfEndpoint, peer: PeerInfo, o: PerfOptions): Promise<PerfResult> {
  const size = o.op === 'atomic' ? 8 : o.size;
  if (peer.rkey === undefined || peer.addr === undefined || (peer.length ?? 0) < size)
    throw new RdmaError('peer', `the peer's region (${peer.length ?? 0} bytes) is smaller than the message size ${size}`, 'ERR_RDMA_PERF');
  const lkey = e.mr.lkey;
  const wr = (i: number): SendWr => {
    const sg = [{ addr: e.mr.addr, length: size, lkey }];
    switch (o.op) {
      case 'write':
        return { wrId: i, opcode: 'rdma-write', sgList: sg, remoteAddr: peer.addr as number, rkey: peer.rkey as number };
      case 'read':
        return { wrId: i, opcode: 'rdma-read', sgList: sg, remoteAddr: peer.addr as number, rkey: peer.rkey as number };
      case 'send':
        return { wrId: i, opcode: 'send', sgList: sg };
      case 'atomic':
        return { wrId: i, opcode: 'fetch-add', add: 1n, sgList: sg, remoteAddr: peer.addr as number, rkey: peer.rkey as number };
    }
  };
  const lat = new Float64Array(o.iters);
  const started = new Float64Array(o.iters);
  let posted = 0;
  let done = 0;
  const t0 = performance.now();
  while (done < o.iters) {
    while (posted < o.iters && posted - done < o.txDepth) {
      started[posted] = performance.now();
      e.qp.postSend(wr(posted));
      posted++;
    }
    await e.cq.wait();
    const now = performance.now();
    for (const wc of e.cq.poll(1024)) {
      if (wc.status !== 'success') throw new RdmaError(`wr ${String(wc.wrId)}`, `completed with ${wc.status}`, 'ERR_RDMA_PERF');
      const i = Number(wc.wrId);
      lat[i] = (now - (started[i] as number)) * 1000;
      done++;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const bytes = size * o.iters;
  return {
    op: o.op,
    size,
    iters: o.iters,
    txDepth: o.txDepth,
    mtu: o.mtu,
    seconds,
    bytes,
    bandwidthMBps: bytes / seconds / 1e6,
    gbps: (bytes * 8) / seconds / 1e9,
    msgRate: o.iters / seconds,
    latencyUs: summarize(lat),
    retransmits: e.qp.counters.retransmits,
    timeouts: e.qp.counters.timeouts,
    ...(e.dev.transport.io ? { io: e.dev.transport.io } : {}),
  };
}

/** Latency percentiles (nearest rank) of microsecond samples. */
export function summarize(samples: Float64Array): LatencySummary {
  const s = Float64Array.from(samples).sort();
  const n = s.length;
  const at = (q: number) => s[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))] ?? 0;
  let sum = 0;
  for (const v of s) sum += v;
  return { min: s[0] ?? 0, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: s[n - 1] ?? 0, avg: n ? sum / n : 0 };
}

function ioOf(o: PerfOptions): { io?: UdpIo } {
  return o.io ? { io: o.io } : {};
}

/** Both ends in this process, over UDP on `address` (IPv6 loopback by default). */
export async function perfLocal(o: PerfOptions, address = '::1'): Promise<PerfResult> {
  const size = Math.max(8, o.size);
  const server = perfEndpoint(await openUdpTransport({ address, port: 0, ...ioOf(o) }), size, o.txDepth);
  const client = perfEndpoint(await openUdpTransport({ address, port: 0, ...ioOf(o) }), size, o.txDepth);
  try {
    const sPsn = randomInt(0, 0xffffff);
    const cPsn = randomInt(0, 0xffffff);
    const sInfo = localInfo(server, sPsn);
    const cInfo = localInfo(client, cPsn);
    bringUp(server.qp, sPsn, cInfo, { pathMtu: o.mtu });
    bringUp(client.qp, cPsn, sInfo, { pathMtu: o.mtu });
    const stop = o.op === 'send' ? keepReceiving(server, size, Math.min(o.iters + 1, 1024)) : () => {};
    const r = await measure(client, sInfo, o);
    stop();
    return r;
  } finally {
    await client.dev.close();
    await server.dev.close();
  }
}
