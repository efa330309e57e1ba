import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCpuList, parseCpuMask } from '../../core/topology/cpulist.js';
import { kernelList, kernelMask, meminfoCountLine, meminfoLine, nodeMeminfoCountLine, nodeMeminfoLine } from './kernel-format.js';

describe('kernel list and mask formats', () => {
  it('prints lists like %*pbl: every run of two or more is a range', () => {
    expect(kernelList([0, 1])).toBe('0-1');
    expect(kernelList([0, 2, 4])).toBe('0,2,4');
    expect(kernelList([3, 0, 1, 2, 8, 9, 11])).toBe('0-3,8-9,11');
    expect(kernelList([])).toBe('');
  });

  it('prints masks like %*pb: nbits wide, first word only as wide as needed', () => {
    // as in captures of real hosts: 80 possible CPUs, 20 possible CPUs, 64 possible CPUs
    expect(kernelMask([0, 4, 8, 12, 16, 20, 24, 28, 32, 36], 80)).toBe('0000,00000011,11111111');
    expect(kernelMask([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 20)).toBe('003ff');
    expect(kernelMask([0], 64)).toBe('00000000,00000001');
    expect(kernelMask([], 3)).toBe('0');
    expect(() => kernelMask([8], 8)).toThrow(RangeError);
  });

  it('round-trips through the project parsers', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(700), { maxLength: 80 }), fc.nat(300), (cpus, extra) => {
        const sorted = [...cpus].sort((a, b) => a - b);
        const nbits = Math.max(0, ...cpus) + 1 + extra;
        expect(parseCpuList(kernelList(cpus))).toEqual(sorted);
        const mask = kernelMask(cpus, nbits);
        expect(parseCpuMask(mask)).toEqual(sorted);
        expect(mask.replaceAll(',', '').length).toBe(Math.ceil(nbits / 4));
      }),
    );
  });

  it('lays meminfo lines out in the kernel columns', () => {
    expect(meminfoLine('MemTotal', 16318056)).toBe('MemTotal:       16318056 kB');
    expect(meminfoCountLine('HugePages_Total', 0)).toBe('HugePages_Total:       0');
    expect(meminfoLine('Hugepagesize', 2048)).toBe('Hugepagesize:       2048 kB');
    expect(nodeMeminfoLine(0, 'MemTotal', 134204252)).toBe('Node 0 MemTotal:       134204252 kB');
    expect(nodeMeminfoLine(0, 'MemFree', 75631516)).toBe('Node 0 MemFree:        75631516 kB');
    expect(nodeMeminfoCountLine(0, 'HugePages_Total', 0)).toBe('Node 0 HugePages_Total:     0');
    expect(nodeMeminfoCountLine(0, 'HugePages_Free', 0)).toBe('Node 0 HugePages_Free:      0');
  });
});
