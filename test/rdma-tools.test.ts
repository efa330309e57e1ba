/**
 * `numaplan rdma pingpong` (ibv_rc_pingpong's protocol) and `numaplan rdma perf <test>` (perftest's
 * ib_write_bw, ib_read_bw, ib_send_bw, ib_atomic_bw, ib_write_lat), both roles, numaplan against
 * numaplan: a server and a client CLI process in a private network namespace, addressed as the
 * interop guest is (the TCP exchange over IPv4 link-local addresses, RoCE over IPv6 ULA GIDs, and
 * once over IPv4 with raw I/O). The data is checked end to end (what one side holds is what the
 * other sent), the printed lines are the tools', and the capture of it all decodes with every ICRC
 * verified. (The exchange bytes are checked against the C library in rdma-exchange-formats.test.ts;
 * the real tools are the peer in the guest interop suite.) Also the options: perftest's flags,
 * refusals with exit code 2.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeCapture } from '../src/rdma/decode-capture.js';
import type { PerftestResult } from '../src/rdma/tools/perftest.js';
import { runCli } from './support/cli.js';
import { netnsAvailable, runScenario } from './support/netns.js';
import { tool } from './support/tools.js';

describe('options', () => {
  it('refuses what is not implemented, and bad values, with exit code 2 naming the option', async () => {
    for (const [args, path] of [
      [['write_bw', '-R'], '--rdma_cm'],
      [['write_bw', '-b'], '--bidirectional'],
      [['write_bw', '-c', 'UD'], '--connection'],
      [['write_bw', '-m', '1500'], '--mtu'],
      [['write_bw', '-s', '12Q'], '--size'],
      [['nope_bw'], 'test'],
      [['atomic_bw', '-A', 'SWAP'], '--atomic_type'],
      [['write_lat', '-q', '2', '--local', '::1', '-p', '1'], 'qp'],
    ] as const) {
      const r = await runCli(['rdma', 'perf', ...args, '--json']);
      expect(r.code, `${args.join(' ')}: ${r.out}${r.err}`).toBe(2);
      expect(JSON.parse(r.out).error.path).toBe(path);
    }
    const pp = await runCli(['rdma', 'pingpong', '-m', '999', '--json']);
    expect(pp.code).toBe(2);
    expect(JSON.parse(pp.out).error.path).toBe('--mtu');
  });

  it('documents the tools in --help, with examples', async () => {
    const perf = await runCli(['rdma', 'perf', '--help']);
    expect(perf.out).toMatch(/--report_gbits/);
    expect(perf.out).toMatch(/numaplan rdma perf write_bw 169\.254\.7\.1/);
    const pp = await runCli(['rdma', 'pingpong', '--help']);
    expect(pp.out).toMatch(/ibv_rc_pingpong/);
  });
});

const RUN = netnsAvailable() && tool('dumpcap');

describe.runIf(RUN)('pingpong and perftest, both roles, numaplan to numaplan', () => {
  it('every tool, every test: completes, prints the tools\' lines, and the data arrives intact', { timeout: 240_000 }, async () => {
    const run = await runScenario('tools');
    const r = run.result as Record<string, { server: { code: number; out: string; err: string }; client: { code: number; out: string; err: string } }>;
    expect(Object.keys(r).sort()).toEqual(['atomic_bw', 'pingpong', 'pingpong-ipv4-raw', 'read_bw', 'send_bw', 'write_bw', 'write_bw-ipv4-raw', 'write_bw-text', 'write_lat']);
    for (const [k, v] of Object.entries(r)) {
      expect(v.server.code, `${k} server: ${v.server.err}`).toBe(0);
      expect(v.client.code, `${k} client: ${v.client.err}`).toBe(0);
    }
    // ibv_rc_pingpong's lines, both sides, over IPv6 and over IPv4 (raw I/O).
    for (const k of ['pingpong', 'pingpong-ipv4-raw']) {
      for (const side of ['server', 'client'] as const) {
        const out = r[k]?.[side].out ?? '';
        expect(out).toMatch(/^ {2}local address: {2}LID 0x0000, QPN 0x[0-9a-f]{6}, PSN 0x[0-9a-f]{6}, GID (fd00::[12]|::ffff:10\.7\.0\.[12])$/m);
        expect(out).toMatch(/^ {2}remote address: LID 0x0000, QPN 0x[0-9a-f]{6}, PSN 0x[0-9a-f]{6}, GID /m);
        expect(out).toMatch(/^\d+ bytes in \d+\.\d\d seconds = \d+\.\d\d Mbit\/sec$/m);
        expect(out).toMatch(new RegExp(`^${k === 'pingpong' ? 200 : 100} iters in \\d+\\.\\d\\d seconds = \\d+\\.\\d\\d usec/iter$`, 'm'));
      }
    }
    expect(r.pingpong?.client.out).toMatch(/^409600 bytes in/m);
    const res = (k: string) => ({ s: JSON.parse(r[k]?.server.out ?? '') as PerftestResult, c: JSON.parse(r[k]?.client.out ?? '') as PerftestResult });
    // WRITE and SEND: the server holds what the client sent; READ: the client holds the server's bytes.
    for (const k of ['write_bw', 'send_bw', 'write_bw-ipv4-raw']) {
      const { s, c } = res(k);
      expect(s.digests.receive, k).toBe(c.digests.send);
      expect(s.digests.receive).not.toBe(s.digests.send);
    }
    for (const k of ['write_bw', 'read_bw', 'send_bw', 'atomic_bw', 'write_lat']) {
      for (const x of Object.values(res(k))) expect(Object.keys(x.recovery).sort(), k).toEqual(['retransmits', 'rnrNaks', 'seqNaks', 'timeouts']);
    }
    const read = res('read_bw');
    expect(read.c.digests.send).toBe(read.s.digests.receive);
    expect(res('write_bw-ipv4-raw').c.io).toBe('raw');
    // Fetch-and-add of 1, 200 times: the client's last fetched value plus one is the server's.
    const at = res('atomic_bw');
    const le = (h: string) => Buffer.from(h, 'hex').readBigUInt64LE(0);
    expect(le(at.c.digests.sendHead) + 1n).toBe(le(at.s.digests.receiveHead));
    // The server of WRITE/READ/atomics prints the client's report; SEND's server its own receive side.
    for (const k of ['write_bw', 'read_bw', 'atomic_bw']) {
      const { s, c } = res(k);
      const row = c.rows[0];
      expect(row?.kind).toBe('bw');
      expect(s.peerReport).toEqual(row && row.kind === 'bw' ? { size: row.size, iters: row.iters, bwPeak: row.bwPeak, bwAvg: row.bwAvg, msgRateAvg: row.msgRateAvg } : null);
      expect(row && row.kind === 'bw' ? row.iters : 0).toBe(200);
    }
    expect(res('send_bw').s.rows[0]).toMatchObject({ kind: 'bw', size: 65536, iters: 200 });
    // ib_write_lat: both sides ping-pong 200 times; each side's last count arrived at the other.
    const lat = res('write_lat');
    for (const x of [lat.s, lat.c]) {
      expect(x.rows[0]).toMatchObject({ kind: 'lat', size: 8, iters: 200 });
      expect(Buffer.from(x.digests.receiveHead, 'hex')[7]).toBe(200);
    }
    // perftest's report block as printed.
    const text = r['write_bw-text']?.client.out ?? '';
    expect(text).toMatch(/^ #bytes {5}#iterations {4}BW peak\[Gb\/sec\] {4}BW average\[Gb\/sec\] {3}MsgRate\[Mpps\]$/m);
    expect(text).toMatch(/^ 4096 {7}300 {14}\d+\.\d\d {15}\d+\.\d\d {0,3}\t\t {3}\d\.\d{6}$/m);
    expect(text).toMatch(/^ local address: LID 0000 QPN 0x[0-9a-f]{4,6} PSN 0x[0-9a-f]{4,6} RKey 0x[0-9a-f]{6,8} VAddr 0x[0-9a-f]{14}$/m);
    expect(text).toMatch(/^ GID: 253:00:00:00:00:00:00:00:00:00:00:00:00:00:00:02$/m);
    expect(r['write_bw-text']?.server.out).toMatch(/^ 4096 {7}300 /m);
    // All of it on the wire, every ICRC verified.
    const pkts = decodeCapture(readFileSync(run.pcap));
    expect(pkts.length).toBeGreaterThan(1000);
    expect(pkts.filter((p) => !p.icrcOk)).toEqual([]);
    expect(new Set(pkts.map((p) => p.ipVersion))).toEqual(new Set([4, 6]));
  });
});
