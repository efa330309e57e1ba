/** `numaplan rdma`: the software RoCE v2 endpoint's tools (decode captures, perftest-like runs). */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { decodeCapture } from '../../rdma/decode-capture.js';
import { RdmaError } from '../../rdma/errors.js';
import { decodedToJson } from '../../rdma/packet-json.js';
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
    .option('--json', 'a JSON array, one object per RoCE packet (opcode, destQp, psn, icrcOk, headers)')
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
      if (opts.json) writeJson(io, packets.map(decodedToJson));
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
