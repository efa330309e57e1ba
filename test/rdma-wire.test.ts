/**
 * What numaplan puts on a real wire, judged from captures taken off it (dumpcap on the loopback of a
 * private network namespace, test/support/netns-scenario.ts), never from frames a test built:
 *
 * - RoCE port and flows: every packet goes to UDP port 4791 (the default, both ends), from its QP's
 *   flow port, which is rdma_get_udp_sport of the QP pair as Linux derives it (the same port both
 *   ways, as in the real rxe captures);
 * - ECN: every packet is marked ECT(0);
 * - IPv6 and IPv4 with raw I/O (whole IPv4 headers written by numaplan: non-zero, varying
 *   Identification, DF): `numaplan rdma decode` verifies every packet's ICRC over the real header
 *   (splitting the UDP GSO messages IPv6 sends, which a capture on the sending host shows whole),
 *   and tshark dissects every frame as RoCE v2 without an expert warning;
 * - the requests of the real rxe captures, put on the wire with their IPv4 headers byte for byte
 *   (rxe's Identification values), are accepted by a numaplan responder in raw I/O (every ICRC
 *   verified), which answers with rxe's READ responses, atomic ACKs, PSNs, syndromes and MSNs.
 *
 * Also: the UDP source ports in the real rxe captures are the flow ports wire/flow.ts computes.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type DecodedRoce, decodeCapture } from '../src/rdma/decode-capture.js';
import { aethSyndrome } from '../src/rdma/wire/aeth.js';
import { roceSourcePort } from '../src/rdma/wire/flow.js';
import { OP } from '../src/rdma/wire/opcodes.js';
import { runCli } from './support/cli.js';
import { dataSet } from './support/data.js';
import { netnsAvailable, runScenario } from './support/netns.js';
import { tool } from './support/tools.js';

const pcaps = dataSet('rdma/pcaps');

describe.skipIf(!pcaps)('flow ports in the real rxe captures', () => {
  it('every RC packet leaves from rdma_get_udp_sport(0, its QPN, the peer QPN): ibv_rc_pingpong and perftest', () => {
    let checked = 0;
    for (const f of readdirSync(pcaps as string).filter((x) => x.endsWith('.pcap') && !/rdma_cm|rping/.test(x))) {
      const pkts = decodeCapture(readFileSync(join(pcaps as string, f)), { name: f }).filter((p) => p.opcode < 0x20);
      // Each host's QPN is the destination QPN of the packets sent to it.
      const qpnOf = new Map<string, number>();
      for (const p of pkts) qpnOf.set(p.dst, p.destQp);
      for (const p of pkts) {
        const own = qpnOf.get(p.src);
        expect(own, `${f} frame ${p.frame}`).toBeDefined();
        expect(p.srcPort, `${f} frame ${p.frame}`).toBe(roceSourcePort(own as number, p.destQp));
        expect(p.dstPort).toBe(4791);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });
});

const RUN = netnsAvailable() && tool('dumpcap') && tool('tshark') && tool('python3');

/** tshark's fields of every RoCE v2 frame, and the expert items it raised on any. */
function tshark(pcap: string, fields: string[]): { rows: string[][]; expert: string } {
  const r = spawnSync('tshark', ['-r', pcap, '-Y', 'udp.dstport == 4791', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const rows = r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split('\t'));
  const e = spawnSync('tshark', ['-r', pcap, '-Y', 'udp.dstport == 4791 && (_ws.expert || !infiniband || _ws.malformed)', '-T', 'fields', '-e', 'frame.number', '-e', '_ws.expert.message'], { encoding: 'utf8' });
  return { rows, expert: e.stdout.trim() };
}

/** The capture lost nothing (dumpcap's closing report: received/dropped). */
function noDrops(stderr: string): void {
  expect(stderr).toMatch(/received\/dropped on interface '[^']*': \d+\/0 /);
}

async function decoded(pcap: string): Promise<DecodedRoce[]> {
  const cli = await runCli(['rdma', 'decode', pcap, '--json']);
  expect(cli.code, cli.err).toBe(0);
  const pkts = decodeCapture(readFileSync(pcap));
  expect(pkts.every((p) => p.icrcOk)).toBe(true);
  return pkts;
}

describe.runIf(RUN)('on the wire, captured', () => {
  it('IPv6, default options: port 4791 both ways, per-QP flow ports, ECT(0), every ICRC verifies, tshark without warnings', async () => {
    const run = await runScenario('v6');
    noDrops(run.stderr);
    const r = run.result as { io: string[]; ports: number[]; qps: { a: number; b: number; srcA: number; srcB: number }[]; icrcErrors: number };
    expect(r.io).toEqual(['native', 'native']);
    expect(r.ports).toEqual([4791, 4791]);
    expect(r.icrcErrors).toBe(0);
    const pkts = await decoded(run.pcap);
    expect(pkts.length).toBeGreaterThan(150);
    const { rows, expert } = tshark(run.pcap, ['ipv6.src', 'ipv6.tclass.ecn', 'udp.srcport', 'udp.dstport', 'infiniband.bth.destqp']);
    // Captured on the sending host, UDP GSO messages show as one frame holding several packets.
    expect(rows.length).toBe(new Set(pkts.map((p) => p.frame)).size);
    expect(pkts.some((p) => p.gso !== undefined)).toBe(true);
    expect(expert).toBe('');
    const flowOf = new Map<string, number>(r.qps.flatMap((q) => [[`fd00::1|${q.b}`, roceSourcePort(q.a, q.b)] as const, [`fd00::2|${q.a}`, roceSourcePort(q.b, q.a)] as const]));
    const ports = new Set<number>();
    for (const [src, ecn, sport, dport, destqp] of rows) {
      expect(ecn).toBe('2'); // ECT(0)
      expect(dport).toBe('4791');
      expect(Number(sport)).toBe(flowOf.get(`${src}|${Number(destqp)}`));
      ports.add(Number(sport));
    }
    // Two QP pairs, two flows (each the same port both ways, as rxe's).
    expect(ports.size).toBe(2);
  });

  it('IPv4 with raw I/O (the default as root): whole IPv4 headers with varying Identification and DF, ECT(0), every ICRC verifies over the real header', async () => {
    const run = await runScenario('v4raw');
    noDrops(run.stderr);
    const r = run.result as { io: string[]; ports: number[]; icrcErrors: number };
    expect(r.io).toEqual(['raw', 'raw']);
    expect(r.ports).toEqual([4791, 4791]);
    expect(r.icrcErrors).toBe(0);
    const pkts = await decoded(run.pcap);
    expect(pkts.every((p) => p.ipVersion === 4)).toBe(true);
    const { rows, expert } = tshark(run.pcap, ['ip.id', 'ip.flags.df', 'ip.dsfield.ecn', 'udp.dstport']);
    expect(rows.length).toBe(pkts.length);
    expect(expert).toBe('');
    const ids = rows.map(([id]) => Number(id));
    expect(ids.every((id) => id !== 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const [, df, ecn, dport] of rows) {
      expect(df).toBe('1');
      expect(ecn).toBe('2');
      expect(dport).toBe('4791');
    }
  });

  it('IPv4 over UDP sockets (io native): unconnected, DF, so Linux sends Identification 0, which both numaplan ends assume; the transport says it cannot interoperate', async () => {
    const run = await runScenario('v4udp');
    noDrops(run.stderr);
    const r = run.result as { io: string[]; icrcErrors: number; notice: string | null };
    expect(r.io).toEqual(['native', 'native']);
    expect(r.icrcErrors).toBe(0);
    expect(r.notice).toMatch(/cannot interoperate/);
    const pkts = await decoded(run.pcap);
    const { rows, expert } = tshark(run.pcap, ['ip.id', 'ip.flags.df', 'ip.dsfield.ecn']);
    expect(rows.length).toBe(pkts.length);
    expect(expert).toBe('');
    for (const [id, df, ecn] of rows) expect([Number(id), df, ecn]).toEqual([0, '1', '2']);
  });

  it.skipIf(!pcaps)("rxe's captured IPv4 requests, put on the wire byte for byte, are accepted by a numaplan responder in raw I/O, which answers as rxe did", async () => {
    const run = await runScenario('rxe-replay');
    noDrops(run.stderr);
    const r = run.result as { replays: { file: string; qpn: number; requests: number; expectedPsn: number; endPsn: number; state: string }[]; stats: { icrcErrors: number; io: string } };
    expect(r.stats.io).toBe('raw');
    expect(r.stats.icrcErrors).toBe(0);
    expect(r.replays).toHaveLength(7);
    for (const x of r.replays) {
      expect(x.state, x.file).toBe('rts');
      expect(x.endPsn, x.file).toBe(x.expectedPsn);
    }
    const ours = (await decoded(run.pcap)).filter((p) => p.src === '10.1.16.61');
    for (const x of r.replays) {
      const theirs = decodeCapture(readFileSync(join(pcaps as string, x.file))).filter((p) => p.src === '10.1.16.61' && p.opcode >= OP.RDMA_READ_RESPONSE_FIRST && p.opcode <= OP.ATOMIC_ACKNOWLEDGE);
      const mine = ours.filter((p) => theirs.some((t) => t.destQp === p.destQp));
      const shape = (p: DecodedRoce) => `${p.opcode} psn=${p.psn} syn=${p.packet?.aeth ? aethSyndrome(p.packet.aeth) : '-'} msn=${p.packet?.aeth?.msn ?? '-'} len=${p.packet?.payload.length} sport=${p.srcPort}`;
      // READ responses and atomic ACKs exactly; of the plain ACKs, the last (what the requester acts on).
      const data = (ps: DecodedRoce[]) => ps.filter((p) => p.opcode !== OP.ACKNOWLEDGE).map(shape);
      const lastAck = (ps: DecodedRoce[]) => ps.filter((p) => p.opcode === OP.ACKNOWLEDGE).map(shape).at(-1);
      expect(data(mine), x.file).toEqual(data(theirs));
      expect(lastAck(mine), x.file).toEqual(lastAck(theirs));
      expect(mine.every((p) => p.packet?.aeth?.kind !== 'nak'), x.file).toBe(true);
    }
  });
});
