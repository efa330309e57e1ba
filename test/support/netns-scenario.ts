/**
 * Scenarios run inside a private network namespace by test/support/netns.ts (argv: name, folder).
 * Each records the loopback with dumpcap into <folder>/wire.pcap while RDMA traffic runs, checks
 * the data end to end, and prints one JSON line with what the test needs to judge the capture.
 *
 *   v6          two devices on fd00::1 and fd00::2, default options (RoCE port 4791, native I/O),
 *               two QP pairs doing WRITE, READ, SEND and fetch-and-add
 *   v4raw       the same over 10.7.0.1 and 10.7.0.2 with default options (raw IPv4 I/O as root)
 *   v4udp       the same over UDP sockets (io native): the kernel's IPv4 headers
 *   rxe-replay  the request packets of the real rxe captures, their IPv4 headers byte for byte
 *               (Identification and all), put on the wire by a raw socket to a numaplan responder
 *               on 10.1.16.61 (raw IPv4 I/O) standing in for the capture's responder
 *   tools       numaplan rdma pingpong and numaplan rdma perf (every test), server and client as two
 *               CLI processes, addressed as the interop guest is: the TCP exchange over IPv4
 *               link-local addresses, RoCE over IPv6 ULA addresses (and once over IPv4, raw I/O)
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeCapture } from '../../src/rdma/decode-capture.js';
import { readCapture } from '../../src/rdma/pcap.js';
import type { PacketTransport } from '../../src/rdma/transport/transport.js';
import { openUdpTransport } from '../../src/rdma/transport/udp.js';
import { bringUp, connectPair } from '../../src/rdma/verbs/connect.js';
import type { CompletionQueue } from '../../src/rdma/verbs/cq.js';
import { RdmaDevice } from '../../src/rdma/verbs/device.js';
import { ACCESS, type WorkCompletion } from '../../src/rdma/verbs/types.js';
import { udpFromFrame } from '../../src/rdma/wire/frame.js';
import { OP } from '../../src/rdma/wire/opcodes.js';
import { type CliProcessResult, runCliProcess } from './cli.js';
import { DATA_DIR } from './data.js';
import { UNTIL_CAP_MS, until } from './until.js';

const ALL = ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE | ACCESS.REMOTE_READ | ACCESS.REMOTE_ATOMIC;
const [name, dir] = process.argv.slice(2) as [string, string];

async function capture(): Promise<ChildProcess> {
  const child = spawn('dumpcap', ['-i', 'lo', '-f', 'udp', '-B', '64', '-P', '-w', join(dir, 'wire.pcap')], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => reject(new Error(`dumpcap did not start: ${err}`)), 10_000);
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('Capturing on')) {
        clearTimeout(t);
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`dumpcap exited (${code}): ${err}`)));
  });
  // "Capturing on" comes before packets flow into the file: probe until one is written.
  await probed('dumpcap to write the first probe');
  return child;
}

const CAPTURE = () => join(dir, 'wire.pcap');
const captured = (): number => (existsSync(CAPTURE()) ? statSync(CAPTURE()).size : 0);

/**
 * Sends a probe (UDP to the discard port on the loopback, which the RoCE decoder ignores) until the
 * capture file grows: once it has, every packet that crossed the loopback before it is in the file.
 */
async function probed(what: string): Promise<void> {
  const probe = createSocket('udp6');
  const before = captured();
  const start = performance.now();
  try {
    while (captured() <= before) {
      if (performance.now() - start > UNTIL_CAP_MS) throw new Error(`gave up after ${UNTIL_CAP_MS} ms waiting for ${what}`);
      probe.send(Buffer.from('numaplan capture probe'), 9, '::1');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    probe.close();
  }
}

/** Stops the capture once the last datagrams are in it; returns dumpcap's closing report (packets captured, received and dropped). */
async function stop(child: ChildProcess): Promise<string> {
  await probed('dumpcap to write a probe sent after the last datagram');
  child.removeAllListeners('exit');
  let report = '';
  child.stderr?.on('data', (d: Buffer) => {
    report += d.toString();
  });
  await new Promise<void>((resolve) => {
    child.on('exit', () => resolve());
    child.kill('SIGINT');
  });
  return report.trim();
}

async function next(cq: CompletionQueue): Promise<WorkCompletion> {
  const t = setTimeout(() => cq.push({ wrId: -1, status: 'flushed', opcode: 'send', qpNum: 0, byteLen: 0 }), UNTIL_CAP_MS);
  const wc = await cq.next();
  clearTimeout(t);
  if (wc.status !== 'success') throw new Error(`work request ${String(wc.wrId)} completed with ${wc.status}`);
  return wc;
}

function side(t: PacketTransport) {
  const dev = new RdmaDevice(t);
  const pd = dev.allocPd();
  const cq = dev.createCq();
  const rcq = dev.createCq();
  const mem = Buffer.alloc(1 << 20);
  const mr = pd.regMr(mem, ALL);
  return { dev, pd, cq, rcq, mem, mr, qp: () => dev.createQp(pd, { sendCq: cq, recvCq: rcq }) };
}

/** Two devices, two QP pairs, each doing WRITE, READ, SEND and fetch-and-add, data checked. */
async function twoDevices(addrA: string, addrB: string, io?: 'native') {
  const ta = await openUdpTransport({ address: addrA, ...(io ? { io } : {}) });
  const tb = await openUdpTransport({ address: addrB, ...(io ? { io } : {}) });
  const a = side(ta);
  const b = side(tb);
  const pairs = [0, 1].map(() => ({ qa: a.qp(), qb: b.qp() }));
  for (const { qa, qb } of pairs) connectPair(qa, qb, { pathMtu: 1024 });
  let wr = 0;
  for (const [k, { qa, qb }] of pairs.entries()) {
    const base = k * 0x40000;
    for (let i = 0; i < 70_000; i++) a.mem[base + i] = (i * 13 + k) & 0xff;
    qa.postSend({ wrId: ++wr, opcode: 'rdma-write', sgList: [{ addr: a.mr.addr + base, length: 70_000, lkey: a.mr.lkey }], remoteAddr: b.mr.addr + base, rkey: b.mr.rkey });
    await next(a.cq);
    if (!b.mem.subarray(base, base + 70_000).equals(a.mem.subarray(base, base + 70_000))) throw new Error('WRITE data differs');
    b.mem.fill(0x40 + k, base + 0x20000, base + 0x20000 + 9000);
    qa.postSend({ wrId: ++wr, opcode: 'rdma-read', sgList: [{ addr: a.mr.addr + base + 0x20000, length: 9000, lkey: a.mr.lkey }], remoteAddr: b.mr.addr + base + 0x20000, rkey: b.mr.rkey });
    await next(a.cq);
    if (!a.mem.subarray(base + 0x20000, base + 0x20000 + 9000).every((x) => x === 0x40 + k)) throw new Error('READ data differs');
    qb.postRecv({ wrId: 100 + k, sgList: [{ addr: b.mr.addr + base + 0x30000, length: 4096, lkey: b.mr.lkey }] });
    a.mem.fill(0x70 + k, base + 0x30000, base + 0x30000 + 3000);
    qa.postSend({ wrId: ++wr, opcode: 'send', sgList: [{ addr: a.mr.addr + base + 0x30000, length: 3000, lkey: a.mr.lkey }] });
    await next(a.cq);
    const rwc = await next(b.rcq);
    if (rwc.byteLen !== 3000 || !b.mem.subarray(base + 0x30000, base + 0x30000 + 3000).every((x) => x === 0x70 + k)) throw new Error('SEND data differs');
    b.mem.writeBigUInt64LE(1000n + BigInt(k), base + 0x38000);
    qa.postSend({ wrId: ++wr, opcode: 'fetch-add', add: 5n, sgList: [{ addr: a.mr.addr + base + 0x38000, length: 8, lkey: a.mr.lkey }], remoteAddr: b.mr.addr + base + 0x38000, rkey: b.mr.rkey });
    await next(a.cq);
    if (a.mem.readBigUInt64LE(base + 0x38000) !== 1000n + BigInt(k) || b.mem.readBigUInt64LE(base + 0x38000) !== 1005n + BigInt(k)) throw new Error('fetch-and-add values differ');
  }
  const out = {
    io: [ta.io, tb.io],
    ecn: [ta.ecn, tb.ecn],
    notice: ta.notice ?? null,
    ports: [ta.local.port, tb.local.port],
    qps: pairs.map(({ qa, qb }) => ({ a: qa.qpNum, b: qb.qpNum, srcA: qa.srcPort, srcB: qb.srcPort })),
    flows: [(ta as { flows?: unknown }).flows, (tb as { flows?: unknown }).flows],
    icrcErrors: ta.stats.icrcErrors + tb.stats.icrcErrors,
  };
  await a.dev.close();
  await b.dev.close();
  return out;
}

const isRequest = (op: number) => op <= OP.RDMA_READ_REQUEST || op === OP.COMPARE_SWAP || op === OP.FETCH_ADD || op === OP.SEND_LAST_WITH_INVALIDATE || op === OP.SEND_ONLY_WITH_INVALIDATE;

/** The capture's requests, replayed on the wire into numaplan responders standing in for rxe's. */
async function rxeReplay() {
  const pcaps = join(DATA_DIR, 'rdma', 'pcaps');
  const files = readdirSync(pcaps).filter((f) => f.endsWith('.pcap') && !/rdma_cm|rping/.test(f)).sort();
  const t = await openUdpTransport({ address: '10.1.16.61', io: 'raw' });
  const dev = new RdmaDevice(t);
  const out: { file: string; qpn: number; requests: number; expectedPsn: number; endPsn: number; state: string; recv: number }[] = [];
  for (const file of files) {
    const bytes = readFileSync(join(pcaps, file));
    const pkts = decodeCapture(bytes, { name: file });
    const records = readCapture(bytes, file);
    const ipOf = new Map(records.map((r) => [r.index, udpFromFrame(r.linkType, r.data)?.ip]));
    const requests = pkts.filter((p) => p.packet && p.opcode < 0x20 && isRequest(p.opcode) && p.dst === '10.1.16.61');
    const first = requests[0];
    if (!first) continue;
    const qpn = first.destQp;
    const answers = pkts.filter((p) => p.packet && p.src === '10.1.16.61' && p.opcode >= OP.RDMA_READ_RESPONSE_FIRST && p.opcode <= OP.ATOMIC_ACKNOWLEDGE);
    const requesterQpn = answers[0]?.destQp ?? 1;
    const pd = dev.allocPd();
    const regions = new Map<number, { lo: bigint; hi: bigint }>();
    for (const r of requests) {
      const e = r.packet?.reth ?? r.packet?.atomicEth;
      if (!e) continue;
      const len = BigInt(r.packet?.reth?.dmaLength ?? 8);
      const cur = regions.get(e.rkey);
      regions.set(e.rkey, { lo: cur && cur.lo < e.va ? cur.lo : e.va, hi: cur && cur.hi > e.va + len ? cur.hi : e.va + len });
    }
    for (const [rkey, { lo, hi }] of regions) pd.regMr(Buffer.alloc(Number(hi - lo)), ALL, { addr: Number(lo), key: rkey });
    const firstMtu = Math.max(256, ...requests.filter((r) => r.opcode === OP.SEND_FIRST || r.opcode === OP.RDMA_WRITE_FIRST).map((r) => r.packet?.payload.length ?? 0));
    const mtu = firstMtu > 256 ? firstMtu : 1024;
    const rcq = dev.createCq();
    const qp = dev.createQp(pd, { sendCq: dev.createCq(), recvCq: rcq, qpNum: qpn });
    bringUp(qp, 0, { qpn: requesterQpn, psn: first.psn, address: '10.1.16.62', port: 4791 }, { pathMtu: mtu as 1024, timeout: 0 });
    const recvMr = pd.regMr(Buffer.alloc(64 * 4096), ACCESS.LOCAL_WRITE);
    for (let i = 0; i < 64; i++) qp.postRecv({ wrId: i, sgList: [{ addr: recvMr.addr + i * 4096, length: 4096, lkey: recvMr.lkey }] });
    // Groups of requests up to one that asks for an ACK, as the requester sent them, each with the
    // PSN the responder expects once it has taken the group.
    const groups: { frames: string[]; endPsn: number }[] = [];
    let g: string[] = [];
    let npkts = 0;
    for (const r of requests) {
      const ip = ipOf.get(r.frame);
      if (!ip) continue;
      g.push(ip.toString('hex'));
      npkts += r.opcode === OP.RDMA_READ_REQUEST ? Math.max(1, Math.ceil((r.packet?.reth?.dmaLength ?? 0) / mtu)) : 1;
      if (r.packet?.bth.ackReq) {
        groups.push({ frames: g, endPsn: (first.psn + npkts) & 0xffffff });
        g = [];
      }
    }
    if (g.length) groups.push({ frames: g, endPsn: (first.psn + npkts) & 0xffffff });
    // One group per line; the injector answers each once its packets are on the wire, and the next
    // goes when the responder has taken this one (as the requester waited for its ACK).
    const py = [
      'import json, socket, sys',
      's = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)',
      'for line in sys.stdin:',
      '    for h in json.loads(line):',
      '        b = bytes.fromhex(h)',
      '        s.sendto(b, (socket.inet_ntoa(b[16:20]), 0))',
      '    print("sent", flush=True)',
    ].join('\n');
    const inject = spawn('python3', ['-c', py], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<void>((resolve, reject) => inject.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`injector exited with ${code}`)))));
    let sent = 0;
    inject.stdout.on('data', (d: Buffer) => {
      sent += d.toString().split('sent').length - 1;
    });
    for (const [i, group] of groups.entries()) {
      inject.stdin.write(`${JSON.stringify(group.frames)}\n`);
      await until(() => sent > i, `the injector to send group ${i} of ${file}`);
      await until(() => qp.responder.expectedPsn === group.endPsn || qp.state === 'error', `the responder to take group ${i} of ${file} (PSN ${group.endPsn})`);
    }
    inject.stdin.end();
    await exited;
    out.push({ file, qpn, requests: requests.length, expectedPsn: (first.psn + npkts) & 0xffffff, endPsn: qp.responder.expectedPsn, state: qp.state, recv: rcq.length });
  }
  const stats = { ...t.stats, device: dev.stats, io: t.io };
  await dev.close();
  return { replays: out, stats };
}

/** A CLI process's exit code and output. */
type Proc = CliProcessResult;

function cli(args: string[]): Promise<Proc> {
  return runCliProcess(args);
}

/** Resolves once a socket listens on TCP `port` (asked of the kernel with ss: a probe connection would be taken for the client). */
async function listening(port: number): Promise<void> {
  const start = performance.now();
  while (spawnSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).stdout.trim() === '') {
    if (performance.now() - start > UNTIL_CAP_MS) throw new Error(`gave up after ${UNTIL_CAP_MS} ms waiting for a listener on TCP port ${port}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}

/** A server process, then (once it listens) a client process; both results. */
async function both(server: string[], client: string[]): Promise<{ server: Proc; client: Proc }> {
  const s = cli(server);
  const p = server.indexOf('-p');
  await listening(p >= 0 ? Number(server[p + 1]) : 18515);
  const c = await cli(client);
  return { server: await s, client: c };
}

async function tools() {
  const out: Record<string, { server: Proc; client: Proc }> = {};
  let port = 18515;
  out.pingpong = await both(['rdma', 'pingpong', '--local', 'fd00::1', '-n', '200', '-s', '1024'], ['rdma', 'pingpong', '--local', 'fd00::2', '-n', '200', '-s', '1024', '169.254.7.1']);
  out['pingpong-ipv4-raw'] = await both(['rdma', 'pingpong', '-p', String(++port), '--local', '10.7.0.1', '-n', '100'], ['rdma', 'pingpong', '-p', String(port), '--local', '10.7.0.2', '-n', '100', '169.254.7.1']);
  for (const test of ['write_bw', 'read_bw', 'send_bw', 'atomic_bw', 'write_lat']) {
    const size = test === 'write_lat' ? ['-s', '8'] : test === 'atomic_bw' ? [] : ['-s', '65536'];
    const common = ['-p', String(++port), '-n', '200', ...size, '--json'];
    out[test] = await both(['rdma', 'perf', test, '--local', 'fd00::1', ...common], ['rdma', 'perf', `ib_${test}`, '169.254.7.1', '--local', 'fd00::2', ...common]);
  }
  const text = ['-p', String(++port), '-n', '300', '-s', '4096', '-m', '4096', '--report_gbits'];
  out['write_bw-text'] = await both(['rdma', 'perf', 'write_bw', '--local', 'fd00::1', ...text], ['rdma', 'perf', 'write_bw', '169.254.7.1', '--local', 'fd00::2', ...text]);
  const v4 = ['-p', String(++port), '-n', '200', '--json'];
  out['write_bw-ipv4-raw'] = await both(['rdma', 'perf', 'write_bw', '--local', '10.7.0.1', ...v4], ['rdma', 'perf', 'write_bw', '169.254.7.1', '--local', '10.7.0.2', ...v4]);
  return out;
}

async function main(): Promise<void> {
  const cap = await capture();
  let result: unknown;
  try {
    if (name === 'v6') result = await twoDevices('fd00::1', 'fd00::2');
    else if (name === 'v4raw') result = await twoDevices('10.7.0.1', '10.7.0.2');
    else if (name === 'v4udp') result = await twoDevices('10.7.0.1', '10.7.0.2', 'native');
    else if (name === 'rxe-replay') result = await rxeReplay();
    else if (name === 'tools') result = await tools();
    else throw new Error(`unknown scenario ${name}`);
  } finally {
    process.stderr.write(`${await stop(cap)}\n`);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
