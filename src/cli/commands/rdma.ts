/** `numaplan rdma`: the software RoCE v2 endpoint's tools (decode captures, perftest-like runs). */
import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { decodeCapture } from '../../rdma/decode-capture.js';
import { RdmaError } from '../../rdma/errors.js';
import { decodedToJson } from '../../rdma/packet-json.js';
import { type PerfOp, type PerfOptions, type PerfResult, perfLocal } from '../../rdma/perf.js';
import { gidText } from '../../rdma/tools/cformat.js';
import { PERFTEST_TESTS, type PerftestOptions, type PerftestTest, runPerftest } from '../../rdma/tools/perftest.js';
import type { PerftestDest } from '../../rdma/tools/perftest-wire.js';
import { type PingpongOptions, runPingpong } from '../../rdma/tools/pingpong.js';
import type { UdpIo } from '../../rdma/transport/udp.js';
import type { PathMtu } from '../../rdma/verbs/types.js';
import { type Io, writeJson } from '../io.js';
import { table } from '../render/table.js';

interface DecodeOptions {
  json?: boolean;
  port: string;
}

/** Registers `numaplan rdma ...`. */
export function registerRdma(program: Command, io: Io): void {
  const rdma = program
    .command('rdma')
    .description("software RoCE v2: decode captures, perftest's tests, ibv_rc_pingpong")
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  numaplan rdma decode capture.pcapng --json            # every RoCE v2 packet, ICRC checked',
        '  numaplan rdma perf write_bw 169.254.7.1 --local fd00::2 -s 65536 -n 200',
        '  numaplan rdma pingpong 169.254.7.1                   # the client of ibv_rc_pingpong',
        "  numaplan rdma perf --help                            # every test and perftest's options",
      ].join('\n'),
    );

  rdma
    .command('decode')
    .description('decode the RoCE v2 packets of a pcap/pcapng capture and check their ICRCs')
    .argument('<file>', 'a pcap or pcapng file (Ethernet, VLAN, Linux cooked SLL/SLL2 or raw IP)')
    .option('--json', 'JSON Lines: one object per RoCE packet and line (opcode, destQp, psn, icrcOk, headers)')
    .option('--port <port>', 'UDP destination port of RoCE v2', '4791')
    .addHelpText(
      'after',
      `
Exit code 0 when every ICRC verifies, 1 when some packet is malformed or has a bad ICRC, 2 on bad input.

Examples:
  numaplan rdma decode capture.pcap
  numaplan rdma decode capture.pcapng --json`,
    )
    .action((file: string, opts: DecodeOptions) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RdmaError('--port', `not a UDP port: ${opts.port}`, 'ERR_RDMA_USAGE');
      let bytes: Buffer;
      try {
        bytes = readFileSync(file);
      } catch (e) {
        throw new RdmaError(file, `cannot read: ${(e as Error).message}`, 'ERR_RDMA_INPUT');
      }
      const packets = decodeCapture(bytes, { name: file, port });
      const bad = packets.filter((p) => !p.icrcOk || p.error !== undefined).length;
      if (opts.json) io.out(packets.map((p) => `${JSON.stringify(decodedToJson(p))}\n`).join(''));
      else {
        const rows = packets.map((p) => [
          String(p.frame),
          `${p.src} > ${p.dst}`,
          `${p.opcodeName} (${p.opcode})`,
          `0x${p.destQp.toString(16).padStart(6, '0')}`,
          String(p.psn),
          describe(p),
          p.icrcOk ? 'ok' : 'BAD',
        ]);
        io.out(`${table(['frame', 'addresses', 'opcode', 'dest QP', 'PSN', 'headers', 'ICRC'], rows)}\n`);
        io.out(`${packets.length} RoCE v2 packets, ${packets.length - bad} with a valid ICRC${bad ? `, ${bad} bad` : ''}\n`);
      }
      if (bad > 0) io.setExitCode(1);
    });

  registerPerf(rdma, io);
  registerPingpong(rdma, io);
}

/** perftest's test names, with their ib_ prefix too, and the --op operations they stand for. */
const TEST_ALIASES: Record<string, PerftestTest> = Object.fromEntries(
  PERFTEST_TESTS.flatMap((t) => [
    [t, t],
    [`ib_${t}`, t],
  ]),
);
const OP_TEST: Record<PerfOp, PerftestTest> = { write: 'write_bw', read: 'read_bw', send: 'send_bw', atomic: 'atomic_bw' };

interface PerfCliOptions {
  op?: PerfOp;
  size?: string;
  iters?: string;
  txDepth?: string;
  rxDepth?: string;
  mtu?: string;
  server?: boolean;
  connect?: string;
  local?: string;
  address?: string;
  port: string;
  rocePort?: string;
  udpPort?: string;
  peerRocePort: string;
  io: UdpIo;
  json?: boolean;
  duration?: string;
  margin?: string;
  all?: boolean;
  qp?: string;
  ibDev?: string;
  ibPort?: string;
  gidIndex?: string;
  outs?: string;
  cqMod?: string;
  noPeak?: boolean;
  report_gbits?: boolean;
  atomic_type?: string;
  rdma_cm?: boolean;
  bidirectional?: boolean;
  connection?: string;
}

function registerPerf(rdma: Command, io: Io): void {
  rdma
    .command('perf')
    .description("perftest's bandwidth and latency tests (ib_write_bw, ib_read_bw, ib_send_bw, ib_atomic_bw, ib_write_lat), either role, against numaplan or perftest")
    .argument('[test]', `${PERFTEST_TESTS.join(', ')} (an ib_ prefix is fine); without one (and without --server/--connect), both ends run in this process`)
    .argument('[server]', 'the server to connect to (perftest style: without it, this side is the server)')
    .addOption(new Option('--op <op>', 'the operation, for the in-process run (or with --server/--connect: the *_bw test)').choices(['write', 'read', 'send', 'atomic']))
    .option('-s, --size <bytes>', 'message size (K and M suffixes; default 65536, latency 2, atomics 8)')
    .option('-n, --iters <n>', 'iterations (default 5000 for write_bw, 1000 otherwise)')
    .option('-D, --duration <seconds>', 'run for this long instead of a number of iterations')
    .option('-f, --margin <seconds>', 'with -D: seconds left out at each end (default a quarter)')
    .option('-a, --all', 'every message size from 2 bytes to 8 MiB')
    .option('-q, --qp <n>', 'queue pairs (bandwidth tests; default 1)')
    .option('-t, --tx-depth <n>', 'operations in flight per QP (default 128, latency 1)')
    .option('-r, --rx-depth <n>', 'receives kept posted by the SEND server (default 512)')
    .option('-m, --mtu <bytes>', 'path MTU: 256, 512, 1024, 2048 or 4096 (default 1024; in-process run 4096)')
    .option('-o, --outs <n>', 'outstanding READs and atomics this side accepts (default 16)')
    .option('-Q, --cq-mod <n>', 'completions per peak-bandwidth window (default 100)')
    .option('-N, --noPeak', 'no peak bandwidth')
    .option('--report_gbits', 'bandwidth in Gb/s instead of MB/s (2^20 bytes)')
    .option('-A, --atomic_type <type>', 'ib_atomic_bw: FETCH_AND_ADD (default) or CMP_AND_SWAP')
    .option('-d, --ib-dev <dev>', 'accepted for compatibility (printed as the device; numaplan is its own)')
    .option('-i, --ib-port <port>', 'accepted for compatibility (numaplan has one port)')
    .option('-x, --gid-index <n>', 'accepted for compatibility (numaplan\'s GID is its --local address)')
    .option('-c, --connection <type>', 'connection type: RC (the only one numaplan has)')
    .option('-R, --rdma_cm', 'refused: numaplan has no rdma_cm (the TCP exchange is used)')
    .option('-b, --bidirectional', 'refused: bidirectional tests are not implemented')
    .option('-p, --port <port>', 'TCP port of the exchange', '18515')
    .option('--local <ip>', 'local RoCE address, this side\'s GID (default: the address of the TCP connection)')
    .option('--address <ip>', 'same as --local')
    .option('--roce-port <port>', 'local RoCE UDP port (default 4791)')
    .option('--udp-port <port>', 'same as --roce-port')
    .option('--peer-roce-port <port>', "the peer's RoCE UDP port", '4791')
    .option('--server', 'be the server (the default when a test is named without a server)')
    .option('--connect <host>', 'be the client of a server on <host>')
    .addOption(new Option('--io <kind>', 'socket I/O: native, raw (IPv4, root), dgram (IPv6) or auto').choices(['native', 'dgram', 'raw', 'auto']).default('auto'))
    .option('--json', 'the result as JSON')
    .addHelpText(
      'after',
      `
perftest's flags mean what they mean to perftest; both sides need the same test and message size
(and -a, -q, -D when used). Output: perftest's report lines (the server of a WRITE, READ or atomic
test prints the client's report, as perftest does). Without a test and a server, both ends run in
this process over IPv6 loopback (--op, per-operation latency percentiles).

Examples:
  numaplan rdma perf write_bw                                   # server, like ib_write_bw
  numaplan rdma perf write_bw 169.254.7.1 --local fd00::2 -s 65536 -n 200
  numaplan rdma perf ib_read_bw --report_gbits                  # server for an ib_read_bw client
  numaplan rdma perf write_lat 169.254.7.1 --local fd00::2 -s 8 -n 1000
  numaplan rdma perf atomic_bw -A CMP_AND_SWAP 10.0.0.1
  numaplan rdma perf --op write --size 65536 --iters 2000       # both ends here`,
    )
    .action(async (testArg: string | undefined, serverArg: string | undefined, opts: PerfCliOptions) => {
      if (opts.server && opts.connect) throw new RdmaError('--server', 'use --server or --connect, not both', 'ERR_RDMA_USAGE');
      if (opts.rdma_cm) throw new RdmaError('--rdma_cm', 'numaplan has no rdma_cm: run both sides without -R (the TCP exchange)', 'ERR_RDMA_USAGE');
      if (opts.bidirectional) throw new RdmaError('--bidirectional', 'bidirectional tests are not implemented', 'ERR_RDMA_USAGE');
      if (opts.connection !== undefined && opts.connection.toUpperCase() !== 'RC') throw new RdmaError('--connection', `only RC is implemented, not ${opts.connection}`, 'ERR_RDMA_USAGE');
      let test: PerftestTest | undefined;
      if (testArg !== undefined) {
        test = TEST_ALIASES[testArg];
        if (!test) throw new RdmaError('test', `expected one of ${PERFTEST_TESTS.join(', ')}, got "${testArg}"`, 'ERR_RDMA_USAGE');
      }
      if (opts.op) {
        const t = OP_TEST[opts.op];
        if (test && test !== t && !(test === 'write_lat' && opts.op === 'write')) throw new RdmaError('--op', `--op ${opts.op} contradicts the test ${test}`, 'ERR_RDMA_USAGE');
        test ??= t;
      }
      const server = serverArg ?? opts.connect;
      const remote = testArg !== undefined || opts.server === true || opts.connect !== undefined;
      if (!remote) {
        const o = localPerfOptions(opts);
        const r = await perfLocal(o, opts.local ?? opts.address ?? '::1');
        if (opts.json) writeJson(io, r);
        else io.out(renderPerf(r));
        return;
      }
      const sizeOf = opts.size === undefined ? undefined : sizeOption(opts.size);
      const o: PerftestOptions = {
        test: test ?? 'write_bw',
        ...(server !== undefined ? { server } : {}),
        tcpPort: intOption('--port', opts.port, 1, 65535),
        ...(sizeOf !== undefined ? { size: sizeOf } : {}),
        ...(opts.iters !== undefined ? { iters: intOption('--iters', opts.iters, 5, 100_000_000) } : {}),
        ...(opts.duration !== undefined ? { duration: intOption('--duration', opts.duration, 1, 86400) } : {}),
        ...(opts.margin !== undefined ? { margin: intOption('--margin', opts.margin, 0, 86400) } : {}),
        ...(opts.all ? { all: true } : {}),
        ...(opts.qp !== undefined ? { qps: intOption('--qp', opts.qp, 1, 64) } : {}),
        ...(opts.txDepth !== undefined ? { txDepth: intOption('--tx-depth', opts.txDepth, 1, 4096) } : {}),
        ...(opts.rxDepth !== undefined ? { rxDepth: intOption('--rx-depth', opts.rxDepth, 1, 16384) } : {}),
        ...(opts.mtu !== undefined ? { mtu: mtuOption(opts.mtu) } : {}),
        ...(opts.outs !== undefined ? { outReads: intOption('--outs', opts.outs, 1, 16) } : {}),
        ...(opts.cqMod !== undefined ? { cqMod: intOption('--cq-mod', opts.cqMod, 1, 1024) } : {}),
        ...(opts.noPeak ? { noPeak: true } : {}),
        ...(opts.report_gbits ? { reportGbits: true } : {}),
        ...(opts.atomic_type !== undefined ? { atomicType: atomicTypeOption(opts.atomic_type) } : {}),
        ...(opts.ibDev !== undefined ? { ibDev: opts.ibDev } : {}),
        ...(opts.gidIndex !== undefined ? { gidIndex: intOption('--gid-index', opts.gidIndex, 0, 255) } : {}),
        ...((opts.local ?? opts.address) !== undefined ? { local: (opts.local ?? opts.address) as string } : {}),
        ...((opts.rocePort ?? opts.udpPort) !== undefined ? { rocePort: intOption('--roce-port', (opts.rocePort ?? opts.udpPort) as string, 0, 65535) } : {}),
        peerRocePort: intOption('--peer-roce-port', opts.peerRocePort, 1, 65535),
        io: opts.io,
        ...(opts.json ? {} : { out: (t: string) => io.out(t) }),
      };
      const r = await runTool(io, () => runPerftest(o));
      if (!r) return;
      if (r.notice && !opts.json) io.err(`numaplan: ${r.notice}\n`);
      if (opts.json) writeJson(io, { ...r, local: r.local.map(keysJson), remote: r.remote.map(keysJson) });
    });
}

function keysJson(d: PerftestDest): object {
  return { ...d, vaddr: `0x${d.vaddr.toString(16)}`, gid: gidText(d.gid) };
}

function registerPingpong(rdma: Command, io: Io): void {
  rdma
    .command('pingpong')
    .description("rdma-core's ibv_rc_pingpong: SEND/RECV ping-pong over an RC QP, either role, against numaplan or the tool")
    .argument('[server]', 'the server to connect to (without it, this side is the server)')
    .option('-p, --port <port>', 'TCP port of the exchange', '18515')
    .option('-s, --size <bytes>', 'message size', '4096')
    .option('-m, --mtu <bytes>', 'path MTU: 256, 512, 1024, 2048 or 4096', '1024')
    .option('-r, --rx-depth <n>', 'receives to post at a time', '500')
    .option('-n, --iters <n>', 'number of exchanges', '1000')
    .option('-d, --ib-dev <dev>', 'accepted for compatibility (numaplan is its own device)')
    .option('-i, --ib-port <port>', 'accepted for compatibility')
    .option('-l, --sl <sl>', 'accepted for compatibility (service level)')
    .option('-e, --events', 'accepted for compatibility (numaplan waits on completions either way)')
    .option('-c, --chk', "validate the received buffer as the tool does (give it to both sides): the client puts 0 at each page start, the server checks them in the last message")
    .option('-g, --gid-idx <n>', "accepted for compatibility (numaplan's GID is its --local address, always sent)")
    .option('--local <ip>', 'local RoCE address, this side\'s GID (default: the address of the TCP connection)')
    .option('--roce-port <port>', 'local RoCE UDP port', '4791')
    .option('--peer-roce-port <port>', "the peer's RoCE UDP port", '4791')
    .addOption(new Option('--io <kind>', 'socket I/O: native, raw (IPv4, root), dgram (IPv6) or auto').choices(['native', 'dgram', 'raw', 'auto']).default('auto'))
    .option('--json', 'the result as JSON')
    .addHelpText(
      'after',
      `
Speaks ibv_rc_pingpong's exchange (TCP port 18515) and prints its lines. numaplan also checks the
data: every message received must be the sender's 0x7b bytes (with -c: 0 at each 4096-byte page
start), exit 1 otherwise. Run ibv_rc_pingpong with -g <GID index> against it (RoCE needs the GID).

Examples:
  numaplan rdma pingpong --local fd00::1 -n 200 -s 1024                  # server
  numaplan rdma pingpong --local fd00::2 -n 200 -s 1024 169.254.7.1     # client
  numaplan rdma pingpong --local fd00::1 -c -s 8192                      # server, checking like ibv_rc_pingpong -c`,
    )
    .action(async (server: string | undefined, opts: PingpongCli) => {
      const o: PingpongOptions = {
        ...(server !== undefined ? { server } : {}),
        tcpPort: intOption('--port', opts.port, 1, 65535),
        size: sizeOption(opts.size),
        mtu: mtuOption(opts.mtu),
        rxDepth: intOption('--rx-depth', opts.rxDepth, 2, 16384),
        iters: intOption('--iters', opts.iters, 1, 100_000_000),
        ...(opts.local !== undefined ? { local: opts.local } : {}),
        rocePort: intOption('--roce-port', opts.rocePort, 0, 65535),
        peerRocePort: intOption('--peer-roce-port', opts.peerRocePort, 1, 65535),
        io: opts.io,
        ...(opts.chk ? { validate: true } : {}),
        ...(opts.json ? {} : { out: (t: string) => io.out(t) }),
      };
      const r = await runTool(io, () => runPingpong(o));
      if (!r) return;
      if (r.notice && !opts.json) io.err(`numaplan: ${r.notice}\n`);
      if (opts.json) writeJson(io, { ...r, local: destJson(r.local), remote: destJson(r.remote) });
      if (r.corrupt > 0 || r.invalidPages.length > 0) {
        if (r.corrupt > 0) io.err(`numaplan: ${r.corrupt} of ${r.iters} messages received were not ${o.size} bytes of 0x7b${o.validate ? ' with 0 at each page start' : ''}\n`);
        io.setExitCode(1);
      }
    });
}

interface PingpongCli {
  port: string;
  size: string;
  mtu: string;
  rxDepth: string;
  iters: string;
  local?: string;
  rocePort: string;
  peerRocePort: string;
  io: UdpIo;
  json?: boolean;
  chk?: boolean;
}

function destJson(d: { lid: number; qpn: number; psn: number; gid: Buffer }): object {
  return { lid: d.lid, qpn: d.qpn, psn: d.psn, gid: gidText(d.gid) };
}

/**
 * Runs a tool; a failure of the run itself (the peer went away, a completion error) is exit code 1
 * with the reason, bad usage stays exit code 2.
 */
async function runTool<T>(io: Io, f: () => Promise<T>): Promise<T | null> {
  try {
    return await f();
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_RDMA_EXCHANGE' || code === 'ERR_RDMA_PERF' || code === 'ERR_RDMA_PINGPONG' || code === 'ERR_RDMA_PORT_IN_USE') {
      io.err(`numaplan: ${(e as Error).message}\n`);
      io.setExitCode(1);
      return null;
    }
    throw e;
  }
}

function sizeOption(text: string): number {
  const m = /^(\d+)([KM]?)$/.exec(text);
  if (!m) throw new RdmaError('--size', `must be a number of bytes (K and M suffixes allowed), got "${text}"`, 'ERR_RDMA_USAGE');
  const v = Number(m[1]) * (m[2] === 'K' ? 1024 : m[2] === 'M' ? 1024 * 1024 : 1);
  if (v < 1 || v > 1 << 30) throw new RdmaError('--size', `must be from 1 byte to 1 GiB, got ${v}`, 'ERR_RDMA_USAGE');
  return v;
}

function mtuOption(text: string): PathMtu {
  const mtu = intOption('--mtu', text, 256, 4096);
  if (![256, 512, 1024, 2048, 4096].includes(mtu)) throw new RdmaError('--mtu', `must be 256, 512, 1024, 2048 or 4096, got ${mtu}`, 'ERR_RDMA_USAGE');
  return mtu as PathMtu;
}

function atomicTypeOption(text: string): 'FETCH_AND_ADD' | 'CMP_AND_SWAP' {
  if (text !== 'FETCH_AND_ADD' && text !== 'CMP_AND_SWAP') throw new RdmaError('--atomic_type', `must be FETCH_AND_ADD or CMP_AND_SWAP, got "${text}"`, 'ERR_RDMA_USAGE');
  return text;
}

function intOption(name: string, text: string, min: number, max: number): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min || v > max) throw new RdmaError(name, `must be an integer from ${min} to ${max}, got "${text}"`, 'ERR_RDMA_USAGE');
  return v;
}

function localPerfOptions(o: PerfCliOptions): PerfOptions {
  return {
    op: o.op ?? 'write',
    size: o.size === undefined ? 65536 : sizeOption(o.size),
    iters: o.iters === undefined ? 1000 : intOption('--iters', o.iters, 1, 100_000_000),
    txDepth: o.txDepth === undefined ? 16 : intOption('--tx-depth', o.txDepth, 1, 4096),
    mtu: o.mtu === undefined ? 4096 : mtuOption(o.mtu),
    io: o.io,
  };
}

function renderPerf(r: PerfResult): string {
  const l = r.latencyUs;
  const f = (x: number) => x.toFixed(1);
  return `${table(
    ['op', 'bytes', 'iters', 'depth', 'MB/s', 'Gb/s', 'msg/s', 'lat p50 us', 'p90', 'p99', 'p99.9', 'max', 'io'],
    [[r.op, String(r.size), String(r.iters), String(r.txDepth), f(r.bandwidthMBps), r.gbps.toFixed(3), Math.round(r.msgRate).toString(), f(l.p50), f(l.p90), f(l.p99), f(l.p999), f(l.max), r.io ?? '-']],
  )}\n${r.retransmits || r.timeouts ? `retransmissions: ${r.retransmits} (timeouts ${r.timeouts})\n` : ''}`;
}

function describe(p: ReturnType<typeof decodeCapture>[number]): string {
  if (p.error !== undefined) return `error: ${p.error}`;
  const k = p.packet;
  if (!k) return '';
  const parts: string[] = [];
  if (k.reth) parts.push(`va=0x${k.reth.va.toString(16)} rkey=0x${k.reth.rkey.toString(16)} len=${k.reth.dmaLength}`);
  if (k.aeth) parts.push(`aeth=${k.aeth.kind}${k.aeth.kind === 'nak' ? `(${k.aeth.code})` : ''} msn=${k.aeth.msn}`);
  if (k.atomicEth) parts.push(`va=0x${k.atomicEth.va.toString(16)} rkey=0x${k.atomicEth.rkey.toString(16)} swap/add=0x${k.atomicEth.swapAdd.toString(16)} cmp=0x${k.atomicEth.compare.toString(16)}`);
  if (k.atomicAckData !== undefined) parts.push(`orig=0x${k.atomicAckData.toString(16)}`);
  if (k.immDt !== undefined) parts.push(`imm=0x${k.immDt.toString(16)}`);
  if (k.ieth !== undefined) parts.push(`inv-rkey=0x${k.ieth.toString(16)}`);
  if (k.deth) parts.push(`qkey=0x${k.deth.qKey.toString(16)} srcqp=${k.deth.srcQp}`);
  if (k.payload.length > 0) parts.push(`payload=${k.payload.length}`);
  return parts.join(' ');
}
