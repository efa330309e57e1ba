import { describe, expect, it } from 'vitest';
import { SizeError, formatSize, pageSizeLabel, parseSize } from './sizes.js';

describe('sizes', () => {
  it('reads binary suffixes like QEMU and libvirt', () => {
    expect(parseSize('16G')).toBe(16 * 1024 ** 3);
    expect(parseSize('2M')).toBe(2 * 1024 ** 2);
    expect(parseSize('1GiB')).toBe(1024 ** 3);
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize(4096)).toBe(4096);
    expect(parseSize('1.5G')).toBe(1.5 * 1024 ** 3);
  });
  it('names the bad value', () => {
    expect(() => parseSize('lots')).toThrow(SizeError);
    expect(() => parseSize('lots')).toThrow(/"lots"/);
    expect(() => parseSize(-1)).toThrow(SizeError);
  });
  it('formats for people', () => {
    expect(formatSize(64 * 1024 ** 3)).toBe('64 GiB');
    expect(formatSize(1.5 * 1024 ** 3)).toBe('1.5 GiB');
    expect(formatSize(0)).toBe('0 B');
    expect(pageSizeLabel(4096)).toBe('4K');
    expect(pageSizeLabel(2 * 1024 ** 2)).toBe('2M');
    expect(pageSizeLabel(1024 ** 3)).toBe('1G');
  });
});
