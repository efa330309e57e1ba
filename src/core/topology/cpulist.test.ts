import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CpuListError, formatCpuList, formatCpuMask, parseCpuList, parseCpuMask } from './cpulist.js';

const cpuSets = fc.uniqueArray(fc.integer({ min: 0, max: 4095 }), { maxLength: 300 }).map((a) => a.sort((x, y) => x - y));

describe('cpulist', () => {
  it('parses the kernel forms', () => {
    expect(parseCpuList('0-3,8-11')).toEqual([0, 1, 2, 3, 8, 9, 10, 11]);
    expect(parseCpuList('5')).toEqual([5]);
    expect(parseCpuList('')).toEqual([]);
    expect(parseCpuList(' 0-6:2 \n')).toEqual([0, 2, 4, 6]);
    expect(parseCpuList('3,1,2')).toEqual([1, 2, 3]);
  });
  it('formats the shortest list', () => {
    expect(formatCpuList([0, 1, 2, 3, 8, 9, 10, 11])).toBe('0-3,8-11');
    expect(formatCpuList([0, 1])).toBe('0-1');
    expect(formatCpuList([])).toBe('');
    expect(formatCpuList([7, 3, 3, 5])).toBe('3,5,7');
  });
  it('rejects garbage with a named element', () => {
    expect(() => parseCpuList('0-a')).toThrow(CpuListError);
    expect(() => parseCpuList('5-2')).toThrow(/descending/);
    expect(() => parseCpuList('1,,2')).toThrow(/bad cpulist element/);
  });
  it('round-trips every set (property)', () => {
    fc.assert(
      fc.property(cpuSets, (set) => {
        expect(parseCpuList(formatCpuList(set))).toEqual(set);
      }),
    );
  });
  it('parses sysfs and hwloc masks', () => {
    expect(parseCpuMask('00000000,0000ff0f')).toEqual([0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(parseCpuMask('0x00000001,0x80000000')).toEqual([31, 32]);
    expect(parseCpuMask('ff')).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(() => parseCpuMask('xyz')).toThrow(CpuListError);
  });
  it('round-trips masks (property)', () => {
    fc.assert(
      fc.property(cpuSets, (set) => {
        expect(parseCpuMask(formatCpuMask(set))).toEqual(set);
        expect(parseCpuMask(formatCpuMask(set, { prefix: true }))).toEqual(set);
      }),
    );
  });
});
