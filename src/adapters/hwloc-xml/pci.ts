/**
 * PCI details as hwloc writes them: the `pci_type` attribute ("CCCC [vvvv:dddd] [ssss:ssss] rr [pp]":
 * class and subclass, vendor:device, subsystem ids, revision and, in newer files, programming
 * interface), device classes for placement, and OS device kinds (hwloc 2 enum, hwloc 3 bit flags).
 */
import type { DeviceClass } from '../../core/topology/model.js';

/** What `pci_type` says about a PCI function. */
export interface PciType {
  /** 24-bit class code (class, subclass, programming interface; the last is 0 when not written). */
  classCode: number;
  vendorId: number;
  deviceId: number;
  subVendorId: number;
  subDeviceId: number;
  revision: number;
}

/** Parses a `pci_type` attribute; null when it does not look like one. */
export function parsePciType(text: string): PciType | null {
  const m = /^\s*([0-9a-f]{4})\s+\[([0-9a-f]{4}):([0-9a-f]{4})\]\s+\[([0-9a-f]{4}):([0-9a-f]{4})\]\s+([0-9a-f]{2})(?:\s+([0-9a-f]{2}))?/i.exec(
    text,
  );
  if (!m) return null;
  const hex = (i: number): number => Number.parseInt(m[i] ?? '0', 16);
  return {
    classCode: (hex(1) << 8) | (m[7] === undefined ? 0 : hex(7)),
    vendorId: hex(2),
    deviceId: hex(3),
    subVendorId: hex(4),
    subDeviceId: hex(5),
    revision: hex(6),
  };
}

/** Formats a `pci_type` attribute the way hwloc 2 writes it (class, ids, subsystem ids, revision). */
export function formatPciType(classCode: number, vendorId: number, deviceId: number): string {
  const h = (v: number, n: number): string => v.toString(16).padStart(n, '0');
  return `${h((classCode >> 8) & 0xffff, 4)} [${h(vendorId, 4)}:${h(deviceId, 4)}] [0000:0000] 00`;
}

/**
 * The placement class of a PCI function from its 24-bit class code. A network function that also
 * carries an RDMA device (OpenFabrics OS device) is `rdma`, like InfiniBand controllers.
 */
export function deviceClassOf(classCode: number, hasRdma: boolean): DeviceClass {
  const cls = (classCode >> 8) & 0xffff;
  const base = cls >> 8;
  if (cls === 0x0108) return 'nvme';
  if (base === 0x01) return 'storage';
  if (cls === 0x0207) return 'rdma';
  if (base === 0x02) return hasRdma ? 'rdma' : 'nic';
  if (base === 0x03) return 'gpu';
  if (base === 0x06) return 'bridge';
  if (cls === 0x0b40 || base === 0x12) return 'accelerator';
  return hasRdma ? 'rdma' : 'other';
}

/** Kinds of OS devices numaplan cares about. */
export type OsDevKind = 'network' | 'openfabrics' | 'other';

/**
 * Decodes `osdev_type`. hwloc 2 files (topology version 2.x) use an enum (0 block, 1 GPU,
 * 2 network, 3 OpenFabrics, 4 DMA, 5 co-processor); hwloc 3 files use bit flags (1 storage,
 * 2 memory, 4 GPU, 8 co-processor, 16 network, 32 OpenFabrics, 64 DMA). OpenFabrics wins when both
 * network and OpenFabrics flags are set.
 */
export function osDevKind(value: string, versionMajor: number): OsDevKind {
  const n = Number.parseInt(value, 10);
  if (!Number.isInteger(n)) return 'other';
  if (versionMajor >= 3) {
    if (n & 32) return 'openfabrics';
    if (n & 16) return 'network';
    return 'other';
  }
  return n === 2 ? 'network' : n === 3 ? 'openfabrics' : 'other';
}

/** hwloc 2 `osdev_type` values numaplan writes. */
export const OSDEV_NETWORK_V2 = 2;
/** hwloc 2 `osdev_type` value of an OpenFabrics (RDMA) device. */
export const OSDEV_OPENFABRICS_V2 = 3;
