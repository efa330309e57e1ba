import { describe, expect, it } from 'vitest';
import { makeTopology, type PciDeviceInput } from './build.js';
import { topologyFromJson, topologyToJson } from './json.js';
import { topologyJsonSchema } from './model.js';
import { derivePciTree, pciAncestors, pciChildren, pciHostBridgeOf, pciRootPort } from './pci-tree.js';

const fn = (address: string, classCode: number, bridge?: [number, number]): PciDeviceInput => ({
  address,
  class: bridge ? 'bridge' : classCode >> 16 === 2 ? 'nic' : 'other',
  classCode,
  vendorId: 0x8086,
  deviceId: 0x1234,
  node: 0,
  ...(bridge ? { bridge: { secondary: bridge[0], subordinate: bridge[1] } } : {}),
});

/**
 * A host with a root port (00:01.0, buses 01-05) leading to a PCIe switch (upstream 01:00.0, buses
 * 02-05; downstream ports 02:00.0 -> bus 03 and 02:01.0 -> buses 04-05) with a NIC behind each
 * downstream port, a device on the root bus, and a second host bridge at bus 0x80 with a GPU behind
 * its root port.
 */
const DEVICES: PciDeviceInput[] = [
  fn('0000:03:00.0', 0x020000),
  fn('0000:00:01.0', 0x060400, [1, 5]),
  fn('0000:02:01.0', 0x060400, [4, 5]),
  fn('0000:01:00.0', 0x060400, [2, 5]),
  fn('0000:04:00.0', 0x020000),
  fn('0000:02:00.0', 0x060400, [3, 3]),
  fn('0000:00:1f.2', 0x010601),
  fn('0000:80:02.0', 0x060400, [0x81, 0x81]),
  fn('0000:81:00.0', 0x030200),
];

const host = (devices: PciDeviceInput[] = DEVICES) =>
  makeTopology({ source: 'test', nodes: [{ id: 0, cpus: [0, 1], memory: { total: 2 ** 30 } }], pus: [0, 1].map((os) => ({ os, package: 0, core: os })), pciDevices: devices });

describe('the PCI tree', () => {
  it("is hwloc's: each function below the innermost bridge whose buses hold its bus, whatever the order listed", () => {
    const t = host();
    const parents = Object.fromEntries(t.pciDevices.map((d) => [d.address, d.parent]));
    expect(parents).toEqual({
      '0000:00:01.0': null,
      '0000:00:1f.2': null,
      '0000:01:00.0': '0000:00:01.0',
      '0000:02:00.0': '0000:01:00.0',
      '0000:02:01.0': '0000:01:00.0',
      '0000:03:00.0': '0000:02:00.0',
      '0000:04:00.0': '0000:02:01.0',
      '0000:80:02.0': null,
      '0000:81:00.0': '0000:80:02.0',
    });
    for (const order of [[...DEVICES].reverse(), [...DEVICES.slice(4), ...DEVICES.slice(0, 4)]]) {
      expect(host(order).pciDevices.map((d) => [d.address, d.parent])).toEqual(t.pciDevices.map((d) => [d.address, d.parent]));
    }
    // One host bridge per root bus, down to the largest bus below its bridges (hwloc's host bridges).
    expect(t.pciHostBridges).toEqual([
      { domain: '0000', buses: { secondary: 0, subordinate: 5 } },
      { domain: '0000', buses: { secondary: 0x80, subordinate: 0x81 } },
    ]);
  });

  it('answers the questions of device affinity: bridges above, root port, host bridge, children', () => {
    const t = host();
    expect(pciAncestors(t, '0000:04:00.0').map((d) => d.address)).toEqual(['0000:02:01.0', '0000:01:00.0', '0000:00:01.0']);
    expect(pciRootPort(t, '0000:03:00.0')?.address).toBe('0000:00:01.0');
    expect(pciRootPort(t, '0000:00:1f.2')).toBeNull();
    // Same switch: the two NICs share 01:00.0; the GPU shares nothing but the domain.
    const common = (a: string, b: string) => pciAncestors(t, a).map((d) => d.address).filter((x) => pciAncestors(t, b).some((d) => d.address === x));
    expect(common('0000:03:00.0', '0000:04:00.0')).toEqual(['0000:01:00.0', '0000:00:01.0']);
    expect(common('0000:03:00.0', '0000:81:00.0')).toEqual([]);
    expect(pciHostBridgeOf(t, '0000:04:00.0')).toEqual({ domain: '0000', buses: { secondary: 0, subordinate: 5 } });
    expect(pciHostBridgeOf(t, '0000:81:00.0')).toEqual({ domain: '0000', buses: { secondary: 0x80, subordinate: 0x81 } });
    expect(pciChildren(t, '0000:01:00.0').map((d) => d.address)).toEqual(['0000:02:00.0', '0000:02:01.0']);
    expect(pciChildren(t, t.pciHostBridges[0] as (typeof t.pciHostBridges)[number]).map((d) => d.address)).toEqual(['0000:00:01.0', '0000:00:1f.2']);
  });

  it('keeps a parent a source gives, and refuses one that cannot be (with a warning, deriving it instead)', () => {
    const given = DEVICES.map((d) => ({ ...d, parent: d.address === '0000:04:00.0' ? '0000:02:00.0' : undefined }));
    const t = host(given);
    // 02:00.0 leads to bus 03 only: bus 04 cannot be below it.
    expect(t.pciDevices.find((d) => d.address === '0000:04:00.0')?.parent).toBe('0000:02:01.0');
    expect(t.warnings.map((w) => w.path)).toContain('pciDevices[0000:04:00.0].parent');
  });

  it('a bridge whose buses cannot lie below it is a plain function (hwloc drops such a bridge)', () => {
    const t = host([...DEVICES, fn('0000:00:11.0', 0x060400, [0, 0])]);
    expect(t.pciDevices.find((d) => d.address === '0000:00:11.0')?.bridge).toBeNull();
    expect(t.warnings.some((w) => w.path === 'pciDevices[0000:00:11.0].bridge' && /cannot lie below bus 0/.test(w.message))).toBe(true);
  });

  it('given host bridges are kept with their bus ranges; a function none covers gets a derived one', () => {
    const t = makeTopology({
      source: 'test',
      nodes: [{ id: 0, cpus: [0], memory: { total: 2 ** 30 } }],
      pus: [{ os: 0, package: 0, core: 0 }],
      pciDevices: [fn('0000:00:02.0', 0x020000), fn('0000:40:00.0', 0x020000)],
      pciHostBridges: [{ domain: '0000', buses: { secondary: 0, subordinate: 0x0f } }],
    });
    expect(t.pciHostBridges).toEqual([
      { domain: '0000', buses: { secondary: 0, subordinate: 0x0f } },
      { domain: '0000', buses: { secondary: 0x40, subordinate: 0x40 } },
    ]);
  });

  it('is in the JSON model and its schema, and survives a JSON round trip', () => {
    const t = host();
    const back = topologyFromJson(topologyToJson(t));
    expect(back.pciDevices).toEqual(t.pciDevices);
    expect(back.pciHostBridges).toEqual(t.pciHostBridges);
    const schema = JSON.stringify(topologyJsonSchema());
    expect(schema).toContain('pciHostBridges');
    expect(schema).toContain('"subordinate"');
    // A document written before the tree existed (no parents, bridges or host bridges) still loads,
    // each function on its own root bus below a host bridge of its own.
    const old = JSON.parse(topologyToJson(t)) as Record<string, unknown> & { pciDevices: Record<string, unknown>[] };
    delete old.pciHostBridges;
    for (const d of old.pciDevices) {
      delete d.parent;
      delete d.bridge;
    }
    expect(topologyFromJson(JSON.stringify(old)).pciHostBridges).toEqual([
      { domain: '0000', buses: { secondary: 0, subordinate: 0 } },
      { domain: '0000', buses: { secondary: 1, subordinate: 1 } },
      { domain: '0000', buses: { secondary: 2, subordinate: 2 } },
      { domain: '0000', buses: { secondary: 3, subordinate: 3 } },
      { domain: '0000', buses: { secondary: 4, subordinate: 4 } },
      { domain: '0000', buses: { secondary: 0x80, subordinate: 0x80 } },
      { domain: '0000', buses: { secondary: 0x81, subordinate: 0x81 } },
    ]);
  });

  it('derivePciTree orders domains numerically (32-bit domains after 16-bit ones)', () => {
    const { hostBridges } = derivePciTree([
      { address: '10000:00:00.0', bridge: null },
      { address: '0000:00:00.0', bridge: null },
      { address: '2000:00:00.0', bridge: null },
    ]);
    expect(hostBridges.map((h) => h.domain)).toEqual(['0000', '2000', '10000']);
  });
});
