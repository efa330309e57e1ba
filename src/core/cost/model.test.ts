import { describe, expect, it } from 'vitest';
import { predictCost, vnumaAwareDistance } from './model.js';

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
