/**
 * The native (sendmmsg/recvmmsg) UDP transport: the addon loads (a failure under CI=true), its CRC
 * and ICRC agree with zlib, the TS routine and real captures, the io option picks the transport,
 * and the batching edge cases: more packets than a batch in one tick, a full socket (EAGAIN) keeping
 * the rest queued, two senders in one receive batch, close with sends pending, malformed datagrams
 * in the middle of a batch.
 */
import { spawn } from 'node:child_process';
import { type Socket as UdpSocket, createSocket } from 'node:dgram';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { readCapture } from '../src/rdma/pcap.js';
import { type RoceUdpAddon, loadRoceUdpAddon } from '../src/rdma/transport/native-addon.js';
import { type NativeUdpTransport, openNativeUdpTransport } from '../src/rdma/transport/native-udp.js';
import type { PacketTransport } from '../src/rdma/transport/transport.js';
import { DGRAM_ZERO_CHECKSUM_NOTICE, IPV4_UDP_NOTICE, nativeIoAvailable, openUdpTransport, rawIoAvailable } from '../src/rdma/transport/udp.js';
import { udpFromFrame } from '../src/rdma/wire/frame.js';
import { icrcForUdp, readIcrc, writeIcrc } from '../src/rdma/wire/icrc.js';
import { parseIp } from '../src/rdma/wire/ip-address.js';
import type { PeerAddress } from '../src/rdma/verbs/types.js';
import { dataSet } from './support/data.js';
import { UNTIL_CAP_MS, until } from './support/until.js';

const IN_CI = process.env.CI === 'true';

/** Binds an IPv6 UDP socket that sends with checksum 0 (UDP_NO_CHECK6_TX), prints its port, sends the hex datagram read from stdin to ::1:argv[1]. */
const ZERO_CHECKSUM_SENDER = [
  'import socket, sys',
  's = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
  's.setsockopt(socket.IPPROTO_UDP, 101, 1)',
  "s.bind(('::1', 0))",
  'print(s.getsockname()[1], flush=True)',
  "s.sendto(bytes.fromhex(sys.stdin.readline().strip()), ('::1', int(sys.argv[1])))",
].join('\n');
/**
 * Binds an IPv6 UDP socket, prints its port, then for each stdin line "SEG HEX" sends the hex bytes
 * to ::1:argv[1] as ONE UDP GSO message cut every SEG bytes (UDP_SEGMENT, 103). Over loopback a
 * receiver with UDP GRO gets it whole, as one coalesced receive; others get the datagrams.
 */
const GSO_SENDER = [
  'import socket, struct, sys',
  's = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
  "s.bind(('::1', 0))",
  'print(s.getsockname()[1], flush=True)',
  'for line in sys.stdin:',
  '    seg, data = line.split()',
  "    s.sendmsg([bytes.fromhex(data)], [(socket.IPPROTO_UDP, 103, struct.pack('H', int(seg)))], 0, ('::1', int(sys.argv[1])))",
].join('\n');
const avail = nativeIoAvailable();
if (!avail.available && !IN_CI) console.warn(`SKIPPED native I/O tests: ${avail.reason}`);

it('the native addon loads (required under CI=true)', () => {
  if (IN_CI) expect(avail, avail.reason).toMatchObject({ available: true });
  else expect(typeof avail.reason).toBe('string');
});

const addon = loadRoceUdpAddon().addon as RoceUdpAddon;
const LOCAL = parseIp('::1') as Buffer;

/** A RoCE-shaped packet: 12-byte BTH (opcode 0x0a = WRITE ONLY), `body` bytes, 4-byte ICRC slot. */
function packet(tag: number, body = 100): Buffer {
  const b = Buffer.alloc(12 + body + 4);
  b[0] = 0x0a;
  b.writeUInt16BE(0xffff, 2);
  b.writeUInt32BE(tag & 0xffffff, 8);
  b.fill(tag & 0xff, 12, 12 + body);
  return b;
}
const tagOf = (roce: Buffer): number => roce.readUInt32BE(8) & 0xffffff;

const open: PacketTransport[] = [];
const sockets: UdpSocket[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
  for (const s of sockets.splice(0)) s.close();
});

async function native(opts: { batch?: number; noIcrc?: boolean } = {}): Promise<NativeUdpTransport> {
  const t = (await openUdpTransport({ address: '::1', port: 0, io: 'native', ...opts })) as NativeUdpTransport;
  open.push(t);
  return t;
}

/** Collects what a transport delivers, and resolves once `n` packets arrived. */
function collect(t: PacketTransport): { got: { tag: number; from: PeerAddress }[]; until(n: number): Promise<void> } {
  const got: { tag: number; from: PeerAddress }[] = [];
  let want = Number.POSITIVE_INFINITY;
  let wake: (() => void) | null = null;
  t.onReceive((roce, from) => {
    got.push({ tag: tagOf(roce), from });
    if (got.length >= want) wake?.();
  });
  return {
    got,
    until: (n) =>
      new Promise<void>((resolve, reject) => {
        if (got.length >= n) return resolve();
        want = n;
        wake = resolve;
        setTimeout(() => reject(new Error(`only ${got.length} of ${n} packets arrived`)), UNTIL_CAP_MS).unref();
      }),
  };
}

describe.skipIf(!avail.available && !IN_CI)('native UDP transport', () => {
  it('CRC-32 equals zlib for any bytes and start value', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 9000 }), fc.nat({ max: 0xffffffff }), (bytes, init) => {
        const b = Buffer.from(bytes);
        expect(addon.crc32(b, init)).toBe(crc32(b, init));
      }),
      { numRuns: 300 },
    );
  });

  it('ICRC equals the TS routine over IPv6 and IPv4, any packet and ports', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ minLength: 16, maxLength: 4200 }), fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }), (v6, bytes, sp, dp) => {
        const src = Buffer.alloc(v6 ? 16 : 4, 0x11);
        const dst = Buffer.alloc(v6 ? 16 : 4, 0x22);
        const roce = Buffer.from(bytes);
        expect(addon.icrc(src, dst, sp, dp, roce, 0, 0x4000)).toBe(icrcForUdp({ srcAddr: src, dstAddr: dst, srcPort: sp, dstPort: dp }, roce));
      }),
      { numRuns: 300 },
    );
  });

  const pcaps = dataSet('rdma/pcaps');
  it.skipIf(!pcaps)('ICRC reproduces every packet of the real soft-RoCE captures', () => {
    const dir = pcaps as string;
    let n = 0;
    for (const f of readdirSync(dir).filter((x) => /\.pcap(ng)?$/.test(x))) {
      for (const rec of readCapture(readFileSync(join(dir, f)), f)) {
        const udp = udpFromFrame(rec.linkType, rec.data);
        if (!udp || udp.dstPort !== 4791) continue;
        n++;
        const id = udp.ipVersion === 4 ? udp.ip.readUInt16BE(4) : 0;
        const ff = udp.ipVersion === 4 ? udp.ip.readUInt16BE(6) : 0x4000;
        expect(addon.icrc(udp.srcAddr, udp.dstAddr, udp.srcPort, udp.dstPort, udp.payload, id, ff), `${f} frame ${rec.index}`).toBe(readIcrc(udp.payload));
      }
    }
    expect(n).toBe(281);
  });

  it('io option: native, dgram, auto, and a clear error for a bad value', async () => {
    const n = await native();
    expect(n.io).toBe('native');
    const d = await openUdpTransport({ address: '::1', port: 0, io: 'dgram' });
    open.push(d);
    expect(d.io).toBe('dgram');
    expect([(n as PacketTransport).notice, d.notice]).toEqual([undefined, DGRAM_ZERO_CHECKSUM_NOTICE]); // node:dgram cannot take rxe's zero checksums
    const a = await openUdpTransport({ address: '::1', port: 0 });
    open.push(a);
    expect(a.io).toBe('native');
    await expect(openUdpTransport({ address: '::1', port: 0, io: 'fast' as never })).rejects.toMatchObject({ code: 'ERR_RDMA_USAGE', path: 'io' });
  });

  it('IPv4: raw I/O by default where permitted (else UDP with a notice that it cannot interoperate), dgram refused, raw refused for IPv6', async () => {
    const raw = rawIoAvailable();
    const t = await openUdpTransport({ address: '127.0.0.1', port: 0 });
    open.push(t);
    if (raw.available) expect([t.io, t.notice]).toEqual(['raw', undefined]);
    else expect([t.io, t.notice]).toEqual(['native', IPV4_UDP_NOTICE]);
    const u = await openUdpTransport({ address: '127.0.0.1', port: 0, io: 'native' });
    open.push(u);
    expect(u.notice).toBe(IPV4_UDP_NOTICE);
    await expect(openUdpTransport({ address: '127.0.0.1', port: 0, io: 'dgram' })).rejects.toMatchObject({ code: 'ERR_RDMA_USAGE', path: 'io' });
    await expect(openUdpTransport({ address: '::1', port: 0, io: 'raw' })).rejects.toMatchObject({ code: 'ERR_RDMA_USAGE', path: 'io' });
    await expect(openUdpTransport({ address: '::1', port: 70000 })).rejects.toMatchObject({ code: 'ERR_RDMA_USAGE', path: 'port' });
    const first = await openUdpTransport({ address: '::1', port: 0, io: 'native' });
    open.push(first);
    await expect(openUdpTransport({ address: '::1', port: first.local.port, io: 'native' })).rejects.toMatchObject({ code: 'ERR_RDMA_PORT_IN_USE', path: 'port' });
  });

  it('the native transport talks to the dgram one and back, ICRCs verified both ways', async () => {
    const n = await native();
    const d = await openUdpTransport({ address: '::1', port: 0, io: 'dgram' });
    open.push(d);
    const atN = collect(n);
    const atD = collect(d);
    for (let i = 0; i < 20; i++) n.send(d.local, packet(i, 3000));
    for (let i = 0; i < 20; i++) d.send(n.local, [packet(100 + i, 50)]);
    await atD.until(20);
    await atN.until(20);
    expect(atD.got.map((g) => g.tag)).toEqual([...Array(20).keys()]);
    expect(atN.got.map((g) => g.tag)).toEqual([...Array(20).keys()].map((i) => 100 + i));
    expect(atN.got[0]?.from).toEqual(d.local);
    expect(n.stats.icrcErrors + d.stats.icrcErrors).toBe(0);
  });

  it('more packets than the batch limit in one tick: all sent, in order, in several sendmmsg calls', async () => {
    const a = await native({ batch: 8 });
    const b = await native();
    const rx = collect(b);
    for (let i = 0; i < 100; i++) a.send(b.local, packet(i));
    expect(a.ioStats.sendCalls).toBe(12); // 12 full batches right away, the last 4 at the end of the tick
    expect(a.pending).toBe(4);
    await rx.until(100);
    expect(a.ioStats.sendCalls).toBe(13);
    expect(rx.got.map((g) => g.tag)).toEqual([...Array(100).keys()]);
  });

  it('a full socket (EAGAIN): the rest stays queued, in order, and leaves once the socket is writable', async () => {
    // Loopback never fills a UDP send buffer (the kernel hands the datagram over at once), so the
    // addon is wrapped: every other send call takes nothing (EAGAIN), the others at most 3 packets.
    let calls = 0;
    const stingy: RoceUdpAddon = {
      ...addon,
      send: (h, id, names, pkts, start, count) => (calls++ % 2 === 0 ? 0 : addon.send(h, id, names, pkts, start, Math.min(3, count))),
    };
    const a = openNativeUdpTransport(stingy, '::1', LOCAL, 0, false, { batch: 16 });
    open.push(a);
    const b = await native();
    const rx = collect(b);
    for (let i = 0; i < 200; i++) a.send(b.local, packet(i));
    expect(a.ioStats.blocked).toBe(1);
    expect(a.pending).toBe(200);
    await rx.until(200);
    expect(rx.got.map((g) => g.tag)).toEqual([...Array(200).keys()]);
    expect(a.pending).toBe(0);
    expect(a.ioStats.blocked).toBeGreaterThan(60);
    expect(a.sendErrors).toBe(0);
  });

  it('packets from two peers in one receive batch keep their senders apart', async () => {
    const a = await native({ batch: 1 });
    const c = await native({ batch: 1 });
    const b = await native();
    const rx = collect(b);
    // batch 1: every send is its own sendmmsg, so the receive queue interleaves the two senders.
    for (let i = 0; i < 10; i++) (i % 3 === 0 ? c : a).send(b.local, packet(i));
    await rx.until(10);
    expect(b.ioStats.recvBatches).toBe(1);
    for (const g of rx.got) expect(g.from.port, `packet ${g.tag}`).toBe(g.tag % 3 === 0 ? c.local.port : a.local.port);
    expect(rx.got.map((g) => g.tag)).toEqual([...Array(10).keys()]);
  });

  it('close with sends pending: what was handed over still leaves; later sends are ignored', async () => {
    const a = await native();
    const b = await native();
    const rx = collect(b);
    for (let i = 0; i < 50; i++) a.send(b.local, packet(i));
    expect(a.pending).toBe(50);
    await a.close();
    a.send(b.local, packet(99));
    await rx.until(50);
    // Sends after close are dropped where they are made, not on the wire: nothing more was handed over.
    expect(a.stats.sent).toBe(50);
    expect(rx.got.map((g) => g.tag)).toEqual([...Array(50).keys()]);
  });

  it('a packet in more than 16 pieces leaves whole (no piece is dropped), from the transport and from the addon', async () => {
    const a = await native();
    const b = await native();
    const got: Buffer[] = [];
    b.onReceive((roce) => got.push(Buffer.from(roce)));
    const whole = packet(7, 40 * 25 - 16);
    const pieces = (n: number): Buffer[] => Array.from({ length: n }, (_, i) => whole.subarray((i * whole.length) / n, ((i + 1) * whole.length) / n));
    a.send(b.local, pieces(40));
    const name = Buffer.alloc(28);
    name.writeUInt16LE(10, 0);
    name.writeUInt16BE(b.local.port, 2);
    LOCAL.copy(name, 8);
    const handle = (a as unknown as { handle: object }).handle;
    expect(addon.send(handle, 0, name, [pieces(25)], 0, 1)).toBe(1);
    await until(() => got.length >= 2, 'both messages of 40 and 25 pieces');
    expect(got).toHaveLength(2);
    for (const g of got) expect(g.equals(whole)).toBe(true);
    expect(b.stats.icrcErrors).toBe(0);
  });

  it('UDP GSO (IPv6): runs of equal packets, a shorter last one, another peer in between: every datagram arrives whole and in order, as without GSO', async () => {
    for (const gso of [true, false]) {
      const a = openNativeUdpTransport(addon, '::1', LOCAL, 0, false, { gso });
      open.push(a);
      const b = await native();
      const c = await native();
      const rb = collect(b);
      const rc = collect(c);
      for (let i = 0; i < 40; i++) a.send(i === 20 ? c.local : b.local, packet(i, i === 39 ? 500 : 4096));
      await rb.until(39);
      await rc.until(1);
      expect(rb.got.map((g) => g.tag)).toEqual([...Array(40).keys()].filter((i) => i !== 20));
      expect(rc.got.map((g) => g.tag)).toEqual([20]);
      expect(b.stats.icrcErrors + c.stats.icrcErrors).toBe(0);
    }
  });

  it('a piece that is not a Buffer is a clear error, and the transport goes on working', async () => {
    const a = await native();
    const b = await native();
    const rx = collect(b);
    const name = Buffer.alloc(28);
    name.writeUInt16LE(10, 0);
    name.writeUInt16BE(b.local.port, 2);
    LOCAL.copy(name, 8);
    const handle = (a as unknown as { handle: object }).handle;
    for (let i = 0; i < 50; i++) expect(() => addon.send(handle, 0, name, [[packet(1), 'not a buffer' as never]], 0, 1)).toThrow(/ERR_RDMA_NATIVE|failed/);
    a.send(b.local, packet(2));
    await rx.until(1);
    expect(rx.got.map((g) => g.tag)).toEqual([2]);
  });

  it('IPv6 datagrams with UDP checksum 0, as Linux rxe sends RoCE, are received (UDP_NO_CHECK6_RX)', async () => {
    const b = await native();
    const rx = collect(b);
    // A sender with UDP_NO_CHECK6_TX (101): the kernel leaves the checksum 0, as rxe's tunnel socket does.
    const py = spawn('python3', ['-c', ZERO_CHECKSUM_SENDER, String(b.local.port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const sport = await new Promise<number>((resolve, reject) => {
      py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      py.once('exit', (code) => reject(new Error(`python3 exited (${code}) before binding`)));
    });
    const roce = packet(7);
    writeIcrc(roce, addon.icrc(LOCAL, LOCAL, sport, b.local.port, roce, 0, 0));
    py.stdin.end(`${roce.toString('hex')}\n`);
    await rx.until(1);
    expect(rx.got).toEqual([{ tag: 7, from: { address: '::1', port: sport } }]);
    expect(b.stats).toMatchObject({ received: 1, icrcErrors: 0, malformed: 0 });
  });

  /** Starts GSO_SENDER towards `port`; resolves with its UDP source port and a function sending one GSO message of `segs` cut every `seg` bytes. */
  async function gsoSender(port: number): Promise<{ sport: number; send(seg: number, segs: Buffer[]): void; end(): Promise<void> }> {
    const py = spawn('python3', ['-c', GSO_SENDER, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((resolve) => py.once('exit', resolve));
    const sport = await new Promise<number>((resolve, reject) => {
      py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      void exited.then((code) => reject(new Error(`python3 exited (${code}) before binding`)));
    });
    return {
      sport,
      send: (seg, segs) => py.stdin.write(`${seg} ${Buffer.concat(segs).toString('hex')}\n`),
      end: async () => {
        py.stdin.end();
        expect(await exited).toBe(0);
      },
    };
  }

  /** A packet with its ICRC from ::1:sport to ::1:dport (as the kernel sends it: Identification and flags do not enter over IPv6). */
  function signed(tag: number, body: number, sport: number, dport: number): Buffer {
    const b = packet(tag, body);
    writeIcrc(b, addon.icrc(LOCAL, LOCAL, sport, dport, b, 0, 0));
    return b;
  }

  it('UDP GRO: a coalesced receive is split into its datagrams, each ICRC verified on its own: a corrupt middle one and cut or short last ones are rejected, the rest delivered in order', async () => {
    for (const gro of [true, false]) {
      const b = openNativeUdpTransport(addon, '::1', LOCAL, 0, false, { gro });
      open.push(b);
      expect(b.gro).toBe(gro); // this kernel (5.0 on) offers UDP GRO; gro: false is the fallback path
      const rx = collect(b);
      const tx = await gsoSender(b.local.port);
      const sg = (tag: number, body = 4096) => signed(tag, body, tx.sport, b.local.port);
      const full = sg(0).length;
      const corrupt = sg(2);
      corrupt[700] = (corrupt[700] as number) ^ 0x20; // one payload bit flipped after the ICRC was computed
      // 1: good, corrupt, good, a shorter good last one.
      tx.send(full, [sg(1), corrupt, sg(3), sg(4, 500)]);
      // 2: good, good, and a last one cut short inside its payload (its ICRC cannot verify).
      tx.send(full, [sg(5), sg(6), sg(7).subarray(0, 300)]);
      // 3: good, and a last one of 10 bytes (shorter than a BTH and an ICRC).
      tx.send(full, [sg(8), Buffer.alloc(10, 0xee)]);
      await until(() => b.stats.received + b.stats.malformed + b.stats.icrcErrors >= 9, 'the nine datagrams');
      await tx.end();
      expect(rx.got.map((g) => g.tag)).toEqual([1, 3, 4, 5, 6, 8]);
      expect(rx.got.every((g) => g.from.port === tx.sport && g.from.address === '::1')).toBe(true);
      expect(b.stats).toMatchObject({ received: 6, malformed: 1, icrcErrors: 2 });
      // With GRO the three GSO messages arrived as three receives; without, the kernel cut them.
      expect(b.rxStats).toEqual(gro ? { messages: 3, coalesced: 3, packets: 9 } : { messages: 9, coalesced: 0, packets: 9 });
    }
  });

  it('UDP GRO: datagrams longer than a slot in a coalesced receive are malformed, and more datagrams than a batch in one receive arrive whole and in order over several calls', async () => {
    const b = openNativeUdpTransport(addon, '::1', LOCAL, 0, false, { batch: 4 });
    open.push(b);
    const rx = collect(b);
    const tx = await gsoSender(b.local.port);
    const big = [signed(1, 6000, tx.sport, b.local.port), signed(2, 6000, tx.sport, b.local.port)];
    tx.send(12 + 6000 + 4, big);
    const run = [...Array(15).keys()].map((i) => signed(10 + i, 4096, tx.sport, b.local.port));
    tx.send(12 + 4096 + 4, run);
    await until(() => b.stats.received + b.stats.malformed >= 17, 'the 17 datagrams');
    await tx.end();
    expect(b.stats).toMatchObject({ received: 15, malformed: 2, icrcErrors: 0 });
    expect(rx.got.map((g) => g.tag)).toEqual(run.map((_, i) => 10 + i));
    expect(b.rxStats).toEqual({ messages: 2, coalesced: 2, packets: 17 });
    expect(b.ioStats.recvBatches).toBeGreaterThanOrEqual(5); // 17 datagrams, at most 4 per call
  });

  it('short, oversized and corrupt datagrams in the middle of a batch are counted and skipped', async () => {
    const good = await native({ batch: 1 });
    const raw = await native({ batch: 1, noIcrc: true });
    const b = await native();
    const rx = collect(b);
    good.send(b.local, packet(1));
    raw.send(b.local, Buffer.alloc(8, 1)); // too short for BTH + ICRC
    good.send(b.local, packet(2));
    const three = packet(3);
    good.send(b.local, three); // batch 1: sent (ICRC filled) at once
    const corrupt = Buffer.from(three);
    corrupt[20] = (corrupt[20] as number) ^ 0x01; // one payload bit flipped after the ICRC was computed
    raw.send(b.local, corrupt);
    raw.send(b.local, packet(4, 6000)); // longer than any RoCE packet: truncated in its slot
    good.send(b.local, packet(5));
    // Two sockets send: the receiver takes their datagrams in any interleaving; wait for all seven.
    await until(() => b.stats.received + b.stats.malformed + b.stats.icrcErrors >= 7, 'the seven datagrams');
    expect(rx.got.map((g) => g.tag)).toEqual([1, 2, 3, 5]);
    expect(b.stats).toMatchObject({ received: 4, malformed: 2, icrcErrors: 1 });
  });
});
