import { describe, expect, it } from 'vitest';
import { type DeviceIoCost, describeDeviceIo, deviceIoCost, predictCost, vnumaAwareDistance } from './model.js';

const slit = (a: number, b: number): number => (a === b ? 10 : 21);
const G = 1024 ** 3;

describe('cost model', () => {
  const base = { distance: slit, vcpusByNode: new Map([[0, 6], [1, 6]]), memoryByNode: new Map([[0, 8 * G], [1, 8 * G]]), pageSize: 4096, deviceNodes: [] };
  const guests = [
    { hostNode: 0, vcpus: 6, memory: 8 * G },
    { hostNode: 1, vcpus: 6, memory: 8 * G },
  ];

  it('predicts the NUMA-unaware worst case and, with guest nodes, the vNUMA-aware case', () => {
    const c = predictCost({ ...base, guestNodes: guests });
    expect(c.remoteAccessFraction).toBe(0.5);
    expect(c.relativeLatency).toBe(1.55);
    expect(c.vnumaAware).toEqual({ remoteAccessFraction: 0, relativeLatency: 1, expectedLatencyNs: 80 });
  });

  it('keeps the unaware figures for interleaved memory and without a vNUMA', () => {
    const same = { remoteAccessFraction: 0.5, relativeLatency: 1.55, expectedLatencyNs: 124 };
    expect(predictCost({ ...base, guestNodes: guests, interleave: true }).vnumaAware).toEqual(same);
    expect(predictCost(base).vnumaAware).toEqual(same);
  });

  it('spreads the accesses of a guest node without memory over the VM memory (memory-only tier)', () => {
    // vCPUs on node 0, all memory on CPU-less node 2 (distance 21): remote either way.
    const r = vnumaAwareDistance(slit, [{ hostNode: 0, vcpus: 4, memory: 0 }, { hostNode: 2, vcpus: 0, memory: 4 * G }], new Map([[2, 4 * G]]));
    expect(r).toEqual({ relative: 2.1, remote: 1 });
  });
});

describe('cost model with a measured matrix', () => {
  const G = 1024 ** 3;
  const lat: Record<string, number | null> = { '0,0': 100, '0,1': 180, '1,0': 170, '1,1': 110, '0,2': 300, '1,2': null };
  const measured = { latency: (a: number, b: number) => lat[`${a},${b}`] ?? null, label: 'test matrix' };

  it('takes ns and ratios from the matrix where it covers every pair the prediction reads', () => {
    const c = predictCost({ distance: slit, vcpusByNode: new Map([[0, 3], [1, 1]]), memoryByNode: new Map([[0, 1 * G], [1, 3 * G]]), pageSize: 4096, deviceNodes: [], measured });
    // w = (0.75, 0.25), m = (0.25, 0.75)
    const ns = 0.75 * 0.25 * 100 + 0.75 * 0.75 * 180 + 0.25 * 0.25 * 170 + 0.25 * 0.75 * 110;
    const ratio = 0.75 * 0.25 * 1 + 0.75 * 0.75 * 1.8 + 0.25 * 0.25 * (170 / 110) + 0.25 * 0.75 * 1;
    expect(c.expectedLatencyNs).toBe(Math.round(ns * 10) / 10);
    expect(c.relativeLatency).toBe(Math.round(ratio * 1e4) / 1e4);
    expect(c.remoteAccessFraction).toBe(0.625);
    expect(c.calibration).toEqual({ source: 'measured', label: 'test matrix' });
  });

  it('falls back to SLIT for the whole prediction when a needed pair was not measured, and says which', () => {
    const c = predictCost({ distance: slit, vcpusByNode: new Map([[1, 2]]), memoryByNode: new Map([[2, G]]), pageSize: 4096, deviceNodes: [], measured });
    expect(c.calibration).toBeUndefined();
    expect({ ratio: c.relativeLatency, ns: c.expectedLatencyNs }).toEqual({ ratio: 2.1, ns: 168 });
    expect(c.model).toMatch(/lacks node 1 -> node 2/);
  });

  it("uses the row's nearest memory as local for a node whose own cell is not measured", () => {
    const m = { latency: (a: number, b: number) => (a === 3 ? ({ 0: 150, 2: 120 } as Record<number, number>)[b] ?? null : null), label: 'x' };
    const c = predictCost({ distance: slit, vcpusByNode: new Map([[3, 1]]), memoryByNode: new Map([[0, G], [2, G]]), pageSize: 4096, deviceNodes: [], measured: m });
    expect(c.expectedLatencyNs).toBe(135);
    expect(c.relativeLatency).toBe(1.125);
  });
});

describe('device I/O cost', () => {
  // Two packages of two nodes: 12 within a package, 21 across.
  const d4 = (a: number, b: number): number => (a === b ? 10 : Math.floor(a / 2) === Math.floor(b / 2) ? 12 : 21);
  const G = 1024 ** 3;

  it('a local device: no DMA crosses; the nearest other node says what it would cost (why it pulls the VM)', () => {
    const [c] = deviceIoCost(d4, new Map([[1, 8]]), new Map([[1, 16 * G]]), [{ address: '0000:41:00.2', class: 'rdma', node: 1 }], [0, 1, 2, 3]);
    expect(c).toMatchObject({ node: 1, remoteDmaFraction: 0, addedDmaLatencyNs: 0, addedMmioLatencyNs: 0, crossingGBps: 0, linkShare: 0 });
    // Node 0 shares the package (SLIT 12): +16 ns, the whole 32 GB/s over the on-die fabric (256 GB/s).
    expect(c?.elsewhere).toEqual({ node: 0, addedDmaLatencyNs: 16, crossingGBps: 32, linkShare: 0.125 });
    expect(describeDeviceIo(c as DeviceIoCost)).toMatch(/pulls the VM to node 1/);
  });

  it('a device in the other package: every DMA crosses the socket link, half of a 64 GB/s link at 32 GB/s', () => {
    const [c] = deviceIoCost(d4, new Map([[0, 4]]), new Map([[0, 8 * G]]), [{ address: '0000:82:00.0', class: 'gpu', node: 2 }]);
    expect(c).toMatchObject({ remoteDmaFraction: 1, addedDmaLatencyNs: 88, addedMmioLatencyNs: 88, crossingGBps: 32, linkShare: 0.5, elsewhere: null });
  });

  it('memory split over the device node and another: that share crosses, the latency is the average', () => {
    const [c] = deviceIoCost(d4, new Map([[0, 4], [1, 4]]), new Map([[0, 8 * G], [1, 8 * G]]), [{ address: '0000:21:00.0', class: 'nvme', node: 0 }]);
    expect(c).toMatchObject({ remoteDmaFraction: 0.5, addedDmaLatencyNs: 8, addedMmioLatencyNs: 8, assumedDeviceGBps: 8, crossingGBps: 4 });
    // Devices of unknown node get no figures.
    expect(deviceIoCost(d4, new Map([[0, 1]]), new Map([[0, G]]), [{ address: '0000:00:01.0', class: 'gpu', node: null }])).toEqual([]);
  });
});
