/**
 * Fuzzing the addon's placement unit (native/placement.cc) on its own: random and mutated RDMA
 * WRITE packets against random regions and queue-pair states. Whatever the bytes, it names a known
 * check, writes nothing outside the registered regions (guard zones around each stay zero), and what
 * it reports placed is exactly the payload at the RETH's offset. CI also runs this against the
 * AddressSanitizer build of the addon, which turns any out-of-bounds read or write into a failure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadRoceUdpAddon } from '../src/rdma/transport/native-addon.js';
import { nativeIoAvailable } from '../src/rdma/transport/udp.js';
import { OP } from '../src/rdma/wire/opcodes.js';

const RUN = nativeIoAvailable().available || process.env.CI === 'true';
const CHECKS = new Set([
  'ok', 'short', 'bad-header', 'not-rc', 'no-qp', 'qp-disabled', 'peer', 'held', 'qp-deferred', 'not-plain-write',
  'psn', 'truncated', 'over-mtu', 'sequence', 'length', 'rkey', 'pd', 'access', 'bounds', 'memory-gone',
]);

describe.runIf(RUN)('placement unit fuzzing', () => {
  it('names a known check, never writes outside a region, and places exactly the payload', () => {
    const addon = loadRoceUdpAddon().addon;
    if (!addon) throw new Error('addon missing');
    const GUARD = 64;
    const peer = Buffer.from('fd000000000000000000000000000002', 'hex');
    const qpn = 0x21;
    const arbPacket = fc.record({
      op: fc.oneof(fc.constantFrom(OP.RDMA_WRITE_FIRST, OP.RDMA_WRITE_MIDDLE, OP.RDMA_WRITE_LAST, OP.RDMA_WRITE_ONLY), fc.integer({ min: 0, max: 255 })),
      psnDelta: fc.oneof(fc.constant(0), fc.integer({ min: -2, max: 2 })),
      region: fc.nat(3),
      vaOff: fc.oneof(fc.integer({ min: -8, max: 1100 }), fc.constant(0)),
      dma: fc.oneof(fc.constantFrom(0, 1, 255, 256, 257, 512, 1024, 0xffffffff), fc.nat(2048)),
      payload: fc.oneof(fc.constant(256), fc.nat(300)),
      pad: fc.nat(3),
      mutations: fc.array(fc.tuple(fc.nat(400), fc.nat(255)), { maxLength: 3 }),
      cut: fc.option(fc.nat(340), { nil: undefined, freq: 5 }),
      src: fc.constantFrom(peer, Buffer.from('fd000000000000000000000000000003', 'hex'), Buffer.from('0a000001', 'hex')),
    });
    // Well-formed WRITE ONLYs at the expected PSN, so the placing path is reached too.
    const arbGood = fc.record({ payload: fc.integer({ min: 1, max: 256 }), vaOff: fc.nat(700) }).map((g) => ({
      op: OP.RDMA_WRITE_ONLY as number,
      psnDelta: 0,
      region: 0,
      vaOff: g.vaOff,
      dma: g.payload,
      payload: g.payload,
      pad: (4 - (g.payload % 4)) % 4,
      mutations: [] as [number, number][],
      cut: undefined as number | undefined,
      src: peer,
    }));
    let placed = 0;
    fc.assert(
      fc.property(fc.array(fc.oneof(arbPacket, arbGood), { minLength: 1, maxLength: 12 }), fc.nat(0xffffff), fc.oneof(fc.constant(true), fc.boolean()), (items, epsn, remoteWrite) => {
        const lens = [1024, 512, 64];
        const arena = new Uint8Array(lens.reduce((s, l) => s + l + GUARD, GUARD));
        let at = GUARD;
        const regions = lens.map((len, i) => {
          const bytes = arena.subarray(at, at + len);
          at += len + GUARD;
          return { rkey: 0x100 + i, pd: i === 2 ? 2 : 1, access: i === 1 ? 1 : 3, va: 0x10000 * (i + 1), bytes };
        });
        let psn = epsn;
        for (const it of items) {
          const reg = regions[it.region % regions.length];
          const hasReth = it.op === OP.RDMA_WRITE_FIRST || it.op === OP.RDMA_WRITE_ONLY;
          const b = Buffer.alloc(12 + (hasReth ? 16 : 0) + it.payload + it.pad + 4, 0x5c);
          b[0] = it.op;
          b[1] = it.pad << 4;
          b.writeUInt16BE(0xffff, 2);
          b.writeUIntBE(qpn, 5, 3);
          b.writeUIntBE((psn + it.psnDelta) & 0xffffff, 9, 3);
          if (hasReth) {
            b.writeBigUInt64BE(BigInt(Math.max(0, (reg?.va ?? 0) + it.vaOff)), 12);
            b.writeUInt32BE(reg?.rkey ?? 0x999, 20);
            b.writeUInt32BE(it.dma >>> 0, 24);
          }
          for (const [k, v] of it.mutations) if (k < b.length) b[k] = v;
          const pkt = it.cut === undefined ? b : b.subarray(0, it.cut);
          const before = Buffer.from(arena);
          const [check] = addon.placeSim(regions, [[qpn, true, psn & 0xffffff, 256, 1, remoteWrite, peer, 0, 0, 0, 0]], [pkt], it.src);
          expect(CHECKS.has(check as string), String(check)).toBe(true);
          // Guard zones are never written.
          let g = 0;
          let clean = true;
          for (const len of [...lens, 0]) {
            for (let i = g; i < g + GUARD; i++) clean &&= arena[i] === 0;
            g += GUARD + len;
          }
          expect(clean).toBe(true);
          const changed = arena.some((x, i) => x !== before[i]);
          if (check === 'ok') {
            placed++;
            // A single packet, starting a message: the payload lands at the RETH's offset.
            const off = Number(pkt.readBigUInt64BE(12)) - (reg?.va ?? 0);
            const payload = pkt.subarray(28, pkt.length - ((pkt[1] as number) >> 4 & 3) - 4);
            expect(Buffer.from(reg?.bytes.subarray(off, off + payload.length) ?? []).equals(payload)).toBe(true);
            psn++;
          } else expect(changed).toBe(false);
        }
      }),
      { numRuns: Number(process.env.RDMA_PROPERTY_RUNS ?? 400) },
    );
    // The fuzz reached the placing path, not only the refusals.
    expect(placed).toBeGreaterThan(0);
  });
});
