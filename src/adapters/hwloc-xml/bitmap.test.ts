import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatHwlocBitmap, parseHwlocBitmap } from './bitmap.js';

describe('hwloc bitmaps', () => {
  it('reads what hwloc writes', () => {
    expect(parseHwlocBitmap('0x0000ffff')).toEqual({ bits: Array.from({ length: 16 }, (_, i) => i), infinite: false });
    expect(parseHwlocBitmap('0x00000001,,0x00000002')?.bits).toEqual([1, 64]);
    expect(parseHwlocBitmap('0x000000ff,0x0')?.bits).toEqual([32, 33, 34, 35, 36, 37, 38, 39]);
    expect(parseHwlocBitmap('0x0')).toEqual({ bits: [], infinite: false });
    expect(parseHwlocBitmap('0xf...f,0x00000003')).toEqual({ bits: [0, 1], infinite: true });
    expect(parseHwlocBitmap('zz')).toBeNull();
    expect(parseHwlocBitmap('')).toBeNull();
  });
  it('formats like hwloc', () => {
    expect(formatHwlocBitmap([])).toBe('0x0');
    expect(formatHwlocBitmap([0, 1, 2, 3])).toBe('0x0000000f');
    expect(formatHwlocBitmap([32])).toBe('0x00000001,0x00000000');
  });
  it('round-trips any set', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 4095 }), { maxLength: 200 }), (bits) => {
        expect(parseHwlocBitmap(formatHwlocBitmap(bits))).toEqual({ bits: [...bits].sort((a, b) => a - b), infinite: false });
      }),
    );
  });
});
