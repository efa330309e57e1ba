/**
 * The sysfs writer, judged by the real referee: trees written from synthetic machines are read by
 * hwloc (`lstopo-no-graphics --input DIR --of xml`), which must find the same packages, NUMA nodes,
 * cores, PUs, per-node CPUs and memory, huge-page pools, distances and device locality. Real
 * captures read by numaplan and written back must look to hwloc like the originals. Then the round
 * trip through numaplan's own sysfs reader.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSysfsTree } from '../src/adapters/sysfs-writer/write-sysfs-tree.js';
import { readSysfs } from '../src/adapters/sysfs/read-sysfs.js';
import { makeTopology, type PciDeviceInput } from '../src/core/topology/build.js';
import { parseCpuMask } from '../src/core/topology/cpulist.js';
import type { Topology } from '../src/core/topology/model.js';
import { syntheticTopology } from '../src/core/topology/synthetic.js';
import { summarize } from '../src/core/topology/view.js';
import { dataSet } from './support/data.js';
import { tool } from './support/tools.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

const work = mkdtempSync(join(tmpdir(), 'numaplan-sysfs-writer-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let serial = 0;
function write(topo: Topology): string {
  const dir = join(work, `t${serial++}`);
  writeSysfsTree(topo, dir);
  return dir;
}

const node0Cpus = [...range(0, 10), ...range(20, 10)];
const node1Cpus = [...range(10, 10), ...range(30, 10)];
const devices: PciDeviceInput[] = [
  {
    address: '0000:3b:00.0',
    class: 'rdma',
    classCode: 0x020000,
    vendorId: 0x15b3,
    deviceId: 0x1017,
    node: 0,
    localCpus: node0Cpus,
    sriov: { totalVfs: 8, numVfs: 2, vfs: ['0000:3b:00.2', '0000:3b:00.3'] },
    netDevices: ['ens1f0np0'],
    rdmaDevices: ['mlx5_0'],
  },
  { address: '0000:3b:00.2', class: 'nic', classCode: 0x020000, vendorId: 0x15b3, deviceId: 0x1018, node: 0, localCpus: node0Cpus, physfn: '0000:3b:00.0', netDevices: ['ens1f0v0'] },
  { address: '0000:3b:00.3', class: 'nic', classCode: 0x020000, vendorId: 0x15b3, deviceId: 0x1018, node: 0, localCpus: node0Cpus, physfn: '0000:3b:00.0' },
  { address: '0000:af:00.0', class: 'nvme', classCode: 0x010802, vendorId: 0x144d, deviceId: 0xa808, node: 1, localCpus: node1Cpus },
  { address: '0000:d8:00.0', class: 'gpu', classCode: 0x030200, vendorId: 0x10de, deviceId: 0x20b0, node: null, localCpus: null },
  // The root port above the NIC and its VFs (buses 3b-3b): the tree is written as the kernel nests it.
  { address: '0000:3a:00.0', class: 'bridge', classCode: 0x060400, vendorId: 0x8086, deviceId: 0x2030, node: 0, localCpus: node0Cpus, bridge: { secondary: 0x3b, subordinate: 0x3b } },
];

/** The synthetic machines the writer must get right. */
const machines: Record<string, () => Topology> = {
  '2x10x2 with huge pages and devices': () =>
    syntheticTopology({
      source: 'test:2x10x2',
      hostname: 'host-2x10x2',
      packages: 2,
      nodesPerPackage: 1,
      coresPerNode: 10,
      threadsPerCore: 2,
      memoryPerNode: 64 * GiB,
      hugePages: [
        { pageSize: 2 * MiB, total: 1024, free: 1000 },
        { pageSize: GiB, total: 8, free: 6 },
      ],
      model: 'Intel(R) Xeon(R) CPU E5-2680 v2 @ 2.80GHz',
      devices,
    }),
  '8 nodes, sequential numbering, custom distances': () =>
    syntheticTopology({
      source: 'test:8n',
      packages: 2,
      nodesPerPackage: 4,
      coresPerNode: 4,
      threadsPerCore: 2,
      numbering: 'sequential',
      memoryPerNode: 32 * GiB,
      distance: (i, j) => (i === j ? 10 : Math.floor(i / 4) === Math.floor(j / 4) ? 12 + ((i + j) % 3) : 32),
      model: 'AMD EPYC 7763 64-Core Processor',
    }),
  '64 nodes': () =>
    syntheticTopology({
      source: 'test:64n',
      packages: 4,
      nodesPerPackage: 16,
      coresPerNode: 2,
      threadsPerCore: 1,
      memoryPerNode: 8 * GiB,
      hugePages: [{ pageSize: 2 * MiB, total: 64, free: 64 }],
    }),
  'CPU-less HBM and CXL nodes': () =>
    syntheticTopology({
      source: 'test:cpuless',
      packages: 2,
      nodesPerPackage: 2,
      coresPerNode: 4,
      threadsPerCore: 2,
      memoryPerNode: 16 * GiB,
      memoryOnlyNodes: [
        { memory: 16 * GiB, tier: 'hbm' },
        { memory: 16 * GiB, tier: 'hbm' },
        { memory: 128 * GiB, tier: 'cxl', hugePages: [{ pageSize: 2 * MiB, total: 100, free: 100 }] },
      ],
    }),
};

/** A machine with an offline PU and a cgroup cpuset that excludes a node and some PUs. */
function restricted(): Topology {
  const pus = range(0, 16).map((os) => ({
    os,
    package: os < 8 ? 0 : 1,
    core: Math.floor(os / 2),
    coreId: Math.floor((os % 8) / 2),
    online: os !== 5,
    allowed: os < 12,
  }));
  return makeTopology({
    source: 'test:restricted',
    nodes: [
      { id: 0, cpus: range(0, 8), memory: { total: 8 * GiB } },
      { id: 1, cpus: range(8, 4), memory: { total: 8 * GiB } },
      { id: 2, cpus: range(12, 4), memory: { total: 8 * GiB }, allowed: false },
    ],
    distances: [
      [10, 20, 20],
      [20, 10, 15],
      [20, 15, 10],
    ],
    pus,
  });
}

// ---------------------------------------------------------------- hwloc's view of a tree

interface HwlocObject {
  type: string;
  os: number | null;
  cpus: number[];
  localMemory: number;
  pages: Map<number, number>;
  attrs: Record<string, string>;
  parent: HwlocObject | null;
}
interface HwlocView {
  objects: HwlocObject[];
  count(type: string): number;
  distances: { indexes: number[]; values: number[] } | null;
}

const IO_TYPES = new Set(['Bridge', 'PCIDev', 'OSDev', 'Misc']);

function lstopo(dir: string): HwlocView {
  const r = spawnSync('lstopo-no-graphics', ['--input', dir, '--of', 'xml'], { encoding: 'utf8', maxBuffer: 64 * MiB });
  if (r.status !== 0) throw new Error(`lstopo failed (${r.status}): ${r.stderr}`);
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseAttributeValue: false,
    isArray: (name) => ['object', 'page_type', 'distances2', 'indexes', 'u64values', 'info'].includes(name),
  });
  const doc = parser.parse(r.stdout) as { topology: Record<string, unknown> };
  const objects: HwlocObject[] = [];
  const walk = (raw: Record<string, unknown>, parent: HwlocObject | null): void => {
    const attrs: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') attrs[k] = v;
    const pages = new Map<number, number>();
    for (const p of (raw.page_type as Record<string, string>[] | undefined) ?? []) pages.set(Number(p.size), Number(p.count));
    const obj: HwlocObject = {
      type: attrs.type ?? '?',
      os: attrs.os_index === undefined ? null : Number(attrs.os_index),
      cpus: attrs.cpuset ? parseCpuMask(attrs.cpuset) : [],
      localMemory: Number(attrs.local_memory ?? 0),
      pages,
      attrs,
      parent,
    };
    objects.push(obj);
    for (const child of (raw.object as Record<string, unknown>[] | undefined) ?? []) walk(child, obj);
  };
  for (const top of (doc.topology.object as Record<string, unknown>[] | undefined) ?? []) walk(top, null);
  const d = ((doc.topology.distances2 as Record<string, unknown>[] | undefined) ?? []).find(
    (x) => x.type === 'NUMANode' && x.name === 'NUMALatency',
  );
  const numbers = (parts: unknown): number[] =>
    ((parts as (string | Record<string, string>)[] | undefined) ?? [])
      .map((p) => (typeof p === 'string' ? p : (p['#text'] ?? '')))
      .join(' ')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  return {
    objects,
    count: (type) => objects.filter((o) => o.type === type).length,
    distances: d ? { indexes: numbers(d.indexes), values: numbers(d.u64values) } : null,
  };
}

/** Checks hwloc's view of a written tree against the topology it came from. */
function expectHwlocAgrees(topo: Topology, view: HwlocView): void {
  const s = summarize(topo);
  expect({
    packages: view.count('Package'),
    nodes: view.count('NUMANode'),
    cores: view.count('Core'),
    pus: view.count('PU'),
  }).toEqual({ packages: s.packages, nodes: s.nodes, cores: s.cores, pus: s.pus });

  const usable = new Set(topo.pus.filter((p) => p.online && p.allowed).map((p) => p.os));
  for (const node of topo.nodes.filter((n) => n.allowed)) {
    const h = view.objects.find((o) => o.type === 'NUMANode' && o.os === node.id);
    expect(h, `NUMANode P#${node.id}`).toBeDefined();
    if (!h) continue;
    if (node.cpus.length > 0) expect(h.cpus).toEqual(node.cpus.filter((c) => usable.has(c)));
    expect(h.localMemory).toBe(node.memory.total);
    for (const pool of node.hugePages) expect(h.pages.get(pool.pageSize), `node ${node.id} ${pool.pageSize}`).toBe(pool.total);
  }
  for (const pkg of topo.packages) {
    const h = view.objects.find((o) => o.type === 'Package' && o.os === pkg.id);
    expect(h?.cpus, `Package P#${pkg.id}`).toEqual(pkg.pus.filter((c) => usable.has(c)));
  }
  for (const pu of topo.pus.filter((p) => usable.has(p.os))) {
    const h = view.objects.find((o) => o.type === 'PU' && o.os === pu.os);
    const core = topo.cores[pu.core];
    expect(h?.parent?.type).toBe('Core');
    expect(h?.parent?.cpus).toEqual(core?.pus.filter((c) => usable.has(c)));
  }

  const allowed = topo.nodes.map((n, i) => ({ n, i })).filter((x) => x.n.allowed);
  if (allowed.length > 1) {
    expect(view.distances).not.toBeNull();
    const { indexes, values } = view.distances ?? { indexes: [], values: [] };
    expect(indexes).toEqual(allowed.map((x) => x.n.id));
    const expected = allowed.flatMap((a) => allowed.map((b) => topo.distances[a.i]?.[b.i]));
    expect(values).toEqual(expected);
  }
}

describe('sysfs writer: hwloc reads the trees', () => {
  const haveLstopo = tool('lstopo-no-graphics');

  for (const [name, build] of Object.entries(machines)) {
    it.runIf(haveLstopo)(`${name}: same packages, nodes, cores, PUs, memory, pages and distances`, () => {
      const topo = build();
      expectHwlocAgrees(topo, lstopo(write(topo)));
    });
  }

  it.runIf(haveLstopo)('offline and cgroup-disallowed PUs and nodes: hwloc default view = summarize()', () => {
    const topo = restricted();
    expectHwlocAgrees(topo, lstopo(write(topo)));
  });

  it.runIf(haveLstopo)('devices: PCI functions, their OS devices and locality', () => {
    const topo = machines['2x10x2 with huge pages and devices']?.() as Topology;
    const view = lstopo(write(topo));
    const pci = view.objects.filter((o) => o.type === 'PCIDev' || (o.type === 'Bridge' && o.attrs.pci_busid !== undefined));
    expect(pci.map((o) => o.attrs.pci_busid).sort()).toEqual(topo.pciDevices.map((d) => d.address));
    // The root port is a bridge to buses 3b-3b with the NIC and its VFs below it, as in the model.
    expect(pci.find((o) => o.attrs.pci_busid === '0000:3a:00.0')?.attrs.bridge_pci).toBe('0000:[3b-3b]');
    for (const d of topo.pciDevices) expect(pci.find((o) => o.attrs.pci_busid === d.address)?.parent?.attrs.pci_busid, d.address).toBe(d.parent ?? undefined);
    for (const dev of topo.pciDevices) {
      const h = pci.find((o) => o.attrs.pci_busid === dev.address) as HwlocObject;
      const hex = (n: number, w: number): string => n.toString(16).padStart(w, '0');
      expect(h.attrs.pci_type).toMatch(new RegExp(`^${hex(dev.classCode >> 8, 4)} \\[${hex(dev.vendorId, 4)}:${hex(dev.deviceId, 4)}\\]`));
      let up: HwlocObject | null = h.parent;
      while (up && IO_TYPES.has(up.type)) up = up.parent;
      if (dev.localCpus) expect(up?.cpus, dev.address).toEqual(dev.localCpus);
      const osdevs = view.objects.filter((o) => o.type === 'OSDev' && o.parent === h).map((o) => o.attrs.name);
      expect(osdevs.sort()).toEqual([...dev.netDevices, ...dev.rdmaDevices].sort());
    }
  });
});

describe('sysfs writer: files in the kernel formats', () => {
  const topo = machines['2x10x2 with huge pages and devices']?.() as Topology;
  const root = write(topo);
  const read = (p: string): string => readFileSync(join(root, p), 'utf8');

  it('writes node, CPU and cache attributes as the kernel prints them', () => {
    expect(read('sys/devices/system/node/online')).toBe('0-1\n');
    expect(read('sys/devices/system/node/node1/cpulist')).toBe('10-19,30-39\n');
    expect(read('sys/devices/system/node/node0/cpumap')).toBe('00,3ff003ff\n');
    expect(read('sys/devices/system/node/node0/distance')).toBe('10 21\n');
    expect(read('sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages')).toBe('1024\n');
    expect(read('sys/devices/system/node/node0/hugepages/hugepages-1048576kB/free_hugepages')).toBe('6\n');
    expect(read('sys/devices/system/node/node0/meminfo')).toContain('Node 0 MemTotal:       67108864 kB\n');
    expect(read('sys/devices/system/cpu/possible')).toBe('0-39\n');
    expect(read('sys/devices/system/cpu/offline')).toBe('\n');
    expect(read('sys/devices/system/cpu/cpu21/topology/thread_siblings_list')).toBe('1,21\n');
    expect(read('sys/devices/system/cpu/cpu21/topology/core_cpus')).toBe('00,00200002\n');
    expect(read('sys/devices/system/cpu/cpu21/topology/package_cpus_list')).toBe('0-9,20-29\n');
    expect(read('sys/devices/system/cpu/cpu21/topology/core_id')).toBe('1\n');
    expect(read('sys/devices/system/cpu/cpu0/cache/index0/size')).toBe('32768K\n');
    expect(read('sys/devices/system/cpu/cpu0/cache/index0/type')).toBe('Unified\n');
    expect(read('proc/meminfo')).toContain('Hugepagesize:       2048 kB\n');
    expect(read('proc/cpuinfo')).toMatch(/^processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel/);
  });

  it('writes PCI functions with SR-IOV links and class links', () => {
    const pf = 'sys/bus/pci/devices/0000:3b:00.0';
    expect(read(`${pf}/class`)).toBe('0x020000\n');
    expect(read(`${pf}/vendor`)).toBe('0x15b3\n');
    expect(read(`${pf}/numa_node`)).toBe('0\n');
    expect(read(`${pf}/local_cpus`)).toBe('00,3ff003ff\n');
    expect(read(`${pf}/sriov_totalvfs`)).toBe('8\n');
    expect(readlinkSync(join(root, pf))).toBe('../../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0');
    expect(readlinkSync(join(root, `${pf}/virtfn1`))).toBe('../0000:3b:00.3');
    expect(readlinkSync(join(root, 'sys/bus/pci/devices/0000:3b:00.2/physfn'))).toBe('../0000:3b:00.0');
    expect(readlinkSync(join(root, 'sys/class/net/ens1f0np0'))).toBe('../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/net/ens1f0np0');
    expect(readlinkSync(join(root, 'sys/class/infiniband/mlx5_0'))).toBe('../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/infiniband/mlx5_0');
    expect(read('sys/bus/pci/devices/0000:d8:00.0/numa_node')).toBe('-1\n');
  });
});

// ---------------------------------------------------------------- real captures, rewritten

/** Captures of real machines whose rewritten tree hwloc must read exactly like the original. */
const CAPTURES = [
  '256ia64-64n2s2c', // 64 nodes, 128 packages
  '48amd64-4pa2n6c-sparse', // 2 nodes per package, non-multiple-of-32 CPU count
  '32amd64-4s2n4c-cgroup2', // a cgroup v2 cpuset hides most of the machine
  '16em64t-4s2c2t-offlines', // offline CPUs
  'nvidiagpunumanodes', // CPU-less GPU-memory nodes
];
// (The largest capture, 256ppc-8n8s4t, and the arm64 cluster one pass too but take 10 s or more
// to extract on a small VM; the topology benchmark reads the former on every run.)

describe('sysfs writer: real capture -> readSysfs -> writeSysfsTree reads the same in hwloc', () => {
  const data = dataSet('hwloc/linux');
  const haveLstopo = tool('lstopo-no-graphics');
  const counts = (v: HwlocView) => ({
    packages: v.count('Package'),
    nodes: v.count('NUMANode'),
    cores: v.count('Core'),
    pus: v.count('PU'),
    nodeCpus: v.objects.filter((o) => o.type === 'NUMANode').map((o) => [o.os, o.cpus.join(','), o.localMemory]),
    distances: v.distances,
  });

  for (const name of CAPTURES) {
    it.runIf(data !== null && haveLstopo)(name, () => {
      const into = join(work, `capture-${name}`);
      mkdirSync(into);
      const r = spawnSync('tar', ['-xjf', join(data as string, `${name}.tar.bz2`), '-C', into], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const top = readdirSync(into);
      const original = top.length === 1 ? join(into, top[0] as string) : into;
      const rewritten = write(readSysfs({ root: original }));
      expect(counts(lstopo(rewritten))).toEqual(counts(lstopo(original)));
    });
  }
});

// ---------------------------------------------------------------- round trip through readSysfs

/** True while src/adapters/sysfs/read-sysfs.ts is still the placeholder that refuses every tree. */
function readerIsPlaceholder(root: string): boolean {
  try {
    readSysfs({ root });
    return false;
  } catch (err) {
    return err instanceof Error && /not built yet/.test(err.message);
  }
}

describe('sysfs writer: round trip synthetic -> tree -> readSysfs', () => {
  const probe = write(machines['64 nodes']?.() as Topology);
  const pending = readerIsPlaceholder(probe);
  if (pending) console.warn('round trip not run: readSysfs is still a placeholder (it runs as soon as the reader lands)');

  for (const [name, build] of Object.entries({ ...machines, restricted })) {
    it.skipIf(pending)(`${name}: same counts, distances, memory, huge pages and devices`, () => {
      const topo = build();
      const back = readSysfs({ root: write(topo) });
      const usable = (t: Topology) => t.pus.filter((p) => p.online).map((p) => ({ os: p.os, package: p.package, online: p.online, allowed: p.allowed }));
      // The kernel removes an offline CPU's topology directory, so sysfs cannot say which package
      // and core an offline PU belongs to: a reader may leave such PUs out. Everything else must match.
      const counts = (t: Topology) => ({ ...summarize(t), warnings: 0, offlinePus: 0 });
      expect(counts(back)).toEqual(counts(topo));
      expect(back.nodes.map((n) => n.id)).toEqual(topo.nodes.map((n) => n.id));
      expect(back.distances).toEqual(topo.distances);
      const online = new Set(topo.pus.filter((p) => p.online).map((p) => p.os));
      const node = (n: Topology['nodes'][number]) => ({
        id: n.id,
        cpus: n.cpus.filter((c) => online.has(c)),
        memory: n.memory,
        hugePages: n.hugePages,
        kind: n.kind,
        allowed: n.allowed,
      });
      expect(back.nodes.map(node)).toEqual(topo.nodes.map(node));
      expect(usable(back)).toEqual(usable(topo));
      expect(back.cores.filter((c) => c.pus.length > 0).map((c) => ({ package: c.package, pus: c.pus }))).toEqual(
        topo.cores.filter((c) => c.pus.some((p) => topo.pus.find((x) => x.os === p)?.online)).map((c) => ({
          package: c.package,
          pus: c.pus.filter((p) => topo.pus.find((x) => x.os === p)?.online),
        })),
      );
      const dev = (d: Topology['pciDevices'][number]) => ({ ...d, name: null });
      expect(back.pciDevices.map(dev)).toEqual(topo.pciDevices.map(dev));
    });
  }
});
