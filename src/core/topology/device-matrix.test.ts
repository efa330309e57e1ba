import { describe, expect, it } from 'vitest';
import { makeTopology, type PciDeviceInput } from './build.js';
import { deviceMatrix, linkBetween } from './device-matrix.js';

const fn = (address: string, cls: PciDeviceInput['class'], node: number | null, bridge?: [number, number], extra: Partial<PciDeviceInput> = {}): PciDeviceInput => ({
  address,
  class: cls,
  classCode: cls === 'bridge' ? 0x060400 : cls === 'gpu' ? 0x030200 : cls === 'nvme' ? 0x010802 : 0x020000,
  vendorId: 0x8086,
  deviceId: 0x1234,
  node,
  ...(bridge ? { bridge: { secondary: bridge[0], subordinate: bridge[1] } } : {}),
  ...extra,
});

/**
 * Node 0: host bridge 00 with root port 00:01.0 -> switch (upstream 01:00.0, downstream 02:00.0 and
 * 02:01.0) -> NIC 03:00.0 and GPU 04:00.0; root port 00:02.0 -> NVMe 05:00.0; a NIC on the root bus
 * (00:1f.0). Host bridge 40 (node 0 too): GPU 41:00.0 behind root port 40:01.0. Node 1: host bridge
 * 80, GPU 81:00.0 behind 80:01.0. A NIC of unknown node on a root bus of its own (c0).
 */
const DEVICES: PciDeviceInput[] = [
  fn('0000:00:01.0', 'bridge', 0, [1, 4]),
  fn('0000:01:00.0', 'bridge', 0, [2, 4]),
  fn('0000:02:00.0', 'bridge', 0, [3, 3]),
  fn('0000:02:01.0', 'bridge', 0, [4, 4]),
  fn('0000:03:00.0', 'nic', 0, undefined, { sriov: { totalVfs: 2, numVfs: 2, vfs: ['0000:03:00.2', '0000:03:00.3'] } }),
  fn('0000:04:00.0', 'gpu', 0),
  fn('0000:00:02.0', 'bridge', 0, [5, 5]),
  fn('0000:05:00.0', 'nvme', 0),
  fn('0000:00:1f.0', 'nic', 0),
  fn('0000:40:01.0', 'bridge', 0, [0x41, 0x41]),
  fn('0000:41:00.0', 'gpu', 0),
  fn('0000:80:01.0', 'bridge', 1, [0x81, 0x81]),
  fn('0000:81:00.0', 'gpu', 1),
  fn('0000:c0:00.0', 'nic', null),
];

const host = makeTopology({
  source: 'test',
  nodes: [
    { id: 0, cpus: [0, 1], memory: { total: 2 ** 30 } },
    { id: 1, cpus: [2, 3], memory: { total: 2 ** 30 } },
  ],
  distances: [
    [10, 32],
    [32, 10],
  ],
  pus: [0, 1, 2, 3].map((os) => ({ os, package: os >> 1, core: os })),
  pciDevices: DEVICES,
});

describe('the device matrix', () => {
  it('classes each pair by where their PCI paths meet', () => {
    const c = (a: string, b: string): string => linkBetween(host, `0000:${a}`, `0000:${b}`).class;
    expect(c('03:00.0', '04:00.0')).toBe('PIX'); // the two downstream ports of one switch
    expect(c('03:00.0', '05:00.0')).toBe('PHB'); // two root ports of one host bridge
    expect(c('03:00.0', '00:1f.0')).toBe('PHB'); // the root bus itself
    expect(c('04:00.0', '41:00.0')).toBe('NODE'); // two host bridges of node 0
    expect(c('04:00.0', '81:00.0')).toBe('SYS');
    expect(c('04:00.0', 'c0:00.0')).toBe('?'); // node unknown, nothing shared
    expect(c('04:00.0', '04:00.0')).toBe('SELF');
    // A VF (listed or only announced by its PF) sits where its PF does.
    expect(c('03:00.2', '04:00.0')).toBe('PIX');
    expect(c('03:00.2', '03:00.0')).toBe('SELF');
    expect(linkBetween(host, '0000:04:00.0', '0000:81:00.0').distance).toBe(32);
    expect(linkBetween(host, '0000:03:00.0', '0000:04:00.0').via).toBe('0000:01:00.0');
  });

  it('a bridge shared above a root port is PXB: behind a root port, below different switches', () => {
    const deeper = makeTopology({
      source: 'test',
      nodes: [{ id: 0, cpus: [0], memory: { total: 2 ** 30 } }],
      pus: [{ os: 0, package: 0, core: 0 }],
      pciDevices: [
        fn('0000:00:01.0', 'bridge', 0, [1, 9]), // root port
        fn('0000:01:00.0', 'bridge', 0, [2, 9]), // upper switch, upstream
        fn('0000:02:00.0', 'bridge', 0, [3, 5]), // its downstream ports
        fn('0000:02:01.0', 'bridge', 0, [6, 9]),
        fn('0000:03:00.0', 'bridge', 0, [4, 5]), // leaf switch A
        fn('0000:04:00.0', 'bridge', 0, [5, 5]),
        fn('0000:05:00.0', 'gpu', 0),
        fn('0000:06:00.0', 'bridge', 0, [7, 9]), // leaf switch B
        fn('0000:07:00.0', 'bridge', 0, [8, 8]),
        fn('0000:08:00.0', 'gpu', 0),
      ],
    });
    const l = linkBetween(deeper, '0000:05:00.0', '0000:08:00.0');
    expect(l).toEqual({ class: 'PXB', via: '0000:01:00.0', bridges: 7, distance: 10 });
  });

  it('lists physical functions of the I/O classes, in address order, labelled per class, with node distances', () => {
    const m = deviceMatrix(host);
    expect(m.devices.map((d) => `${d.label}=${d.address.slice(5)}`)).toEqual([
      'NIC0=00:1f.0',
      'NIC1=03:00.0',
      'GPU0=04:00.0',
      'NVME0=05:00.0',
      'GPU1=41:00.0',
      'GPU2=81:00.0',
      'NIC2=c0:00.0',
    ]);
    expect(m.nodeDistance[5]).toEqual([32, 10]);
    expect(m.nodeDistance[6]).toEqual([null, null]);
    // Symmetric.
    for (const [i, row] of m.links.entries()) for (const [j, l] of row.entries()) expect(m.links[j]?.[i]?.class).toBe(l.class);
  });
});
