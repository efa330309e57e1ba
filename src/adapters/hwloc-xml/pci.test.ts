import { describe, expect, it } from 'vitest';
import { deviceClassOf, formatPciType, osDevKind, parsePciType } from './pci.js';

describe('hwloc PCI attributes', () => {
  it('parses pci_type with and without the programming interface', () => {
    expect(parsePciType('0200 [8086:1521] [1137:008b] 01')).toEqual({
      classCode: 0x020000,
      vendorId: 0x8086,
      deviceId: 0x1521,
      subVendorId: 0x1137,
      subDeviceId: 0x008b,
      revision: 1,
    });
    expect(parsePciType('0108 [144d:a808] [144d:a801] 00 02')?.classCode).toBe(0x010802);
    expect(parsePciType('nonsense')).toBeNull();
  });
  it('formats what it parses', () => {
    const t = parsePciType(formatPciType(0x030200, 0x10de, 0x20b0));
    expect([t?.classCode, t?.vendorId, t?.deviceId]).toEqual([0x030200, 0x10de, 0x20b0]);
  });
  it('classifies devices for placement', () => {
    expect(deviceClassOf(0x020000, false)).toBe('nic');
    expect(deviceClassOf(0x020000, true)).toBe('rdma');
    expect(deviceClassOf(0x020700, false)).toBe('rdma');
    expect(deviceClassOf(0x010802, false)).toBe('nvme');
    expect(deviceClassOf(0x010400, false)).toBe('storage');
    expect(deviceClassOf(0x030200, false)).toBe('gpu');
    expect(deviceClassOf(0x120000, false)).toBe('accelerator');
    expect(deviceClassOf(0x060400, false)).toBe('bridge');
    expect(deviceClassOf(0x088000, false)).toBe('other');
  });
  it('decodes osdev_type in hwloc 2 (enum) and hwloc 3 (flags) files', () => {
    expect(osDevKind('2', 2)).toBe('network');
    expect(osDevKind('3', 2)).toBe('openfabrics');
    expect(osDevKind('16', 3)).toBe('network');
    expect(osDevKind('48', 3)).toBe('openfabrics');
    expect(osDevKind('0', 2)).toBe('other');
    expect(osDevKind('12', 3)).toBe('other');
  });
});
