/**
 * The software RoCE v2 endpoint against a plain Node TCP socket moving the same bytes, both over
 * IPv6 loopback and with both ends in this process (so each pair shares the same event loop):
 *
 *   rdma write 1 MiB     16 RDMA WRITEs of 64 KiB posted back to back (path MTU 4096, so 256 RoCE
 *                        packets with ICRCs), timed until all 16 completions (data placed in the
 *                        peer's registered memory and acknowledged); once per socket I/O kind:
 *                        "native" (the addon's sendmmsg/recvmmsg batches from the QP's flow
 *                        socket, runs of full-MTU packets as UDP GSO messages, ICRC in the addon,
 *                        in-order WRITE packets placed into the registered memory by the addon as an
 *                        RNIC would, everything else handled by the TS responder) and "dgram"
 *                        (node:dgram, one system call per datagram, ICRC in TS);
 *   tcp 1 MiB            16 socket writes of 64 KiB, timed until the peer socket has read all bytes;
 *   udp 1 MiB            256 plain 4 KiB datagrams (node:dgram, no RoCE logic: no headers, ICRC,
 *                        copies or ACKs), timed until the last one arrived: the ceiling of any
 *                        RoCE endpoint built on Node's UDP sockets, which send one datagram per
 *                        system call (no sendmmsg/GSO in Node 20);
 *   rdma write 8 B rtt   one 8-byte RDMA WRITE, posted to completion (request + ACK round trip);
 *   tcp 8 B echo rtt     8 bytes written, echoed by the peer, read back.
 *
 * Goals (issue 6): WRITE bandwidth at least half the TCP socket's (the 1 MiB row's time at most 2x
 * TCP's) and a median 8-byte WRITE round trip under 50 microseconds, judged on the best available
 * I/O: the native rows when the addon is built, else the dgram rows.
 *
 * Every row is one call per sample, so the round-trip rows report the median (and p95) of
 * individual round trips, as perftest's ib_write_lat does, not a median of batch means (which
 * tail outliers pull up). With a sample per call, 201 rounds give the percentiles enough samples.
 * Each such round trip follows the other cases of its round (cold caches, their garbage), so at
 * teardown the suite also runs perftest-style back-to-back round trips (blocks of 100, RDMA and TCP
 * alternating) and logs p50/p90/p99 of both series on stderr.
 */
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { type Server, type Socket, createConnection, createServer } from 'node:net';
import { quantile } from './lib/stats.js';
import { type PerfEndpoint, localInfo, perfEndpoint } from '../src/rdma/perf.js';
import type { NativeUdpTransport } from '../src/rdma/transport/native-udp.js';
import { nativeIoAvailable, openUdpTransport } from '../src/rdma/transport/udp.js';
import { bringUp } from '../src/rdma/verbs/connect.js';
import type { SendWr } from '../src/rdma/verbs/types.js';
import type { BenchContext, BenchSuite, CaseResult } from './lib/types.js';

const MSG = 64 * 1024;
const BURST = 16;

/** A connected client/server pair of RDMA endpoints over one socket I/O kind. */
interface Pair {
  client: PerfEndpoint;
  server: PerfEndpoint;
}
let dgramPair: Pair | null = null;
let nativePair: Pair | null = null;
/** The buffer the TCP and plain UDP rows send from. */
let client: PerfEndpoint | null = null;
const NATIVE = nativeIoAvailable();
let tcpServer: Server | null = null;
let bulk: Socket | null = null;
let echo: Socket | null = null;
let received = 0;
let want = 0;
let wake: (() => void) | null = null;
let echoWake: (() => void) | null = null;
let echoed = 0;
let log: ((m: string) => void) | null = null;
let udpTx: UdpSocket | null = null;
let udpRx: UdpSocket | null = null;
let udpGot = 0;
let udpWant = 0;
let udpLost = 0;
let udpWake: (() => void) | null = null;
/** Per-call times (ms) of the RDMA and plain UDP 1 MiB rows, for the fraction logged at teardown. */
const bulkTimes = { dgram: [] as number[], native: [] as number[], udp: [] as number[] };
/** Per-operation round-trip times (ms) of the latency rows, for the p99 logged at teardown. */
const rtt = { dgram: [] as number[], native: [] as number[], tcp: [] as number[] };

/** Runs `op` once and records its duration in `into`. */
async function timed(into: number[], op: () => Promise<void>): Promise<void> {
  const t = performance.now();
  await op();
  into.push(performance.now() - t);
}

function percentiles(label: string, ms: readonly number[]): string {
  const us = (q: number): string => `${(quantile(ms, q) * 1000).toFixed(1)} us`;
  return `${label}: ${ms.length} round trips, p50 ${us(0.5)}, p90 ${us(0.9)}, p99 ${us(0.99)}`;
}

async function rdmaBurst(pair: Pair | null, size: number, count: number): Promise<void> {
  if (!pair) throw new Error('RDMA endpoints not set up');
  const c = pair.client;
  const s = pair.server;
  for (let i = 0; i < count; i++) {
    const wr: SendWr = { wrId: i, opcode: 'rdma-write', sgList: [{ addr: c.mr.addr, length: size, lkey: c.mr.lkey }], remoteAddr: s.mr.addr, rkey: s.mr.rkey };
    c.qp.postSend(wr);
  }
  let done = 0;
  while (done < count) {
    await c.cq.wait();
    for (const wc of c.cq.poll(64)) {
      if (wc.status !== 'success') throw new Error(`RDMA WRITE completed with ${wc.status}`);
      done++;
    }
  }
}

async function tcpBurst(): Promise<void> {
  const sock = bulk;
  if (!sock) throw new Error('TCP not set up');
  want += MSG * BURST;
  const arrived = new Promise<void>((r) => {
    wake = r;
  });
  const chunk = (client as PerfEndpoint).buf.subarray(0, MSG);
  for (let i = 0; i < BURST; i++) sock.write(chunk);
  if (received >= want) wake = null;
  else await arrived;
}

/** 1 MiB as 256 datagrams of 4 KiB (what a path MTU of 4096 carries per RoCE packet). */
async function udpBurst(): Promise<void> {
  const tx = udpTx;
  const rx = udpRx;
  if (!tx || !rx) throw new Error('UDP not set up');
  const port = rx.address().port;
  const data = (client as PerfEndpoint).buf;
  udpWant += 256;
  const arrived = new Promise<void>((r) => {
    udpWake = r;
  });
  for (let i = 0; i < 256; i++) tx.send(data.subarray((i % 16) * 4096, (i % 16) * 4096 + 4096), port, '::1');
  // Plain UDP has no retransmission: a lost datagram is counted (and logged), not waited for.
  const timer = setTimeout(() => {
    udpLost += udpWant - udpGot;
    udpWant = udpGot;
    udpWake?.();
  }, 200);
  await arrived;
  clearTimeout(timer);
}

async function tcpEcho(): Promise<void> {
  const sock = echo;
  if (!sock) throw new Error('TCP not set up');
  const target = echoed + 8;
  const back = new Promise<void>((r) => {
    echoWake = () => {
      if (echoed >= target) r();
    };
  });
  sock.write((client as PerfEndpoint).buf.subarray(0, 8));
  await back;
}

const BW = { native: 'rdma write 1 MiB (16 x 64 KiB), native I/O', dgram: 'rdma write 1 MiB (16 x 64 KiB), dgram I/O' };
const RTT = { native: 'rdma write 8 B round trip, native I/O', dgram: 'rdma write 8 B round trip, dgram I/O' };
const BACK_TO_BACK = { native: 'rdma write 8 B round trip, back-to-back, native I/O', dgram: 'rdma write 8 B round trip, back-to-back, dgram I/O' };
/** The I/O kind the goal is judged on: the best available. */
const GOAL_IO: 'native' | 'dgram' = NATIVE.available ? 'native' : 'dgram';
const BACK_TO_BACK_TCP = 'tcp 8 B echo round trip, back-to-back';
const TCP_BULK = 'tcp 1 MiB (16 x 64 KiB)';
const TCP_RTT = 'tcp 8 B echo round trip';
const nativeMissing = (): string | null => (NATIVE.available ? null : NATIVE.reason);

/** Opens two endpoints over `io` and connects their QPs. */
async function openPair(io: 'native' | 'dgram'): Promise<Pair> {
  const server = perfEndpoint(await openUdpTransport({ address: '::1', port: 0, io }), MSG, BURST);
  const c = perfEndpoint(await openUdpTransport({ address: '::1', port: 0, io }), MSG, BURST);
  bringUp(server.qp, 1000, localInfo(c, 2000), { pathMtu: 4096 });
  bringUp(c.qp, 2000, localInfo(server, 1000), { pathMtu: 4096 });
  return { client: c, server };
}
/** Round trips per self-timed sample block. */
const BACK_TO_BACK_OPS = 20;

/** Times BACK_TO_BACK_OPS consecutive round trips, each on its own (ms). */
async function backToBack(op: () => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < BACK_TO_BACK_OPS; i++) {
    const start = process.hrtime.bigint();
    await op();
    out.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return out;
}

export const suite: BenchSuite = {
  name: 'rdma',
  description: 'software RoCE v2 RDMA WRITE (native batched and node:dgram socket I/O) vs a Node TCP socket on IPv6 loopback: 1 MiB in 64 KiB messages, and 8-byte round trips',
  runs: 201,
  goal: {
    text: `WRITE bandwidth >= 1/2 of TCP (1 MiB time <= 2x) and median 8 B WRITE round trip < 50 us, on ${GOAL_IO} I/O`,
    check: (cases: readonly CaseResult[]) => {
      const bw = cases.find((c) => c.name === BW[GOAL_IO]);
      const lat = cases.find((c) => c.name === BACK_TO_BACK[GOAL_IO]);
      if (bw?.ratio === undefined || lat?.median === undefined) return null;
      return bw.ratio <= 2 && lat.median < 0.05;
    },
  },
  setup: async (ctx: BenchContext) => {
    log = ctx.log;
    for (const a of [...Object.values(rtt), ...Object.values(bulkTimes)]) a.length = 0;
    if (!NATIVE.available) ctx.log(`rdma: native I/O unavailable (${NATIVE.reason}); dgram rows only`);
    dgramPair = await openPair('dgram');
    nativePair = NATIVE.available ? await openPair('native') : null;
    client = dgramPair.client;
    tcpServer = createServer((s) => {
      s.setNoDelay(true);
      s.once('data', (first: Buffer) => {
        // The first byte says which connection this is: 'b' bulk sink, 'e' echo.
        if (first[0] === 0x62) {
          received += first.length - 1;
          s.on('data', (d: Buffer) => {
            received += d.length;
            if (wake && received >= want) {
              const w = wake;
              wake = null;
              w();
            }
          });
        } else s.on('data', (d: Buffer) => s.write(d));
      });
    });
    await new Promise<void>((r) => (tcpServer as Server).listen(0, '::1', () => r()));
    const port = (tcpServer.address() as { port: number }).port;
    const connect = async (tag: string): Promise<Socket> => {
      const s = createConnection({ host: '::1', port });
      await new Promise((r) => s.once('connect', r));
      s.setNoDelay(true);
      s.write(tag);
      return s;
    };
    bulk = await connect('b');
    echo = await connect('e');
    const lookup = (host: string, _o: unknown, cb: (err: Error | null, address: string, family: number) => void) => cb(null, host, 6);
    udpTx = createSocket({ type: 'udp6', sendBufferSize: 8 << 20, lookup: lookup as never });
    udpRx = createSocket({ type: 'udp6', recvBufferSize: 8 << 20 });
    for (const u of [udpTx, udpRx]) await new Promise<void>((r) => u.bind(0, '::1', () => r()));
    udpGot = udpWant = udpLost = 0;
    udpRx.on('message', () => {
      udpGot++;
      if (udpWake && udpGot >= udpWant) {
        const w = udpWake;
        udpWake = null;
        w();
      }
    });
    echo.on('data', (d: Buffer) => {
      echoed += d.length;
      echoWake?.();
    });
    await new Promise((r) => setTimeout(r, 20));
  },
  cases: [
    { name: BW.native, run: () => timed(bulkTimes.native, () => rdmaBurst(nativePair, MSG, BURST)), baseline: TCP_BULK, process: true, unavailable: nativeMissing },
    { name: BW.dgram, run: () => timed(bulkTimes.dgram, () => rdmaBurst(dgramPair, MSG, BURST)), baseline: TCP_BULK, process: true },
    { name: TCP_BULK, alias: 'tcp', run: tcpBurst, process: true },
    { name: 'udp 1 MiB (256 x 4 KiB datagrams, node:dgram)', run: () => timed(bulkTimes.udp, udpBurst), baseline: TCP_BULK, process: true },
    // One round trip per sample (process: true stops the runner from batching): per-operation
    // median and p95, like `numaplan rdma perf --size 8 --tx-depth 1` and perftest.
    { name: RTT.dgram, run: () => timed(rtt.dgram, () => rdmaBurst(dgramPair, 8, 1)), baseline: TCP_RTT, process: true },
    { name: RTT.native, run: () => timed(rtt.native, () => rdmaBurst(nativePair, 8, 1)), baseline: TCP_RTT, process: true, unavailable: nativeMissing },
    { name: TCP_RTT, alias: 'tcp echo', run: () => timed(rtt.tcp, tcpEcho), process: true },
    // Back-to-back round trips, each timed (as ib_write_lat does): the latency goal's rows.
    { name: BACK_TO_BACK.native, run: () => backToBack(() => rdmaBurst(nativePair, 8, 1)), baseline: BACK_TO_BACK_TCP, selfTimed: true, unavailable: nativeMissing },
    { name: BACK_TO_BACK.dgram, run: () => backToBack(() => rdmaBurst(dgramPair, 8, 1)), baseline: BACK_TO_BACK_TCP, selfTimed: true },
    { name: BACK_TO_BACK_TCP, alias: 'tcp echo b2b', run: () => backToBack(tcpEcho), selfTimed: true },
  ],
  teardown: async () => {
    if (log) {
      for (const io of ['native', 'dgram'] as const) if (rtt[io].length > 0) log(percentiles(`rdma write 8 B, ${io} I/O, one per round`, rtt[io]));
      if (rtt.tcp.length > 0) log(percentiles('tcp 8 B echo, one per round', rtt.tcp));
      const u = bulkTimes.udp.length > 0 ? quantile(bulkTimes.udp, 0.5) : null;
      for (const io of ['native', 'dgram'] as const) {
        if (bulkTimes[io].length === 0 || u === null) continue;
        const r = quantile(bulkTimes[io], 0.5);
        log(`rdma write 1 MiB over ${io} I/O median ${r.toFixed(2)} ms, plain node:dgram UDP ${u.toFixed(2)} ms: ${(u / r).toFixed(2)}x the dgram ceiling's bandwidth${udpLost > 0 ? ` (UDP lost ${udpLost} datagrams)` : ''}`);
      }
      const nt = nativePair?.client.dev.transport as NativeUdpTransport | undefined;
      if (nt?.ioStats) log(`native I/O, client side: ${nt.stats.sent} packets in ${nt.ioStats.sendCalls} sendmmsg calls, ${nt.stats.received} received in ${nt.ioStats.recvBatches} recvmmsg batches, socket full ${nt.ioStats.blocked} times; buffers ${JSON.stringify(nt.socketBuffers)}`);
      // UDP GRO: how many receives the datagrams took (one per datagram without it).
      for (const [side, t] of [['client', nt], ['server', nativePair?.server.dev.transport as NativeUdpTransport | undefined]] as const) {
        if (t?.rxStats) {
          const r = t.rxStats;
          log(`native I/O, ${side} side: UDP GRO ${t.gro ? 'on' : 'off'}, ${r.packets} datagrams in ${r.messages} receives (${r.coalesced} of them coalesced)`);
        }
      }
      const ns = nativePair?.server.dev.transport as NativeUdpTransport | undefined;
      if (ns?.ioStats) log(`native I/O, server side: ${ns.stats.received} packets received, ${ns.ioStats.placed} of them placed by the addon (direct data placement); flows (source port -> port used) ${JSON.stringify(ns.flows)}`);
    }
    const goal = GOAL_IO === 'native' ? nativePair : dgramPair;
    if (log && goal && bulk) {
      const loop = { rdma: [] as number[], tcp: [] as number[] };
      for (let block = 0; block < 20; block++) {
        for (let i = 0; i < 100; i++) await timed(loop.rdma, () => rdmaBurst(goal, 8, 1));
        for (let i = 0; i < 100; i++) await timed(loop.tcp, tcpEcho);
      }
      log(percentiles(`rdma write 8 B, ${GOAL_IO} I/O, back to back`, loop.rdma));
      log(percentiles('tcp 8 B echo, back to back', loop.tcp));
    }
    udpTx?.close();
    udpRx?.close();
    bulk?.destroy();
    echo?.destroy();
    await new Promise<void>((r) => (tcpServer ? tcpServer.close(() => r()) : r()));
    for (const p of [nativePair, dgramPair]) {
      await p?.client.dev.close();
      await p?.server.dev.close();
    }
    nativePair = dgramPair = client = null;
  },
};
