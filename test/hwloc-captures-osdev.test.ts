/**
 * Network and RDMA interfaces on their PCI functions, against hwloc on every Linux capture of its
 * test suite whose expected output lists I/O objects: each `OSDev[Network]` / `OSDev[OpenFabrics]`
 * (XML: osdev_type 2 / 3, in hwloc 3's flags 16 / 32) under a PCI function is in the model's `netDevices` / `rdmaDevices`
 * of that function, and the model lists no other. hwloc is the referee: its expected output is what lstopo printed for the capture
 * (a virtio NIC's interface sits on a virtioN device below its PCI function, which hwloc walks up to).
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { readSysfs, type SysfsOptions } from '../src/adapters/sysfs/read-sysfs.js';
import { extractAll, listCaptureTests } from './support/captures.js';

/** "busid name" of each network (net) and OpenFabrics (rdma) OS device hwloc prints under a PCI function. */
function hwlocInterfaces(text: string, xml: boolean): { net: string[]; rdma: string[] } {
  const net: string[] = [];
  const rdma: string[] = [];
  let pci: string | null = null;
  if (xml) {
    // osdev_type: hwloc 2's enum (2 network, 3 OpenFabrics), hwloc 3's flags (16 network, 32 OpenFabrics).
    const v3 = /<topology version="3/.test(text);
    const kind = (type: number): 'net' | 'rdma' | null =>
      v3 ? ((type & 32) !== 0 ? 'rdma' : (type & 16) !== 0 ? 'net' : null) : type === 3 ? 'rdma' : type === 2 ? 'net' : null;
    for (const m of text.matchAll(/<object type="(PCIDev|OSDev|Bridge|Package|NUMANode|Core|PU|HostBridge|Group|Misc)"([^>]*)>/g)) {
      const attrs = m[2] as string;
      if (m[1] === 'PCIDev') pci = /pci_busid="([^"]+)"/.exec(attrs)?.[1]?.toLowerCase() ?? null;
      else if (m[1] === 'OSDev' && pci) {
        const name = /name="([^"]+)"/.exec(attrs)?.[1];
        const type = /osdev_type="(\d+)"/.exec(attrs)?.[1];
        const k = type === undefined ? null : kind(Number(type));
        if (name && k) (k === 'net' ? net : rdma).push(`${pci} ${name}`);
      } else pci = null;
    }
  } else {
    for (const line of text.split('\n')) {
      const dev = /\bPCI(?:Dev)? L#\d+ \(busid=([0-9a-f:.]+)/i.exec(line);
      if (dev) {
        pci = (dev[1] as string).toLowerCase();
        continue;
      }
      const os = /OSDev\[(Network|OpenFabrics)\][^"]*"([^"]+)"/.exec(line);
      if (os && pci) (os[1] === 'Network' ? net : rdma).push(`${pci} ${os[2]}`);
      else if (!/OSDev/.test(line)) pci = null;
    }
  }
  return { net, rdma };
}

const tests = (listCaptureTests() ?? []).filter((t) => !t.synthetic);
let roots = new Map<string, string>();

describe.skipIf(tests.length === 0)('network and RDMA interfaces vs hwloc on every Linux capture', () => {
  beforeAll(async () => {
    roots = await extractAll(tests.map((t) => t.tarball));
  });

  it('every interface hwloc puts on a PCI function is on that function in the model', () => {
    let compared = 0;
    const found: string[] = [];
    for (const t of tests) {
      const text = readFileSync(t.target, 'utf8');
      const expected = hwlocInterfaces(text, t.target.endsWith('.xml'));
      if (expected.net.length + expected.rdma.length === 0) continue;
      const options: SysfsOptions = { root: roots.get(t.tarball) as string };
      const topo = readSysfs(options);
      const net = topo.pciDevices.flatMap((d) => d.netDevices.map((n) => `${d.address} ${n}`));
      const rdma = topo.pciDevices.flatMap((d) => d.rdmaDevices.map((n) => `${d.address} ${n}`));
      expect(net.sort(), `${t.name}: network interfaces`).toEqual(expected.net.sort());
      expect(rdma.sort(), `${t.name}: RDMA devices`).toEqual(expected.rdma.sort());
      compared++;
      found.push(`${t.name}: ${[...expected.net, ...expected.rdma].join(', ')}`);
    }
    console.log(`captures whose expected output lists network or RDMA interfaces: ${compared}\n  ${found.join('\n  ')}`);
    expect(compared).toBeGreaterThan(0);
  });
});
