/**
 * hwloc XML import/export against the real lstopo: every XML capture of hwloc's test suite imports
 * with the counts and NUMA distances lstopo reports for the same file; numaplan's exports load in
 * lstopo without a warning and come back with the same counts and distances; bad files fail clearly.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topologyToHwlocXml } from '../src/adapters/hwloc-xml/export.js';
import { topologyFromHwlocXml } from '../src/adapters/hwloc-xml/import.js';
import { TopologyError } from '../src/core/topology/errors.js';
import type { Topology } from '../src/core/topology/model.js';
import { listPresets } from '../src/core/topology/presets/index.js';
import { type SyntheticSpec, syntheticTopology } from '../src/core/topology/synthetic.js';
import { allowedDistances, summarize } from '../src/core/topology/view.js';
import { dataSet } from './support/data.js';
import {
  type LstopoCounts,
  countsFromLstopoXml,
  hwlocDtd,
  lstopoReadable,
  mapPool,
  runLstopo,
  scratchDir,
  validateWithDtd,
} from './support/lstopo.js';
import { tool } from './support/tools.js';

const hasLstopo = tool('lstopo-no-graphics');
const xmlDir = dataSet('hwloc/xml');
const linuxDir = dataSet('hwloc/linux');

function xmlFiles(dir: string | null): string[] {
  if (dir === null) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.xml'))
    .sort()
    .map((f) => join(dir, f));
}

/** The model's allowed-view NUMA distances as from → to → value, by node id. */
function modelLatency(topo: Topology): Map<number, Map<number, number>> {
  const { nodes, distances } = allowedDistances(topo);
  return new Map(nodes.map((a, i) => [a.id, new Map(nodes.map((b, j) => [b.id, (distances[i] as number[])[j] as number]))]));
}


/** lstopo's matrix restricted to the nodes it shows, or the default the model assumes when it has none. */
function expectSameDistances(topo: Topology, ref: LstopoCounts, label: string): void {
  const mine = modelLatency(topo);
  if (ref.numaLatency === null) {
    // No matrix in the file: the model assumes 10 local / 20 remote and says so (one node needs no warning).
    for (const [a, row] of mine) for (const [b, v] of row) expect(v, `${label} ${a}->${b}`).toBe(a === b ? 10 : 20);
    return;
  }
  expect([...mine.keys()].sort((x, y) => x - y), `${label} node ids`).toEqual([...ref.numaLatency.keys()].sort((x, y) => x - y));
  for (const [a, row] of ref.numaLatency) {
    for (const [b, v] of row) expect(mine.get(a)?.get(b), `${label} distance ${a}->${b}`).toBe(v);
  }
}

describe.skipIf(!hasLstopo || (xmlDir === null && linuxDir === null))("hwloc's XML captures: numaplan agrees with lstopo", () => {
  const files = [...xmlFiles(xmlDir), ...xmlFiles(linuxDir)];
  const scratch = scratchDir();
  const refs = new Map<string, { default: LstopoCounts; wholeIo: LstopoCounts; stderr: string }>();

  beforeAll(async () => {
    await mapPool(files, 4, async (file) => {
      const input = lstopoReadable(file, scratch.dir);
      const [def, whole] = await Promise.all([
        runLstopo(['--input', input, '--of', 'xml', '-']),
        runLstopo(['--input', input, '--whole-io', '--of', 'xml', '-']),
      ]);
      if (def.code !== 0) throw new Error(`lstopo failed on ${file}: ${def.stderr}`);
      refs.set(file, { default: countsFromLstopoXml(def.stdout), wholeIo: countsFromLstopoXml(whole.stdout), stderr: def.stderr });
    });
  });
  afterAll(() => scratch.dispose());

  it('finds the captures', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
  });

  for (const file of files) {
    const name = file.slice(file.lastIndexOf('/hwloc/') + 7);
    it(`${name}: counts and distances equal lstopo's`, () => {
      const ref = refs.get(file);
      if (!ref) throw new Error('no lstopo output');
      const topo = topologyFromHwlocXml(readFileSync(file, 'utf8'), name);
      const s = summarize(topo);
      const r = ref.default;
      // The model gives every PU a package and a core: a file without Package objects is counted as one
      // package (with a warning), a PU without a Core ancestor as its own core.
      if (r.packages === 0) {
        expect(s.packages, `${name} packages`).toBe(1);
        expect(topo.warnings.some((w) => /without a Package/.test(w.message))).toBe(true);
      } else {
        // summarize() keeps packages as hwloc does: a usable PU, an allowed NUMA node or a local PCI device.
        expect(s.packages, `${name} packages`).toBe(r.packages);
      }
      expect(s.nodes, `${name} NUMA nodes`).toBe(r.nodes);
      expect(s.cores, `${name} cores`).toBe(r.cores === 0 ? s.pus : r.cores);
      expect(s.pus, `${name} PUs`).toBe(r.pus);
      // PCI functions: PCIDev objects and PCI-to-PCI Bridges (a capture listing one address twice keeps the first).
      const functions = [...new Set([...ref.wholeIo.pciAddresses, ...ref.wholeIo.pciBridgeAddresses])].sort();
      expect(topo.pciDevices.map((d) => d.address).sort(), `${name} PCI functions (lstopo --whole-io)`).toEqual(functions);
      expectSameDistances(topo, r, name);
    });
  }
});

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** The parts of a topology an hwloc XML round trip must keep. */
function essence(topo: Topology): unknown {
  return {
    summary: (({ warnings: _w, ...rest }) => rest)(summarize(topo)),
    nodes: topo.nodes.map((n) => ({
      id: n.id,
      cpus: n.cpus,
      memory: n.memory.total,
      kind: n.kind,
      tier: n.tier,
      allowed: n.allowed,
      hugePages: n.hugePages.map((p) => [p.pageSize, p.total]),
    })),
    distances: topo.distances,
    packages: topo.packages.map((p) => [p.id, p.pus]),
    cores: topo.cores.map((c) => [c.package, c.pus, c.node]),
    pus: topo.pus.map((p) => [p.os, p.package, p.core, p.node, p.online, p.allowed]),
    caches: topo.caches.map((c) => [c.level, c.type, c.size, c.cpus.join(',')]).sort(),
    pci: topo.pciDevices.map((d) => [d.address, d.class, d.vendorId, d.deviceId, d.node ?? d.inferredNode, d.rdmaDevices, d.netDevices, d.parent, d.bridge]),
    pciHostBridges: topo.pciHostBridges,
  };
}

const ROUND_TRIP: [string, Topology][] = [
  [
    '2 packages x 2 nodes, SMT2, huge pages, PCI devices',
    syntheticTopology({
      source: 'test',
      packages: 2,
      nodesPerPackage: 2,
      coresPerNode: 4,
      threadsPerCore: 2,
      memoryPerNode: 16 * GiB,
      hugePages: [
        { pageSize: 2 * MiB, total: 1024, free: 1024 },
        { pageSize: GiB, total: 4, free: 4 },
      ],
      devices: [
        { address: '0000:41:00.0', class: 'rdma', classCode: 0x020000, vendorId: 0x15b3, deviceId: 0x1017, node: 1, rdmaDevices: ['mlx5_0'], netDevices: ['ens1f0np0'] },
        { address: '0000:c1:00.0', class: 'gpu', classCode: 0x030200, vendorId: 0x10de, deviceId: 0x20b0, node: 3, name: 'A100' },
        { address: '0000:01:00.0', class: 'nvme', classCode: 0x010802, vendorId: 0x144d, deviceId: 0xa808, node: null, localCpus: [0, 1, 2, 3, 16, 17, 18, 19] },
      ],
    }),
  ],
  [
    'CPU-less HBM and CXL nodes',
    syntheticTopology({
      source: 'test',
      packages: 2,
      nodesPerPackage: 1,
      coresPerNode: 4,
      threadsPerCore: 2,
      memoryPerNode: 64 * GiB,
      memoryOnlyNodes: [
        { memory: 16 * GiB, tier: 'hbm' },
        { memory: 16 * GiB, tier: 'hbm' },
        { memory: 128 * GiB, tier: 'cxl' },
      ],
      // HBM node 2 is near package 0, node 3 near package 1; the CXL node 4 is equally far from both.
      distances: [
        [10, 21, 13, 23, 30],
        [21, 10, 23, 13, 30],
        [13, 23, 10, 28, 40],
        [23, 13, 28, 10, 40],
        [30, 30, 40, 40, 10],
      ],
    }),
  ],
  [
    'GPU memory nodes (Grace Hopper-like), asymmetric distances',
    syntheticTopology({
      source: 'test',
      packages: 1,
      nodesPerPackage: 1,
      coresPerNode: 72,
      threadsPerCore: 1,
      memoryPerNode: 480 * GiB,
      memoryOnlyNodes: Array.from({ length: 8 }, () => ({ memory: 12 * GiB, tier: 'gpu' as const })),
      distance: (i, j) => (i === j ? 10 : i === 0 ? 80 : j === 0 ? 120 : 255),
    }),
  ],
  [
    '8 nodes, asymmetric distances, SMT1',
    syntheticTopology({
      source: 'test',
      packages: 4,
      nodesPerPackage: 2,
      coresPerNode: 3,
      threadsPerCore: 1,
      memoryPerNode: 8 * GiB,
      distance: (i, j) => (i === j ? 10 : 12 + ((i * 7 + j * 3) % 20)),
    }),
  ],
  [
    '64 nodes, SMT4',
    syntheticTopology({ source: 'test', packages: 8, nodesPerPackage: 8, coresPerNode: 2, threadsPerCore: 4, memoryPerNode: 4 * GiB }),
  ],
  [
    'SMT2 siblings numbered sequentially, no L3',
    syntheticTopology({ source: 'test', packages: 2, nodesPerPackage: 4, coresPerNode: 2, threadsPerCore: 2, memoryPerNode: GiB, numbering: 'sequential', l3PerNode: 0 }),
  ],
];

function exportName(label: string): string {
  return `${label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.xml`;
}

/** Checks lstopo's view of an exported file against the model. */
function expectLstopoAgrees(topo: Topology, ref: LstopoCounts, label: string): void {
  const s = summarize(topo);
  expect(ref.packagesWithPus, `${label} packages`).toBe(s.packages);
  expect(ref.nodes, `${label} NUMA nodes`).toBe(s.nodes);
  expect(ref.cores, `${label} cores`).toBe(s.cores);
  expect(ref.pus, `${label} PUs`).toBe(s.pus);
  if (topo.nodes.length > 1) expectSameDistances(topo, ref, label);
}

describe('export: in-process round trip', () => {
  for (const [label, topo] of ROUND_TRIP) {
    it(`${label}: export then import gives the same topology`, () => {
      const back = topologyFromHwlocXml(topologyToHwlocXml(topo), exportName(label));
      expect(essence(back)).toEqual(essence(topo));
      expect(back.pciDevices.map((d) => [d.address, d.sriov, d.physfn])).toEqual(topo.pciDevices.map((d) => [d.address, d.sriov, d.physfn]));
      expect(back.warnings).toEqual([]);
    });
  }
});

describe.skipIf(!hasLstopo)('export: lstopo loads it without a warning, with the same counts and distances', () => {
  const scratch = scratchDir();
  afterAll(() => scratch.dispose());

  for (const [label, topo] of ROUND_TRIP) {
    it(`${label}`, async () => {
      const file = join(scratch.dir, exportName(label));
      writeFileSync(file, topologyToHwlocXml(topo));
      const run = await runLstopo(['--input', file, '--whole-io', '--of', 'xml', '-']);
      expect(run.stderr, `lstopo warnings for ${label}`).toBe('');
      expect(run.code).toBe(0);
      expectLstopoAgrees(topo, countsFromLstopoXml(run.stdout), label);
      // lstopo's own re-export imports back to the same model.
      const again = topologyFromHwlocXml(run.stdout, `lstopo-${exportName(label)}`);
      expect(essence(again)).toEqual(essence(topo));
    });
  }

  it('offline and disallowed PUs, a disallowed node', async () => {
    const base = syntheticTopology({ source: 'test', packages: 2, nodesPerPackage: 1, coresPerNode: 4, threadsPerCore: 2, memoryPerNode: 8 * GiB });
    const topo = topologyFromHwlocXml(
      topologyToHwlocXml({
        ...base,
        pus: base.pus.map((p) => ({ ...p, online: p.os !== 13, allowed: p.os !== 2 && p.package === 0 })),
        nodes: base.nodes.map((n) => ({ ...n, allowed: n.id === 0 })),
      }),
      'restricted.xml',
    );
    const s = summarize(topo);
    expect([s.pus, s.offlinePus, s.disallowedPus, s.nodes, s.disallowedNodes]).toEqual([7, 1, 8, 1, 1]);
    const file = join(scratch.dir, 'restricted.xml');
    writeFileSync(file, topologyToHwlocXml(topo));
    const run = await runLstopo(['--input', file, '--of', 'xml', '-']);
    expect(run.stderr).toBe('');
    expectLstopoAgrees(topo, countsFromLstopoXml(run.stdout), 'restricted');
    expect(essence(topologyFromHwlocXml(readFileSync(file, 'utf8'), 'restricted.xml'))).toEqual(essence(topo));
  });

  it('every preset exported as hwloc XML loads in lstopo with the same counts and distances', async () => {
    const presets = listPresets();
    const results = await mapPool(presets, 4, async (preset) => {
      const topo = preset.build();
      const file = join(scratch.dir, `preset-${preset.name}.xml`);
      writeFileSync(file, topologyToHwlocXml(topo));
      return { preset, topo, run: await runLstopo(['--input', file, '--of', 'xml', '-']) };
    });
    for (const { preset, topo, run } of results) {
      expect(run.stderr, `lstopo warnings for preset ${preset.name}`).toBe('');
      expectLstopoAgrees(topo, countsFromLstopoXml(run.stdout), `preset ${preset.name}`);
    }
  });
});

const dtd = tool('xmllint') ? hwlocDtd() : null;

describe.skipIf(dtd === null)("export: valid against hwloc's DTD (hwloc2.dtd)", () => {
  const scratch = scratchDir();
  afterAll(() => scratch.dispose());
  const cases: [string, Topology][] = [...ROUND_TRIP, ...listPresets().map((p): [string, Topology] => [`preset ${p.name}`, p.build()])];
  it(`${cases.length} exports validate`, async () => {
    const errors = await mapPool(cases, 4, async ([label, topo]) => {
      const file = join(scratch.dir, `dtd-${exportName(label)}`);
      writeFileSync(file, topologyToHwlocXml(topo));
      return [label, await validateWithDtd(file, dtd as string)] as const;
    });
    for (const [label, e] of errors) expect(e, label).toBe('');
  });
});

describe('bad hwloc XML: a TopologyError naming the file and the element', () => {
  const good = topologyToHwlocXml(ROUND_TRIP[0]?.[1] as Topology);
  const load = (text: string): TopologyError => {
    try {
      topologyFromHwlocXml(text, 'broken.xml');
    } catch (err) {
      expect(err).toBeInstanceOf(TopologyError);
      return err as TopologyError;
    }
    throw new Error('expected a TopologyError');
  };

  it('truncated file', () => {
    const err = load(good.slice(0, Math.floor(good.length / 2)));
    expect(err.code).toBe('ERR_HWLOC_XML');
    expect(err.message).toMatch(/^broken\.xml: malformed XML at line \d+/);
  });
  it('not a topology', () => {
    expect(load('<?xml version="1.0"?>\n<domain type="kvm"><name>x</name></domain>\n').message).toMatch(/broken\.xml: .*root element is <domain>/);
  });
  it('topology without objects', () => {
    expect(load('<topology version="2.0"><objekt type="Machine"/></topology>').message).toMatch(/broken\.xml: .*no <object> element/);
  });
  it('PU without os_index', () => {
    const err = load(good.replace(/(<object type="PU") os_index="\d+"/, '$1'));
    expect(err.message).toMatch(/broken\.xml: .*object\[type=PU\]: missing required attribute os_index/);
    expect(err.message).toMatch(/object\[type=Core os_index=0\]/);
  });
  it('NUMANode without os_index', () => {
    expect(load(good.replace(/(<object type="NUMANode") os_index="\d+"/, '$1')).message).toMatch(/object\[type=NUMANode\]: missing required attribute os_index/);
  });
  it('bad cpuset', () => {
    expect(load(good.replace(/cpuset="0x[0-9a-f]+"/, 'cpuset="zz"')).message).toMatch(/attribute cpuset="zz" is not an hwloc bitmap/);
  });
  it('distance matrix of the wrong size', () => {
    expect(load(good.replace(/<u64values length="\d+">[^<]*<\/u64values>/, '')).message).toMatch(/distances2\[type=NUMANode name=NUMALatency\]\/u64values: holds \d+ values, expected nbobjs² = 16/);
  });
  it('never a stack trace through loadTopology either', async () => {
    const { loadTopology } = await import('../src/adapters/source.js');
    const scratch = scratchDir();
    try {
      const file = join(scratch.dir, 'cut.xml');
      writeFileSync(file, good.slice(0, 500));
      await expect(loadTopology(`hwloc:${file}`)).rejects.toThrow(TopologyError);
    } finally {
      scratch.dispose();
    }
  });
});

describe('hwloc 1.x and odd inputs', () => {
  it('reads an hwloc 1.x document (NUMANode as a parent, <distances> with latency_base)', () => {
    const v1 = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE topology SYSTEM "hwloc.dtd">
<topology>
  <object type="Machine" os_index="0" cpuset="0x0000000f" complete_cpuset="0x0000000f" online_cpuset="0x0000000f" allowed_cpuset="0x0000000f" nodeset="0x00000003" complete_nodeset="0x00000003" allowed_nodeset="0x00000003">
    <object type="NUMANode" os_index="0" cpuset="0x00000003" complete_cpuset="0x00000003" nodeset="0x00000001" local_memory="1073741824">
      <page_type size="4096" count="262144"/>
      <page_type size="2097152" count="16"/>
      <object type="Socket" os_index="0" cpuset="0x00000003">
        <object type="Cache" cpuset="0x00000003" cache_size="8388608" depth="3" cache_linesize="64" cache_associativity="16" cache_type="0">
          <object type="Core" os_index="0" cpuset="0x00000003">
            <object type="PU" os_index="0" cpuset="0x00000001"/>
            <object type="PU" os_index="1" cpuset="0x00000002"/>
          </object>
        </object>
      </object>
    </object>
    <object type="NUMANode" os_index="1" cpuset="0x0000000c" complete_cpuset="0x0000000c" nodeset="0x00000002" local_memory="1073741824">
      <object type="Socket" os_index="1" cpuset="0x0000000c">
        <object type="Core" os_index="0" cpuset="0x0000000c">
          <object type="PU" os_index="2" cpuset="0x00000004"/>
          <object type="PU" os_index="3" cpuset="0x00000008"/>
        </object>
      </object>
    </object>
    <distances nbobjs="2" relative_depth="1" latency_base="10.000000">
      <latency value="1.000000"/>
      <latency value="2.100000"/>
      <latency value="2.100000"/>
      <latency value="1.000000"/>
    </distances>
  </object>
</topology>
`;
    const topo = topologyFromHwlocXml(v1, 'v1.xml');
    const s = summarize(topo);
    expect([s.packages, s.nodes, s.cores, s.pus]).toEqual([2, 2, 2, 4]);
    expect(topo.distances).toEqual([
      [10, 21],
      [21, 10],
    ]);
    expect(topo.nodes[0]?.cpus).toEqual([0, 1]);
    expect(topo.nodes[0]?.hugePages).toEqual([{ pageSize: 2 * MiB, total: 16, free: 16 }]);
    expect(topo.caches).toEqual([{ level: 3, type: 'unified', size: 8 * MiB, lineSize: 64, ways: 16, cpus: [0, 1] }]);
  });
});
