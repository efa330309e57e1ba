/**
 * No Xen or Cloud Hypervisor binary is available here: every corpus placement's xl.cfg and Cloud
 * Hypervisor argv go through numaplan's own parsers, which follow the syntax of xl.cfg(5) and Cloud
 * Hypervisor's docs/cpu.md and docs/memory.md, and must give back the planned guest: vCPUs and
 * memory per guest node, host node, distances, per-vCPU pinning, devices and huge pages.
 */
import { describe, expect, it } from 'vitest';
import {
  emitCloudHypervisor,
  emitXlCfg,
  guestOf,
  parseChList,
  parseChPairs,
  parseCloudHypervisorArgv,
  parseXlCfg,
  xlLimit,
  xlVnuma,
} from '../src/core/emit/index.js';
import { formatCpuList, parseCpuList } from '../src/core/topology/cpulist.js';
import { parseSize } from '../src/core/topology/sizes.js';
import { corpus } from './referee-corpus.js';

const MIB = 1024 * 1024;

describe('xl.cfg round trip', () => {
  it('every corpus placement', () => {
    const entries = corpus().entries;
    let refused = 0;
    for (const e of entries) {
      const g = guestOf(e.placement, e.topology);
      if (xlLimit(g) !== null) {
        expect(() => emitXlCfg(e.placement, e.topology), e.id).toThrow(/xl/);
        refused++;
        continue;
      }
      const cfg = parseXlCfg(emitXlCfg(e.placement, e.topology));
      expect(cfg.name, e.id).toBe(g.name);
      expect(cfg.type).toBe('hvm');
      expect(cfg.vcpus).toBe(g.vcpus);
      expect(cfg.memory).toBe(g.memory / MIB);
      expect(cfg.cpus).toEqual(g.pinSets.map((c) => formatCpuList(c)));
      if (g.numa || g.memoryPolicy === 'bind') {
        const v = xlVnuma(cfg);
        expect(v.map((n) => n.pnode)).toEqual(g.cells.map((c) => c.hostNode));
        expect(v.map((n) => n.size)).toEqual(g.cells.map((c) => c.memory / MIB));
        expect(v.map((n) => (n.vcpus === null ? [] : parseCpuList(n.vcpus)))).toEqual(g.cells.map((c) => c.vcpus));
        expect(v.map((n) => n.vdistances)).toEqual(g.distances);
        expect(v.reduce((s, n) => s + n.size, 0)).toBe(cfg.memory);
      } else expect(cfg.vnuma).toBeUndefined();
      if (!g.numa && g.memoryPolicy === 'bind') expect(xlVnuma(cfg)).toHaveLength(1);
      if (g.devices.length > 0) expect(cfg.pci).toEqual(g.devices.map((d) => d.address));
    }
    console.log(`xl.cfg round trip: ${entries.length - refused} configurations, ${refused} refused (what xl cannot express)`);
  });

  it('reads the documented syntax: both quote kinds, ";" separators, comments, hex and octal', () => {
    const cfg = parseXlCfg(`# a guest\nname='h0'; type="hvm"\nvcpus = 0x4 # four\nmaxmem=010\nvnuma = [ ["pnode=0","size=512","vcpus=0-1","vdistances=10,20"],\n ["pnode=1","size=512","vcpus=2-3","vdistances=20,10"], ]\n`);
    expect(cfg).toMatchObject({ name: 'h0', type: 'hvm', vcpus: 4, maxmem: 8 });
    expect(xlVnuma(cfg)[1]).toEqual({ pnode: 1, size: 512, vcpus: '2-3', vdistances: [20, 10] });
  });

  it('names the line of a syntax error', () => {
    expect(() => parseXlCfg('name = "a"\nvcpus = [1, 2\n')).toThrow(/xl.cfg line \d+: expected "," or "]"/);
    expect(() => parseXlCfg('name "a"')).toThrow(/line 1: expected "=" after name/);
    expect(() => xlVnuma(parseXlCfg('vnuma = [["pnode=x"]]'))).toThrow(/vnuma\[0\].pnode: expected a number/);
  });
});

describe('Cloud Hypervisor argv round trip', () => {
  it('every corpus placement', () => {
    const entries = corpus().entries;
    for (const e of entries) {
      const g = guestOf(e.placement, e.topology);
      const argv = emitCloudHypervisor(e.placement, e.topology);
      const o = parseCloudHypervisorArgv(argv);
      const cpus = o.cpus?.[0] ?? {};
      expect(Number(cpus.boot), e.id).toBe(g.vcpus);
      const t = g.topology;
      expect(cpus.topology).toBe(`${t.threads}:${t.cores}:${t.dies}:${t.sockets}`);
      expect(parseChPairs(cpus.affinity as string).map(([v, c]) => [v, parseChList(c)])).toEqual(g.pinSets.map((c, v) => [v, c]));
      expect(o.memory).toEqual([{ size: '0' }]);
      const zones = o['memory-zone'] ?? [];
      expect(zones.reduce((s, z) => s + parseSize(z.size as string), 0)).toBe(g.memory);
      for (const z of zones) {
        if (g.pageSize > 4096) expect(z).toMatchObject({ hugepages: 'on', hugepage_size: g.pageSize === 2 * MIB ? '2M' : '1G' });
        else expect(z.hugepages).toBeUndefined();
      }
      if (g.numa) {
        const numa = o.numa ?? [];
        expect(numa.map((n) => Number(n.guest_numa_id))).toEqual(g.cells.map((c) => c.id));
        for (const c of g.cells) {
          const n = numa[c.id] as Record<string, string>;
          expect(n.cpus === undefined ? [] : parseChList(n.cpus)).toEqual(c.vcpus);
          const d = parseChPairs(n.distances as string).map(([id, v]) => [id, Number(v)]);
          expect(d).toEqual(g.cells.filter((x) => x.id !== c.id).map((x) => [x.id, g.distances[c.id]?.[x.id]]));
          if (c.memory > 0) {
            const zone = zones.find((z) => `[${z.id}]` === n.memory_zones);
            expect(zone && parseSize(zone.size as string)).toBe(c.memory);
            expect(Number(zone?.host_numa_node)).toBe(c.hostNode);
          }
        }
      } else expect(o.numa).toBeUndefined();
      const devices = o.device ?? [];
      expect(devices.map((d) => d.path)).toEqual(g.devices.map((d) => `/sys/bus/pci/devices/${d.address}/`));
      for (const [k, d] of g.devices.entries()) {
        const seg = devices[k]?.pci_segment;
        if (seg !== undefined) {
          const owner = (o.numa ?? []).find((n) => n.pci_segments === `[${seg}]`);
          expect(Number(owner?.guest_numa_id)).toBe(d.guestNode);
        } else expect(d.guestNode === null || d.guestNode === 0).toBe(true);
      }
    }
    console.log(`Cloud Hypervisor round trip: ${entries.length} configurations`);
  });

  it('reads the documented forms and names bad arguments', () => {
    const o = parseCloudHypervisorArgv(['--cpus', 'boot=2,affinity=[0@[0,2],1@[1,3]]', '--numa', 'guest_numa_id=0,cpus=[1-3,7]', 'guest_numa_id=1,cpus=[0,4-6]']);
    expect(parseChPairs(o.cpus?.[0]?.affinity as string)).toEqual([
      [0, '[0,2]'],
      [1, '[1,3]'],
    ]);
    expect(parseChList(o.numa?.[0]?.cpus as string)).toEqual([1, 2, 3, 7]);
    expect(() => parseCloudHypervisorArgv(['boot=2'])).toThrow(/argv\[0\]: value "boot=2" before any --option/);
    expect(() => parseCloudHypervisorArgv(['--cpus', 'boot=2,affinity=[0@[1]'])).toThrow(/unbalanced "\["/);
  });
});
