/**
 * The real referee for the wire format: numaplan's packets of every RC opcode (and the UD SEND used by
 * connection management), over IPv4 and IPv6, written to a pcap and dissected by tshark as RoCE v2
 * with exactly the field values we intended. tshark does not check the ICRC; test/rdma-pcap.test.ts does.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { writePcap } from '../src/rdma/pcap-writer.js';
import { nativeIoAvailable, openUdpTransport } from '../src/rdma/transport/udp.js';
import { icrcOfIpPacket, readIcrc } from '../src/rdma/wire/icrc.js';
import { type Aeth, aethSyndrome } from '../src/rdma/wire/aeth.js';
import { buildRoceFrame } from '../src/rdma/wire/frame.js';
import { parseIp } from '../src/rdma/wire/ip-address.js';
import { knownOpcodes, opcodeLayout } from '../src/rdma/wire/opcodes.js';
import { type RocePacket, encodePacket } from '../src/rdma/wire/packet.js';
import { tool } from './support/tools.js';

const AETHS: Aeth[] = [
  { kind: 'ack', credits: 31, msn: 0x000102 },
  { kind: 'rnr-nak', timer: 14, msn: 7 },
  { kind: 'nak', code: 0, msn: 8 },
  { kind: 'nak', code: 1, msn: 9 },
  { kind: 'nak', code: 2, msn: 10 },
  { kind: 'nak', code: 3, msn: 11 },
];

/** Every opcode, each with distinct values; ACKs once per syndrome kind. */
function packets(): RocePacket[] {
  const out: RocePacket[] = [];
  let i = 0;
  for (const op of knownOpcodes()) {
    const l = opcodeLayout(op);
    if (!l || op === 0x81) continue;
    const variants = op === 0x11 ? AETHS : [AETHS[0] as Aeth];
    for (const aeth of variants) {
      i++;
      const p: RocePacket = {
        bth: { opcode: op, se: i % 2 === 0, migReq: false, padCount: 0, tver: 0, pKey: 0xffff, fecn: false, becn: false, destQp: (0x10000 * i + 0x123) & 0xffffff, ackReq: i % 3 === 0, psn: (0xfffff0 + i * 7) & 0xffffff },
        payload: l.payload ? Buffer.alloc(1 + ((i * 37) % 300), i) : Buffer.alloc(0),
      };
      if (l.deth) p.deth = { qKey: 0x80010000, srcQp: 1 };
      if (l.reth) p.reth = { va: 0x7f3c800000000000n + BigInt(i) * 0x1000n, rkey: 0xab12cd00 + i, dmaLength: 4096 * i };
      if (l.aeth) p.aeth = aeth;
      if (l.atomicEth) p.atomicEth = { va: 0x7f0000001000n + BigInt(i) * 8n, rkey: 0x1000 + i, swapAdd: 0x1122334455667788n + BigInt(i), compare: 0x0102030405060708n };
      if (l.atomicAckEth) p.atomicAckData = 0xdeadbeefcafe0000n + BigInt(i);
      if (l.immDt) p.immDt = 0xa0b0c000 + i;
      if (l.ieth) p.ieth = 0x55aa0000 + i;
      out.push(p);
    }
  }
  return out;
}

/** Flattens tshark's JSON layer tree into field -> value (last occurrence wins). */
function flatten(obj: unknown, out: Record<string, string> = {}): Record<string, string> {
  if (obj && typeof obj === 'object') {
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
      if (typeof v === 'string') out[k] = v;
      else flatten(v, out);
    }
  }
  return out;
}

const hasTshark = tool('tshark');
const tmp = mkdtempSync(join(tmpdir(), 'numaplan-tshark-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * The packets as they crossed IPv6 loopback: sent by a UDP transport (`io`), received by a plain
 * node:dgram socket, framed with the real addresses and ports. Returns the datagrams and frames.
 */
async function overLoopback(io: 'native' | 'dgram', encoded: Buffer[]): Promise<{ got: Buffer[]; frames: Buffer[]; port: number }> {
  const rx = createSocket({ type: 'udp6', recvBufferSize: 4 << 20 });
  await new Promise<void>((r) => rx.bind(0, '::1', () => r()));
  const got: { msg: Buffer; port: number }[] = [];
  const all = new Promise<void>((resolve) => {
    rx.on('message', (msg, rinfo) => {
      got.push({ msg, port: rinfo.port });
      if (got.length === encoded.length) resolve();
    });
  });
  const tx = await openUdpTransport({ address: '::1', port: 0, io });
  expect(tx.io).toBe(io);
  for (const r of encoded) tx.send({ address: '::1', port: rx.address().port }, Buffer.from(r));
  await all;
  await tx.close();
  const lo = parseIp('::1') as Buffer;
  const port = rx.address().port;
  rx.close();
  return { got: got.map((g) => g.msg), frames: got.map((g) => buildRoceFrame({ srcAddr: lo, dstAddr: lo, srcPort: g.port, dstPort: port }, g.msg)), port };
}

const VARIANTS = ['ipv4', 'ipv6', ...(nativeIoAvailable().available || process.env.CI === 'true' ? (['ipv6 loopback, native I/O'] as const) : []), 'ipv6 loopback, dgram I/O'] as const;

describe.skipIf(!hasTshark)('tshark dissects numaplan RoCE v2 packets', () => {
  for (const family of VARIANTS) {
    it(`every opcode over ${family}`, async () => {
      const src = parseIp(family === 'ipv4' ? '10.0.0.1' : 'fd00::1') as Buffer;
      const dst = parseIp(family === 'ipv4' ? '10.0.0.2' : 'fd00::2') as Buffer;
      const pkts = packets();
      const encoded = pkts.map(encodePacket);
      let frames = encoded.map((r, k) => buildRoceFrame({ srcAddr: src, dstAddr: dst, srcPort: 49152 + k }, r));
      // The receiver's port is not 4791: tell tshark to dissect it as RoCE v2 all the same.
      const decodeAs: string[] = [];
      if (family.includes('loopback')) {
        // Real traffic: the sender's ICRCs, the datagrams as the receiver got them, in order.
        const wire = await overLoopback(family.includes('native') ? 'native' : 'dgram', encoded);
        expect(wire.got.map((g) => g.subarray(0, g.length - 4).toString('hex'))).toEqual(encoded.map((e) => e.subarray(0, e.length - 4).toString('hex')));
        expect(wire.frames.length, 'frames captured').toBe(encoded.length);
        for (const f of wire.frames) expect(readIcrc(f.subarray(62)), 'ICRC of the sent packet').toBe(icrcOfIpPacket(f.subarray(14)));
        frames = wire.frames;
        decodeAs.push('-d', `udp.port==${wire.port},infiniband`);
      }
      const file = join(tmp, `${family.replace(/[^a-z0-9]+/g, '-')}.pcap`);
      writeFileSync(file, writePcap(frames));
      const r = spawnSync('tshark', ['-r', file, '-T', 'json', '--disable-protocol', 'rpcordma', ...decodeAs], { encoding: 'utf8', maxBuffer: 64 << 20 });
      expect(r.status, r.stderr).toBe(0);
      const dissected = JSON.parse(r.stdout) as { _source: { layers: Record<string, unknown> } }[];
      expect(dissected).toHaveLength(pkts.length);
      pkts.forEach((p, k) => {
        const layers = dissected[k]?._source.layers ?? {};
        const f = flatten(layers.infiniband);
        const what = `packet ${k} opcode ${p.bth.opcode}`;
        expect(String(flatten(layers.frame)['frame.protocols']), what).toMatch(/udp:infiniband/);
        expect(Number(f['infiniband.bth.opcode']), what).toBe(p.bth.opcode);
        expect(Number(f['infiniband.bth.destqp']), what).toBe(p.bth.destQp);
        expect(Number(f['infiniband.bth.psn']), what).toBe(p.bth.psn);
        expect(Number(f['infiniband.bth.padcnt']), what).toBe((4 - (p.payload.length % 4)) % 4);
        expect(f['infiniband.bth.se'], what).toBe(p.bth.se ? '1' : '0');
        expect(f['infiniband.bth.a'], what).toBe(p.bth.ackReq ? '1' : '0');
        expect(Number(f['infiniband.bth.p_key']), what).toBe(0xffff);
        if (p.reth) {
          expect(BigInt(f['infiniband.reth.va'] ?? 'x'), what).toBe(p.reth.va);
          expect(Number(f['infiniband.reth.r_key']), what).toBe(p.reth.rkey);
          expect(Number(f['infiniband.reth.dmalen']), what).toBe(p.reth.dmaLength);
        }
        if (p.aeth) {
          expect(Number(f['infiniband.aeth.syndrome']), what).toBe(aethSyndrome(p.aeth));
          expect(Number(f['infiniband.aeth.msn']), what).toBe(p.aeth.msn);
          if (p.aeth.kind === 'nak') expect(Number(f['infiniband.aeth.syndrome.error_code']), what).toBe(p.aeth.code);
          if (p.aeth.kind === 'rnr-nak') expect(Number(f['infiniband.aeth.syndrome.timer']), what).toBe(p.aeth.timer);
        }
        if (p.atomicEth) {
          expect(BigInt(f['infiniband.reth.va'] ?? 'x'), what).toBe(p.atomicEth.va);
          expect(Number(f['infiniband.reth.r_key']), what).toBe(p.atomicEth.rkey);
          expect(BigInt(f['infiniband.atomiceth.swapdt'] ?? 'x'), what).toBe(p.atomicEth.swapAdd);
          expect(BigInt(f['infiniband.atomiceth.cmpdt'] ?? 'x'), what).toBe(p.atomicEth.compare);
        }
        if (p.atomicAckData !== undefined) expect(BigInt(f['infiniband.atomicacketh.origremdt'] ?? 'x'), what).toBe(p.atomicAckData);
        if (p.immDt !== undefined) expect(f['infiniband.immdt'], what).toBe(hexBytes(p.immDt));
        if (p.ieth !== undefined) expect(f['infiniband.ieth'], what).toBe(hexBytes(p.ieth));
        if (p.deth) {
          expect(Number(f['infiniband.deth.q_key']), what).toBe(p.deth.qKey);
          expect(Number(f['infiniband.deth.srcqp']), what).toBe(p.deth.srcQp);
        }
        if (p.payload.length > 0 && !p.deth) {
          const d = flatten(layers.data);
          // tshark's data layer includes the pad bytes.
          const padded = (p.payload.length + 3) & ~3;
          expect(Number(d['data.len']), what).toBe(padded);
          expect(d['data.data']?.replaceAll(':', '').slice(0, p.payload.length * 2), what).toBe(p.payload.toString('hex'));
        }
        // tshark shows the ICRC bytes as one big-endian number (for UD it hands the tail to the MAD dissector).
        const enc = encoded[k] as Buffer;
        const frame = frames[k] as Buffer;
        if (!p.deth) expect(Number(f['infiniband.invariant.crc']), what).toBe(frame.readUInt32BE(frame.length - 4));
        expect(enc.length).toBe(frame.length - (family === 'ipv4' ? 42 : 62));
        if (family.includes('loopback')) expect(Number(f['infiniband.invariant.crc']), what).not.toBe(0);
      });
    });
  }
});

function hexBytes(v: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
