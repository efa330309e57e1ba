/**
 * Native UDP I/O recycles the memory of outgoing frames: a frame slab is written again only once
 * the kernel has taken every frame carved from it, so a packet still queued keeps its bytes.
 */
import { describe, expect, it } from 'vitest';
import type { NativeUdpTransport } from '../src/rdma/transport/native-udp.js';
import { nativeIoAvailable, openUdpTransport } from '../src/rdma/transport/udp.js';
import { until } from './support/until.js';

const RUN = nativeIoAvailable().available || process.env.CI === 'true';
const N = 4096 + 32;

describe.runIf(RUN)('native UDP frame recycling', () => {
  it('reuses a slab only after its frames were sent, and every datagram arrives intact', async () => {
    const tx = (await openUdpTransport({ address: '::1', port: 0, io: 'native', noIcrc: true })) as NativeUdpTransport;
    const rx = await openUdpTransport({ address: '::1', port: 0, io: 'native', noIcrc: true });
    const got: Buffer[] = [];
    rx.onReceive((b) => got.push(Buffer.from(b)));
    // 200 frames taken before any is sent: no slab may be reused while its frames wait.
    const frames: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const f = tx.frame(N);
      f.fill(i & 0xff);
      frames.push(f);
    }
    const slabs = new Set(frames.map((f) => f.buffer));
    expect(slabs.size).toBeGreaterThan(3);
    for (const f of frames) tx.sendFramed(rx.local, f);
    // Sent (the queue is flushed within this turn): the next frames come from a recycled slab.
    await new Promise((r) => setImmediate(r));
    expect(tx.pending).toBe(0);
    const again = tx.frame(N);
    expect(slabs.has(again.buffer)).toBe(true);
    await until(() => got.length >= 200, 'the 200 datagrams sent over loopback');
    expect(got.length).toBe(200);
    got.forEach((b, i) => {
      expect(b.length).toBe(N);
      // Bytes before the ICRC slot (the last 4, zero here with the ICRC off) are the frame's fill.
      expect(b.subarray(0, N - 4).every((x) => x === (i & 0xff))).toBe(true);
    });
    await tx.close();
    await rx.close();
  });

  it('one batch to several peers (a name per packet) and to one (a single name) both deliver every datagram to its peer', async () => {
    const tx = (await openUdpTransport({ address: '::1', port: 0, io: 'native', noIcrc: true })) as NativeUdpTransport;
    const rxs = [await openUdpTransport({ address: '::1', port: 0, io: 'native', noIcrc: true }), await openUdpTransport({ address: '::1', port: 0, io: 'native', noIcrc: true })];
    const got: number[][] = [[], []];
    rxs.forEach((rx, k) => rx.onReceive((b) => got[k]?.push(b[0] as number)));
    // 30 alternating (mixed batch), then 30 to the second receiver only (one name).
    for (let i = 0; i < 30; i++) tx.send((rxs[i % 2] as (typeof rxs)[number]).local, Buffer.alloc(64, i));
    await new Promise((r) => setImmediate(r));
    for (let i = 30; i < 60; i++) tx.send((rxs[1] as (typeof rxs)[number]).local, Buffer.alloc(64, i));
    const deadline = Date.now() + 2000;
    while ((got[0]?.length ?? 0) + (got[1]?.length ?? 0) < 60 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(got[0]).toEqual(Array.from({ length: 15 }, (_, j) => 2 * j));
    expect(got[1]).toEqual([...Array.from({ length: 15 }, (_, j) => 2 * j + 1), ...Array.from({ length: 30 }, (_, j) => 30 + j)]);
    await tx.close();
    for (const rx of rxs) await rx.close();
  });
});
