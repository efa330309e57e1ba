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
import { allowedDistances, isUsablePu, summarize } from '../src/core/topology/view.js';
import { dataSet } from './support/data.js';
import { type LstopoCounts, countsFromLstopoXml, lstopoReadable, mapPool, runLstopo, scratchDir } from './support/lstopo.js';
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

/**
 * Packages hwloc keeps in its default view: those with a usable PU, an allowed NUMA node, or a PCI
 * device local to them.
 */
function hwlocVisiblePackages(topo: Topology): number {
  const usable = new Set(topo.pus.filter(isUsablePu).map((p) => p.os));
  return topo.packages.filter((p) => {
    const inside = (cpus: readonly number[] | null): boolean => cpus !== null && cpus.length > 0 && cpus.every((c) => p.pus.includes(c));
    return (
      p.pus.some((c) => usable.has(c)) ||
      topo.nodes.some((n) => n.allowed && inside(n.cpus)) ||
      topo.pciDevices.some((d) => inside(d.localCpus))
    );
  }).length;
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
        // summarize() counts packages with a usable PU; hwloc also keeps packages that only hold allowed
        // memory or I/O devices: both numbers are checked.
        expect(s.packages, `${name} packages with usable PUs`).toBe(r.packagesWithPus);
        expect(hwlocVisiblePackages(topo), `${name} packages as hwloc keeps them`).toBe(r.packages);
      }
      expect(s.nodes, `${name} NUMA nodes`).toBe(r.nodes);
      expect(s.cores, `${name} cores`).toBe(r.cores === 0 ? s.pus : r.cores);
      expect(s.pus, `${name} PUs`).toBe(r.pus);
      expect(topo.pciDevices.map((d) => d.address).sort(), `${name} PCI devices (lstopo --whole-io)`).toEqual(ref.wholeIo.pciAddresses);
      expectSameDistances(topo, r, name);
    });
  }
});
