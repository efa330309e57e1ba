/** `numaplan rdma`: the software RoCE v2 endpoint's tools (decode captures, perftest-like runs). */
import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { decodeCapture } from '../../rdma/decode-capture.js';
import { RdmaError } from '../../rdma/errors.js';
import { decodedToJson } from '../../rdma/packet-json.js';
import { type PerfOp, type PerfOptions, type PerfResult, perfConnect, perfLocal, perfServe } from '../../rdma/perf.js';
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
  const rdma = program.command('rdma').description('software RoCE v2: decode captures, measure with a perftest-like tool');

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

  rdma
    .command('perf')
    .description('measure RDMA WRITE/READ/SEND/atomic bandwidth, message rate and latency (perftest-like)')
    .addOption(new Option('--op <op>', 'operation').choices(['write', 'read', 'send', 'atomic']).default('write'))
    .option('--size <bytes>', 'message size in bytes (atomics: 8)', '65536')
    .option('--iters <n>', 'number of operations', '1000')
    .option('--tx-depth <n>', 'operations kept in flight (1 measures latency)', '16')
    .option('--mtu <bytes>', 'path MTU: 256, 512, 1024, 2048 or 4096', '4096')
    .option('--server', 'wait for one client on the TCP exchange port and serve it')
    .option('--connect <host>', 'run as the client of a server on <host>')
    .option('--address <ip>', 'local IP to bind for RoCE (default ::1, or the --connect host when it is an IP)')
    .option('--port <port>', 'TCP port of the connection exchange', '18515')
    .option('--udp-port <port>', 'local UDP port for RoCE (0 = any free port)', '0')
    .addOption(new Option('--io <kind>', 'UDP socket I/O: native (batched sendmmsg/recvmmsg addon), dgram (node:dgram) or auto (native when built)').choices(['native', 'dgram', 'auto']).default('auto'))
    .option('--json', 'the result as JSON')
    .addHelpText(
      'after',
      `
Without --server or --connect both ends run in this process, over UDP on IPv6 loopback.
Latency is per operation, from posting to its completion (for WRITE: data placed and acknowledged).

Examples:
  numaplan rdma perf --op write --size 65536 --iters 2000
  numaplan rdma perf --op write --size 8 --tx-depth 1 --iters 10000 --json
  numaplan rdma perf --server --op read --size 1048576          # terminal 1
  numaplan rdma perf --connect ::1 --op read --size 1048576     # terminal 2`,
    )
    .action(async (opts: PerfCliOptions) => {
      const o = perfOptions(opts);
      if (opts.server && opts.connect) throw new RdmaError('--server', 'use --server or --connect, not both', 'ERR_RDMA_USAGE');
      const net = {
        address: opts.address ?? (opts.connect && opts.connect.includes(':') ? '::1' : opts.connect ? '127.0.0.1' : '::1'),
        udpPort: intOption('--udp-port', opts.udpPort, 0, 65535),
        tcpPort: intOption('--port', opts.port, 0, 65535),
      };
      if (opts.server) {
        await perfServe(o, net, (port, used) => {
          if (opts.json) io.out(`${JSON.stringify({ listening: { address: net.address, port, ...(used ? { io: used } : {}) } })}\n`);
          else io.out(`waiting for a client on [${net.address}]:${port}${used ? ` (${used} I/O)` : ''}\n`);
        });
        if (!opts.json) io.out('client done\n');
        return;
      }
      const r = opts.connect ? await perfConnect(o, opts.connect, net) : await perfLocal(o, net.address);
      if (opts.json) writeJson(io, r);
      else io.out(renderPerf(r));
    });
}

interface PerfCliOptions {
  op: PerfOp;
  size: string;
  iters: string;
  txDepth: string;
  mtu: string;
  server?: boolean;
  connect?: string;
  address?: string;
  port: string;
  udpPort: string;
  io: UdpIo;
  json?: boolean;
}

function intOption(name: string, text: string, min: number, max: number): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min || v > max) throw new RdmaError(name, `must be an integer from ${min} to ${max}, got "${text}"`, 'ERR_RDMA_USAGE');
  return v;
}

function perfOptions(o: PerfCliOptions): PerfOptions {
  const mtu = intOption('--mtu', o.mtu, 256, 4096);
  if (![256, 512, 1024, 2048, 4096].includes(mtu)) throw new RdmaError('--mtu', `must be 256, 512, 1024, 2048 or 4096, got ${mtu}`, 'ERR_RDMA_USAGE');
  return {
    op: o.op,
    size: intOption('--size', o.size, 1, 1 << 30),
    iters: intOption('--iters', o.iters, 1, 100_000_000),
    txDepth: intOption('--tx-depth', o.txDepth, 1, 4096),
    mtu: mtu as PathMtu,
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
