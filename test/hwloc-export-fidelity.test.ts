/**
 * Fidelity of the hwloc XML export against hwloc itself: what hwloc would not write, numaplan does
 * not write either. A source without a distance matrix (an hwloc synthetic topology here) gives a
 * model with an assumed 10/20 matrix; the export must not pass it off as reported distances, so
 * lstopo reading the export shows no NUMA distances, as it shows none for the source. Every XML
 * capture of hwloc's test suite that numaplan imports exports to a file lstopo loads without a word
 * on stderr (siblings in the order hwloc keeps them: by complete CPU set, offline PUs included).
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dataSet } from './support/data.js';
import { extractCapture, listCaptureTests } from './support/captures.js';
import { loadTopology } from '../src/adapters/source.js';
import { mapPool } from './support/pool.js';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { topologyToHwlocXml } from '../src/adapters/hwloc-xml/export.js';
import { topologyFromHwlocXml } from '../src/adapters/hwloc-xml/import.js';
import { distancesAssumed } from '../src/core/topology/build.js';
import { getPreset } from '../src/core/topology/presets/index.js';
import type { Topology } from '../src/core/topology/model.js';
import { countsFromLstopoXml, runLstopo, scratchDir } from './support/lstopo.js';
import { tool } from './support/tools.js';

const have = tool('lstopo-no-graphics');

describe.skipIf(!have)('hwloc export fidelity', () => {
  const scratch = scratchDir();
  afterAll(() => scratch.dispose());

  it('no distances in the source: none in the export (lstopo shows none for either)', async () => {
    const src = await runLstopo(['--input', 'pack:2 numa:2 core:2 pu:2', '--of', 'xml', '-']);
    expect(src.code).toBe(0);
    expect(countsFromLstopoXml(src.stdout).numaLatency).toBeNull();
    const topo = topologyFromHwlocXml(src.stdout, 'synthetic');
    expect(distancesAssumed(topo)).toBe(true);
    const xml = topologyToHwlocXml(topo);
    expect(xml).not.toContain('<distances2');
    const file = join(scratch.dir, 'export.xml');
    writeFileSync(file, xml);
    const back = await runLstopo(['--input', file, '--of', 'xml', '-']);
    expect(back.code).toBe(0);
    expect(back.stderr).toBe('');
    const counts = countsFromLstopoXml(back.stdout);
    expect(counts.nodes).toBe(4);
    expect(counts.numaLatency).toBeNull();
  });

  it('every XML capture numaplan imports exports to a file lstopo loads without a warning', async () => {
    const dir = dataSet('hwloc/xml');
    if (!dir) return;
    const files = readdirSync(dir).filter((f) => f.endsWith('.xml')).sort();
    expect(files.length).toBeGreaterThan(20);
    const results = await mapPool(files, 2, async (f) => {
      let xml: string;
      try {
        xml = topologyToHwlocXml(topologyFromHwlocXml(readFileSync(join(dir, f), 'utf8'), f));
      } catch {
        return null; // captures the importer refuses are the import suite's business
      }
      const out = join(scratch.dir, f);
      writeFileSync(out, xml);
      const r = await runLstopo(['--input', out, '--of', 'xml', '-']);
      return { f, code: r.code, stderr: r.stderr.trim() };
    });
    const checked = results.filter((r) => r !== null);
    expect(checked.length).toBeGreaterThan(20);
    expect(checked.filter((r) => r.code !== 0 || r.stderr !== '').map((r) => `${r.f}: ${r.stderr.split('\n').slice(0, 4).join(' ')}`)).toEqual([]);
  });

  it("a capture's PCI functions without vendor/device files are kept, as hwloc keeps them (id 0000:0000)", async () => {
    const tests = listCaptureTests();
    if (!tests) return;
    const t = tests.find((x) => x.name === 'linux/nvidiagpunumanodes');
    expect(t, 'the nvidiagpunumanodes capture').toBeDefined();
    const root = await extractCapture((t as { tarball: string }).tarball);
    const topo = await loadTopology(`sysfs:${root}`);
    const hwloc = [...readFileSync((t as { target: string }).target, 'utf8').matchAll(/busid=([0-9a-f:.]+) id=([0-9a-f]{4}):([0-9a-f]{4})/g)].map((m) => `${m[1]} ${m[2]}:${m[3]}`).sort();
    expect(hwloc.length).toBe(6);
    const ours = topo.pciDevices.map((d) => `${d.address} ${d.vendorId.toString(16).padStart(4, '0')}:${d.deviceId.toString(16).padStart(4, '0')}`).sort();
    expect(ours).toEqual(hwloc);
  });

  it('a CPU-less memory node sits beside its nearest CPU node, as hwloc puts it (not under the whole package)', async () => {
    const tests = listCaptureTests();
    if (!tests) return;
    const t = tests.find((x) => x.name === 'linux/fakememinitiators-1np2c+1npp+gi');
    expect(t, 'the fakememinitiators capture').toBeDefined();
    const topo = await loadTopology(`sysfs:${await extractCapture((t as { tarball: string }).tarball)}`);
    expect(topo.nodes.filter((n) => n.cpus.length === 0).length).toBeGreaterThan(0);
    const file = join(scratch.dir, 'initiators.xml');
    writeFileSync(file, topologyToHwlocXml(topo));
    const ours = await runLstopo(['--input', file, '--of', 'console', '--no-io']);
    expect(ours.stderr).toBe('');
    // Each NUMA node's parent level in lstopo's console view (Package, Group...), ours against hwloc's expected output.
    const parents = (text: string): string[] => {
      const lines = text.split('\n');
      const out: string[] = [];
      lines.forEach((l, i) => {
        const m = /^(\s*)NUMANode.*?\(P#(\d+)/.exec(l);
        if (!m) return;
        for (let j = i - 1; j >= 0; j--) {
          const p = /^(\s*)(\w+)/.exec(lines[j] as string);
          if (p && (p[1] as string).length < (m[1] as string).length) {
            out.push(`${m[2]}<${(p[2] as string).replace(/\d+$/, '')}`);
            break;
          }
        }
      });
      return out.sort();
    };
    const expected = parents(readFileSync((t as { target: string }).target, 'utf8'));
    const cpuless = new Set(topo.nodes.filter((n) => n.cpus.length === 0).map((n) => String(n.id)));
    const only = (list: string[]): string[] => list.filter((e) => cpuless.has(e.split('<')[0] as string));
    expect(only(expected).length).toBeGreaterThanOrEqual(4);
    expect(only(parents(ours.stdout))).toEqual(only(expected));
  });

  it('reported distances are still written and read back by lstopo', async () => {
    const topo = (getPreset('epyc-2s-nps2') as { build(): Topology }).build();
    expect(distancesAssumed(topo)).toBe(false);
    const file = join(scratch.dir, 'preset.xml');
    writeFileSync(file, topologyToHwlocXml(topo));
    const back = await runLstopo(['--input', file, '--of', 'xml', '-']);
    const m = countsFromLstopoXml(back.stdout).numaLatency;
    expect(m?.get(0)?.get(1)).toBe(topo.distances[0]?.[1]);
    expect(m?.get(3)?.get(0)).toBe(topo.distances[3]?.[0]);
  });
});
