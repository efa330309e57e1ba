/**
 * `numaplan rdma perf <test>`: perftest's ib_write_bw, ib_read_bw, ib_send_bw, ib_atomic_bw and
 * ib_write_lat (RC, non-duplex, the Ethernet data exchange), both roles, so either end can be the
 * real tool: the exchange of perftest-wire.ts in the order each of those programs runs it, the
 * same buffer layout and iteration semantics, and the same report lines.
 *
 * Buffers: per QP, a send half and a receive half of max(message size, page size) bytes each; the
 * address a side advertises is its receive half, where the peer's WRITEs, READs and atomics go.
 *
 * Bandwidth tests: the client keeps up to `txDepth` operations in flight per QP until `iters` per
 * QP completed (or, with -D, for the duration: a margin, the sample, a margin); it reports the
 * message size, iterations, peak bandwidth (perftest's best window, cq_mod operations wide; off
 * with -N, with -D, and beyond 20,000 iterations), average bandwidth (MB = 2^20 bytes per second,
 * or Gb/s with --report_gbits) and message rate (Mpps) over the first post to the last completion.
 * The server of WRITE, READ and atomic tests is passive and prints the client's report; the SEND
 * server keeps `rxDepth` receives posted per QP and reports its own receive side.
 *
 * Latency test (WRITE): both sides alternate, each writing `size` bytes whose last byte is its
 * iteration count (mod 256) into the peer's receive half and waiting for the peer's count to appear
 * in its own; a side's samples are the times between its consecutive posts, halved (ib_write_lat
 * reports half the round trip), the two largest dropped: minimum, maximum, median ("typical"),
 * average, standard deviation, 99% and 99.9%.
 */
import { createHash, randomInt } from 'node:crypto';
import { RdmaError } from '../errors.js';
import type { PacketTransport } from '../transport/transport.js';
import { type UdpIo, openUdpTransport } from '../transport/udp.js';
import { bringUp } from '../verbs/connect.js';
import type { CompletionQueue } from '../verbs/cq.js';
import { RdmaDevice } from '../verbs/device.js';
import { describeFault } from '../verbs/responder.js';
import type { MemoryRegion } from '../verbs/mr.js';
import type { QueuePair } from '../verbs/qp.js';
import { ACCESS, type PathMtu, type SendWr, type WorkCompletion } from '../verbs/types.js';
import { formatIp, parseIp } from '../wire/ip-address.js';
import { addressOfGid, cformat, gidOfAddress, gidText } from './cformat.js';
import { type BwReport, type PerftestDest, PerftestWire, mtuEnum } from './perftest-wire.js';
import { type MessageSocket, connectTcp, listenTcp } from './tcp.js';

/** The perftest programs numaplan plays. */
export const PERFTEST_TESTS = ['write_bw', 'read_bw', 'send_bw', 'atomic_bw', 'write_lat'] as const;
export type PerftestTest = (typeof PERFTEST_TESTS)[number];

/** What to run (perftest's flags; see the CLI for their letters). */
export interface PerftestOptions {
  test: PerftestTest;
  /** The server to connect to; absent: be the server. */
  server?: string;
  /** TCP port of the exchange (-p, default 18515). */
  tcpPort?: number;
  /** Message size (-s; default 65536 for bandwidth, 2 for latency, 8 for atomics). */
  size?: number;
  /** Iterations (-n; default 5000 for ib_write_bw, 1000 otherwise). */
  iters?: number;
  /** Run for this many seconds instead (-D), with a margin (-f, default a quarter) on each side of the sample. */
  duration?: number;
  margin?: number;
  /** Every size from 2 to 2^23 bytes (-a). */
  all?: boolean;
  /** QPs (-q, bandwidth tests). */
  qps?: number;
  /** Operations in flight per QP (-t; default 128 for bandwidth, 1 for latency). */
  txDepth?: number;
  /** Receives kept posted per QP by the SEND server (-r, default 512). */
  rxDepth?: number;
  /** Path MTU (-m, default 1024; the smaller of the two sides' is used). */
  mtu?: PathMtu;
  /** Outstanding READs/atomics this side accepts (-o, default 16). */
  outReads?: number;
  /** Completions counted per peak-bandwidth window (-Q, default 100). */
  cqMod?: number;
  /** No peak bandwidth (-N). */
  noPeak?: boolean;
  /** Gb/s instead of MB/s (--report_gbits). */
  reportGbits?: boolean;
  /** ib_atomic_bw -A. */
  atomicType?: 'FETCH_AND_ADD' | 'CMP_AND_SWAP';
  /** Printed as the device (-d; numaplan has no RDMA device of its own). */
  ibDev?: string;
  /** Printed when given (-x). */
  gidIndex?: number;
  /** Local RoCE address (default: the address the TCP connection uses). */
  local?: string;
  rocePort?: number;
  peerRocePort?: number;
  io?: UdpIo;
  /** Output, as perftest prints it. */
  out?: (text: string) => void;
}

/** Results of one size (bandwidth) or one latency run. */
export type PerftestRow =
  | ({ kind: 'bw' } & BwReport)
  | { kind: 'lat'; size: number; iters: number; tMin: number; tMax: number; tTypical: number; tAvg: number; tStdev: number; p99: number; p999: number }
  | { kind: 'lat-duration'; size: number; iters: number; tAvg: number; tps: number };

/** What a run measured and exchanged. */
export interface PerftestResult {
  test: PerftestTest;
  role: 'server' | 'client';
  mtu: number;
  rows: PerftestRow[];
  /** Server of WRITE/READ/atomics: the client's report it received. */
  peerReport?: BwReport;
  local: PerftestDest[];
  remote: PerftestDest[];
  remoteVersion: string;
  /**
   * SHA-256 of the first message's bytes of this side's send half and receive half at the end of
   * the run (numaplan fills its send halves with a pattern; perftest does not check data, so these
   * let a test compare what one side sent with what the other holds).
   */
  digests: { send: string; receive: string; sendHead: string; receiveHead: string };
  /** What this side's queue pairs did to recover (summed over its QPs): go-backs, timer expiries, NAKs received. */
  recovery: Recovery;
  io?: string;
  notice?: string;
}

/** Recovery counters of a run's queue pairs. */
export interface Recovery {
  retransmits: number;
  timeouts: number;
  seqNaks: number;
  rnrNaks: number;
}

/** The recovery counters of queue pairs, summed. */
export function recoveryOf(qps: readonly QueuePair[]): Recovery {
  const r: Recovery = { retransmits: 0, timeouts: 0, seqNaks: 0, rnrNaks: 0 };
  for (const q of qps) for (const k of Object.keys(r) as (keyof Recovery)[]) r[k] += q.counters[k];
  return r;
}

export const RESULT_LINE = '---------------------------------------------------------------------------------------\n';
const RESULT_FMT = ' #bytes     #iterations    BW peak[MB/sec]    BW average[MB/sec]   MsgRate[Mpps]\n';
const RESULT_FMT_G = ' #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]\n';
const RESULT_FMT_LAT = ' #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] \n';
const RESULT_FMT_LAT_DUR = ' #bytes        #iterations       t_avg[usec]    tps average\n';
const REPORT_FMT = ' %-7lu    %-10lu       %-7.2lf            %-7.2lf\t\t   %-7.6lf\n';
const REPORT_FMT_EXT = ' %-7lu    %lu           %-7.6lf            %-7.6lf            %-7.6lf\n';
const REPORT_FMT_LAT = ' %-7lu %lu          %-7.2f        %-7.2f      %-7.2f  \t       %-7.2f     \t%-7.2f\t\t%-7.2f \t\t%-7.2f\n';
const REPORT_FMT_LAT_DUR = ' %-7lu       %lu            %-7.2f        %-7.2f\n';

/** The report line of a bandwidth row. */
export function bwLine(r: BwReport, gbits: boolean): string {
  const inc = gbits && r.bwAvg < 0.1;
  return cformat(inc ? REPORT_FMT_EXT : REPORT_FMT, r.size, r.iters, r.bwPeak, r.bwAvg, r.msgRateAvg);
}

const VERB = { write_bw: 'RDMA_Write', read_bw: 'RDMA_Read', send_bw: 'Send', atomic_bw: 'Atomic', write_lat: 'RDMA_Write' } as const;
const MAX_SIZE = 1 << 23;
const PAGE = 4096;
const CACHE_LINE = 64;
const ALL = ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE | ACCESS.REMOTE_READ | ACCESS.REMOTE_ATOMIC;

interface Ctx {
  o: Required<Pick<PerftestOptions, 'test' | 'tcpPort' | 'size' | 'iters' | 'qps' | 'txDepth' | 'rxDepth' | 'outReads' | 'cqMod' | 'noPeak' | 'reportGbits' | 'atomicType'>> & PerftestOptions;
  client: boolean;
  out: (s: string) => void;
  wire: PerftestWire;
  transport: PacketTransport;
  dev: RdmaDevice;
  qps: QueuePair[];
  cq: CompletionQueue;
  rcq: CompletionQueue;
  buf: Buffer;
  mr: MemoryRegion;
  /** Bytes of each half (send, receive) of a QP's buffer. */
  half: number;
  mtu: PathMtu;
  mine: PerftestDest[];
  rem: PerftestDest[];
  bw: boolean;
}

function defaults(o: PerftestOptions): Ctx['o'] {
  const bw = o.test !== 'write_lat';
  const size = o.test === 'atomic_bw' ? 8 : (o.size ?? (bw ? 65536 : 2));
  if (o.test === 'atomic_bw' && o.size !== undefined && o.size !== 8) throw new RdmaError('size', 'atomics move 8 bytes (perftest refuses other sizes too)', 'ERR_RDMA_USAGE');
  if (!Number.isInteger(size) || size < 1 || size > MAX_SIZE) throw new RdmaError('size', `must be 1 to ${MAX_SIZE} bytes, got ${size}`, 'ERR_RDMA_USAGE');
  const iters = o.iters ?? (o.test === 'write_bw' ? 5000 : 1000);
  if (!Number.isInteger(iters) || iters < 5) throw new RdmaError('iters', `must be at least 5, got ${iters}`, 'ERR_RDMA_USAGE');
  const qps = o.qps ?? 1;
  if (!bw && qps !== 1) throw new RdmaError('qp', 'multiple QPs only in bandwidth tests (as perftest)', 'ERR_RDMA_USAGE');
  if (!Number.isInteger(qps) || qps < 1 || qps > 64) throw new RdmaError('qp', `must be 1 to 64, got ${qps}`, 'ERR_RDMA_USAGE');
  if (o.duration !== undefined && (!Number.isInteger(o.duration) || o.duration < 1)) throw new RdmaError('duration', `must be a positive number of seconds, got ${o.duration}`, 'ERR_RDMA_USAGE');
  if (o.duration !== undefined && o.all) throw new RdmaError('duration', '-D and -a do not go together', 'ERR_RDMA_USAGE');
  return {
    ...o,
    test: o.test,
    tcpPort: o.tcpPort ?? 18515,
    size,
    iters,
    qps,
    txDepth: o.txDepth ?? (bw ? 128 : 1),
    rxDepth: o.rxDepth ?? 512,
    outReads: o.outReads ?? 16,
    cqMod: o.cqMod ?? 100,
    noPeak: o.noPeak === true || o.duration !== undefined || (o.iters ?? 0) > 20000,
    reportGbits: o.reportGbits === true,
    atomicType: o.atomicType ?? 'FETCH_AND_ADD',
  };
}

/** Runs one side of a perftest test. */
export async function runPerftest(opts: PerftestOptions): Promise<PerftestResult> {
  const o = defaults(opts);
  const out = o.out ?? (() => {});
  const client = o.server !== undefined;
  let listener: Awaited<ReturnType<typeof listenTcp>> | null = null;
  if (!client) {
    listener = await listenTcp(o.tcpPort);
    out(`\n************************************\n* Waiting for client to connect... *\n************************************\n`);
  }
  let sock: MessageSocket | null = null;
  let transport: PacketTransport | null = null;
  let ctx: Ctx | null = null;
  try {
    sock = client ? await connectTcp(o.server as string, o.tcpPort) : await (listener as NonNullable<typeof listener>).accept();
    await listener?.close();
    listener = null;
    const wire = new PerftestWire(sock, client);
    const remoteVersion = await wire.versions();
    await wire.sysData(PAGE, CACHE_LINE);
    const want = o.mtu ?? 1024;
    const mtu = (2 ** ((await wire.mtu(mtuEnum(want))) + 7)) as PathMtu;
    const local = o.local ?? sock.localAddress;
    const localBytes = parseIp(local);
    if (!localBytes) throw new RdmaError('local', `not an IP address: ${local}`, 'ERR_RDMA_USAGE');
    transport = await openUdpTransport({ address: local, port: o.rocePort ?? 4791, ...(o.io ? { io: o.io } : {}) });
    ctx = build(o, client, out, wire, transport, mtu, localBytes);
    const rows: PerftestRow[] = [];
    printTestInfo(ctx);
    let peerReport: BwReport | undefined;
    if (o.test === 'send_bw') await sendBw(ctx, rows);
    else if (o.test === 'write_lat') await writeLat(ctx, rows);
    else peerReport = await rdmaBw(ctx, rows);
    const result: PerftestResult = {
      test: o.test,
      role: client ? 'client' : 'server',
      mtu,
      rows,
      ...(peerReport ? { peerReport } : {}),
      local: ctx.mine,
      remote: ctx.rem,
      remoteVersion,
      digests: digests(ctx),
      recovery: recoveryOf(ctx.qps),
      ...(transport.io ? { io: transport.io } : {}),
      ...(transport.notice ? { notice: transport.notice } : {}),
    };
    // The last ACKs leave before the QPs go away.
    await new Promise((r) => setTimeout(r, 20));
    await ctx.dev.close();
    transport = null;
    return result;
  } catch (err) {
    // A QP the responder moved to ERROR explains what follows (the peer's tool gives up and closes
    // the exchange): name the request it refused and why.
    const faults = (ctx?.qps ?? []).flatMap((q) => (q.responder.fault ? [`qp 0x${q.qpNum.toString(16)}: ${describeFault(q.responder.fault)}`] : []));
    if (faults.length > 0 && err instanceof RdmaError) throw new RdmaError(err.path, `${err.reason} (${faults.join('; ')})`, err.code);
    throw err;
  } finally {
    sock?.close();
    await listener?.close();
    await transport?.close();
  }
}

function digests(c: Ctx): PerftestResult['digests'] {
  const n = c.o.all ? MAX_SIZE : c.o.size;
  const h = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const r = c.o.qps * c.half;
  return { send: h(c.buf.subarray(0, n)), receive: h(c.buf.subarray(r, r + n)), sendHead: c.buf.toString('hex', 0, 8), receiveHead: c.buf.toString('hex', r, r + 8) };
}

function build(o: Ctx['o'], client: boolean, out: (s: string) => void, wire: PerftestWire, transport: PacketTransport, mtu: PathMtu, localBytes: Buffer): Ctx {
  const dev = new RdmaDevice(transport);
  const pd = dev.allocPd();
  const cq = dev.createCq();
  const rcq = dev.createCq();
  const half = Math.max(o.all ? MAX_SIZE : o.size, PAGE);
  const buf = Buffer.alloc(2 * o.qps * half);
  // Both halves carry a pattern that differs between the two sides and halves (a test can tell whose
  // bytes arrived): random, but odd on the client and even on the server, so the sides never match.
  const seed = 2 * randomInt(0, 128) + (client ? 1 : 0);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 7 + seed + (i >= o.qps * half ? 101 : 0)) & 0xff;
  const mr = pd.regMr(buf, ALL);
  const bw = o.test !== 'write_lat';
  const qps: QueuePair[] = [];
  const mine: PerftestDest[] = [];
  for (let i = 0; i < o.qps; i++) {
    const qp = dev.createQp(pd, { sendCq: cq, recvCq: rcq, maxSendWr: Math.max(o.txDepth * 2, 64), maxRecvWr: Math.max(o.rxDepth, 16), maxWindow: 1024 });
    qp.modify({ state: 'init', accessFlags: ALL });
    qps.push(qp);
    mine.push({ lid: 0, outReads: o.outReads, qpn: qp.qpNum, psn: randomInt(0, 0x1000000), rkey: mr.rkey, vaddr: BigInt(mr.addr + (o.qps + i) * half), gid: gidOfAddress(localBytes), srqn: 0 });
  }
  return { o, client, out, wire, transport, dev, qps, cq, rcq, buf, mr, half, mtu, mine, rem: [], bw };
}

/** Brings every QP to RTS towards the peer's keys (ctx_connect). */
function connect(c: Ctx): void {
  const localLen = (parseIp(c.transport.local.address) as Buffer).length;
  c.qps.forEach((qp, i) => {
    const d = c.rem[i] as PerftestDest;
    const peer = addressOfGid(d.gid);
    if (peer.length !== localLen) throw new RdmaError('exchange', `the peer's GID ${gidText(d.gid)} is not of the family of ${c.transport.local.address} (perftest: "Found Incompatibility issue with GID types")`, 'ERR_RDMA_EXCHANGE');
    bringUp(qp, (c.mine[i] as PerftestDest).psn, { qpn: d.qpn, psn: d.psn, address: formatIp(peer), port: c.o.peerRocePort ?? 4791 }, {
      pathMtu: c.mtu,
      accessFlags: ALL,
      maxRdAtomic: Math.max(1, Math.min(d.outReads, 16)),
      minRnrTimer: 12,
      timeout: 14,
      retryCnt: 7,
      rnrRetry: 7,
    });
  });
}

function printTestInfo(c: Ctx): void {
  const o = c.o;
  let t = `${RESULT_LINE}                    ${VERB[o.test]} `;
  if (o.test === 'atomic_bw') t += `${o.atomicType} `;
  t += c.bw ? 'BW ' : 'Latency ';
  t += 'Test\n';
  t += ` Dual-port       : OFF\t\tDevice         : ${o.ibDev ?? 'numaplan'}\n`;
  t += ` Number of qps   : ${o.qps}\t\tTransport type : IB\n`;
  t += ' Connection type : RC\t\tUsing SRQ      : OFF\n';
  t += ' PCIe relax order: Unsupported\n';
  t += ' ibv_wr* API     : OFF\n';
  if (c.client) t += ` TX depth        : ${o.txDepth}\n`;
  if (o.test === 'send_bw' && !c.client) t += ` RX depth        : ${o.rxDepth}\n`;
  if (c.bw) t += ` CQ Moderation   : ${o.cqMod}\n`;
  t += ` Mtu             : ${c.mtu}[B]\n`;
  t += ' Link type       : Ethernet\n';
  if (o.gidIndex !== undefined) t += ` GID index       : ${o.gidIndex}\n`;
  t += o.test === 'read_bw' || o.test === 'atomic_bw' ? ` Outstand reads  : ${o.outReads}\n` : ' Max inline data : 0[B]\n';
  t += ' rdma_cm QPs\t : OFF\n';
  t += ' Data ex. method : Ethernet\n';
  t += RESULT_LINE;
  c.out(t);
}

/** ctx_print_pingpong_data. */
function printDest(c: Ctx, d: PerftestDest, side: 'local' | 'remote'): void {
  let t = cformat(' %s address: LID %#04x QPN %#06x PSN %#06x', side, d.lid, d.qpn, d.psn);
  if (c.o.test === 'read_bw') t += cformat(' OUT %#04x', d.outReads);
  if (c.o.test === 'read_bw' || c.o.test === 'write_bw' || c.o.test === 'write_lat') t += cformat(' RKey %#08x VAddr %#016llx', d.rkey, d.vaddr);
  t += '\n';
  t += cformat(' GID: %02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d:%02d\n', ...d.gid);
  c.out(t);
}

/** Key exchanges for every QP (filling c.rem), then RTS. */
async function keysAll(c: Ctx, printRemote: boolean): Promise<void> {
  for (let i = 0; i < c.qps.length; i++) {
    c.rem[i] = await c.wire.keys(c.mine[i] as PerftestDest);
    if (printRemote) printDest(c, c.rem[i] as PerftestDest, 'remote');
  }
}

function sizes(c: Ctx): number[] {
  if (!c.o.all) return [c.o.size];
  if (c.o.test === 'atomic_bw') return [8];
  return Array.from({ length: 23 }, (_, i) => 2 ** (i + 1));
}

/** ib_write_bw, ib_read_bw, ib_atomic_bw: the client runs, the server waits and prints the client's report. */
async function rdmaBw(c: Ctx, rows: PerftestRow[]): Promise<BwReport | undefined> {
  await keysAll(c, false);
  connect(c);
  for (const d of c.mine) printDest(c, d, 'local');
  await keysAll(c, true);
  await c.wire.keys(c.mine[0] as PerftestDest);
  c.out(RESULT_LINE + (c.o.reportGbits ? RESULT_FMT_G : RESULT_FMT));
  const zero: BwReport = { size: 0, iters: 0, bwPeak: 0, bwAvg: 0, msgRateAvg: 0 };
  if (!c.client) {
    // The client tells when it is done (a key exchange), then sends its report, which the server prints.
    await c.wire.keys(c.mine[0] as PerftestDest);
    const theirs = await c.wire.bwReport(zero);
    c.out(bwLine(theirs, c.o.reportGbits));
    await c.wire.close(c.mine[0] as PerftestDest);
    c.out(RESULT_LINE);
    return theirs;
  }
  let last = zero;
  for (const size of sizes(c)) {
    last = await runBwClient(c, size);
    rows.push({ kind: 'bw', ...last });
    c.out(bwLine(last, c.o.reportGbits));
  }
  c.out(RESULT_LINE);
  await c.wire.keys(c.mine[0] as PerftestDest);
  await c.wire.bwReport(last);
  await c.wire.close(c.mine[0] as PerftestDest);
  return undefined;
}

/** ib_send_bw: both sides run (the server receiving) and print their own report. */
async function sendBw(c: Ctx, rows: PerftestRow[]): Promise<void> {
  await keysAll(c, false);
  connect(c);
  await c.wire.keys(c.mine[0] as PerftestDest);
  for (const d of c.mine) printDest(c, d, 'local');
  await keysAll(c, true);
  c.out(RESULT_LINE + (c.o.reportGbits ? RESULT_FMT_G : RESULT_FMT));
  for (const size of sizes(c)) {
    let stop: (() => Promise<BwReport>) | null = null;
    if (!c.client) stop = startRecv(c, size);
    await c.wire.keys(c.mine[0] as PerftestDest);
    const r = c.client ? await runBwClient(c, size) : await (stop as () => Promise<BwReport>)();
    rows.push({ kind: 'bw', ...r });
    c.out(bwLine(r, c.o.reportGbits));
    if (c.o.all) await c.wire.keys(c.mine[0] as PerftestDest);
  }
  c.out(RESULT_LINE);
  await c.wire.close(c.mine[0] as PerftestDest);
}

/** ib_write_lat: both sides ping-pong and print their own latency report. */
async function writeLat(c: Ctx, rows: PerftestRow[]): Promise<void> {
  await c.wire.keys(c.mine[0] as PerftestDest);
  await keysAll(c, false);
  connect(c);
  for (const d of c.mine) printDest(c, d, 'local');
  await keysAll(c, true);
  await c.wire.keys(c.mine[0] as PerftestDest);
  c.out(RESULT_LINE + (c.o.duration === undefined ? RESULT_FMT_LAT : RESULT_FMT_LAT_DUR));
  for (const size of sizes(c)) {
    const row = await runWriteLat(c, size);
    rows.push(row);
    c.out(
      row.kind === 'lat'
        ? cformat(REPORT_FMT_LAT, row.size, row.iters, row.tMin, row.tMax, row.tTypical, row.tAvg, row.tStdev, row.p99, row.p999)
        : row.kind === 'lat-duration'
          ? cformat(REPORT_FMT_LAT_DUR, row.size, row.iters, row.tAvg, row.tps)
          : '',
    );
  }
  c.out(RESULT_LINE);
}

/** perftest's duration states: a margin, the sample, a margin. */
class Duration {
  state: 'start' | 'sample' | 'stop' | 'end' = 'start';
  sampleStart = 0;
  sampleEnd = 0;
  private timer: NodeJS.Timeout | null = null;
  constructor(seconds: number, marginOpt: number | undefined) {
    const margin = marginOpt ?? Math.floor(seconds / 4);
    const sample = () => {
      this.state = 'sample';
      this.sampleStart = performance.now();
      this.timer = setTimeout(stop, (seconds - 2 * margin) * 1000);
    };
    const stop = () => {
      this.state = 'stop';
      this.sampleEnd = performance.now();
      this.timer = setTimeout(() => (this.state = 'end'), margin * 1000);
    };
    if (margin > 0) this.timer = setTimeout(sample, margin * 1000);
    else sample();
  }
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

function workRequest(c: Ctx, qpIndex: number, size: number, id: number): SendWr {
  const sg = [{ addr: c.mr.addr + qpIndex * c.half, length: size, lkey: c.mr.lkey }];
  const d = c.rem[qpIndex] as PerftestDest;
  const remoteAddr = d.vaddr;
  switch (c.o.test) {
    case 'write_bw':
    case 'write_lat':
      return { wrId: id, opcode: 'rdma-write', sgList: sg, remoteAddr, rkey: d.rkey };
    case 'read_bw':
      return { wrId: id, opcode: 'rdma-read', sgList: sg, remoteAddr, rkey: d.rkey };
    case 'atomic_bw':
      return c.o.atomicType === 'CMP_AND_SWAP'
        ? { wrId: id, opcode: 'compare-swap', compare: 0n, swap: 1n, sgList: sg, remoteAddr, rkey: d.rkey }
        : { wrId: id, opcode: 'fetch-add', add: 1n, sgList: sg, remoteAddr, rkey: d.rkey };
    default:
      return { wrId: id, opcode: 'send', sgList: sg };
  }
}

function check(wc: WorkCompletion): void {
  if (wc.status !== 'success') throw new RdmaError(`wr ${String(wc.wrId)}`, `completion with error: ${wc.status}`, 'ERR_RDMA_PERF');
}

/** The client's bandwidth run (run_iter_bw) and its report (print_report_bw). */
async function runBwClient(c: Ctx, size: number): Promise<BwReport> {
  const o = c.o;
  const nq = c.qps.length;
  const dur = o.duration !== undefined ? new Duration(o.duration, o.margin) : null;
  const total = dur ? Number.POSITIVE_INFINITY : o.iters * nq;
  const tposted: number[] = [];
  const tcompleted: number[] = [];
  const posted = new Array<number>(nq).fill(0);
  const completed = new Array<number>(nq).fill(0);
  let done = 0;
  let sampled = 0;
  let id = 0;
  try {
    while (dur ? dur.state !== 'end' : done < total) {
      for (let q = 0; q < nq; q++) {
        const qp = c.qps[q] as QueuePair;
        while ((posted[q] as number) - (completed[q] as number) < o.txDepth && (dur !== null || (posted[q] as number) < o.iters)) {
          if (!dur) tposted.push(performance.now());
          qp.postSend(workRequest(c, q, size, q * 0x100000000 + id++));
          posted[q] = (posted[q] as number) + 1;
        }
      }
      await c.cq.wait();
      const now = performance.now();
      for (const wc of c.cq.poll(1024)) {
        check(wc);
        const q = Math.floor(Number(wc.wrId) / 0x100000000);
        completed[q] = (completed[q] as number) + 1;
        done++;
        if (dur) {
          if (dur.state === 'sample') sampled++;
        } else tcompleted.push(now);
      }
    }
  } finally {
    dur?.cancel();
  }
  const factor = o.reportGbits ? 125000000 : 0x100000;
  if (dur) {
    const secs = (dur.sampleEnd - dur.sampleStart) / 1000;
    return { size, iters: sampled, bwPeak: 0, bwAvg: (size * sampled) / secs / factor, msgRateAvg: sampled / secs / 1e6 };
  }
  const n = tposted.length;
  const secs = ((tcompleted[n - 1] as number) - (tposted[0] as number)) / 1000;
  let peak = 0;
  if (!o.noPeak) {
    // perftest's peak: the fastest window from a post to a completion cq_mod-aligned after it.
    let best = (tcompleted[0] as number) - (tposted[0] as number);
    for (let i = 0; i < n; i++) {
      for (let j = Math.ceil((i + 1) / o.cqMod) * o.cqMod - 1; j < n; j += o.cqMod) {
        const t = ((tcompleted[j] as number) - (tposted[i] as number)) / (j - i + 1);
        if (t < best) best = t;
      }
      if (n % o.cqMod) {
        const t = ((tcompleted[n - 1] as number) - (tposted[i] as number)) / (n - i);
        if (t < best) best = t;
      }
    }
    peak = best > 0 ? size / (best / 1000) / factor : 0;
  }
  return { size, iters: n, bwPeak: peak, bwAvg: (size * n) / secs / factor, msgRateAvg: n / secs / 1e6 };
}

/**
 * The SEND server: `rxDepth` receives of `size` bytes posted per QP now (before the handshake that
 * lets the client start); the returned function waits for the client's messages (iters per QP, or
 * the duration) and reports them (run_iter_bw_server: first receive to last, no peak).
 */
function startRecv(c: Ctx, size: number): () => Promise<BwReport> {
  const o = c.o;
  const nq = c.qps.length;
  const post = (q: number) =>
    (c.qps[q] as QueuePair).postRecv({ wrId: q, sgList: [{ addr: c.mr.addr + (nq + q) * c.half, length: size, lkey: c.mr.lkey }] });
  const postedPer = new Array<number>(nq).fill(0);
  for (let q = 0; q < nq; q++) {
    const n = o.duration !== undefined ? o.rxDepth : Math.min(o.rxDepth, o.iters);
    for (let k = 0; k < n; k++) post(q);
    postedPer[q] = n;
  }
  return async () => {
    const dur = o.duration !== undefined ? new Duration(o.duration, o.margin) : null;
    const total = o.iters * nq;
    let rcnt = 0;
    let sampled = 0;
    let first = 0;
    let last = 0;
    try {
      while (dur ? dur.state !== 'end' : rcnt < total) {
        await c.rcq.wait();
        const now = performance.now();
        for (const wc of c.rcq.poll(1024)) {
          check(wc);
          if (rcnt === 0) first = now;
          rcnt++;
          last = now;
          if (dur?.state === 'sample') sampled++;
          const q = Number(wc.wrId);
          if (dur || (postedPer[q] as number) < o.iters) {
            post(q);
            postedPer[q] = (postedPer[q] as number) + 1;
          }
        }
      }
    } finally {
      dur?.cancel();
    }
    const factor = o.reportGbits ? 125000000 : 0x100000;
    if (dur) {
      const secs = (dur.sampleEnd - dur.sampleStart) / 1000;
      return { size, iters: sampled, bwPeak: 0, bwAvg: (size * sampled) / secs / factor, msgRateAvg: sampled / secs / 1e6 };
    }
    const secs = Math.max(last - first, 1e-6) / 1000;
    return { size, iters: rcnt, bwPeak: 0, bwAvg: (size * rcnt) / secs / factor, msgRateAvg: rcnt / secs / 1e6 };
  };
}

/** Waits until byte `at` of the buffer holds `value` (the peer's WRITE landed), or the duration ends. */
async function waitByte(c: Ctx, at: number, value: number, dur: Duration | null): Promise<void> {
  while (c.buf[at] !== value && dur?.state !== 'end') {
    // Checked after every packet the device handles (no spinning); a timeout keeps -D's end in view.
    await (dur ? Promise.race([c.dev.nextPacket(), new Promise((r) => setTimeout(r, 10))]) : c.dev.nextPacket());
  }
}

/** ib_write_lat's ping-pong (run_iter_lat_write) and its report (print_report_lat). */
async function runWriteLat(c: Ctx, size: number): Promise<PerftestRow> {
  const o = c.o;
  const qp = c.qps[0] as QueuePair;
  const postAt = size - 1;
  const pollAt = c.half + size - 1;
  const dur = o.duration !== undefined ? new Duration(o.duration, o.margin) : null;
  const iters = dur ? Number.POSITIVE_INFINITY : o.iters;
  const tposted: number[] = [];
  let scnt = 0;
  let ccnt = 0;
  let rcnt = 0;
  let sampled = 0;
  // Each size starts from a clean receive half (the counts restart at 1).
  c.buf.fill(0, c.half, c.half + Math.max(size, 1));
  c.buf.fill(0, 0, size);
  try {
    while (dur ? dur.state !== 'end' : scnt < iters || ccnt < iters || rcnt < iters) {
      if ((dur || rcnt < iters) && !(scnt < 1 && !c.client)) {
        rcnt++;
        await waitByte(c, pollAt, rcnt & 0xff, dur);
      }
      if (dur || scnt < iters) {
        if (!dur) tposted.push(performance.now());
        c.buf[postAt] = ++scnt & 0xff;
        qp.postSend(workRequest(c, 0, size, scnt));
      }
      if (dur?.state === 'end') break;
      if (dur || ccnt < iters) {
        while (c.cq.length === 0) await c.cq.wait();
        check(c.cq.poll(1)[0] as WorkCompletion);
        ccnt++;
        if (dur?.state === 'sample') sampled++;
      }
    }
  } finally {
    dur?.cancel();
  }
  if (dur) {
    const usec = (dur.sampleEnd - dur.sampleStart) * 1000;
    return { kind: 'lat-duration', size, iters: sampled, tAvg: usec / 2 / sampled, tps: sampled / (usec / 1e6) };
  }
  return { kind: 'lat', size, iters: o.iters, ...latencyStats(tposted, 2) };
}

/** print_report_lat over post times in milliseconds: deltas between posts, / rttFactor, in microseconds. */
export function latencyStats(tpostedMs: readonly number[], rttFactor: number): { tMin: number; tMax: number; tTypical: number; tAvg: number; tStdev: number; p99: number; p999: number } {
  const delta: number[] = [];
  for (let i = 0; i + 1 < tpostedMs.length; i++) delta.push(((tpostedMs[i + 1] as number) - (tpostedMs[i] as number)) * 1000);
  delta.sort((a, b) => a - b);
  const cnt = Math.max(1, delta.length - 2);
  const at = (i: number) => (delta[Math.min(i, delta.length - 1)] ?? 0) / rttFactor;
  const median = (cnt - 1) % 2 ? ((delta[cnt / 2] ?? 0) + (delta[cnt / 2 - 1] ?? 0)) / 2 : (delta[Math.floor(cnt / 2)] ?? 0);
  let sum = 0;
  for (let i = 0; i < cnt; i++) sum += at(i);
  const avg = sum / cnt;
  // perftest squares integer-truncated differences.
  let var2 = 0;
  for (let i = 0; i < cnt; i++) {
    const d = Math.trunc(avg - at(i));
    var2 += Math.trunc(d * d);
  }
  return { tMin: at(0), tMax: at(cnt), tTypical: median / rttFactor, tAvg: avg, tStdev: Math.sqrt(var2 / cnt), p99: at(Math.ceil(cnt * 0.99)), p999: at(Math.ceil(cnt * 0.999)) };
}
