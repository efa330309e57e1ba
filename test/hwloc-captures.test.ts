/**
 * The sysfs reader against hwloc on every Linux capture of hwloc's test suite: packages, NUMA nodes,
 * cores and PUs in hwloc's default (allowed, online) view, and the NUMA distance matrix, compared
 * with the expected output each .test names (and, under CI, with the installed lstopo run on the
 * same extracted tree). hwloc is the referee; where the model cannot say what hwloc says, the
 * exception and its reason are listed in EXCEPTIONS below, and a per-capture table is printed.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TopologyError } from '../src/core/topology/errors.js';
import type { Topology } from '../src/core/topology/model.js';
import { allowedDistances, summarize } from '../src/core/topology/view.js';
import { readSysfs, type SysfsOptions } from '../src/adapters/sysfs/read-sysfs.js';
import {
  type CaptureTest,
  type ExpectedView,
  extractAll,
  listCaptureTests,
  parseHwlocXml,
  readExpected,
} from './support/captures.js';
import { IN_CI } from './support/data.js';
import { tool } from './support/tools.js';

type Field = 'packages' | 'nodes' | 'cores' | 'pus';
const FIELDS: Field[] = ['packages', 'nodes', 'cores', 'pus'];
const HWLOC_TYPE: Record<Field, string> = { packages: 'Package', nodes: 'NUMANode', cores: 'Core', pus: 'PU' };

/**
 * Where the model cannot show what hwloc shows, by test name and field, with the reason. Each entry
 * is checked to still differ (a stale exception fails the suite).
 */
const EXCEPTIONS: Record<string, Partial<Record<Field, string>>> = {
  'linux/2ps3-2t': {
    packages: 'the PS3 kernel exports no package files; hwloc shows no Package level, the model puts every PU in a package (one here)',
  },
  'linux/4fake-4gr1nu1pu': {
    cores: 'the capture has no core files; hwloc shows no Core level, the model makes each PU its own core',
  },
  'linux/40intel64-4n10c+pci-conflicts': {
    packages:
      'deliberately corrupted capture: cpu3..39 (step 4) have package masks that do not contain themselves; hwloc drops that 4th package and leaves its PUs outside any package, the model (which needs a package per PU) warns and uses physical_package_id',
  },
};

/** hwloc levels removed by the .test options or environment; counts of such levels are not compared. */
function removedLevels(t: CaptureTest, expected: ExpectedView): Partial<Record<Field, string>> {
  const out: Partial<Record<Field, string>> = {};
  if (/--filter\s+all:structure|--merge/.test(t.options) && expected.counts.Core === undefined) {
    out.cores = `"${t.options.trim()}" removes the Core level (one PU per core: no structure); not comparable`;
  }
  return out;
}

/** Reader options equivalent to the .test environment. */
function readerOptions(t: CaptureTest, root: string, disallowed: boolean): SysfsOptions {
  const options: SysfsOptions = { root };
  if (t.env.HWLOC_KEEP_NVIDIA_GPU_NUMA_NODES !== undefined) options.gpuMemoryNodes = t.env.HWLOC_KEEP_NVIDIA_GPU_NUMA_NODES !== '0';
  if (t.env.HWLOC_DEBUG_ALLOW_OVERLAPPING_NODE_CPUSETS !== undefined) {
    options.overlappingNodes = t.env.HWLOC_DEBUG_ALLOW_OVERLAPPING_NODE_CPUSETS !== '0';
  }
  if (disallowed) options.ignoreCgroup = true; // --disallowed: disallowed objects are shown, i.e. counted
  return options;
}


interface Row {
  name: string;
  expected: Record<Field, number | null>;
  ours: Record<Field, number>;
  distances: 'ok' | 'FAIL' | '-';
  lstopo: 'ok' | 'FAIL' | '-' | 'n/a';
  status: string;
  notes: string[];
}

function compareDistances(expected: ExpectedView, topo: Topology): { ok: boolean; detail: string } | null {
  const ours = allowedDistances(topo);
  if (expected.distances === null) return null;
  const n = expected.distances.length;
  if (ours.nodes.length !== n) return { ok: false, detail: `hwloc matrix is ${n}x${n}, ours ${ours.nodes.length}x${ours.nodes.length}` };
  const index = new Map(ours.nodes.map((node, i) => [node.id, i]));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const a = index.get(expected.nodeOs[i] as number);
      const b = index.get(expected.nodeOs[j] as number);
      if (a === undefined || b === undefined) return { ok: false, detail: `node P#${expected.nodeOs[i]} or P#${expected.nodeOs[j]} missing` };
      const want = (expected.distances[i] as number[])[j];
      const got = (ours.distances[a] as number[])[b];
      if (want !== got) return { ok: false, detail: `distance P#${expected.nodeOs[i]}->P#${expected.nodeOs[j]}: hwloc ${want}, ours ${got}` };
    }
  }
  return { ok: true, detail: '' };
}

function countsOf(view: ExpectedView): Record<Field, number | null> {
  const get = (type: string): number | null => view.counts[type] ?? null;
  return { packages: get('Package'), nodes: get('NUMANode'), cores: get('Core'), pus: get('PU') };
}

const tests = listCaptureTests();
const rows: Row[] = [];
let roots = new Map<string, string>();
const withLstopo = IN_CI && tests !== null && tool('lstopo-no-graphics');

describe.skipIf(tests === null)('sysfs reader vs hwloc on every Linux capture', () => {
  beforeAll(async () => {
    roots = await extractAll((tests ?? []).map((t) => t.tarball));
  });

  afterAll(() => {
    if (rows.length === 0) return;
    const pad = (s: string, w: number): string => (s.length >= w ? s : s + ' '.repeat(w - s.length));
    const cell = (r: Row, f: Field): string => `${r.expected[f] ?? '-'}/${r.ours[f]}`;
    const lines = [
      `${pad('capture', 48)} ${pad('pkg', 9)} ${pad('numa', 7)} ${pad('core', 9)} ${pad('pu', 9)} dist  lstopo status`,
      ...rows.map(
        (r) =>
          `${pad(r.name, 48)} ${pad(cell(r, 'packages'), 9)} ${pad(cell(r, 'nodes'), 7)} ${pad(cell(r, 'cores'), 9)} ${pad(cell(r, 'pus'), 9)} ${pad(r.distances, 5)} ${pad(r.lstopo, 6)} ${r.status}`,
      ),
    ];
    const agree = rows.filter((r) => r.status === 'agree').length;
    const notes = rows.flatMap((r) => r.notes.map((n) => `  ${r.name}: ${n}`));
    console.log(
      `\nhwloc captures (expected/ours; expected = hwloc's output named by the .test)\n${lines.join('\n')}\n` +
        `${agree}/${rows.length} agree on every compared field; exceptions:\n${notes.join('\n') || '  none'}\n`,
    );
  });

  for (const t of tests ?? []) {
    it(t.name, () => {
      const root = roots.get(t.tarball) as string;
      if (t.synthetic) {
        // A synthetic topology with only a cgroup fsroot: not a sysfs tree, and the reader says so.
        expect(() => readSysfs({ root })).toThrow(TopologyError);
        rows.push({
          name: t.name,
          expected: { packages: null, nodes: null, cores: null, pus: null },
          ours: { packages: 0, nodes: 0, cores: 0, pus: 0 },
          distances: '-',
          lstopo: 'n/a',
          status: 'n/a',
          notes: ['synthetic topology (the tarball holds only proc/ and dev/ for cgroups): not a sysfs tree; the reader rejects it with ERR_SYSFS_ROOT'],
        });
        return;
      }
      const disallowed = /--disallowed/.test(t.options);
      const topo = readSysfs(readerOptions(t, root, disallowed));
      const s = summarize(topo);
      const ours: Record<Field, number> = { packages: s.packages, nodes: s.nodes, cores: s.cores, pus: s.pus };
      const expectedView = readExpected(t.target);
      const expected = countsOf(expectedView);
      const skipped = { ...removedLevels(t, expectedView), ...(EXCEPTIONS[t.name] ?? {}) };
      const notes: string[] = [];
      const failures: string[] = [];
      for (const f of FIELDS) {
        const want = expected[f] ?? 0;
        const reason = skipped[f];
        if (reason !== undefined) {
          notes.push(`${f}: hwloc ${expected[f] ?? 'none'}, ours ${ours[f]} - ${reason}`);
          if (EXCEPTIONS[t.name]?.[f] !== undefined && want === ours[f]) failures.push(`${f}: exception listed but the counts now agree (${want}); remove it`);
          continue;
        }
        if (want !== ours[f]) failures.push(`${HWLOC_TYPE[f]}: hwloc ${want}, ours ${ours[f]}`);
      }
      const dist = compareDistances(expectedView, topo);
      if (dist && !dist.ok) failures.push(dist.detail);

      let lstopo: Row['lstopo'] = '-';
      if (withLstopo) {
        const args = ['--input', root, '--if', 'fsroot', '--no-io', '--of', 'xml', ...(disallowed ? ['--disallowed'] : []), '-'];
        const res = spawnSync('lstopo-no-graphics', args, { encoding: 'utf8', env: { ...process.env, ...t.env }, timeout: 30_000 });
        if (res.status !== 0) {
          lstopo = 'FAIL';
          failures.push(`lstopo exited ${res.status}: ${res.stderr.slice(0, 200)}`);
        } else {
          const view = parseHwlocXml(res.stdout);
          const got = countsOf(view);
          const diffs = FIELDS.filter((f) => skipped[f] === undefined && (got[f] ?? 0) !== ours[f]).map(
            (f) => `${HWLOC_TYPE[f]} lstopo ${got[f] ?? 0} ours ${ours[f]}`,
          );
          const d = compareDistances(view, topo);
          if (d && !d.ok) diffs.push(`lstopo ${d.detail}`);
          lstopo = diffs.length === 0 ? 'ok' : 'FAIL';
          failures.push(...diffs);
        }
      }

      rows.push({
        name: t.name,
        expected,
        ours,
        distances: dist === null ? '-' : dist.ok ? 'ok' : 'FAIL',
        lstopo,
        status: failures.length > 0 ? 'DISAGREE' : notes.length > 0 ? 'exception' : 'agree',
        notes: [...notes, ...failures],
      });
      expect(failures, `${t.name} (${t.target})`).toEqual([]);
    });
  }
});
